"""pandera models: raw models agree with contract.py and the SQL checks; mart models and
mart_checks catch inconsistent marts (on hand-made marts, no dbt build), and the SQL engine of
mart_checks (mart_sql) reports exactly what pandera reports; the dbt tests catch disagreements
between marts."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from rait_registry import checks, mart_sql
from rait_registry.contract import ACTIVITY_UNITS_TO_GBQ, LAB_UNITS, TABLE_ORDER, TABLES
from rait_registry.dbt_runner import run_dbt
from rait_registry.exceptions import MartCheckFailed, UsageError
from rait_registry.mart_checks import validate_marts
from rait_registry.mart_sql import SQL_CHECKS, SQL_RULES
from rait_registry.schemas.marts import MART_MODELS
from rait_registry.schemas.raw import RAW_MODELS, raw_schema

from .test_checks import base_tables

EXTRACTED_AT = dt.date(2024, 6, 30)

# ---------------------------------------------------------------------------------------------
# raw models <-> contract.py
# ---------------------------------------------------------------------------------------------


def _check_stats(schema_column, name):
    return [c.statistics for c in schema_column.checks if c.name == name]


@pytest.mark.parametrize("table", TABLE_ORDER)
def test_raw_model_declares_the_contract_columns(table):
    schema = RAW_MODELS[table].to_schema()
    assert schema.strict is True and schema.coerce is True
    assert list(schema.columns) == TABLES[table].column_names
    for column in TABLES[table].columns:
        declared = schema.columns[column.name]
        assert declared.nullable is (not column.required), column.name
        vocab = _check_stats(declared, "isin")
        assert (vocab[0]["allowed_values"] if vocab else None) == (
            list(column.vocabulary) if column.vocabulary else None
        )
        ranges = _check_stats(declared, "contract_range")
        if column.min_value is None and column.max_value is None:
            assert not ranges, column.name
        else:
            assert ranges == [
                {
                    "min_value": column.min_value,
                    "min_inclusive": column.min_inclusive,
                    "max_value": column.max_value,
                    "max_inclusive": column.max_inclusive,
                }
            ], column.name
        expected_type = {
            "date": "iso_date",
            "decimal": "strict_decimal",
            "integer": "strict_integer",
            "boolean": "strict_boolean",
        }
        assert str(declared.dtype) == expected_type.get(column.dtype, "str"), column.name


# ---------------------------------------------------------------------------------------------
# raw models <-> SQL checks: the same rows rejected, rule by rule
# ---------------------------------------------------------------------------------------------

BAD_TYPED = {
    "date": ["12/31/2019", "2019-02-30", "2019-1-2", "20190101", "0000-01-01"],
    "decimal": ["2,5", "abc", "inf", "1e400", "1_000"],
    "integer": ["2.5", "x", "99999999999"],
    "boolean": ["yes", "1"],
}
GOOD_TYPED = {
    "date": ["2019-01-02", " 2019-01-02 ", "1500-01-01"],
    "decimal": ["2.5", " 3 ", "1e1", ".5"],
    "integer": ["2", "2.0", " 7 "],
    "boolean": ["TRUE", " false "],
}


def _variants(table: str) -> list[tuple[dict[str, str], str | None]]:
    """(row, expected reason or None) for every rule of ``table``, from contract.py."""
    spec = TABLES[table]
    # a base row that no conditional rule touches (imaging: a CT finding, no rait_id needed)
    base = dict(base_tables()[table][4 if table == "imaging_findings" else 0])
    out: list[tuple[dict[str, str], str | None]] = []

    def variant(changes: dict[str, str], reason: str | None) -> None:
        row = {**base, **changes}
        if spec.key not in changes:
            row[spec.key] = f"{base[spec.key]}-v{len(out)}"
        if table == "follow_up" and "vital_status" not in changes:
            # keep vital_status consistent with whatever death_date the variant has
            row["vital_status"] = "dead" if (row["death_date"] or "").strip() else "alive"
            if row["vital_status"] == "dead" and "last_contact_date" not in changes:
                row["last_contact_date"] = "1000-01-01"
        if table == "lab_results" and "analyte" in changes and "unit" not in changes:
            analyte = changes["analyte"].strip().lower()
            row["unit"] = next((next(iter(u)) for a, u in LAB_UNITS.items() if a.lower() == analyte), row["unit"])
        out.append((row, reason))

    for column in spec.columns:
        variant({column.name: ""}, "missing_required" if column.required else None)
        if column.vocabulary:
            variant({column.name: "zzz"}, "not_in_vocabulary")
            for value in column.vocabulary:
                changes = {column.name: f" {value.upper()} "}
                if column.name == "unit":  # keep the unit valid for the analyte
                    changes["analyte"] = next(a for a, units in LAB_UNITS.items() if value in units)
                if column.name == "activity_unit":
                    changes["activity"] = "2" if value == "GBq" else ("2000" if value == "MBq" else "100")
                if column.name == "modality" and value == "RxWBS":
                    changes["rait_id"] = "R1"
                if column.name == "vital_status" and value == "dead":
                    changes["death_date"] = "2020-06-01"
                variant(changes, None)
        elif column.dtype in BAD_TYPED:
            reason = {
                "date": "invalid_date",
                "decimal": "invalid_decimal",
                "integer": "invalid_integer",
                "boolean": "invalid_boolean",
            }
            for value in BAD_TYPED[column.dtype]:
                variant({column.name: value}, reason[column.dtype])
            for value in GOOD_TYPED[column.dtype]:
                if column.dtype == "decimal" and column.max_value is not None and float(value) > column.max_value:
                    continue
                variant({column.name: value}, None)
        if column.min_value is not None:
            low = column.min_value
            variant({column.name: repr(low) if not column.min_inclusive else repr(low - 1)}, "out_of_range")
            variant({column.name: repr(low + 1) if not column.min_inclusive else repr(low)}, None)
        if column.max_value is not None:
            variant({column.name: repr(column.max_value + 1)}, "out_of_range")
            variant({column.name: repr(column.max_value)}, None)
        if column.dtype == "date":
            variant({column.name: (EXTRACTED_AT + dt.timedelta(days=1)).isoformat()}, "date_after_extract")
            variant({column.name: EXTRACTED_AT.isoformat()}, None)
    if table == "lab_results":
        variant({"analyte": "Tg", "unit": "IU/mL"}, "unit_not_valid_for_analyte")
        variant({"analyte": "tg", "unit": "UG/L"}, None)
    if table == "rait_administrations":
        variant({"activity": "150", "activity_unit": "GBq"}, "activity_implausible")
        variant({"activity": "0.4", "activity_unit": "GBq"}, "activity_implausible")
        variant({"activity": "150", "activity_unit": "mCi"}, None)
    if table == "imaging_findings":
        variant({"modality": "RxWBS", "rait_id": ""}, "rait_id_required_for_rxwbs")
        variant({"modality": "CT", "rait_id": ""}, None)
    if table == "follow_up":
        variant({"vital_status": "dead", "death_date": ""}, "death_date_required_when_dead")
        variant({"vital_status": "alive", "death_date": "2020-01-01"}, "death_date_when_alive")
        variant(
            {"vital_status": "dead", "death_date": "2020-01-01", "last_contact_date": "2020-02-01"},
            "last_contact_after_death",
        )
        variant({"vital_status": "dead", "death_date": "2020-01-01", "last_contact_date": "2019-02-01"}, None)
    # keys: an exact copy of the base row (later copy rejected) and two rows sharing a key
    out.append((dict(base), None))
    out.append((dict(base), "exact_duplicate"))
    other = next(c.name for c in spec.columns if c.name not in (spec.key, "patient_id"))
    conflict = {**base, spec.key: "KEY-CONFLICT"}
    out.append((conflict, "duplicate_key"))
    out.append(
        (
            {
                **conflict,
                other: base_tables()[table][1][other]
                if base[other] != base_tables()[table][1][other]
                else "2001-01-01",
            },
            "duplicate_key",
        )
    )
    return out


@pytest.mark.parametrize("table", TABLE_ORDER)
def test_sql_checks_and_pandera_reject_the_same_rows(table):
    variants = _variants(table)
    frame = pd.DataFrame([row for row, _ in variants], columns=TABLES[table].column_names)
    frame = frame.replace({"": None})

    # SQL: row and key rules (cross-row cascades are SQL-only: the other tables are empty here)
    rejected = checks.check_frames({table: frame}, EXTRACTED_AT)
    rejected = rejected[~rejected.reason_code.isin(checks.CASCADE_REASONS)]
    sql_reasons: dict[int, set[str]] = {}
    for row, reason in zip(rejected.source_row, rejected.reason_code):
        sql_reasons.setdefault(int(row) - 1, set()).add(reason)

    # pandera
    try:
        raw_schema(table, EXTRACTED_AT).validate(frame, lazy=True)
        pandera_rows: set[int] = set()
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        assert cases["index"].notna().all(), cases[cases["index"].isna()][["column", "check"]]
        pandera_rows = {int(i) for i in cases["index"]}

    for i, (_, reason) in enumerate(variants):
        if reason is None:
            assert i not in sql_reasons, (i, variants[i], sql_reasons.get(i))
        else:
            assert reason in sql_reasons.get(i, set()), (i, variants[i], sql_reasons.get(i))
    assert pandera_rows == set(sql_reasons), sorted(pandera_rows ^ set(sql_reasons))
    assert sum(r is not None for _, r in variants) >= 3


def test_raw_model_coerces_at_the_boundary():
    frame = pd.DataFrame(base_tables()["surgeries"])
    typed = RAW_MODELS["surgeries"].validate(frame)
    assert typed["surgery_date"].dtype == "datetime64[s]"
    assert typed["procedure"].tolist()[1] == "total_thyroidectomy"
    assert typed["positive_nodes"].dtype == "Int64" and typed["aggressive_variant"].dtype == "boolean"
    assert pd.isna(typed.loc[2, "histology"]) is False and pd.isna(typed.loc[3, "histology"])


# ---------------------------------------------------------------------------------------------
# marts: hand-made, consistent marts; each rule broken once
# ---------------------------------------------------------------------------------------------

D = pd.Timestamp
MONTH = 30.4375


def _months(a: str, b: str) -> float:
    return (D(b) - D(a)).days / MONTH


def good_marts() -> dict[str, pd.DataFrame]:
    patients = pd.DataFrame(
        {
            "patient_id": ["A", "B", "C"],
            "sex": ["F", "M", "F"],
            "birth_date": [D("1970-01-01"), D("1960-06-15"), D("1980-03-03")],
            "center_id": ["C1", "C1", "unknown"],
            "diagnosis_date": [D("2010-01-10"), D("2012-05-05"), D("2015-02-02")],
            "initial_surgery_date": [D("2010-01-10"), D("2012-05-05"), D("2015-02-02")],
            "first_rait_date": [D("2010-03-01"), D("2012-08-01"), pd.NaT],
            "lung_met_date": [D("2010-03-06"), D("2012-08-06"), pd.NaT],
            "pd_date": [pd.NaT, D("2013-06-01"), pd.NaT],
            "last_contact_date": [D("2020-06-01"), D("2019-01-01"), D("2021-01-01")],
            "vital_status": ["alive", "dead", "alive"],
            "death_date": [pd.NaT, D("2019-02-01"), pd.NaT],
            "age_at_diagnosis_years": [
                (D("2010-01-10") - D("1970-01-01")).days / 365.25,
                (D("2012-05-05") - D("1960-06-15")).days / 365.25,
                (D("2015-02-02") - D("1980-03-03")).days / 365.25,
            ],
            "histology": ["PTC", "FTC", "PTC"],
            "max_tumor_size_cm": [1.5, 3.2, 0.9],
            "t_stage_max": ["T1b", "T3a", "T1a"],
            "n_stage_max": ["N1a", "N0", None],
            "t_stage_group": ["T1+T2", "T3+T4", "T1+T2"],
            "metastasis_timing": ["synchronous", "synchronous", None],
            "local_disease_status": ["neither", "local_persistent", None],
            "ata_risk": ["high", "intermediate", "unknown"],
            "n_rait_cycles": [1, 2, 0],
            "rait_group": ["o-RAIT", "m-RAIT", None],
            "median_activity_gbq": [3.7, 4.625, np.nan],
            "cumulative_gbq": [3.7, 9.25, np.nan],
            "first_response": ["CR", "SD", None],
            "last_response": ["CR", "PD", None],
            "dtc_surgery": [True, True, True],
            "lung_only_micromets": [True, True, False],
            "avid_on_every_rxwbs": [True, True, False],
            "mets_after_first_rait": [False, False, False],
            "massive_remnant": [False, False, False],
            "early_progression": [False, False, False],
            "is_eligible": [True, True, False],
            "exclusion_reason": [None, None, "lung_only_micromets"],
            "n_rait_without_rxwbs": [0, 1, 0],
            "exclusion_step": pd.array([None, None, 2], dtype="Int64"),
            "is_eligible_at_baseline": [True, True, False],
            "baseline_exclusion_reason": [None, None, "lung_only_micromets"],
        }
    )
    cycles = pd.DataFrame(
        {
            "patient_id": ["A", "B", "B"],
            "rait_id": ["R1", "R3", "R4"],
            "cycle_number": [1, 1, 2],
            "admin_date": [D("2010-03-01"), D("2012-08-01"), D("2013-02-01")],
            "activity_gbq": [3.7, 5.55, 3.7],
            "cumulative_gbq": [3.7, 5.55, 9.25],
            "days_since_previous": pd.array([None, None, 184], dtype="Int64"),
            "tg_pre": [12.0, 20.0, 18.0],
            "tg_post": [0.1, 18.0, np.nan],
            "delta_tg": [(12 - 0.1) / 12, 0.1, np.nan],
            "scan_change": ["resolved", "stable", None],
            "response": ["CR", "SD", "PD"],
            "response_basis": ["no_evidence_of_disease", "no_change", "new_lesion"],
            "tg_pre_comparator": [None, None, ">"],
            "tg_post_comparator": ["<", None, None],
            "n_new_lesion_events": [0, 0, 1],
            "response_at_horizon": ["CR", "SD", "NE"],
        }
    )
    pfs = pd.DataFrame(
        {
            "patient_id": ["A", "B"],
            "start_date": [D("2010-03-01"), D("2012-08-01")],
            "end_date": [D("2020-06-01"), D("2013-06-01")],
            "pfs_months": [_months("2010-03-01", "2020-06-01"), _months("2012-08-01", "2013-06-01")],
            "pfs_event": [0, 1],
            "event_type": ["censored", "progression"],
            "follow_up_months": [_months("2010-03-01", "2020-06-01"), _months("2012-08-01", "2019-02-01")],
            "pfs_months_last_contact": [_months("2010-03-01", "2020-06-01"), _months("2012-08-01", "2013-06-01")],
            "pd_date": [pd.NaT, D("2013-06-01")],
            "death_date": [pd.NaT, D("2019-02-01")],
            "last_contact_date": [D("2020-06-01"), D("2019-01-01")],
        }
    )
    eligible = patients[patients.is_eligible].reset_index(drop=True)
    cohort = eligible[
        [
            "patient_id",
            "rait_group",
            "n_rait_cycles",
            "sex",
            "age_at_diagnosis_years",
            "histology",
            "max_tumor_size_cm",
            "t_stage_group",
            "n_stage_max",
            "ata_risk",
            "local_disease_status",
            "metastasis_timing",
            "first_response",
            "last_response",
            "median_activity_gbq",
            "cumulative_gbq",
        ]
    ].merge(pfs[["patient_id", "pfs_months", "pfs_event", "follow_up_months", "event_type"]], on="patient_id")
    attrition = pd.DataFrame(
        {
            "step": list(range(7)),
            "criterion": [
                "all_patients",
                "dtc_surgery",
                "lung_only_micromets",
                "avid_on_every_rxwbs",
                "mets_after_first_rait",
                "massive_remnant",
                "early_progression",
            ],
            "n_remaining": [3, 3, 2, 2, 2, 2, 2],
            "n_excluded": [0, 0, 1, 0, 0, 0, 0],
        }
    )
    strategy_months = pd.DataFrame(
        {
            "patient_id": ["B"] * 3,
            "month_number": [0, 1, 2],
            "start_months": [0.0, 1.0, 2.0],
            "stop_months": [1.0, 2.0, 3.0],
            "tg_post_known": [False, False, True],
            "delta_tg": [np.nan, np.nan, 0.1],
            "scan_change": [None, None, "stable"],
            "n_new_lesions": [0, 0, 0],
            "second_rait_given": [False, False, False],
            "second_rait_in_month": [False, False, True],
            "pfs_event_in_month": [False, False, False],
            "is_last_month": [False, False, False],
        }
    )
    return {
        "patients": patients,
        "rait_cycles": cycles,
        "pfs": pfs,
        "analysis_cohort": cohort,
        "cohort_attrition": attrition,
        "strategy_evidence_monthly": strategy_months,
    }


def full_marts() -> dict[str, pd.DataFrame]:
    """:func:`good_marts` with every optional (lineage) column the dbt marts publish, consistent."""
    marts = good_marts()
    marts["rait_cycles"] = marts["rait_cycles"].assign(
        n_rait_cycles=[1, 2, 2],
        is_last_cycle=[True, False, True],
        preparation=["withdrawal", "rhTSH", None],
        intent=["metastatic_disease", "metastatic_disease", "adjuvant"],
        tg_pre_lab_id=["L1", "L3", "L5"],
        tg_post_lab_id=["L2", "L4", None],
        scan_finding_id=["S1", "S2", None],
        window_start_date=[D("2010-03-02"), D("2012-08-02"), D("2013-02-02")],
        window_end_date=[D("2010-09-01"), D("2013-01-31"), D("2013-08-01")],
    )
    marts["pfs"] = marts["pfs"].assign(last_assessment_date=[D("2019-06-01"), D("2013-06-01")])
    patients, pfs = marts["patients"].set_index("patient_id"), marts["pfs"].set_index("patient_id")
    ids = marts["analysis_cohort"]["patient_id"]
    marts["analysis_cohort"] = marts["analysis_cohort"].assign(
        center_id=patients.loc[ids, "center_id"].to_numpy(),
        t_stage_max=patients.loc[ids, "t_stage_max"].to_numpy(),
        pfs_start_date=pfs.loc[ids, "start_date"].to_numpy(),
        pfs_end_date=pfs.loc[ids, "end_date"].to_numpy(),
    )
    return marts


DATE_COLUMNS = (
    "birth_date",
    "diagnosis_date",
    "initial_surgery_date",
    "first_rait_date",
    "lung_met_date",
    "pd_date",
    "last_contact_date",
    "death_date",
    "admin_date",
    "start_date",
    "end_date",
    "window_start_date",
    "window_end_date",
    "pfs_start_date",
    "pfs_end_date",
    "last_assessment_date",
)


def mart_database(marts: dict[str, pd.DataFrame]) -> duckdb.DuckDBPyConnection:
    """An in-memory build database holding ``marts`` in schema marts, dates as DATE."""
    con = duckdb.connect()
    con.execute("create schema marts")
    for name, frame in marts.items():
        con.register("_frame", frame)
        casts = ", ".join(f"cast({c} as date) as {c}" if c in DATE_COLUMNS else c for c in frame.columns)
        con.execute(f"create table marts.{name} as select {casts} from _frame")
        con.unregister("_frame")
    return con


def failing_checks(model_name: str, frame: pd.DataFrame) -> set[str]:
    try:
        MART_MODELS[model_name].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return set(exc.failure_cases["check"].astype(str))
    return set()


ENGINES = ["pandas", "sql"]


def marts_for(engine: str) -> dict[str, pd.DataFrame]:
    """The hand-made marts an engine is tested on: with every lineage column for the SQL engine
    (which hands a mart lacking a column one of its rules needs to pandas)."""
    return full_marts() if engine == "sql" else good_marts()


@pytest.mark.parametrize("engine", ENGINES)
def test_consistent_marts_pass_every_model_and_validate_marts(engine):
    marts = marts_for(engine)
    for name, frame in marts.items():
        assert failing_checks(name, frame) == set(), name
    report = validate_marts(mart_database(marts), engine=engine)
    assert report.ok and report.rows_checked == {
        "patients": 3,
        "rait_cycles": 3,
        "pfs": 2,
        "analysis_cohort": 2,
        "cohort_attrition": 7,
        "strategy_evidence_monthly": 3,
    }
    assert set(report.engines.values()) == {engine}


#: (mart, change of the hand-made mart, the check that must fail): each rule broken once.
BROKEN_RULES = [
    (
        "rait_cycles",
        lambda m: m.loc.__setitem__((0, "response_basis"), "tg_decline"),
        "response_basis_consistent_with_response",
    ),
    ("rait_cycles", lambda m: m.loc.__setitem__((2, "cumulative_gbq"), 9.0), "cumulative_activity_adds_up_per_patient"),
    ("rait_cycles", lambda m: m.loc.__setitem__((1, "response"), "NE"), "response_evidence_present"),
    ("rait_cycles", lambda m: m.loc.__setitem__((2, "cycle_number"), 3), "cycles_numbered_1_to_n_in_date_order"),
    ("rait_cycles", lambda m: m.loc.__setitem__((1, "delta_tg"), 0.5), "delta_tg_matches_tg_pre_and_tg_post"),
    ("rait_cycles", lambda m: m.loc.__setitem__((1, "response_at_horizon"), "PD"), "pd_at_horizon_only_if_pd"),
    ("pfs", lambda m: m.loc.__setitem__((0, "event_type"), "death"), "event_type_consistent_with_pfs_event"),
    ("pfs", lambda m: m.loc.__setitem__((1, "end_date"), D("2012-01-01")), "end_date_not_before_start_date"),
    ("pfs", lambda m: m.loc.__setitem__((0, "pfs_months"), 1.0), "pfs_months_matches_dates"),
    (
        "patients",
        lambda m: m.loc.__setitem__((2, "exclusion_reason"), "avid_on_every_rxwbs"),
        "exclusion_reason_is_first_failing_criterion",
    ),
    ("patients", lambda m: m.loc.__setitem__((0, "is_eligible"), False), "is_eligible_iff_no_exclusion_reason"),
    (
        "patients",
        lambda m: m.loc.__setitem__((1, "baseline_exclusion_reason"), "early_progression"),
        "is_eligible_at_baseline_iff_no_baseline_exclusion_reason",
    ),
    ("patients", lambda m: m.loc.__setitem__((1, "rait_group"), "o-RAIT"), "rait_group_matches_n_rait_cycles"),
    ("patients", lambda m: m.loc.__setitem__((0, "t_stage_group"), "T3+T4"), "t_stage_group_matches_t_stage_max"),
    ("patients", lambda m: m.loc.__setitem__((0, "sex"), "X"), "isin(['F', 'M'])"),
    ("analysis_cohort", lambda m: m.loc.__setitem__((0, "n_rait_cycles"), 2), "rait_group_matches_n_rait_cycles"),
    ("cohort_attrition", lambda m: m.loc.__setitem__((3, "n_remaining"), 1), "n_remaining_is_previous_minus_excluded"),
    ("cohort_attrition", lambda m: m.loc.__setitem__((2, "criterion"), "massive_remnant"), "criterion_matches_step"),
    ("patients", lambda m: m.loc.__setitem__((2, "exclusion_step"), 3), "exclusion_step_matches_reason"),
    ("patients", lambda m: m.loc.__setitem__((2, "first_response"), "CR"), "rait_fields_present_iff_rait"),
    ("patients", lambda m: m.loc.__setitem__((0, "last_response"), "PD"), "o_rait_first_response_equals_last"),
    ("patients", lambda m: m.loc.__setitem__((1, "median_activity_gbq"), 10.0), "median_activity_at_most_cumulative"),
    (
        "patients",
        lambda m: m.loc.__setitem__((2, "metastasis_timing"), "metachronous"),
        "metastasis_timing_needs_both_dates",
    ),
    ("patients", lambda m: m.loc.__setitem__((0, "age_at_diagnosis_years"), 41.0), "age_at_diagnosis_matches_dates"),
    ("patients", lambda m: m.loc.__setitem__((1, "death_date"), pd.NaT), "dates_in_order"),
    (
        "rait_cycles",
        lambda m: m.loc.__setitem__((1, "window_end_date"), D("2012-08-01")),
        "window_end_not_before_start",
    ),
    ("pfs", lambda m: m.loc.__setitem__((1, "follow_up_months"), 5.0), "follow_up_not_shorter_than_pfs"),
    ("pfs", lambda m: m.loc.__setitem__((1, "end_date"), D("2013-07-01")), "end_date_is_the_event_or_censoring_date"),
    ("analysis_cohort", lambda m: m.loc.__setitem__((0, "last_response"), "PD"), "o_rait_first_response_equals_last"),
    (
        "analysis_cohort",
        lambda m: m.loc.__setitem__((1, "event_type"), "censored"),
        "event_type_consistent_with_pfs_event",
    ),
    (
        "analysis_cohort",
        lambda m: m.loc.__setitem__((0, "pfs_end_date"), D("2009-01-01")),
        "end_date_not_before_start_date",
    ),
    ("analysis_cohort", lambda m: m.loc.__setitem__((0, "follow_up_months"), 1.0), "follow_up_not_shorter_than_pfs"),
    (
        "analysis_cohort",
        lambda m: m.loc.__setitem__((1, "median_activity_gbq"), 9.5),
        "median_activity_at_most_cumulative",
    ),
    ("cohort_attrition", lambda m: m.loc.__setitem__((6, "step"), 2), "every_criterion_has_a_step"),
    (
        "patients",
        lambda m: m.loc.__setitem__((0, "n_rait_without_rxwbs"), 2),
        "rait_without_rxwbs_at_most_n_rait_cycles",
    ),
    ("pfs", lambda m: m.loc.__setitem__((1, "pfs_months_last_contact"), 12.0), "pfs_months_last_contact_matches"),
    ("rait_cycles", lambda m: m.loc.__setitem__((0, "tg_post_comparator"), ">"), "response_evidence_present"),
]


@pytest.mark.parametrize("mart, change, check", BROKEN_RULES)
def test_mart_model_catches_a_broken_rule(mart, change, check):
    frame = full_marts()[mart]
    change(frame)
    assert check in failing_checks(mart, frame)


def test_mart_models_are_strict_and_flags_are_never_null():
    patients = good_marts()["patients"]
    assert "column_in_schema" in failing_checks("patients", patients.assign(unexpected=1))
    patients["massive_remnant"] = pd.array([False, None, False], dtype="boolean")
    assert failing_checks("patients", patients)  # a NULL flag is not coerced to false
    cycles = good_marts()["rait_cycles"].drop(columns=["response_basis"])
    assert "column_in_dataframe" in failing_checks("rait_cycles", cycles)


@pytest.mark.parametrize("engine", ENGINES)
def test_validate_marts_report_names_mart_column_check_and_row_never_values(engine):
    marts = marts_for(engine)
    marts["rait_cycles"].loc[2, "response_basis"] = "tg_decline"
    marts["patients"].loc[1, "ata_risk"] = "ZZ-SECRET-ata"
    with pytest.raises(MartCheckFailed) as info:
        validate_marts(mart_database(marts), engine=engine)
    assert set(info.value.report.engines.values()) == {engine}
    message = str(info.value)
    assert "marts.rait_cycles, 1 row(s) (index 2): response_basis_consistent_with_response" in message
    assert "marts.patients, column ata_risk, 1 row(s) (index 1)" in message
    assert "ZZ-SECRET" not in message
    assert info.value.exit_code == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_validate_marts_checks_database_types_and_leaves_agreement_between_marts_to_dbt(engine):
    marts = marts_for(engine)
    con = mart_database(marts)
    con.execute("alter table marts.pfs alter start_date type varchar")
    con.execute("delete from marts.analysis_cohort where patient_id = 'B'")  # the dbt tests catch this
    with pytest.raises(MartCheckFailed) as info:
        validate_marts(con, engine=engine)
    message = str(info.value)
    assert "marts.pfs, column start_date: database type is DATE" in message
    assert {(f.mart, f.column, f.check.split(" or ")[0]) for f in info.value.report.failures} == {
        ("pfs", "start_date", "database type is DATE")
    }
    if engine == "sql":  # the SQL engine states the type the model takes, and still checks the mart
        assert "marts.pfs, column start_date: database type is DATE or TIMESTAMP" in message
        assert info.value.report.engines["pfs"] == "sql"


def test_dbt_tests_of_the_build_catch_disagreements_between_marts(demo_warehouse, tmp_path):
    """The agreement between marts is stated once, by dbt tests that every refresh runs before the
    mart checks: each disagreement below makes its test fail on a copy of the demo warehouse."""
    database = tmp_path / "registry.duckdb"
    shutil.copyfile(demo_warehouse, database)
    con = duckdb.connect(str(database))
    try:
        eligible = "(select min(patient_id) from marts.analysis_cohort)"
        treated = "(select max(patient_id) from marts.pfs)"
        con.execute(f"delete from marts.analysis_cohort where patient_id = {eligible}")
        con.execute(
            "delete from marts.rait_cycles where rowid = (select min(rowid) from marts.rait_cycles where cycle_number = 2)"
        )
        con.execute(f"delete from marts.pfs where patient_id = {treated}")
        con.execute("insert into marts.pfs select * replace ('ORPHAN' as patient_id) from marts.pfs limit 1")
        con.execute(
            "insert into marts.rait_cycles select * replace ('ORPHAN' as patient_id) from marts.rait_cycles limit 1"
        )
    finally:
        con.close()
    result = run_dbt(
        "test",
        database,
        work_dir=tmp_path,
        extra_args=["--select", "test_type:singular", "test_name:relationships,path:models/marts"],
    )
    failed = {failure.split(":")[0].split(".")[2] for failure in result.failures}
    assert not result.success
    assert {
        "assert_analysis_cohort_is_eligible_patients",  # the cohort is exactly the eligible patients
        "assert_cohort_attrition_consistent",  # attrition counts, first and last step
        "assert_rait_cycles_numbered_without_gaps",  # one cycle row per counted administration
        "assert_patient_marts_one_row_per_patient",  # one PFS row per treated patient
    } <= failed
    orphans = {name for name in failed if name.startswith("relationships_")}
    assert {name.split("_patient_id")[0] for name in orphans} == {"relationships_pfs", "relationships_rait_cycles"}


@pytest.mark.parametrize("engine", ENGINES)
def test_validate_marts_in_chunks_sees_whole_patients(engine):
    marts = marts_for(engine)
    report = validate_marts(mart_database(marts), chunk_rows=1, engine=engine)
    assert report.ok
    marts["rait_cycles"].loc[2, "cumulative_gbq"] = 3.7  # not increasing within patient B
    with pytest.raises(
        MartCheckFailed, match=r"rait_cycles, 1 row\(s\) \(index 2\): cumulative_activity_adds_up_per_patient"
    ):
        validate_marts(mart_database(marts), chunk_rows=1, engine=engine)


def test_activity_units_in_contract_match_raw_model_check():
    # the plausibility check of the raw model uses the contract's conversion factors
    assert set(ACTIVITY_UNITS_TO_GBQ) == set(
        RAW_MODELS["rait_administrations"].to_schema().columns["activity_unit"].checks[0].statistics["allowed_values"]
    )


# ---------------------------------------------------------------------------------------------
# the SQL engine of validate_marts: the same rules, the same failures as pandera
# ---------------------------------------------------------------------------------------------


def engine_failures(con: duckdb.DuckDBPyConnection, engine: str) -> set[tuple]:
    """(mart, column, check, row) of every failure ``validate_marts`` reports with ``engine``."""
    try:
        validate_marts(con, engine=engine)
    except MartCheckFailed as exc:
        return {(f.mart, f.column, f.check, f.row) for f in exc.report.failures}
    return set()


def test_every_dataframe_check_has_a_sql_twin_and_every_field_check_translates():
    assert set(SQL_CHECKS) == set(MART_MODELS)
    for mart, model in MART_MODELS.items():
        schema = model.to_schema()
        assert set(SQL_CHECKS[mart]) == {check.name for check in schema.checks}, mart
        by_column, table = SQL_RULES[mart]
        for name, column in schema.columns.items():
            generated = {rule.check for rule in by_column[name]}
            expected = {check.error for check in column.checks}
            expected |= {"not_nullable"} if not column.nullable else set()
            expected |= {"field_uniqueness"} if column.unique else set()
            assert generated == expected, (mart, name)
        assert [rule.check for rule in table] == (["multiple_fields_uniqueness"] if schema.unique else []) + [
            check.name for check in schema.checks
        ]
    # an element check without a translation, or a dataframe check without a twin, fails loudly
    with pytest.raises(NotImplementedError, match="has no SQL translation"):
        mart_sql.element_check_sql("sex", pa.Check.str_matches(r"^[FM]$"))
    with pytest.raises(NotImplementedError, match="has no SQL translation"):
        mart_sql.element_check_sql("sex", pa.Check(lambda s: s.str.len() == 1, name="one_letter"))
    twins = {**SQL_CHECKS["pfs"]}
    twins.pop("pfs_months_matches_dates")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(SQL_CHECKS, "pfs", twins)
        with pytest.raises(NotImplementedError, match="pfs_months_matches_dates"):
            mart_sql.mart_rules("pfs")


def test_element_check_translations_agree_with_pandera():
    values = pd.Series([-1.0, 0.0, 0.5, 1.0, 2.0, None])
    checks = [
        pa.Check.isin([0.5, 2.0]),
        pa.Check.notin([0.5]),
        pa.Check.eq(1.0),
        pa.Check.ne(1.0),
        pa.Check.gt(0),
        pa.Check.ge(0),
        pa.Check.lt(1),
        pa.Check.le(1),
        pa.Check.in_range(0, 1, include_min=False),
        pa.Check.in_range(0, 1, include_max=False),
        pa.Check.ge(0, ignore_na=False),
    ]
    con = duckdb.connect()
    con.register("v", pd.DataFrame({"i": range(len(values)), "x": values}))
    for check in checks:
        sql = mart_sql.element_check_sql("x", check)
        passed = [row[0] for row in con.execute(f"select coalesce(({sql}), false) from v order by i").fetchall()]
        try:
            pa.SeriesSchema(float, checks=[check], nullable=True).validate(values, lazy=True)
            failing = set()
        except pa.errors.SchemaErrors as exc:
            failing = {int(i) for i in exc.failure_cases["index"]}
        assert failing and {i for i, ok in enumerate(passed) if not ok} == failing, check.error


@pytest.mark.parametrize("mart, change, check", BROKEN_RULES)
def test_engines_agree_on_each_broken_rule(mart, change, check):
    marts = full_marts()
    change(marts[mart])
    con = mart_database({mart: marts[mart]})  # the other marts are missing: the same failure in both engines
    sql = engine_failures(con, "sql")
    assert check in {c for _, _, c, _ in sql}
    assert sql == engine_failures(con, "pandas")


def stacked_marts(copies: int) -> dict[str, pd.DataFrame]:
    """``copies`` copies of :func:`full_marts` with distinct patient and RAIT ids (a consistent
    build of ``3 * copies`` patients)."""
    base = full_marts()
    marts = {}
    for name, frame in base.items():
        if name == "cohort_attrition":
            marts[name] = frame.assign(n_remaining=frame.n_remaining * copies, n_excluded=frame.n_excluded * copies)
            continue
        parts = []
        for k in range(copies):
            part = frame.copy()
            part["patient_id"] = f"P{k:03d}-" + part["patient_id"]
            if "rait_id" in part:
                part["rait_id"] = f"P{k:03d}-" + part["rait_id"]
            parts.append(part)
        marts[name] = pd.concat(parts, ignore_index=True)
    return marts


DAY_SHIFTS = [-400, -31, -3, -1, 1, 3, 31, 400]
FACTORS = [0.5, 0.99, 0.9999, 1.0001, 1.01, 2.0, 10.0, -1.0, 0.0]
OFFSETS = [-2e-3, -5e-4, 5e-4, 2e-3]


def mutate(con: duckdb.DuckDBPyConnection, rng: np.random.Generator, mart: str) -> str:
    """Break one random cell (or row) of ``marts.<mart>`` in place, keeping the column types (no
    NULL in a non-nullable integer or boolean column: pandas would read another dtype); returns
    what was done."""
    schema = MART_MODELS[mart].to_schema()
    types = dict(con.execute(f"select column_name, column_type from (describe marts.{mart})").fetchall())
    rowids = [r[0] for r in con.execute(f"select rowid from marts.{mart} order by rowid").fetchall()]
    row, other = (int(rng.choice(rowids)) for _ in range(2))
    if rng.random() < 0.04:  # a duplicated or a lost row
        if rng.random() < 0.5:
            con.execute(f"insert into marts.{mart} select * from marts.{mart} where rowid = {row}")
            return f"{mart}: row {row} duplicated"
        con.execute(f"delete from marts.{mart} where rowid = {row}")
        return f"{mart}: row {row} deleted"
    column = str(rng.choice(sorted(types)))
    db_type = types[column]
    nullable = schema.columns[column].nullable or db_type not in ("BIGINT", "INTEGER", "BOOLEAN")
    kinds = ["other_row"] + (["null"] if nullable else [])
    kinds += {
        "VARCHAR": ["vocabulary"],
        "DATE": ["shift", "shift"],
        "DOUBLE": ["factor", "offset"],
        "BOOLEAN": ["flip", "flip"],
        "BIGINT": ["step"],
        "INTEGER": ["step"],
    }[db_type]
    bounds = [v for check in schema.columns[column].checks for k, v in check.statistics.items() if k.endswith("_value")]
    kinds += ["bound"] * (2 if bounds else 0)  # at, just below or just above a range limit of the model
    kind = str(rng.choice(kinds))
    value: object
    if kind == "bound":
        unit = 1 if db_type in ("BIGINT", "INTEGER") else 1e-6
        value, expression = type(bounds[0])(rng.choice(bounds)) + int(rng.integers(-1, 2)) * unit, "?"
    elif kind == "other_row":
        value = con.execute(f"select {column} from marts.{mart} where rowid = {other}").fetchone()[0]
        expression = "?"
    elif kind == "null":
        value, expression = None, "null"
    elif kind == "vocabulary":
        value, expression = "zz-not-in-vocabulary", "?"
    elif kind == "shift":
        value, expression = int(rng.choice(DAY_SHIFTS)), f"{column} + ?"
    elif kind == "factor":
        value, expression = float(rng.choice(FACTORS)), f"{column} * ?"
    elif kind == "offset":
        value, expression = float(rng.choice(OFFSETS)), f"{column} + ?"
    elif kind == "step":
        value, expression = int(rng.choice([-2, -1, 1, 2])), f"{column} + ?"
    else:
        value, expression = None, f"not {column}"
    params = [] if "?" not in expression else [value]
    con.execute(f"update marts.{mart} set {column} = {expression} where rowid = {row}", params)
    return f"{mart}: row {row}, {column} {kind} {value!r}"


RANDOM_SEEDS = range(4)
COPIES = 120  # copies of the hand-made build per seed, and as many random mutations


@pytest.fixture(scope="module")
def random_breaks():
    """Per seed: the mutations, and the failures of the pandas and the SQL engine on the result."""
    out = []
    for seed in RANDOM_SEEDS:
        rng = np.random.default_rng(seed)
        con = mart_database(stacked_marts(COPIES))
        if seed == 0:
            assert engine_failures(con, "sql") == set() == engine_failures(con, "pandas")
        done = [
            mutate(con, rng, str(rng.choice(["patients", "rait_cycles", "pfs", "analysis_cohort"])))
            for _ in range(COPIES)
        ]
        out.append((seed, done, engine_failures(con, "pandas"), engine_failures(con, "sql")))
    return out


def test_engines_agree_on_hundreds_of_random_breaks(random_breaks):
    for seed, done, by_pandas, by_sql in random_breaks:
        assert by_sql == by_pandas, (seed, sorted(by_sql - by_pandas), sorted(by_pandas - by_sql))
        assert len(done) == COPIES and len(by_sql) >= COPIES // 2, seed
    # the random breaks reach nearly every dataframe check (BROKEN_RULES breaks each on purpose)
    # and every kind of field check of these marts
    fired = {(mart, check) for _, _, _, failures in random_breaks for mart, _, check, _ in failures}
    marts = ("patients", "rait_cycles", "pfs", "analysis_cohort")
    missed = {(mart, check) for mart in marts for check in SQL_CHECKS[mart] if (mart, check) not in fired}
    assert len(missed) <= 2, missed
    for mart in marts:
        assert {"not_nullable", "isin"} <= {check.split("(")[0] for m, check in fired if m == mart}, mart
    ranges = {"greater_than", "greater_than_or_equal_to", "less_than_or_equal_to"}
    assert ranges <= {check.split("(")[0] for _, check in fired}
    assert {
        ("patients", "field_uniqueness"),
        ("pfs", "field_uniqueness"),
        ("rait_cycles", "field_uniqueness"),
        ("rait_cycles", "multiple_fields_uniqueness"),
    } <= fired


def test_broken_rules_break_every_dataframe_check():
    assert {(mart, check.name) for mart, model in MART_MODELS.items() for check in model.to_schema().checks} <= {
        (mart, check) for mart, _, check in BROKEN_RULES
    }


def test_engines_agree_on_random_breaks_of_the_attrition():
    rng = np.random.default_rng(2024)
    fired = set()
    for _ in range(25):
        con = mart_database({"cohort_attrition": full_marts()["cohort_attrition"]})
        done = [mutate(con, rng, "cohort_attrition") for _ in range(int(rng.integers(1, 3)))]
        by_sql = engine_failures(con, "sql")
        assert by_sql == engine_failures(con, "pandas"), done
        fired |= {check for _, _, check, row in by_sql if row is not None}
    assert set(SQL_CHECKS["cohort_attrition"]) <= fired


def test_auto_engine_uses_sql_above_pandas_max_rows_and_pandas_for_a_mart_lacking_a_column():
    con = mart_database(good_marts())  # rait_cycles and analysis_cohort lack lineage columns the SQL twins name
    report = validate_marts(con, pandas_max_rows=2)
    assert report.engines == {
        "patients": "sql",
        "rait_cycles": "pandas",
        "pfs": "pandas",
        "analysis_cohort": "pandas",
        "cohort_attrition": "sql",
        "strategy_evidence_monthly": "sql",
    }
    assert set(validate_marts(con).engines.values()) == {"pandas"}
    with pytest.raises(UsageError, match="auto, pandas, sql"):
        validate_marts(con, engine="spark")


def test_sql_engine_on_marts_that_are_views():
    marts = full_marts()
    marts["rait_cycles"].loc[2, "cumulative_gbq"] = 9.0
    marts["patients"].loc[1, "rait_group"] = "o-RAIT"
    marts["cohort_attrition"].loc[3, "n_remaining"] = 1
    con = mart_database(marts)
    con.execute("create schema build")
    for name in marts:  # no rowid: the SQL engine numbers the rows of a view up front
        con.execute(f"create table build.{name} as select * from marts.{name}")
        con.execute(f"drop table marts.{name}")
        con.execute(f"create view marts.{name} as select * from build.{name}")
    by_sql = engine_failures(con, "sql")
    assert {
        ("rait_cycles", None, "cumulative_activity_adds_up_per_patient", 2),
        ("patients", None, "rait_group_matches_n_rait_cycles", 1),
        ("cohort_attrition", None, "n_remaining_is_previous_minus_excluded", 3),
    } <= by_sql
    assert by_sql == engine_failures(con, "pandas")


@pytest.mark.filterwarnings("ignore::FutureWarning")  # pandera, on the NULLs pandas cannot coerce
def test_sql_engine_reports_columns_and_types_the_model_does_not_take():
    marts = full_marts()
    marts["patients"] = marts["patients"].drop(columns=["histology"]).assign(unexpected=1)
    con = mart_database(marts)
    con.execute("alter table marts.pfs alter pfs_months type varchar")
    con.execute("alter table marts.pfs alter pfs_event type double")
    con.execute("update marts.patients set n_rait_cycles = null, is_eligible = null where patient_id = 'C'")
    by_sql = engine_failures(con, "sql")
    assert {
        ("patients", "unexpected", "column_in_schema", None),
        ("patients", "histology", "column_in_dataframe", None),
        ("pfs", "pfs_months", "database type is numeric", None),
        ("pfs", "pfs_event", "database type is an integer type", None),
        ("patients", "n_rait_cycles", "not_nullable", 2),
        ("patients", "is_eligible", "not_nullable", 2),
    } <= by_sql
    # pandera names the unknown and the missing column, and the NULLs, alike
    by_pandas = engine_failures(con, "pandas")
    assert {f for f in by_sql if f[0] == "patients" and f[2].startswith("column_in")} <= by_pandas
    assert {
        ("patients", "n_rait_cycles", "not_nullable", 2),
        ("patients", "is_eligible", "not_nullable", 2),
    } <= by_pandas
