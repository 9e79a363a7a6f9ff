"""Bad input, one scenario per test, at the ingest/validate step (no dbt build).

Row-level faults must quarantine exactly the broken rows (and their cascades) with the right
reason code, leave every other row staged, and never put the bad value into a message.
File-level faults must refuse the whole extract with one message naming the file (and column
or line) -- never a traceback, never a cell value.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from rait_registry.contract import TABLE_ORDER, TABLES
from rait_registry.exceptions import ExtractRefused
from rait_registry.ingest import ingest, sha256_file

from .conftest import run_cli
from .test_checks import assert_reconciled, base_tables, find, reasons, run_ingest, write_extract


def _bad_cell(tmp_path, table, key_column, key, column, value, extracted_at="2024-06-30", value_is_secret=True):
    """Write the base extract with one cell changed; ingest; return (con, report, rejected)."""
    tables = base_tables()
    find(tables[table], key_column, key)[column] = value
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables, extracted_at=extracted_at))
    assert_reconciled(con, report)
    if value.strip() and value_is_secret:
        assert not rejected.message.str.contains(value.strip(), regex=False).any()
    return con, report, rejected


# ---------------------------------------------------------------------------------------------
# row level: types
# ---------------------------------------------------------------------------------------------


def test_us_style_date_is_rejected_not_converted(tmp_path):
    con, _, rejected = _bad_cell(tmp_path, "lab_results", "lab_id", "L5", "sample_date", "07/25/2012")
    assert reasons(rejected) == {("lab_results", 5, "invalid_date")}
    assert rejected.iloc[0]["column"] == "sample_date"
    assert con.execute("select count(*) from raw.lab_results where lab_id = 'L5'").fetchone()[0] == 0


def test_impossible_calendar_date_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "surgeries", "surgery_id", "S2", "surgery_date", "2012-02-30")
    assert reasons(rejected) == {("surgeries", 2, "invalid_date")}


def test_unpadded_date_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "imaging_findings", "finding_id", "F5", "study_date", "2016-1-1")
    assert reasons(rejected) == {("imaging_findings", 5, "invalid_date")}


def test_decimal_comma_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "surgeries", "surgery_id", "S3", "max_tumor_size_cm", "0,9")
    assert reasons(rejected) == {("surgeries", 3, "invalid_decimal")}


def test_non_finite_decimal_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "lab_results", "lab_id", "L1", "value", "inf")
    assert reasons(rejected) == {("lab_results", 1, "invalid_decimal")}


def test_fractional_integer_is_rejected_but_integral_decimal_accepted(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "surgeries", "surgery_id", "S1", "positive_nodes", "2.5")
    assert reasons(rejected) == {("surgeries", 1, "invalid_integer")}
    _, _, rejected = _bad_cell(tmp_path / "b", "surgeries", "surgery_id", "S1", "positive_nodes", "2.0")
    assert rejected.empty


def test_boolean_other_than_true_false_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "imaging_findings", "finding_id", "F3", "rai_avid", "yes")
    assert reasons(rejected) == {("imaging_findings", 3, "invalid_boolean")}
    _, _, rejected = _bad_cell(tmp_path / "b", "imaging_findings", "finding_id", "F3", "rai_avid", " TRUE ")
    assert rejected.empty


# ---------------------------------------------------------------------------------------------
# row level: vocabularies, units, ranges, required and conditional values
# ---------------------------------------------------------------------------------------------


def test_vocabulary_matches_trimmed_and_case_insensitively(tmp_path):
    tables = base_tables()
    find(tables["imaging_findings"], "finding_id", "F1")["site"] = "  LUNG "
    find(tables["surgeries"], "surgery_id", "S1")["procedure"] = "Total_Thyroidectomy"
    find(tables["patients"], "patient_id", "P2")["sex"] = "m"
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    assert rejected.empty
    assert_reconciled(con, report)


def test_unknown_vocabulary_value_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "imaging_findings", "finding_id", "F5", "site", "lungs")
    assert reasons(rejected) == {("imaging_findings", 5, "not_in_vocabulary")}


def test_unknown_unit_is_rejected_not_converted(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "lab_results", "lab_id", "L1", "unit", "ng/dL")
    assert reasons(rejected) == {("lab_results", 1, "not_in_vocabulary")}


def test_unit_of_another_analyte_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "lab_results", "lab_id", "L5", "unit", "IU/mL", value_is_secret=False)
    assert reasons(rejected) == {("lab_results", 5, "unit_not_valid_for_analyte")}
    assert rejected.iloc[0]["column"] == "unit"


def test_tumour_size_outside_0_20_is_out_of_range(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "surgeries", "surgery_id", "S1", "max_tumor_size_cm", "25")
    assert reasons(rejected) == {("surgeries", 1, "out_of_range")}
    _, _, rejected = _bad_cell(tmp_path / "b", "surgeries", "surgery_id", "S1", "max_tumor_size_cm", "0")
    assert reasons(rejected) == {("surgeries", 1, "out_of_range")}
    _, _, rejected = _bad_cell(tmp_path / "c", "surgeries", "surgery_id", "S1", "max_tumor_size_cm", "20")
    assert rejected.empty


def test_negative_lab_value_is_out_of_range(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "lab_results", "lab_id", "L2", "value", "-1")
    assert reasons(rejected) == {("lab_results", 2, "out_of_range")}


def test_implausible_activity_is_rejected(tmp_path):
    # 150 written in GBq instead of mCi: 150 GBq is far outside 0.5-15 GBq
    _, _, rejected = _bad_cell(
        tmp_path, "rait_administrations", "rait_id", "R4", "activity_unit", "GBq", value_is_secret=False
    )
    assert rejected.empty  # 1.1 GBq is plausible
    _, _, rejected = _bad_cell(
        tmp_path / "b", "rait_administrations", "rait_id", "R2", "activity_unit", "GBq", value_is_secret=False
    )
    assert ("rait_administrations", 2, "activity_implausible") in reasons(rejected)
    # the RxWBS after R2 goes with it
    assert ("imaging_findings", 3, "reference_quarantined") in reasons(rejected)


def test_empty_and_space_only_required_values_are_missing(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "rait_administrations", "rait_id", "R4", "intent", "   ")
    assert reasons(rejected) == {("rait_administrations", 4, "missing_required")}


def test_rxwbs_without_rait_id_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "imaging_findings", "finding_id", "F2", "rait_id", "")
    assert reasons(rejected) == {("imaging_findings", 2, "rait_id_required_for_rxwbs")}


def test_dead_without_death_date_quarantines_the_patient(tmp_path):
    con, _, rejected = _bad_cell(tmp_path, "follow_up", "patient_id", "P2", "death_date", "")
    assert ("follow_up", 2, "death_date_required_when_dead") in reasons(rejected)
    assert ("patients", 2, "no_valid_follow_up") in reasons(rejected)
    for table in ("surgeries", "rait_administrations", "lab_results", "imaging_findings"):
        assert con.execute(f"select count(*) from raw.{table} where patient_id = 'P2'").fetchone()[0] == 0


def test_death_date_with_vital_status_alive_quarantines_follow_up(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "follow_up", "patient_id", "P3", "death_date", "2020-01-01")
    assert ("follow_up", 3, "death_date_when_alive") in reasons(rejected)
    assert ("patients", 3, "no_valid_follow_up") in reasons(rejected)
    assert ("rait_administrations", 4, "reference_quarantined") in reasons(rejected)


# ---------------------------------------------------------------------------------------------
# keys and references
# ---------------------------------------------------------------------------------------------


def test_exact_duplicate_keeps_the_first_copy(tmp_path):
    tables = base_tables()
    tables["lab_results"].append(dict(find(tables["lab_results"], "lab_id", "L2")))
    # a copy that differs only in case and surrounding spaces of vocabulary values is still exact
    tables["lab_results"].append({**find(tables["lab_results"], "lab_id", "L5"), "analyte": " tg"})
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    assert reasons(rejected) == {("lab_results", 7, "exact_duplicate"), ("lab_results", 8, "exact_duplicate")}
    assert con.execute("select count(*) from raw.lab_results where lab_id = 'L2'").fetchone()[0] == 1
    assert_reconciled(con, report)


def test_key_shared_with_different_values_quarantines_all_copies(tmp_path):
    tables = base_tables()
    tables["rait_administrations"].append({**find(tables["rait_administrations"], "rait_id", "R1"), "activity": "3.8"})
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    assert reasons(rejected) == {
        ("rait_administrations", 1, "duplicate_key"),
        ("rait_administrations", 5, "duplicate_key"),
        ("imaging_findings", 1, "reference_quarantined"),
        ("imaging_findings", 2, "reference_quarantined"),
    }
    assert_reconciled(con, report)


def test_two_follow_up_rows_for_one_patient_quarantine_the_patient(tmp_path):
    tables = base_tables()
    tables["follow_up"].append({**find(tables["follow_up"], "patient_id", "P3"), "last_contact_date": "2021-02-02"})
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    got = reasons(rejected)
    assert {
        ("follow_up", 3, "duplicate_key"),
        ("follow_up", 4, "duplicate_key"),
        ("patients", 3, "no_valid_follow_up"),
    } <= got
    assert con.execute("select count(*) from raw.surgeries where patient_id = 'P3'").fetchone()[0] == 0


def test_patient_without_follow_up_is_quarantined_with_all_rows(tmp_path):
    tables = base_tables()
    tables["follow_up"] = [row for row in tables["follow_up"] if row["patient_id"] != "P2"]
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    assert reasons(rejected) == {
        ("patients", 2, "no_valid_follow_up"),
        ("surgeries", 2, "reference_quarantined"),
        ("rait_administrations", 3, "reference_quarantined"),
        ("lab_results", 5, "reference_quarantined"),
        ("imaging_findings", 4, "reference_quarantined"),
    }


def test_orphan_row_references_a_missing_patient(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "lab_results", "lab_id", "L6", "patient_id", "P9")
    assert reasons(rejected) == {("lab_results", 6, "reference_missing")}
    assert rejected.iloc[0]["column"] == "patient_id"


def test_finding_linked_to_missing_or_foreign_administration(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "imaging_findings", "finding_id", "F4", "rait_id", "R99")
    assert reasons(rejected) == {("imaging_findings", 4, "reference_missing")}
    _, _, rejected = _bad_cell(tmp_path / "b", "imaging_findings", "finding_id", "F4", "rait_id", "R1")
    assert reasons(rejected) == {("imaging_findings", 4, "reference_patient_mismatch")}


# ---------------------------------------------------------------------------------------------
# dates: extract date and date order
# ---------------------------------------------------------------------------------------------


def test_date_after_the_manifest_extract_date_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "lab_results", "lab_id", "L6", "sample_date", "2024-07-01")
    assert ("lab_results", 6, "date_after_extract") in reasons(rejected)


def test_date_after_newest_file_date_without_manifest(tmp_path):
    future = "2999-01-01"
    _, report, rejected = _bad_cell(tmp_path, "patients", "patient_id", "P3", "birth_date", future, extracted_at=None)
    assert report.extract_id is None
    assert ("patients", 3, "date_after_extract") in reasons(rejected)


def test_event_after_death_quarantines_the_event_only(tmp_path):
    con, _, rejected = _bad_cell(tmp_path, "lab_results", "lab_id", "L5", "sample_date", "2019-03-01")
    # P2 died 2019-02-01 and was last seen 2019-01-01: both rules hold
    assert reasons(rejected) == {("lab_results", 5, "date_after_death"), ("lab_results", 5, "date_after_last_contact")}
    assert con.execute("select count(*) from raw.patients where patient_id = 'P2'").fetchone()[0] == 1


def test_event_after_last_contact_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "imaging_findings", "finding_id", "F5", "study_date", "2021-01-02")
    assert reasons(rejected) == {("imaging_findings", 5, "date_after_last_contact")}


def test_last_contact_after_death_quarantines_follow_up(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "follow_up", "patient_id", "P2", "last_contact_date", "2019-03-01")
    assert ("follow_up", 2, "last_contact_after_death") in reasons(rejected)
    assert ("patients", 2, "no_valid_follow_up") in reasons(rejected)


def test_event_before_birth_is_rejected(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "surgeries", "surgery_id", "S2", "surgery_date", "1959-01-01")
    assert ("surgeries", 2, "date_before_birth") in reasons(rejected)


def test_rait_before_first_operation_takes_its_scan(tmp_path):
    _, _, rejected = _bad_cell(tmp_path, "rait_administrations", "rait_id", "R3", "admin_date", "2012-05-04")
    assert reasons(rejected) == {
        ("rait_administrations", 3, "rait_before_first_surgery"),
        ("imaging_findings", 4, "reference_quarantined"),
    }
    # the same day as the operation is not "before"
    _, _, rejected = _bad_cell(tmp_path / "b", "rait_administrations", "rait_id", "R3", "admin_date", "2012-05-05")
    assert rejected.empty


# ---------------------------------------------------------------------------------------------
# file level: the whole extract is refused
# ---------------------------------------------------------------------------------------------


def _refused(folder: Path, *expected: str) -> str:
    with pytest.raises(ExtractRefused) as info:
        ingest(folder, duckdb.connect())
    message = str(info.value)
    for part in expected:
        assert part in message, message
    return message


def test_missing_table_file_refuses(tmp_path):
    folder = write_extract(tmp_path / "x", extracted_at=None)
    (folder / "surgeries.csv").unlink()
    _refused(folder, "surgeries", "no file surgeries.csv")


def test_missing_required_column_refuses_naming_file_and_column(tmp_path):
    tables = base_tables()
    for row in tables["lab_results"]:
        del row["unit"]
    _refused(write_extract(tmp_path / "x", tables, extracted_at=None), "lab_results.csv", "required column unit")


def test_unknown_column_is_dropped_with_a_warning(tmp_path):
    tables = base_tables()
    for row in tables["patients"]:
        row["Name"] = "Jane Secret"
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    assert rejected.empty
    assert any("patients.csv" in w and "Name" in w for w in report.warnings)
    assert "name" not in {r[0].lower() for r in con.execute("describe raw.patients").fetchall()}


def test_latin1_file_refuses_as_wrong_encoding(tmp_path):
    folder = write_extract(tmp_path / "x", extracted_at=None)
    text = (folder / "patients.csv").read_text().replace("C1\n", "Clínica\n", 1)
    (folder / "patients.csv").write_bytes(text.encode("latin-1"))
    message = _refused(folder, "patients.csv", "UTF-8", "line 2")
    assert "Cl" not in message


def test_semicolon_delimited_file_refuses(tmp_path):
    folder = write_extract(tmp_path / "x", extracted_at=None)
    path = folder / "follow_up.csv"
    path.write_text(path.read_text().replace(",", ";"))
    _refused(folder, "follow_up.csv", "not comma-separated")


def test_truncated_csv_refuses_with_the_line(tmp_path):
    folder = write_extract(tmp_path / "x", extracted_at=None)
    path = folder / "imaging_findings.csv"
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"2016-01") + 7])  # cut inside the last row
    message = _refused(folder, "imaging_findings.csv", "line 6", "fields where the header has 11")
    assert "F5" not in message


def test_unterminated_quote_refuses(tmp_path):
    folder = write_extract(tmp_path / "x", extracted_at=None)
    path = folder / "surgeries.csv"
    path.write_text(path.read_text().replace("S3,P3", 'S3,"P3', 1))
    _refused(folder, "surgeries.csv", "quoted value is never closed")


def test_header_only_table_refuses_as_empty(tmp_path):
    folder = write_extract(tmp_path / "x", extracted_at=None)
    path = folder / "lab_results.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    _refused(folder, "lab_results.csv", "no data rows")


def test_zero_byte_file_refuses(tmp_path):
    folder = write_extract(tmp_path / "x", extracted_at=None)
    (folder / "follow_up.csv").write_bytes(b"")
    _refused(folder, "follow_up.csv", "empty")


def test_manifest_row_count_mismatch_refuses(tmp_path):
    folder = write_extract(tmp_path / "x")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["surgeries.csv"] = {"rows": 5}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _refused(folder, "surgeries.csv", "4 data rows read", "says 5")


def test_manifest_sha256_mismatch_refuses(tmp_path):
    folder = write_extract(tmp_path / "x")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["patients.csv"] = {"rows": 3, "sha256": sha256_file(folder / "patients.csv")}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert ingest(folder, duckdb.connect()).tables["patients"].rows_read == 3  # correct sha passes
    with open(folder / "patients.csv", "a") as handle:
        handle.write("P4,F,1990-01-01,\n")
    _refused(folder, "patients.csv", "sha256 differs")


def test_malformed_or_incomplete_manifest_refuses(tmp_path):
    folder = write_extract(tmp_path / "x")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"]["imaging_findings.csv"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _refused(folder, "imaging_findings.csv", "not listed in manifest.json")
    manifest["files"]["imaging_findings.csv"] = {"rows": "many"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _refused(folder, "manifest.json", "rows of imaging_findings.csv")
    (folder / "manifest.json").write_text("{not json")
    _refused(folder, "manifest.json", "not valid UTF-8 JSON")


def test_bad_values_in_parquet_are_quarantined_like_csv(tmp_path):
    tables = base_tables()
    find(tables["lab_results"], "lab_id", "L1")["sample_date"] = "2010-02-31"
    csv_dir = write_extract(tmp_path / "csv", tables, extracted_at=None)
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    con = duckdb.connect()
    for path in csv_dir.glob("*.csv"):
        con.execute(
            f"copy (select * from read_csv('{path}', all_varchar = true)) to '{parquet_dir / (path.stem + '.parquet')}' (format parquet)"
        )
    _, _, from_csv = run_ingest(csv_dir)
    _, _, from_parquet = run_ingest(parquet_dir)
    assert reasons(from_csv) == reasons(from_parquet) == {("lab_results", 1, "invalid_date")}


def test_pandas_parquet_dates_at_midnight_are_dates_other_times_are_rejected(tmp_path):
    import pandas as pd

    folder = tmp_path / "typed"
    folder.mkdir()
    for table, rows in base_tables().items():
        frame = pd.DataFrame(rows).replace({"": None})
        for column in TABLES[table].columns:
            if column.dtype == "date":
                frame[column.name] = pd.to_datetime(frame[column.name], format="%Y-%m-%d")
            elif column.dtype in ("decimal", "integer"):
                frame[column.name] = pd.to_numeric(frame[column.name])  # integers with gaps become floats: 2.0
        if table == "lab_results":
            frame.loc[2, "sample_date"] = pd.Timestamp("2010-02-25 10:30")  # a time of day is not a date
        frame.to_parquet(folder / f"{table}.parquet")
    con, report, rejected = run_ingest(folder)
    assert reasons(rejected) == {("lab_results", 3, "invalid_date")}
    # the midnight timestamp is the date; the float 2.0 a pandas writer made of an integer is 2
    assert con.execute("select surgery_date, positive_nodes from raw.surgeries where surgery_id = 'S1'").fetchone() == (
        dt.date(2010, 1, 10),
        2,
    )
    assert_reconciled(con, report)


def test_corrupt_parquet_refuses(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    con = duckdb.connect()
    for path in write_extract(tmp_path / "csv", extracted_at=None).glob("*.csv"):
        con.execute(
            f"copy (select * from read_csv('{path}', all_varchar = true)) to '{folder / (path.stem + '.parquet')}' (format parquet)"
        )
    data = (folder / "patients.parquet").read_bytes()
    (folder / "patients.parquet").write_bytes(data[: len(data) // 2])
    _refused(folder, "patients.parquet", "cannot be read as Parquet")


# ---------------------------------------------------------------------------------------------
# the validate command
# ---------------------------------------------------------------------------------------------


def test_validate_cli_exit_codes_and_summary(tmp_path):
    clean = write_extract(tmp_path / "clean")
    proc = run_cli("validate", "--extract", str(clean))
    assert proc.returncode == 0, proc.stderr
    assert "clean" in proc.stdout

    tables = base_tables()
    find(tables["patients"], "patient_id", "P3")["sex"] = "female"
    bad = write_extract(tmp_path / "bad", tables)
    proc = run_cli("validate", "--extract", str(bad))
    assert proc.returncode == 1
    assert "not_in_vocabulary" in proc.stdout and "no_valid_follow_up" not in proc.stdout
    assert "reference_quarantined" in proc.stdout
    assert "female" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr

    shutil.copytree(clean, tmp_path / "refused")
    (tmp_path / "refused" / "patients.csv").unlink()
    proc = run_cli("validate", "--extract", str(tmp_path / "refused"))
    assert proc.returncode == 1
    assert "patients" in proc.stderr and "Traceback" not in proc.stderr


def test_typed_parquet_values_are_checked_like_their_text(tmp_path):
    # Typed Parquet values (DATE, DOUBLE, integers, BOOLEAN) are checked as they are, not through
    # their text: the quarantine and raw tables must equal those of the same values as text.
    from rait_registry import checks as checks_module
    from rait_registry.ingest import IngestReport, read_as_text

    csv_dir = write_extract(tmp_path / "csv", extracted_at=None)
    typed_dir, text_dir = tmp_path / "typed", tmp_path / "text"
    typed_dir.mkdir()
    text_dir.mkdir()
    sql_types = {"date": "date", "decimal": "double", "integer": "bigint", "boolean": "boolean"}
    con = duckdb.connect()
    for table in TABLE_ORDER:
        casts = ", ".join(
            f"cast(nullif({c.name}, '') as {sql_types[c.dtype]}) as {c.name}"
            if c.vocabulary is None and c.dtype in sql_types
            else c.name
            for c in TABLES[table].columns
        )
        con.execute(
            f"create table {table} as select {casts} from read_csv('{csv_dir / table}.csv', all_varchar = true)"
        )
    # values whose text breaks a rule: not finite, not a float32, a five-digit year, not a 32-bit integer
    con.execute("update lab_results set value = 'inf'::double where lab_id = 'L1'")
    con.execute("update lab_results set tgab_cutoff = 1e300 where lab_id = 'L6'")
    con.execute("update lab_results set sample_date = date '10000-01-01' where lab_id = 'L2'")
    con.execute("update surgeries set positive_nodes = 3000000000 where surgery_id = 'S1'")
    for table in TABLE_ORDER:
        con.execute(f"copy {table} to '{typed_dir / table}.parquet' (format parquet)")
        con.execute(f"copy (select columns(*)::varchar from {table}) to '{text_dir / table}.parquet' (format parquet)")
    con.close()

    probe = duckdb.connect()
    probe.execute("create schema landing")
    read_as_text(probe, "lab_results", typed_dir / "lab_results.parquet", IngestReport("x", None, "2024-01-01", None))
    assert checks_module.native_columns(probe, "lab_results") == {"sample_date", "value", "tgab_cutoff"}

    typed_con, _, typed_rejected = run_ingest(typed_dir)
    text_con, _, text_rejected = run_ingest(text_dir)
    assert {
        ("lab_results", 1, "invalid_decimal"),
        ("lab_results", 6, "invalid_decimal"),
        ("lab_results", 2, "invalid_date"),
        ("surgeries", 1, "invalid_integer"),
    } <= reasons(typed_rejected)
    pd.testing.assert_frame_equal(typed_rejected, text_rejected)
    for table in TABLE_ORDER:
        pd.testing.assert_frame_equal(
            typed_con.execute(f"select * from raw.{table} order by source_row").df(),
            text_con.execute(f"select * from raw.{table} order by source_row").df(),
        )
