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
    categorical_tests,
    chosen_test,
    compare_categorical,
    fisher_exact_rxc,
    g_test,
    mann_whitney,
    paired_ordinal_tests,
    pearson_chi2,
    yates_chi2,
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
from rait_registry.exceptions import AnalysisError, InsufficientDataError, StatisticsWarning

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


#: results.json column of each test's p-value -> its key in the R reference
R_P_KEYS = {"p_chi_square": "chisq_p", "p_chi_square_yates": "yates_p", "p_g_test": "g_p", "p_fisher_exact": "fisher_p"}


def _check_categorical(df: pd.DataFrame, variable: str, r: dict, rule: str = "") -> None:
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
    assert (rows["test"] == r[f"chosen_test{rule}"]).all()
    assert rows["p_value"].to_numpy() == pytest.approx(np.full(len(rows), r[f"chosen_p{rule}"]), rel=REL)
    # every test's p-value rides beside the one the rule shows (Yates: 2 x 2 tables only)
    assert rows["min_expected"].to_numpy() == pytest.approx(np.full(len(rows), r["min_expected"]), rel=REL)
    for column, key in R_P_KEYS.items():
        if r[key] is None:
            assert rows[column].isna().all(), (variable, column)
        else:
            assert rows[column].to_numpy() == pytest.approx(np.full(len(rows), r[key]), rel=REL), (variable, column)


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


@pytest.mark.parametrize(
    "variable",
    ["sex", "histology", "t_stage_group", "n_stage_max", "ata_risk", "local_disease_status", "metastasis_timing"],
)
def test_table1_revision_1_rule_matches_r(frozen, ref, variable):
    """--test-rule pearson_fisher: exact Fisher for every table with an expected count below 5."""
    ft1_r1 = table1(frozen.cohort, test_rule="pearson_fisher")
    _check_categorical(ft1_r1, variable, ref["table1"]["categorical"][variable], rule="_r1")


def test_table1_uses_yates_for_sparse_2x2_fisher_for_sparse_rxc_and_chi_square_otherwise(t1, cohort):
    tests = t1.groupby("variable")["test"].first()
    assert tests["local_disease_status"] == "fisher_exact"  # 3 x 2 with expected < 5
    assert tests["n_stage_max"] == "fisher_exact"
    assert tests["metastasis_timing"] == "chi_square_yates"  # 2 x 2 with expected 4.87
    assert tests["sex"] == "chi_square"
    r1 = table1(cohort, test_rule="pearson_fisher")
    assert r1.groupby("variable")["test"].first()["metastasis_timing"] == "fisher_exact"


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
def test_table2_response_rows_match_r(frozen, ft2, ref, variable):
    _check_categorical(ft2, variable, ref["table2"]["categorical"][variable])
    ne = _single(ft2, variable, "NE")
    assert ne["statistic"] == "n"
    ft2_r1 = table2(frozen.cohort, frozen.cycles, test_rule="pearson_fisher")
    _check_categorical(ft2_r1, variable, ref["table2"]["categorical"][variable], rule="_r1")


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


def test_compare_categorical_switches_on_expected_count_and_shape():
    assert compare_categorical([[20, 25], [30, 22]]).test == "chi_square"
    sparse = compare_categorical([[20, 25], [30, 22], [1, 3]])
    assert sparse.test == "fisher_exact" and sparse.detail["min_expected"] < 5
    sparse_2x2 = compare_categorical([[20, 25], [1, 3]])
    assert sparse_2x2.test == "chi_square_yates" and sparse_2x2.detail["rule"] == "pearson_yates_fisher"
    assert sparse_2x2.p_value == pytest.approx(yates_chi2([[20, 25], [1, 3]]).p_value)
    r1 = compare_categorical([[20, 25], [1, 3]], rule="pearson_fisher")
    assert r1.test == "fisher_exact" and r1.p_value == pytest.approx(fisher_exact_rxc([[20, 25], [1, 3]]).p_value)
    assert set(sparse_2x2.detail["p_values"]) == {"chi_square", "chi_square_yates", "g_test", "fisher_exact"}
    assert sparse.detail["p_values"]["chi_square_yates"] is None  # Yates: 2 x 2 only
    # a level empty in both groups does not change the test
    assert compare_categorical([[20, 25], [30, 22], [0, 0]]).p_value == pytest.approx(
        pearson_chi2([[20, 25], [30, 22]]).p_value
    )
    assert compare_categorical([[5, 7], [0, 0]]).test == "none"
    with pytest.raises(AnalysisError, match="test rule"):
        compare_categorical([[20, 25], [30, 22]], rule="fisher")


def test_chosen_test_is_the_rule_at_its_boundary():
    # expected count exactly 5 is not "below 5": Pearson
    assert chosen_test((2, 2), 5.0, "pearson_yates_fisher") == "chi_square"
    assert chosen_test((2, 2), 4.999, "pearson_yates_fisher") == "chi_square_yates"
    assert chosen_test((3, 2), 4.999, "pearson_yates_fisher") == "fisher_exact"
    assert chosen_test((2, 2), 4.999, "pearson_fisher") == "fisher_exact"
    assert chosen_test((3, 2), 5.0, "pearson_fisher") == "chi_square"


