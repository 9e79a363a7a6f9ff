"""Follow-up, deaths, RAIT cycles and the PFS censoring rule (analysis/follow_up.py).

The frozen cohorts predate revision 2 (no ``pfs_months_last_contact``); the tests build the
``marts.pfs`` columns a revision-2 refresh publishes: PFS censored at last contact is the
follow-up for a censored patient and the PFS time for an event (docs/specification.md section 2).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from rait_registry.analysis import AnalysisConfig, SurvivalComparison, analyze, validate_results
from rait_registry.analysis.follow_up import censoring_rule, cohort_summary, last_contact_sensitivity, with_pfs
from rait_registry.exceptions import StatisticsWarning

from .frozen_data import read_frozen_csv


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return read_frozen_csv("frozen_demo", "analysis_cohort")


@pytest.fixture(scope="module")
def pfs(demo) -> pd.DataFrame:
    """A marts.pfs for the frozen demo: three deaths (one ending PFS), PFS at last contact."""
    lc = np.where(demo["pfs_event"] == 1, demo["pfs_months"], demo["follow_up_months"])
    death = pd.Series([None] * len(demo), dtype=object)
    death.iloc[[0, 1, 50]] = "2020-01-01"
    event_type = np.where(demo["pfs_event"] == 1, "progression", "censored").astype(object)
    event_type[1] = "death"
    return pd.DataFrame(
        {
            "patient_id": demo["patient_id"][::-1].to_numpy(),  # another order: joined by id
            "pfs_months_last_contact": lc[::-1],
            "death_date": death[::-1].to_numpy(),
            "event_type": event_type[::-1],
        }
    )


def test_cycles_and_follow_up_are_median_and_range(demo):
    summary = cohort_summary(demo)
    m = demo.loc[demo["rait_group"] == "m-RAIT", "n_rait_cycles"]
    assert summary["m_rait_cycles"] == {"n": len(m), "median": float(m.median()), "min": m.min(), "max": m.max()}
    fu = summary["follow_up_months"]
    assert fu["overall"]["median"] == pytest.approx(demo["follow_up_months"].median())
    assert (fu["overall"]["min"], fu["overall"]["max"]) == (
        demo["follow_up_months"].min(),
        demo["follow_up_months"].max(),
    )
    assert fu["o_rait"]["n"] + fu["m_rait"]["n"] == fu["overall"]["n"] == len(demo)
    assert summary["deaths"]["skipped"] is True and "marts.pfs" in summary["deaths"]["reason"]


def test_deaths_come_from_marts_pfs(demo, pfs):
    joined = with_pfs(demo, pfs)
    assert list(joined["patient_id"]) == list(demo["patient_id"])  # cohort order kept
    deaths = cohort_summary(joined)["deaths"]
    groups = demo["rait_group"].iloc[[0, 1, 50]]
    assert deaths == {
        "overall": 3,
        "o_rait": int((groups == "o-RAIT").sum()),
        "m_rait": int((groups == "m-RAIT").sum()),
        "ending_pfs": 1,
    }


@pytest.mark.parametrize(
    ("meta", "rule", "revision"),
    [
        ({"run_id": "r", "dbt_vars": {}}, "last_contact", 1),  # a refresh before contract_revision existed
        ({"run_id": "r", "dbt_vars": {}, "contract_revision": 1}, "last_contact", 1),
        ({"run_id": "r", "dbt_vars": {}, "contract_revision": 2}, "last_assessment", 2),
        ({"run_id": "r", "dbt_vars": {"pfs_censoring": "last_contact"}, "contract_revision": 2}, "last_contact", 2),
        ({}, "last_assessment", None),
    ],
)
def test_censoring_rule_is_read_from_the_refresh(meta, rule, revision):
    found = censoring_rule(meta)
    assert (found["rule"], found["contract_revision"]) == (rule, revision)
    assert found["description"] and found["source"]


def test_last_contact_sensitivity_is_a_survival_comparison_on_that_column(demo, pfs):
    joined = with_pfs(demo, pfs)
    matched = joined.iloc[::3][["patient_id"]]
    out = last_contact_sensitivity(joined, matched, "last_assessment")
    direct = SurvivalComparison(["o-RAIT", "m-RAIT"]).fit(joined, duration_col="pfs_months_last_contact").to_dict()
    assert out["eligible"] == direct
    sub = joined[joined["patient_id"].isin(matched["patient_id"])]
    assert out["matched"]["n"] == len(sub)
    assert out["matched"]["hr"] == pytest.approx(
        SurvivalComparison(["o-RAIT", "m-RAIT"]).fit(sub, duration_col="pfs_months_last_contact").to_dict()["hr"]
    )
    # the events are the same under both rules; only the censored times move
    assert out["eligible"]["events"] == int(demo["pfs_event"].sum())


def test_last_contact_sensitivity_says_why_it_was_skipped(demo, pfs):
    assert "pfs_months_last_contact" in last_contact_sensitivity(demo, None, "last_assessment")["reason"]
    assert "already censored" in last_contact_sensitivity(with_pfs(demo, pfs), None, "last_contact")["reason"]
    assert last_contact_sensitivity(with_pfs(demo, pfs), None, "last_assessment")["matched"]["skipped"] is True


def test_analyze_records_rule_revision_summary_and_sensitivity(demo, pfs):
    cycles = read_frozen_csv("frozen_demo", "rait_cycles")
    meta = {"run_id": "r2-run", "dbt_vars": {}, "contract_revision": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        result = analyze(demo, cycles, AnalysisConfig(sensitivity_analyses=False), meta=meta, pfs=pfs)
    res = result.results
    validate_results(res)
    assert res["meta"]["contract_revision"] == 2
    assert res["pfs_censoring"]["rule"] == "last_assessment"
    sens = res["pfs_censoring"]["last_contact_sensitivity"]
    assert sens["eligible"]["n"] == len(demo) and sens["matched"]["n"] == 2 * res["matching"]["n_pairs"]
    assert res["cohort_summary"]["deaths"]["overall"] == 3
    table = result.tables["cohort_summary"]
    assert set(table["quantity"]) == {"rait_cycles", "follow_up_months", "deaths"}
