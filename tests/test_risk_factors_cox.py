"""Table 3's Cox counterpart (risk_factors_cox.py) against R ``coxph`` (tests/r/stats1_references.R, ``cox``).

Both frozen data sets (fixture ``frozen``). R fits ``coxph(Surv(pfs_months, pfs_event) ~ X, ties =
"efron")`` per characteristic and on the selected ones, Wald intervals and p-values; a model in
which a level has no events is not estimable (null rows), and cannot select its characteristic.
Compared at 1e-6 relative tolerance.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest

from rait_registry.analysis import CoxRiskFactorAnalysis
from rait_registry.analysis.logistic import LogisticAnalysis
from rait_registry.exceptions import AnalysisError, InsufficientDataError, StatisticsWarning

from .frozen_data import load_frozen

pytestmark = pytest.mark.filterwarnings("ignore::rait_registry.exceptions.StatisticsWarning")

REL = 1e-6
STATS = ["hr", "ci_low", "ci_high", "p_value", "coef", "se"]


@cache
def _fit(name: str) -> CoxRiskFactorAnalysis:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        return CoxRiskFactorAnalysis().fit(load_frozen(name).cohort)


@pytest.fixture(scope="module")
def ref(frozen) -> dict:
    return frozen.ref("stats1")["cox"]


@pytest.fixture(scope="module")
def fitted(frozen) -> CoxRiskFactorAnalysis:
    return _fit(frozen.name)


def _compare(ours: pd.DataFrame, r_rows: list[dict]) -> None:
    assert list(ours["term"]) == [r["term"] for r in r_rows]
    for (_, row), r in zip(ours.iterrows(), r_rows):
        assert (row["n_obs"], row["n_events"]) == (r["n_obs"], r["n_events"]), row["term"]
        if not r["estimable"]:
            assert row[STATS].isna().all() and "no events" in row["note"], row["term"]
            continue
        assert row["note"] is None
        for k in STATS:
            assert row[k] == pytest.approx(r[k], rel=REL), (row["term"], k)


def test_univariable_cox_matches_r(fitted, ref):
    _compare(fitted.univariable_, ref["univariable"])


def test_selection_and_multivariable_cox_match_r(fitted, ref):
    assert fitted.selected_ == ref["selected"]
    assert ref["multivariable_estimable"]
    _compare(fitted.multivariable_, ref["multivariable"])
    assert fitted.multivariable_note_ is None


def test_same_terms_and_reference_levels_as_the_logistic_table(fitted, frozen):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        logistic = LogisticAnalysis(sensitivity=False).fit(frozen.cohort)
    cols = ["variable", "term", "level", "reference", "n_obs"]
    pd.testing.assert_frame_equal(
        fitted.univariable_[cols].reset_index(drop=True), logistic.univariable_[cols].reset_index(drop=True)
    )


def test_a_level_without_events_is_not_estimable_and_not_selected(frozen):
    fitted = _fit(frozen.name)
    uni = fitted.univariable_.set_index("term")
    assert uni.loc["histology=FTC", STATS].isna().all()  # FTC: no progression in either data set
    assert "histology" not in fitted.selected_
    assert any(w.startswith("univariable histology") and "cannot enter" in w for w in fitted.warnings_)


def test_results_section_and_skipped_multivariable(fitted, cohort):
    d = fitted.to_dict()
    assert {"univariable", "multivariable", "selection_threshold", "interpretation", "warnings"} <= set(d)
    assert "accounts for unequal follow-up" in d["interpretation"] and "Cox model is the one" in d["interpretation"]
    lo, hi = cohort["follow_up_months"].min(), cohort["follow_up_months"].max()
    assert f"{lo:.1f} to {hi:.1f} months" in CoxRiskFactorAnalysis().fit(cohort).interpretation()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        strict = CoxRiskFactorAnalysis(threshold=1e-12).fit(cohort).to_dict()
    assert strict["multivariable"]["skipped"] is True and "no characteristic" in strict["multivariable"]["reason"]


def test_refuses_a_cohort_without_events_or_columns(cohort):
    with pytest.raises(InsufficientDataError, match="needs events"):
        CoxRiskFactorAnalysis().fit(cohort.assign(pfs_event=0))
    with pytest.raises(AnalysisError, match="pfs_months"):
        CoxRiskFactorAnalysis().fit(cohort.drop(columns="pfs_months"))


def test_hazard_ratio_equals_a_direct_lifelines_fit(cohort):
    """One univariable model refitted by hand with lifelines (independent of the design code)."""
    from lifelines import CoxPHFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        ours = CoxRiskFactorAnalysis().fit(cohort).univariable_.set_index("term").loc["age_at_diagnosis=>=45"]
    frame = pd.DataFrame(
        {
            "old": (cohort["age_at_diagnosis_years"] >= 45).astype(float),
            "t": cohort["pfs_months"],
            "e": cohort["pfs_event"],
        }
    )
    cph = CoxPHFitter().fit(frame, "t", "e", fit_options={"precision": 1e-12})
    assert ours["hr"] == pytest.approx(float(np.exp(cph.params_["old"])), rel=1e-6)