def test_yates_and_g_test_on_hand_worked_tables():
    # 2 x 2 [[10, 3], [2, 15]]: expected [[5.2, 7.8], [6.8, 10.2]], |O - E| = 4.8 everywhere
    e = np.array([[5.2, 7.8], [6.8, 10.2]])
    o = np.array([[10, 3], [2, 15]])
    assert yates_chi2(o).statistic == pytest.approx((((4.8 - 0.5) ** 2) / e).sum())
    assert pearson_chi2(o).statistic == pytest.approx(((4.8**2) / e).sum())
    assert g_test(o).statistic == pytest.approx(2 * (o * np.log(o / e)).sum())
    # an empty cell contributes 0 to G (0 log 0 = 0)
    o0 = np.array([[4, 0], [2, 6]])
    e0 = np.outer(o0.sum(1), o0.sum(0)) / o0.sum()
    assert g_test(o0).statistic == pytest.approx(2 * sum(x * np.log(x / y) for x, y in zip(o0.flat, e0.flat) if x))
    with pytest.raises(AnalysisError, match="2 x 2"):
        yates_chi2([[1, 2], [3, 4], [5, 6]])
    assert categorical_tests([[3, 0], [0, 0]]) == dict.fromkeys(
        ("chi_square", "chi_square_yates", "g_test", "fisher_exact")
    )


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


# --------------------------------------------------------------------------- missing-data codes


def _local_status_frame() -> pd.DataFrame:
    """o-RAIT: 10 neither, 2 recurrence, 1 persistent, 2 unknown; m-RAIT: 12, 4, 7, 1 unknown, 1 null."""
    spec = {
        "o-RAIT": [("neither", 10), ("local_recurrence", 2), ("local_persistent", 1), ("unknown", 2)],
        "m-RAIT": [("neither", 12), ("local_recurrence", 4), ("local_persistent", 7), ("unknown", 1), (None, 1)],
    }
    rows = [(group, status) for group, levels in spec.items() for status, n in levels for _ in range(n)]
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:03d}" for i in range(len(rows))],
            "rait_group": [g for g, _ in rows],
            "local_disease_status": [s for _, s in rows],
        }
    )


def test_unknown_local_disease_status_is_a_missing_row_never_a_level():
    from rait_registry.analysis.tables import TABLE1_CHARACTERISTICS

    local = [c for c in TABLE1_CHARACTERISTICS if c.variable == "local_disease_status"]
    with pytest.warns(StatisticsWarning, match=r"3 patient\(s\) with local_disease_status 'unknown'"):
        t = Table1(local).fit(_local_status_frame()).summary
    assert t["level"].tolist() == ["neither", "local_recurrence", "local_persistent", "missing"]
    missing = _single(t, "local_disease_status", "missing")
    assert (missing["overall"], missing["o_rait"], missing["m_rait"]) == (4, 2, 2)  # unknown + null
    assert missing["statistic"] == "n" and (t["n_missing"] == 4).all()
    # the test and the percentages use the 36 patients with a known status only
    expected = compare_categorical([[10, 12], [2, 4], [1, 7]])
    assert t["test"].iloc[0] == expected.test
    assert t["p_value"].to_numpy() == pytest.approx(np.full(4, expected.p_value))
    assert _single(t, "local_disease_status", "neither")["o_rait_pct"] == pytest.approx(100 * 10 / 13)


def test_table2_repeats_the_response_comparisons_at_the_horizon(cohort, cycles):
    """The *_at_horizon rows are the response rows computed on cycles 1 and n's response_at_horizon."""
    assert "response_at_horizon" not in table2(cohort, cycles)["variable"].str.cat()
    rng = np.random.default_rng(16)
    at_horizon = cycles.assign(
        response_at_horizon=np.where(rng.random(len(cycles)) < 0.3, "NE", cycles["response"].fillna("NE"))
    )
    t2h = table2(cohort, at_horizon)
    # the reference: Table 2 of a cohort whose first/last responses are those at the horizon
    ordered = at_horizon.sort_values(["patient_id", "cycle_number"]).groupby("patient_id")["response_at_horizon"]
    swapped = cohort.assign(
        first_response=cohort["patient_id"].map(ordered.first()),
        last_response=cohort["patient_id"].map(ordered.last()),
    )
    assert not swapped["first_response"].equals(cohort["first_response"])  # the draw changed some responses
    reference = table2(swapped, cycles).set_index(["variable", "level"], drop=False)
    compared = 0
    for variable in ("first_response", "last_response", "m_rait_first_vs_last", "m_rait_marginal_homogeneity"):
        rows = t2h[t2h["variable"] == f"{variable}_at_horizon"]
        assert len(rows) == len(reference.loc[variable])
        for _, row in rows.iterrows():
            expected = reference.loc[(variable, row["level"])]
            for column in ("overall", "o_rait", "m_rait", "n_missing", "test"):
                assert row[column] == expected[column] or (pd.isna(row[column]) and pd.isna(expected[column]))
            assert row["p_value"] == pytest.approx(expected["p_value"], nan_ok=True)
            compared += 1
    assert compared >= 12
    # the primary rows are untouched
    pd.testing.assert_frame_equal(
        t2h[~t2h["variable"].str.endswith("_at_horizon")].reset_index(drop=True), table2(cohort, cycles)
    )
