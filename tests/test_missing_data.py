"""Missing-data codes (local disease status ``unknown``, docs/specification.md section 2, revision 2).

``unknown`` cannot reach a cohort built by the refresh (eligibility guarantees an anchor), so these
tests construct cohorts that carry it: the frozen stand-in with a few statuses overwritten. Each
analysis must treat the code as missing data -- never a level, never a reference -- and say how
many patients it left out. Table 1's missing row is tested in tests/test_tables.py.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from rait_registry.analysis import AnalysisConfig, LogisticAnalysis, PropensityMatcher, analyze
from rait_registry.analysis.missing import as_missing, missing_code_counts
from rait_registry.exceptions import StatisticsWarning

from .frozen_data import read_frozen_csv

pytestmark = pytest.mark.filterwarnings("ignore::rait_registry.exceptions.StatisticsWarning")

#: Patients (rows of the stand-in) whose status is overwritten: two o-RAIT, one m-RAIT, one of each status.
UNKNOWN_ROWS = [0, 1, 5]


@pytest.fixture(scope="module")
def with_unknown() -> pd.DataFrame:
    cohort = read_frozen_csv("frozen_cohort", "analysis_cohort")
    cohort.loc[UNKNOWN_ROWS, "local_disease_status"] = "unknown"
    return cohort


@pytest.fixture(scope="module")
def without_them(with_unknown) -> pd.DataFrame:
    return with_unknown.drop(index=UNKNOWN_ROWS).reset_index(drop=True)


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        return fit()


def test_the_constructed_cohort_carries_the_code(with_unknown):
    assert missing_code_counts(with_unknown) == {"local_disease_status": 3}
    assert as_missing(with_unknown)["local_disease_status"].isna().sum() == 3


def test_logistic_leaves_unknown_out_of_the_models_that_use_it(with_unknown, without_them):
    with pytest.warns(StatisticsWarning, match=r"3 patient\(s\) with local_disease_status 'unknown'"):
        fitted = LogisticAnalysis(sensitivity=False).fit(with_unknown)
    reference = _quiet(lambda: LogisticAnalysis(sensitivity=False).fit(without_them))
    uni = fitted.univariable_.set_index("term")
    ref = reference.univariable_.set_index("term")
    local = [t for t in uni.index if t.startswith("local_disease_status=")]
    assert local == ["local_disease_status=local_recurrence", "local_disease_status=local_persistent"]
    assert (uni.loc[local, "reference"] == "neither").all()
    # the local-disease model is the model of the patients with a known status ...
    cols = ["or", "ci_low", "ci_high", "p_value", "n_obs", "n_events"]
    pd.testing.assert_frame_equal(uni.loc[local, cols], ref.loc[local, cols])
    assert (uni.loc[local, "n_obs"] == len(with_unknown) - 3).all()
    # ... while a model without it keeps every patient
    assert uni.loc["sex=F", "n_obs"] == len(with_unknown)
    assert any("3 patient(s)" in w and "logistic" in w for w in fitted.warnings_)
    assert not any("unknown" in str(t) for t in fitted.multivariable_["term"])


def test_matching_leaves_unknown_out_with_a_warning(with_unknown, without_them):
    with pytest.warns(StatisticsWarning, match=r"matching: 3 patient\(s\) with local_disease_status 'unknown'"):
        matcher = PropensityMatcher().fit(with_unknown)
    reference = _quiet(lambda: PropensityMatcher().fit(without_them))
    assert matcher.to_dict()["pairs"] == reference.to_dict()["pairs"]
    pd.testing.assert_frame_equal(matcher.balance_, reference.balance_)
    dropped = set(with_unknown.loc[UNKNOWN_ROWS, "patient_id"])
    seen = set(matcher.propensity_.index)
    assert not dropped & seen and len(seen) == len(with_unknown) - 3
    # a matching whose covariates do not use local disease keeps everyone, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticsWarning)
        age_only = PropensityMatcher(covariates=["age_at_diagnosis_years"]).fit(with_unknown)
    assert len(age_only.propensity_) == len(with_unknown)


def test_analyze_counts_unknown_and_never_shows_it_as_a_level(with_unknown):
    cycles = read_frozen_csv("frozen_cohort", "rait_cycles")
    config = AnalysisConfig(sensitivity_analyses=False, subgroup_cohort="eligible")
    result = _quiet(lambda: analyze(with_unknown, cycles, config))
    section = result.results["missing_data"]["local_disease_status"]
    assert section["codes"] == ["unknown"] and section["n_patients"] == 3
    levels = {r["level"] for r in result.results["table1"] if r["variable"] == "local_disease_status"}
    assert "unknown" not in levels and "missing" in levels
    subgroup = next(s for s in result.results["survival"]["subgroups"] if s["name"] == "local_disease_status")
    assert set(subgroup["groups"]) == {"neither", "local_recurrence", "local_persistent"}
    assert subgroup["n_excluded_missing"] == 3
