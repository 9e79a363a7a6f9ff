"""Table 3 (logistic regression, Firth fallback) against R (tests/r/stats1_references.R).

The R comparisons run on both frozen data sets (fixture ``frozen``: the stand-in,
tests/data/frozen_cohort/ -> r_reference/stats1.json, and the demo warehouse,
tests/data/frozen_demo/ -> r_reference/stats1_demo.json); tests of the stand-in's deliberate
separation and warnings run on the stand-in only.

R fits ``glm(..., control = glm.control(epsilon = 1e-14, maxit = 100))`` with
``confint.default`` Wald intervals, and a hand-written Firth regression (logistf is not
packaged for Debian) with penalised likelihood-ratio p-values and profile penalised-
likelihood intervals. Compared at 1e-6 relative tolerance.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rait_registry.analysis.logistic import FirthLogisticRegression, LogisticAnalysis
from rait_registry.exceptions import AnalysisError, InsufficientDataError, StatisticsWarning

from .frozen_data import load_frozen

DATA = Path(__file__).parent / "data"
REL = 1e-6
STATS = ["coef", "se", "or", "ci_low", "ci_high", "p_value"]


@pytest.fixture(scope="module")
def ref(frozen) -> dict:
    return frozen.ref("stats1")["logistic"]


@pytest.fixture(scope="module")
def firth_case(frozen) -> dict:
    return frozen.ref("stats1")["firth_case"]


@cache
def _fit_frozen(name: str) -> LogisticAnalysis:
    """One fit per frozen data set, shared by the R comparisons and the stand-in tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        return LogisticAnalysis().fit(load_frozen(name).cohort)


@pytest.fixture(scope="module")
def ffitted(frozen) -> LogisticAnalysis:
    return _fit_frozen(frozen.name)


@pytest.fixture(scope="module")
def fitted() -> LogisticAnalysis:
    return _fit_frozen("frozen_cohort")


def _compare_rows(ours: pd.DataFrame, r_rows: list[dict]) -> None:
    assert list(ours["term"]) == [r["term"] for r in r_rows]
    for (_, row), r in zip(ours.iterrows(), r_rows):
        assert row["method"] == r["method"], row["term"]
        assert (row["n_obs"], row["n_events"]) == (r["n_obs"], r["n_events"]), row["term"]
        for k in STATS:
            assert row[k] == pytest.approx(r[k], rel=REL), (row["term"], k)


def test_univariable_matches_r(ffitted, ref):
    _compare_rows(ffitted.univariable_, ref["univariable"])


def test_selection_and_multivariable_match_r(ffitted, ref):
    assert ffitted.selected_ == ref["selected"]
    _compare_rows(ffitted.multivariable_, ref["multivariable"])


def test_continuous_age_sensitivity_matches_r(ffitted, ref):
    s = ffitted.sensitivity_
    _compare_rows(s["univariable"], ref["sensitivity"]["univariable"])
    assert s["selected_variables"] == ref["sensitivity"]["selected"]
    _compare_rows(s["multivariable"], ref["sensitivity"]["multivariable"])
    assert s["univariable"]["level"].tolist() == ["per year"]


