"""pandera models: raw models agree with contract.py and the SQL checks; mart models and
mart_checks catch inconsistent marts (on hand-made marts, no dbt build)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from rait_registry import checks
from rait_registry.contract import ACTIVITY_UNITS_TO_GBQ, LAB_UNITS, TABLE_ORDER, TABLES
from rait_registry.exceptions import MartCheckFailed
from rait_registry.mart_checks import validate_marts
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
        assert (vocab[0]["allowed_values"] if vocab else None) == (list(column.vocabulary) if column.vocabulary else None)
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
        expected_type = {"date": "iso_date", "decimal": "strict_decimal", "integer": "strict_integer", "boolean": "strict_boolean"}
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
            reason = {"date": "invalid_date", "decimal": "invalid_decimal", "integer": "invalid_integer", "boolean": "invalid_boolean"}
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
        variant({"vital_status": "dead", "death_date": "2020-01-01", "last_contact_date": "2020-02-01"}, "last_contact_after_death")
        variant({"vital_status": "dead", "death_date": "2020-01-01", "last_contact_date": "2019-02-01"}, None)
    # keys: an exact copy of the base row (later copy rejected) and two rows sharing a key
    out.append((dict(base), None))
    out.append((dict(base), "exact_duplicate"))
    other = next(c.name for c in spec.columns if c.name not in (spec.key, "patient_id"))
    conflict = {**base, spec.key: "KEY-CONFLICT"}
    out.append((conflict, "duplicate_key"))
    out.append(({**conflict, other: base_tables()[table][1][other] if base[other] != base_tables()[table][1][other] else "2001-01-01"}, "duplicate_key"))
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
    assert pandera_rows == set(sql_reasons), (sorted(pandera_rows ^ set(sql_reasons)))
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
            "center_id": ["C1", "C1", None],
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
            "exclusion_step": pd.array([None, None, 2], dtype="Int64"),
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
            "tg_post_comparator": ["<", None, None],
            "n_new_lesion_events": [0, 0, 1],
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
            "pd_date": [pd.NaT, D("2013-06-01")],
            "death_date": [pd.NaT, D("2019-02-01")],
            "last_contact_date": [D("2020-06-01"), D("2019-01-01")],
        }
    )
    eligible = patients[patients.is_eligible].reset_index(drop=True)
    cohort = eligible[
        [
            "patient_id", "rait_group", "n_rait_cycles", "sex", "age_at_diagnosis_years", "histology",
            "max_tumor_size_cm", "t_stage_group", "n_stage_max", "ata_risk", "local_disease_status",
            "metastasis_timing", "first_response", "last_response", "median_activity_gbq", "cumulative_gbq",
        ]
    ].merge(pfs[["patient_id", "pfs_months", "pfs_event", "follow_up_months", "event_type"]], on="patient_id")
    attrition = pd.DataFrame(
        {
            "step": list(range(7)),
            "criterion": ["all_patients", "dtc_surgery", "lung_only_micromets", "avid_on_every_rxwbs",
                          "mets_after_first_rait", "massive_remnant", "early_progression"],
            "n_remaining": [3, 3, 2, 2, 2, 2, 2],
            "n_excluded": [0, 0, 1, 0, 0, 0, 0],
        }
    )
    return {"patients": patients, "rait_cycles": cycles, "pfs": pfs, "analysis_cohort": cohort, "cohort_attrition": attrition}


DATE_COLUMNS = ("birth_date", "diagnosis_date", "initial_surgery_date", "first_rait_date", "lung_met_date", "pd_date",
                "last_contact_date", "death_date", "admin_date", "start_date", "end_date")


def mart_database(marts: dict[str, pd.DataFrame]) -> duckdb.DuckDBPyConnection:
    """An in-memory build database holding ``marts`` in schema marts, dates as DATE."""
    con = duckdb.connect()
    con.execute("create schema marts")
    for name, frame in marts.items():
        con.register("_frame", frame)
        casts = ", ".join(
            f"cast({c} as date) as {c}" if c in DATE_COLUMNS else c for c in frame.columns
        )
        con.execute(f"create table marts.{name} as select {casts} from _frame")
        con.unregister("_frame")
    return con


def failing_checks(model_name: str, frame: pd.DataFrame) -> set[str]:
    try:
        MART_MODELS[model_name].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return set(exc.failure_cases["check"].astype(str))
    return set()


def test_consistent_marts_pass_every_model_and_validate_marts():
    marts = good_marts()
    for name, frame in marts.items():
        assert failing_checks(name, frame) == set(), name
    report = validate_marts(mart_database(marts))
    assert report.ok and report.rows_checked == {"patients": 3, "rait_cycles": 3, "pfs": 2, "analysis_cohort": 2, "cohort_attrition": 7}


@pytest.mark.parametrize(
    "mart, change, check",
    [
        ("rait_cycles", lambda m: m.loc.__setitem__((0, "response_basis"), "tg_decline"), "response_basis_consistent_with_response"),
        ("rait_cycles", lambda m: m.loc.__setitem__((2, "cumulative_gbq"), 9.0), "cumulative_activity_adds_up_per_patient"),
        ("rait_cycles", lambda m: m.loc.__setitem__((1, "response"), "NE"), "response_evidence_present"),
        ("rait_cycles", lambda m: m.loc.__setitem__((2, "cycle_number"), 3), "cycles_numbered_1_to_n_in_date_order"),
        ("rait_cycles", lambda m: m.loc.__setitem__((1, "delta_tg"), 0.5), "delta_tg_matches_tg_pre_and_tg_post"),
        ("pfs", lambda m: m.loc.__setitem__((0, "event_type"), "death"), "event_type_consistent_with_pfs_event"),
        ("pfs", lambda m: m.loc.__setitem__((1, "end_date"), D("2012-01-01")), "end_date_not_before_start_date"),
        ("pfs", lambda m: m.loc.__setitem__((0, "pfs_months"), 1.0), "pfs_months_matches_dates"),
        ("patients", lambda m: m.loc.__setitem__((2, "exclusion_reason"), "avid_on_every_rxwbs"), "exclusion_reason_is_first_failing_criterion"),
        ("patients", lambda m: m.loc.__setitem__((0, "is_eligible"), False), "is_eligible_iff_no_exclusion_reason"),
        ("patients", lambda m: m.loc.__setitem__((1, "rait_group"), "o-RAIT"), "rait_group_matches_n_rait_cycles"),
        ("patients", lambda m: m.loc.__setitem__((0, "t_stage_group"), "T3+T4"), "t_stage_group_matches_t_stage_max"),
        ("patients", lambda m: m.loc.__setitem__((0, "sex"), "X"), "isin(['F', 'M'])"),
        ("analysis_cohort", lambda m: m.loc.__setitem__((0, "n_rait_cycles"), 2), "rait_group_matches_n_rait_cycles"),
        ("cohort_attrition", lambda m: m.loc.__setitem__((3, "n_remaining"), 1), "n_remaining_is_previous_minus_excluded"),
        ("cohort_attrition", lambda m: m.loc.__setitem__((2, "criterion"), "massive_remnant"), "criterion_matches_step"),
    ],
)
def test_mart_model_catches_a_broken_rule(mart, change, check):
    frame = good_marts()[mart]
    change(frame)
    assert check in failing_checks(mart, frame)


def test_mart_models_are_strict_and_flags_are_never_null():
    patients = good_marts()["patients"]
    assert "column_in_schema" in failing_checks("patients", patients.assign(unexpected=1))
    patients["massive_remnant"] = pd.array([False, None, False], dtype="boolean")
    assert failing_checks("patients", patients)  # a NULL flag is not coerced to false
    cycles = good_marts()["rait_cycles"].drop(columns=["response_basis"])
    assert "column_in_dataframe" in failing_checks("rait_cycles", cycles)


def test_validate_marts_report_names_mart_column_check_and_row_never_values():
    marts = good_marts()
    marts["rait_cycles"].loc[2, "response_basis"] = "tg_decline"
    marts["patients"].loc[1, "ata_risk"] = "ZZ-SECRET-ata"
    with pytest.raises(MartCheckFailed) as info:
        validate_marts(mart_database(marts))
    message = str(info.value)
    assert "marts.rait_cycles, 1 row(s) (index 2): response_basis_consistent_with_response" in message
    assert "marts.patients, column ata_risk, 1 row(s) (index 1)" in message
    assert "ZZ-SECRET" not in message
    assert info.value.exit_code == 1


def test_validate_marts_checks_database_types_and_agreement_between_marts():
    marts = good_marts()
    con = mart_database(marts)
    con.execute("alter table marts.pfs alter start_date type varchar")
    con.execute("delete from marts.analysis_cohort where patient_id = 'B'")
    with pytest.raises(MartCheckFailed) as info:
        validate_marts(con)
    message = str(info.value)
    assert "marts.pfs, column start_date: database type is DATE" in message
    assert "analysis cohort is exactly the eligible patients" in message
    assert "attrition starts at all patients and ends at the analysis cohort" in message


def test_validate_marts_in_chunks_sees_whole_patients():
    marts = good_marts()
    report = validate_marts(mart_database(marts), chunk_rows=1)
    assert report.ok
    marts["rait_cycles"].loc[2, "cumulative_gbq"] = 3.7  # not increasing within patient B
    with pytest.raises(MartCheckFailed, match="cumulative_activity_adds_up_per_patient"):
        validate_marts(mart_database(marts), chunk_rows=1)


def test_activity_units_in_contract_match_raw_model_check():
    # the plausibility check of the raw model uses the contract's conversion factors
    assert set(ACTIVITY_UNITS_TO_GBQ) == set(RAW_MODELS["rait_administrations"].to_schema().columns["activity_unit"].checks[0].statistics["allowed_values"])
