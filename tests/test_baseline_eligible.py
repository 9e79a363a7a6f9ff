"""The patients eligible at baseline: how the warehouse serves them and their PFS sensitivity analysis.

``marts.patients.is_eligible_at_baseline`` judges the eligibility criteria with what is known at
the first RAIT (docs/specification.md "Eligibility at baseline"; the rule itself is tested by the
dbt unit tests, the oracle and the golden extract). Here: `read_baseline_eligible_cohort` gives
those patients in the shape of ``marts.analysis_cohort``, and ``survival.baseline_eligible``
compares their PFS by group (results.json, the CSV row, the report reading).
"""

from __future__ import annotations

import json
import shutil

import duckdb
import pandas as pd
import pytest

from rait_registry.analysis import wording
from rait_registry.analysis.survival import SurvivalAnalysis, SurvivalComparison, baseline_eligible_sentence
from rait_registry.contract import RAIT_GROUPS
from rait_registry.warehouse import read_baseline_eligible_cohort, read_published

pytestmark = pytest.mark.filterwarnings("ignore::rait_registry.exceptions.StatisticsWarning")


def _read(warehouse) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        baseline = read_baseline_eligible_cohort(con)
        cohort = con.execute("select * from marts.analysis_cohort order by patient_id").df()
        patients = con.execute("select * from marts.patients order by patient_id").df()
    finally:
        con.close()
    return baseline, cohort, patients


def test_baseline_cohort_is_the_baseline_eligible_patients_shaped_like_the_analysis_cohort(edge_warehouse):
    baseline, cohort, patients = _read(edge_warehouse)
    assert list(baseline.columns) == list(cohort.columns)
    assert list(baseline["patient_id"]) == sorted(patients.loc[patients["is_eligible_at_baseline"], "patient_id"])
    # the golden extract has patients eligible in only one of the two ways, in both directions
    only_baseline = set(baseline["patient_id"]) - set(cohort["patient_id"])
    only_contract = set(cohort["patient_id"]) - set(baseline["patient_id"])
    assert {"E18", "E21", "E48", "E89"} <= only_baseline
    assert {"E85", "E87"} == only_contract
    # a patient eligible both ways has exactly the analysis cohort's row
    both = sorted(set(baseline["patient_id"]) & set(cohort["patient_id"]))
    left = baseline.set_index("patient_id").loc[both]
    right = cohort.set_index("patient_id").loc[both]
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert read_published(edge_warehouse).baseline_cohort["patient_id"].tolist() == baseline["patient_id"].tolist()


def test_a_warehouse_without_the_column_gives_no_baseline_cohort(edge_warehouse, tmp_path):
    old = tmp_path / "old.duckdb"
    shutil.copy(edge_warehouse, old)
    con = duckdb.connect(str(old))
    con.execute("alter table marts.patients drop column is_eligible_at_baseline")
    assert read_baseline_eligible_cohort(con) is None
    con.close()
    survival = SurvivalAnalysis().fit(_read(edge_warehouse)[1], baseline_cohort=None).to_dict()
    entry = survival["baseline_eligible"]
    assert entry["skipped"] is True and "refresh" in entry["reason"]
    assert survival["interpretation"]["baseline_eligible"].startswith(
        "PFS in the patients eligible at baseline was not"
    )


def test_baseline_analysis_is_the_survival_comparison_of_that_cohort(cohort):
    cohort = cohort.sort_values("patient_id").reset_index(drop=True)
    # drop the first three m-RAIT patients and add nobody: 3 of the primary cohort not eligible at baseline
    dropped = cohort.loc[cohort["rait_group"].eq("m-RAIT"), "patient_id"].iloc[:3]
    baseline = cohort[~cohort["patient_id"].isin(dropped)]
    fitted = SurvivalAnalysis().fit(cohort, baseline_cohort=baseline)
    entry = fitted.to_dict()["baseline_eligible"]
    expected = SurvivalComparison(list(RAIT_GROUPS)).fit(baseline).to_dict()
    assert {k: entry[k] for k in expected} == expected
    assert entry["n"] == len(cohort) - 3
    assert entry["n_eligible_not_at_baseline"] == 3 and entry["n_not_eligible_under_contract"] == 0
    assert fitted.summary.loc["baseline_eligible", "n"] == len(cohort) - 3
    sentence = fitted.to_dict()["interpretation"]["baseline_eligible"]
    assert f"({len(cohort) - 3};" in sentence and "3 of the primary cohort" in sentence
    assert "immortal-time bias" in sentence and not wording.forbidden_words(sentence)


def test_baseline_cohort_with_one_group_is_skipped_with_the_counts(cohort):
    only_o = cohort[cohort["rait_group"].eq("o-RAIT")]
    entry = SurvivalAnalysis().fit(cohort, baseline_cohort=only_o).to_dict()["baseline_eligible"]
    assert entry == {
        "skipped": True,
        "reason": f"the comparison needs patients eligible at baseline in both groups; there are {len(only_o)} "
        "o-RAIT and 0 m-RAIT",
    }


def test_sentence_gives_the_5_year_pfs_when_known():
    entry = {
        "n": 10,
        "n_not_eligible_under_contract": 2,
        "n_eligible_not_at_baseline": 1,
        "hr": 1.5,
        "hr_ci_low": 0.5,
        "hr_ci_high": 4.5,
        "hr_reason": None,
        "groups": {"o-RAIT": {"pfs_5y": 0.848}, "m-RAIT": {"pfs_5y": 0.729}},
    }
    text = baseline_eligible_sentence(entry)
    assert "HR (m-RAIT vs o-RAIT) 1.50 (95% CI 0.50 to 4.50)" in text
    assert text.endswith("5-year PFS o-RAIT 84.8% vs m-RAIT 72.9%.")
    no_hr = baseline_eligible_sentence({**entry, "hr": None, "hr_reason": "no events"})
    assert "could not be estimated (no events)" in no_hr


def test_results_csv_and_report_carry_the_baseline_analysis(demo_results):
    results = json.loads((demo_results / "results.json").read_text())
    entry = results["survival"]["baseline_eligible"]
    assert not entry.get("skipped") and entry["n"] > 0
    assert "survival.baseline_eligible" in results["proportional_hazards"]["models"]
    table = pd.read_csv(demo_results / "tables" / "survival_hazard_ratios.csv").set_index("analysis")
    assert table.loc["baseline_eligible", "n"] == entry["n"]
    assert table.loc["baseline_eligible", "hr"] == pytest.approx(entry["hr"])


def test_report_has_the_baseline_row_and_reading(edge_warehouse, tmp_path):
    from rait_registry.report.build import build_report

    html = build_report(edge_warehouse, tmp_path).read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    assert "Eligible at baseline, o-RAIT vs m-RAIT (sensitivity)" in html
    reading = results["survival"]["interpretation"]["baseline_eligible"]
    assert reading.startswith("Patients eligible at baseline (70;")  # 68 eligible, + E18 E21 E48 E89, - E85 E87
    assert reading.split(":")[0] in html
    survival_csv = pd.read_csv(tmp_path / "tables" / "paper_survival.csv")
    assert survival_csv.iloc[:, 0].astype(str).str.contains("Eligible at baseline").any()
