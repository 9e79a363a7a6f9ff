"""Tables 1-2 and their tests against R (tests/r/stats1_references.R on the frozen cohorts).

Reference values: tests/data/r_reference/stats1.json (stand-in, tests/data/frozen_cohort/) and
stats1_demo.json (demo warehouse, tests/data/frozen_demo/), written by
``Rscript tests/r/stats1_references.R COHORT.csv CYCLES.csv OUT.json``. The R comparisons run on
both (fixture ``frozen``); tests of stand-in properties (CR/NE rows, missing values) on the
stand-in only. Statistics are compared at 1e-6 relative tolerance; counts exactly.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rait_registry.analysis.formatting import format_p
from rait_registry.analysis.hypothesis_tests import (
    compare_categorical,
    fisher_exact_rxc,
    mann_whitney,
    paired_ordinal_tests,
    pearson_chi2,
)
from rait_registry.analysis.tables import (
    Table1,
    Table2,
    cohort_section,
    records,
    response_shift_table,
    table1,
    table2,
)
from rait_registry.exceptions import AnalysisError, InsufficientDataError

from .frozen_data import FROZEN, REFERENCES, load_frozen

DATA = Path(__file__).parent / "data"
REL = 1e-6


@pytest.fixture(scope="module")
def ref(frozen) -> dict:
    return frozen.ref("stats1")


@pytest.fixture(scope="module")
def ft1(frozen) -> pd.DataFrame:
    return table1(frozen.cohort)


@pytest.fixture(scope="module")
def ft2(frozen) -> pd.DataFrame:
    return table2(frozen.cohort, frozen.cycles)


@pytest.fixture(scope="module")
def t1(cohort) -> pd.DataFrame:
    return table1(cohort)


@pytest.fixture(scope="module")
def t2(cohort, cycles) -> pd.DataFrame:
    return table2(cohort, cycles)


def _single(df: pd.DataFrame, variable: str, level=None) -> pd.Series:
    sel = df["variable"] == variable
    sel &= df["level"].isna() if level is None else (df["level"] == level)
    rows = df[sel]
    assert len(rows) == 1, f"{variable}/{level}: {len(rows)} rows"
    return rows.iloc[0]


def _check_continuous(df: pd.DataFrame, variable: str, r: dict) -> None:
    row = _single(df, variable)
    for col in ("overall", "o_rait", "m_rait"):
        med, q1, q3 = r[col]
        assert row[col] == pytest.approx(med, rel=REL)
        assert row[f"{col}_p25"] == pytest.approx(q1, rel=REL)
        assert row[f"{col}_p75"] == pytest.approx(q3, rel=REL)
    assert row["test"] == "mann_whitney"
    assert row["p_value"] == pytest.approx(r["p"], rel=REL)
    assert row["n_missing"] == r["n_missing"]


def _check_categorical(df: pd.DataFrame, variable: str, r: dict) -> None:
    rows = df[df["variable"] == variable]
    for i, level in enumerate(r["levels"]):
        row = _single(df, variable, level)
        for col in ("overall", "o_rait", "m_rait"):
            assert row[col] == r["counts"][col][i], (variable, level, col)
    if r["n_na"]:
        assert _single(df, variable, "missing")["overall"] == r["n_na"]
    else:
        assert "missing" not in set(rows["level"])
    assert (rows["n_missing"] == r["n_missing"]).all()
    assert (rows["test"] == r["chosen_test"]).all()
    assert rows["p_value"].to_numpy() == pytest.approx(np.full(len(rows), r["chosen_p"]), rel=REL)


# --------------------------------------------------------------------------- Table 1


def test_cohort_section_counts_groups(frozen, ref):
    assert cohort_section(frozen.cohort) == ref["cohort"]


@pytest.mark.parametrize("variable", ["age_at_diagnosis_years", "max_tumor_size_cm"])
def test_table1_continuous_rows_match_r(ft1, ref, variable):
    _check_continuous(ft1, variable, ref["table1"]["continuous"][variable])


@pytest.mark.parametrize(
    "variable",
    ["sex", "histology", "t_stage_group", "n_stage_max", "ata_risk", "local_disease_status", "metastasis_timing"],
)
def test_table1_categorical_rows_match_r(ft1, ref, variable):
    _check_categorical(ft1, variable, ref["table1"]["categorical"][variable])


def test_table1_uses_fisher_for_sparse_rxc_and_chi_square_otherwise(t1):
    tests = t1.groupby("variable")["test"].first()
    assert tests["local_disease_status"] == "fisher_exact"  # 3 x 2 with expected < 5
    assert tests["n_stage_max"] == "fisher_exact"
    assert tests["sex"] == "chi_square"


def test_table1_percentages_use_testable_denominator(t1, cohort):
    row = _single(t1, "t_stage_group", "T1+T2")
    known = cohort["t_stage_group"].notna()
    expected = 100.0 * (cohort["t_stage_group"] == "T1+T2").sum() / known.sum()
    assert row["overall_pct"] == pytest.approx(expected)
    assert row["overall_display"] == f"{row['overall']} ({expected:.1f})"
    unknown = _single(t1, "ata_risk", "unknown")
    assert unknown["statistic"] == "n" and pd.isna(unknown["overall_pct"])


@pytest.mark.parametrize(
    "table, r_key",
    [("sex", "sex"), ("metastasis_timing", "metastasis_timing"), ("local_disease_status", "local_disease_status")],
)
def test_chi_square_and_fisher_both_match_r(frozen, ref, table, r_key):
    cohort = frozen.cohort
    r = ref["table1"]["categorical"][r_key]
    tab = pd.crosstab(cohort[table], cohort["rait_group"]).reindex(columns=["o-RAIT", "m-RAIT"])
    assert pearson_chi2(tab).statistic == pytest.approx(r["chisq_stat"], rel=REL)
    assert pearson_chi2(tab).p_value == pytest.approx(r["chisq_p"], rel=REL)
    assert fisher_exact_rxc(tab).p_value == pytest.approx(r["fisher_p"], rel=REL)


def test_mann_whitney_statistic_is_r_w(frozen, ref):
    cohort = frozen.cohort
    x = cohort["max_tumor_size_cm"]
    res = mann_whitney(x[cohort.rait_group == "o-RAIT"], x[cohort.rait_group == "m-RAIT"])
    assert res.statistic == pytest.approx(ref["table1"]["continuous"]["max_tumor_size_cm"]["W"], rel=REL)


def test_table1_missing_column_is_named(cohort):
    with pytest.raises(AnalysisError, match="max_tumor_size_cm"):
        table1(cohort.drop(columns="max_tumor_size_cm"))


def test_table1_rejects_rows_outside_the_two_groups(cohort):
    bad = cohort.copy()
    bad.loc[3, "rait_group"] = None
    with pytest.raises(AnalysisError, match="row 4"):
        table1(bad)


def test_table1_rejects_unknown_vocabulary(cohort):
    bad = cohort.copy()
    bad.loc[0, "sex"] = "female"
    with pytest.raises(AnalysisError, match="vocabulary"):
        table1(bad)


def test_records_are_strict_json(t1, t2):
    for df in (t1, t2):
        recs = records(df)
        text = json.dumps(recs, allow_nan=False)  # raises on NaN/inf
        assert json.loads(text) == recs
    sex_f = next(r for r in records(t1) if r["variable"] == "sex" and r["level"] == "F")
    assert isinstance(sex_f["overall"], int) and sex_f["overall_p25"] is None
    assert Table1().fit(pd.read_csv(DATA / "frozen_cohort" / "analysis_cohort.csv")).to_dict() == records(t1)


# --------------------------------------------------------------------------- Table 2


@pytest.mark.parametrize("variable", ["median_activity_gbq", "cumulative_gbq"])
def test_table2_activity_rows_match_r(ft2, ref, variable):
    _check_continuous(ft2, variable, ref["table2"]["continuous"][variable])


@pytest.mark.parametrize("how, key", [("pooled", "interval_pooled"), ("patient_median", "interval_patient_median")])
def test_table2_interval_matches_r(frozen, ref, how, key):
    row = _single(table2(frozen.cohort, frozen.cycles, interval=how), "interval_months")
    med, q1, q3 = ref["table2"][key]
    assert (row["m_rait"], row["m_rait_p25"], row["m_rait_p75"]) == pytest.approx((med, q1, q3), rel=REL)
    assert row["overall"] is None and row["o_rait"] is None and pd.isna(row["p_value"])


def test_table2_interval_ignores_cycles_outside_the_cohort(cohort, cycles, t2):
    extra = cycles[cycles.patient_id == cycles.patient_id.iloc[0]].copy()
    extra["patient_id"] = "NOT-IN-COHORT"
    extra["days_since_previous"] = 9999
    row = _single(table2(cohort, pd.concat([cycles, extra])), "interval_months")
    assert row["m_rait"] == _single(t2, "interval_months")["m_rait"]


@pytest.mark.parametrize("variable", ["first_response", "last_response"])
def test_table2_response_rows_match_r(ft2, ref, variable):
    _check_categorical(ft2, variable, ref["table2"]["categorical"][variable])
    ne = _single(ft2, variable, "NE")
    assert ne["statistic"] == "n"


def test_table2_paired_rows_match_r(ft2, ref):
    r = ref["table2"]["paired"]
    for level in ("improved", "unchanged", "worsened", "not_evaluable"):
        row = _single(ft2, "m_rait_first_vs_last", level)
        assert row["m_rait"] == r[level]
        assert row["test"] == "wilcoxon_signed_rank"
        assert row["p_value"] == pytest.approx(r["wilcoxon_p"], rel=REL)
    sm = _single(ft2, "m_rait_marginal_homogeneity")
    assert sm["m_rait"] == r["n_pairs"] and sm["test"] == "stuart_maxwell"
    assert sm["p_value"] == pytest.approx(r["sm_p"], rel=REL)


def test_paired_tests_statistics_match_r(frozen, ref):
    r = ref["table2"]["paired"]
    m = frozen.cohort[frozen.cohort.rait_group == "m-RAIT"]
    wil, sm = paired_ordinal_tests(m["first_response"], m["last_response"])
    assert wil.statistic == pytest.approx(r["V"], rel=REL)
    assert sm.statistic == pytest.approx(r["sm_stat"], rel=REL)
    assert sm.detail["df"] == r["sm_df"] and sm.detail["categories"] == r["categories"]


def test_paired_tests_drop_absent_categories_and_ne():
    first = ["PR", "PR", "SD", "SD", "PR", "NE", "SD", "PR"]
    last = ["SD", "PD", "SD", "PD", "SD", "PD", "PD", "PR"]
    wil, sm = paired_ordinal_tests(first, last)
    assert wil.detail["n_pairs"] == 7 and wil.detail["n_nonzero"] == 5
    assert sm.detail["categories"] == ["PR", "SD", "PD"] and sm.detail["df"] == 2
    # all five changes are worsenings: V is the sum of all ranks 1..5
    assert wil.statistic == pytest.approx(15.0)
    with pytest.raises(InsufficientDataError):
        paired_ordinal_tests(["NE"], ["PD"])


def test_response_shift_table_counts_pairs(frozen, ref):
    tab = response_shift_table(frozen.cohort)
    assert int(tab.to_numpy().sum()) == ref["cohort"]["n_m_rait"]
    ranks = {c: i for i, c in enumerate(["CR", "PR", "SD", "PD"])}
    worse = sum(int(tab.loc[f, la]) for f in ranks for la in ranks if ranks[la] > ranks[f])
    assert worse == ref["table2"]["paired"]["worsened"]


# --------------------------------------------------------------------------- test helpers


def test_fisher_rxc_matches_r_on_small_and_tied_tables():
    for case in load_frozen("frozen_cohort").ref("stats1")["fisher_cases"]:
        assert fisher_exact_rxc(case["table"]).p_value == pytest.approx(case["p"], rel=REL), case["table"]


def test_fisher_rxc_refuses_huge_enumerations():
    with pytest.raises(AnalysisError, match="enumeration"):
        fisher_exact_rxc([[10, 10, 10], [10, 10, 10], [10, 10, 10]], max_tables=100)


def test_compare_categorical_switches_on_expected_count():
    assert compare_categorical([[20, 25], [30, 22]]).test == "chi_square"
    sparse = compare_categorical([[20, 25], [30, 22], [1, 3]])
    assert sparse.test == "fisher_exact" and sparse.detail["min_expected"] < 5
    # a level empty in both groups does not change the test
    assert compare_categorical([[20, 25], [30, 22], [0, 0]]).p_value == pytest.approx(
        pearson_chi2([[20, 25], [30, 22]]).p_value
    )
    assert compare_categorical([[5, 7], [0, 0]]).test == "none"


@pytest.mark.parametrize(
    "p, text", [(0.5123, "0.512"), (0.00031, "0.0003"), (3e-7, "<0.0001"), (None, None), (math.nan, None)]
)
def test_format_p(p, text):
    assert format_p(p, missing=None) == text
    assert format_p(p) == (text or "n/a")  # the report's tables and figures


@pytest.mark.parametrize("p, text", [(0.5123, "0.512"), (0.00031, "< 0.001"), (3e-7, "< 0.001"), (None, "n/a")])
def test_format_p_in_sentences(p, text):
    assert format_p(p, style="sentence") == text


def test_group_column_is_an_argument(cohort, cycles, t1, t2):
    renamed = cohort.rename(columns={"rait_group": "arm"})
    pd.testing.assert_frame_equal(Table1().fit(renamed, group_col="arm").summary, t1)
    pd.testing.assert_frame_equal(Table2().fit(renamed, cycles, group_col="arm").summary, t2)


def test_tables_without_one_group_give_no_p_value(cohort, cycles):
    only_m = cohort[cohort.rait_group == "m-RAIT"]
    t = table1(only_m)
    assert t["p_value"].isna().all() and t["test"].isna().all()
    assert _single(t, "sex", "F")["o_rait"] == 0
    t2 = table2(only_m, cycles)
    assert t2.loc[t2.variable == "first_response", "p_value"].isna().all()
    assert _single(t2, "m_rait_marginal_homogeneity")["p_value"] > 0  # within-group test still runs


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R not installed")
@pytest.mark.parametrize("name", FROZEN)
def test_r_reference_is_current_for_the_frozen_cohort(tmp_path, name):
    """Re-running the R script on the frozen CSVs reproduces the committed reference."""
    out = tmp_path / "stats1.json"
    script = Path(__file__).parent / "r" / "stats1_references.R"
    subprocess.run(
        [
            "Rscript",
            str(script),
            str(DATA / name / "analysis_cohort.csv"),
            str(DATA / name / "rait_cycles.csv"),
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh = json.loads(out.read_text())
    committed = json.loads((DATA / "r_reference" / REFERENCES[name]["stats1"]).read_text())
    fresh["meta"].pop("created")
    committed["meta"].pop("created")
    assert fresh == committed