def test_forced_firth_matches_r_on_every_univariable_model(frozen, ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        la = LogisticAnalysis(firth="always", sensitivity=False).fit(frozen.cohort)
    _compare_rows(la.univariable_, ref["univariable_firth"])


def test_separation_is_detected_and_firth_used(fitted):
    uni = fitted.univariable_.set_index("term")
    assert uni.loc["histology=FTC", "method"] == "firth"  # FTC: no event
    assert uni.loc["n_stage_max=N1a", "method"] == "firth"  # N0 and N1a: no event
    assert uni.loc["sex=F", "method"] == "ml"
    assert np.isfinite(uni.loc["histology=FTC", ["or", "ci_low", "ci_high"]].astype(float)).all()
    sep = [w for w in fitted.warnings_ if "separation" in w]
    assert any(w.startswith("univariable histology") and "'FTC' has no events (0/3)" in w for w in sep)
    assert any(w.startswith("univariable n_stage_max") for w in sep)
    assert len(sep) == 2


def test_few_events_per_variable_and_collinear_exposures_are_warned(fitted):
    epv = [w for w in fitted.warnings_ if "events per variable" in w]
    assert len(epv) == 1 and epv[0].startswith("multivariable model")
    assert "n_rait_cycles" not in fitted.selected_
    assert fitted.univariable_.set_index("term").loc["n_rait_cycles", "p_value"] < 0.1
    assert any(w.startswith("n_rait_cycles reached") and "rait_group" in w for w in fitted.warnings_)


def test_warnings_are_emitted_as_statistics_warnings(cohort):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        la = LogisticAnalysis(sensitivity=False).fit(cohort)
    emitted = [str(w.message) for w in caught if issubclass(w.category, StatisticsWarning)]
    assert emitted == la.warnings_ and any("separation" in m for m in emitted)


def test_firth_never_keeps_ml_and_says_it_is_meaningless(cohort):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        la = LogisticAnalysis(firth="never", sensitivity=False).fit(cohort)
    assert (la.univariable_["method"] == "ml").all()
    assert any("meaningless" in w and "histology" in w for w in la.warnings_)


def test_reference_level_override_inverts_the_odds_ratio(cohort, fitted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        la = LogisticAnalysis(reference_levels={"sex": "F"}, sensitivity=False).fit(cohort)
    a = fitted.univariable_.set_index("term").loc["sex=F"]
    b = la.univariable_.set_index("term").loc["sex=M"]
    assert b["reference"] == "F"
    assert b["or"] == pytest.approx(1 / a["or"], rel=1e-9)
    assert (b["ci_low"], b["ci_high"]) == pytest.approx((1 / a["ci_high"], 1 / a["ci_low"]), rel=1e-9)
    assert b["p_value"] == pytest.approx(a["p_value"], rel=1e-9)
    with pytest.raises(AnalysisError, match="Reference level"):
        LogisticAnalysis(reference_levels={"sex": "X"}).fit(cohort)


def test_threshold_controls_selection(frozen, ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        la = LogisticAnalysis(threshold=0.001, sensitivity=False).fit(frozen.cohort)
    strict = sorted({r["variable"] for r in ref["univariable"] if r["p_value"] < 0.001})
    assert sorted(la.selected_) == strict
    assert la.to_dict()["selection_threshold"] == 0.001


def test_to_dict_is_contract_shaped_strict_json(fitted):
    d = fitted.to_dict()
    assert {"outcome", "univariable", "multivariable", "selection_threshold", "warnings"} <= set(d)
    assert d["outcome"] == "pfs_event" and d["selection_threshold"] == 0.1
    for row in d["univariable"] + d["multivariable"]:
        assert {"term", "or", "ci_low", "ci_high", "p_value"} <= set(row)
    cont = next(r for r in d["univariable"] if r["term"] == "max_tumor_size_cm")
    assert cont["reference"] is None and isinstance(cont["n_obs"], int)
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["sensitivity"]["age"] == "continuous (per year)"


def test_outcome_column_is_an_argument_of_fit(cohort, fitted):
    renamed = cohort.rename(columns={"pfs_event": "progressed"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = LogisticAnalysis().fit(renamed, outcome_col="progressed").to_dict()
    assert other["outcome"] == "progressed"
    assert {k: v for k, v in other.items() if k != "outcome"} == {
        k: v for k, v in fitted.to_dict().items() if k != "outcome"
    }


def test_no_events_is_refused(cohort):
    none = cohort.assign(pfs_event=0)
    with pytest.raises(InsufficientDataError, match="never 1"):
        LogisticAnalysis().fit(none)


def test_results_before_fit_are_refused():
    with pytest.raises(AnalysisError, match="fit"):
        LogisticAnalysis().to_dict()


# --------------------------------------------------------------------------- Firth class


def _firth_design(cohort: pd.DataFrame, case: dict):
    d = cohort.dropna(subset=["histology", "local_disease_status", "max_tumor_size_cm"])
    X = pd.DataFrame(
        {
            "histology=FTC": (d["histology"] == "FTC").astype(float),
            "local_disease_status=local_recurrence": (d["local_disease_status"] == "local_recurrence").astype(float),
            "local_disease_status=local_persistent": (d["local_disease_status"] == "local_persistent").astype(float),
            "max_tumor_size_cm": d["max_tumor_size_cm"].astype(float),
        }
    )
    assert ["Intercept"] + list(X.columns) == case["columns"]
    return X, d["pfs_event"].to_numpy()


def test_firth_class_matches_r_hand_check(frozen, firth_case):
    X, y = _firth_design(frozen.cohort, firth_case)
    m = FirthLogisticRegression().fit(X, y)
    assert m.converged_ and firth_case["converged"]
    assert firth_case["max_abs_gradient_check"] < 1e-6  # R: modified score == gradient of l*
    assert m.params_.to_numpy() == pytest.approx(firth_case["coef"], rel=REL)
    assert m.bse_.to_numpy() == pytest.approx(firth_case["se"], rel=REL)
    assert m.pvalues_.to_numpy() == pytest.approx(firth_case["p"], rel=REL)
    assert m.confidence_intervals_["lower"].to_numpy() == pytest.approx(firth_case["ci_low"], rel=REL)
    assert m.confidence_intervals_["upper"].to_numpy() == pytest.approx(firth_case["ci_high"], rel=REL)
    assert m.loglik_ == pytest.approx(firth_case["loglik"], rel=1e-9)
    assert list(m.summary.columns)[:2] == ["coef", "se"]


def test_firth_wald_intervals(frozen, firth_case):
    X, y = _firth_design(frozen.cohort, firth_case)
    m = FirthLogisticRegression(ci_method="wald").fit(X, y)
    lo = np.asarray(firth_case["coef"]) - 1.959963984540054 * np.asarray(firth_case["se"])
    assert m.confidence_intervals_["lower"].to_numpy() == pytest.approx(lo, rel=REL)


def test_firth_is_finite_under_complete_separation():
    x = np.array([0.1, 0.4, 0.5, 0.9, 1.2, 2.0, 2.2, 2.9, 3.1, 3.5])
    y = (x > 1.5).astype(float)
    m = FirthLogisticRegression().fit(pd.DataFrame({"x": x}), y)
    assert m.converged_
    assert np.isfinite(m.params_).all() and m.params_["x"] > 0
    ci = m.confidence_intervals_.loc["x"]
    assert ci["lower"] < m.params_["x"] < ci["upper"] and np.isfinite(ci).all()
    assert 0 < m.pvalues_["x"] < 0.05


def test_firth_refuses_bad_input():
    with pytest.raises(AnalysisError, match="0/1"):
        FirthLogisticRegression().fit(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), [0, 2, 1])
    with pytest.raises(AnalysisError, match="rank-deficient"):
        FirthLogisticRegression().fit(pd.DataFrame({"x": [1.0, 1.0, 1.0, 1.0]}), [0, 1, 0, 1])


def test_reference_levels_are_the_papers(ffitted):
    """Table 3's REF rows as the paper prints them: < 45 years, Male, PTC, T1 + T2, N0, Neither, Metachronous."""
    refs = ffitted.univariable_.dropna(subset=["reference"]).groupby("variable")["reference"].first().to_dict()
    assert refs == {
        "age_at_diagnosis": "<45",
        "sex": "M",
        "histology": "PTC",
        "t_stage_group": "T1+T2",
        "n_stage_max": "N0",
        "local_disease_status": "neither",
        "metastasis_timing": "metachronous",
        "rait_group": "o-RAIT",
    }
    terms = set(ffitted.univariable_["term"])
    assert {"sex=F", "metastasis_timing=synchronous"} <= terms
    assert not {"sex=M", "metastasis_timing=metachronous"} & terms
