"""The tools for a hospital that prepares an extract: the Frictionless Data Package of the format
(`rait-registry schema`), the manifest writer (`rait-registry manifest`) and the worked example
of docs/examples/extract/ (refreshed here with nothing quarantined)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb
import frictionless

from rait_registry import datapackage
from rait_registry.contract import TABLE_ORDER, TABLES

from .conftest import REPO, run_cli

EXAMPLE = REPO / "docs" / "examples" / "extract"
TABLE_FILES = [f"{name}.csv" for name in TABLE_ORDER]


def _validate(folder: Path):
    """Frictionless validation of ``folder`` against a freshly written datapackage.json."""
    datapackage.write(folder / "datapackage.json")
    return frictionless.validate(str(folder / "datapackage.json"))


def _errors(report) -> list[tuple[str, str]]:
    """(resource, error type) of every error of a validation report."""
    return [(task.name, error.type) for task in report.tasks for error in task.errors]


def _copy_tables(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in TABLE_FILES:
        shutil.copy(source / name, target / name)
    return target


def _edit(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell of a CSV file (``row`` 0 = first data row)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
        fields = list(rows[0])
    rows[row][column] = value
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


# ---------------------------------------------------------------------------------------------
# rait-registry schema: the Data Package
# ---------------------------------------------------------------------------------------------


def test_schema_command_prints_and_writes_the_data_package(tmp_path):
    printed = run_cli("schema", check=True).stdout
    assert json.loads(printed) == datapackage.datapackage()
    written = run_cli("schema", "--out", str(tmp_path), check=True)
    assert (tmp_path / "datapackage.json").read_text() == printed
    assert "datapackage.json" in written.stdout


def test_data_package_is_a_valid_descriptor_with_every_table_and_column():
    descriptor = datapackage.datapackage()
    assert list(frictionless.Package.metadata_validate(descriptor)) == []
    broken = json.loads(json.dumps(descriptor))
    broken["resources"][0]["schema"]["fields"][0]["constraints"]["enum"] = "F"  # not a list
    assert list(frictionless.Package.metadata_validate(broken))  # the profile check can fail
    package = frictionless.Package.from_descriptor(descriptor)
    assert [resource.name for resource in package.resources] == list(TABLE_ORDER)
    for resource in package.resources:
        table = TABLES[resource.name]
        assert resource.schema.field_names == table.column_names
        assert resource.schema.primary_key == [table.key]
        assert {fk["fields"][0]: fk["reference"]["resource"] for fk in resource.schema.foreign_keys} == table.references
        for column in table.columns:
            field = resource.schema.get_field(column.name)
            assert field.required == column.required, column.name
            assert field.constraints.get("enum") == (list(column.vocabulary) if column.vocabulary else None)
            assert field.description == column.description


def test_example_extract_carries_a_fresh_data_package():
    assert (EXAMPLE / "datapackage.json").read_text() == datapackage.to_json(), (
        "docs/examples/extract/datapackage.json is stale: run `rait-registry schema --out docs/examples/extract`"
    )


def test_demo_and_example_extracts_validate_against_the_data_package(demo_extract, tmp_path):
    for name, source in (("demo", demo_extract), ("example", EXAMPLE)):
        report = _validate(_copy_tables(source, tmp_path / name))
        assert report.valid, (name, _errors(report)[:10])
        assert {task.name: task.stats["rows"] for task in report.tasks}["patients"] > 0


def test_data_package_catches_type_vocabulary_range_key_and_reference_errors(tmp_path):
    folder = _copy_tables(EXAMPLE, tmp_path / "broken")
    _edit(folder / "patients.csv", 0, "sex", "X")  # not in the vocabulary
    _edit(folder / "patients.csv", 1, "birth_date", "02/11/1958")  # not YYYY-MM-DD
    _edit(folder / "rait_administrations.csv", 0, "activity", "0")  # activity must be > 0
    _edit(folder / "surgeries.csv", 0, "max_tumor_size_cm", "25")  # size must be <= 20
    _edit(folder / "lab_results.csv", 1, "lab_id", "EX01-L1")  # duplicate key
    _edit(folder / "follow_up.csv", 2, "patient_id", "EX99")  # not in patients
    _edit(folder / "imaging_findings.csv", 0, "site", "")  # required
    report = _validate(folder)
    errors = set(_errors(report))
    assert ("patients", "constraint-error") in errors  # enum
    assert ("patients", "type-error") in errors  # date format
    assert ("rait_administrations", "constraint-error") in errors  # exclusiveMinimum
    assert ("surgeries", "constraint-error") in errors  # maximum
    assert ("lab_results", "primary-key") in errors
    assert ("follow_up", "foreign-key") in errors
    assert ("imaging_findings", "constraint-error") in errors  # required
    assert not any(resource == "rait_administrations" and kind != "constraint-error" for resource, kind in errors)


def test_column_order_and_optional_columns_are_free_as_in_ingest(tmp_path):
    folder = _copy_tables(EXAMPLE, tmp_path / "reordered")
    with open(folder / "patients.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with open(folder / "patients.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["birth_date", "patient_id", "sex"], lineterminator="\n")
        writer.writeheader()  # center_id (optional) left out, the others reordered
        writer.writerows([{k: row[k] for k in ("birth_date", "patient_id", "sex")} for row in rows])
    assert _validate(folder).valid
    with open(folder / "patients.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["patient_id", "birth_date"], lineterminator="\n")
        writer.writeheader()  # sex is required
        writer.writerows([{k: row[k] for k in ("patient_id", "birth_date")} for row in rows])
    assert ("patients", "missing-label") in set(_errors(_validate(folder)))


# ---------------------------------------------------------------------------------------------
# rait-registry manifest
# ---------------------------------------------------------------------------------------------


def test_example_manifest_is_what_the_command_writes(tmp_path):
    committed = json.loads((EXAMPLE / "manifest.json").read_text())
    folder = _copy_tables(EXAMPLE, tmp_path / "example")
    run_cli(
        "manifest",
        str(folder),
        "--extracted-at",
        committed["extracted_at"],
        "--extract-id",
        committed["extract_id"],
        check=True,
    )
    assert (folder / "manifest.json").read_text() == (EXAMPLE / "manifest.json").read_text()
    assert sorted(committed["files"]) == sorted(TABLE_FILES)


def test_manifest_counts_rows_as_ingest_and_a_refresh_verifies_it(tmp_path):
    folder = _copy_tables(EXAMPLE, tmp_path / "extract")
    # a quoted line break inside a value is one row, not two
    text = (folder / "patients.csv").read_text()
    (folder / "patients.csv").write_text(text.replace("EX02,M,1958-11-02,C02", 'EX02,M,1958-11-02,"C0\n2"'))
    run_cli("manifest", str(folder), "--extracted-at", "2024-02-01", check=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"]["patients.csv"]["rows"] == 3
    assert manifest["extract_id"] == "extract" and manifest["extracted_at"] == "2024-02-01"
    assert run_cli("validate", "--extract", str(folder)).returncode == 0  # rows and sha256 agree with ingest

    with open(folder / "lab_results.csv", "a", encoding="utf-8") as handle:
        handle.write("EX03-L6,EX03,2021-01-10,TSH,1.2,,mIU/L,\n")  # changed after the manifest
    refused = run_cli("validate", "--extract", str(folder))
    assert refused.returncode == 1 and "lab_results.csv: sha256 differs from manifest.json" in refused.stderr


def test_manifest_date_defaults_to_the_newest_file(tmp_path):
    folder = _copy_tables(EXAMPLE, tmp_path / "extract")
    newest = dt.datetime(2023, 5, 17, 12, 0, tzinfo=dt.UTC).timestamp()
    for index, name in enumerate(TABLE_FILES):
        os.utime(folder / name, (newest - 86400 * index, newest - 86400 * index))
    run_cli("manifest", str(folder), "--extract-id", "site-a-2023-05", check=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["extracted_at"] == "2023-05-17" and manifest["extract_id"] == "site-a-2023-05"


def test_manifest_refuses_a_bad_date_or_an_incomplete_folder(tmp_path):
    folder = _copy_tables(EXAMPLE, tmp_path / "extract")
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    for value, message in (("01/02/2024", "YYYY-MM-DD"), (tomorrow, "after today")):
        proc = run_cli("manifest", str(folder), "--extracted-at", value)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (folder / "manifest.json").exists()
    (folder / "surgeries.csv").unlink()
    proc = run_cli("manifest", str(folder))
    assert proc.returncode == 1 and "surgeries: no file surgeries.csv" in proc.stderr


# ---------------------------------------------------------------------------------------------
# The worked example refreshes cleanly
# ---------------------------------------------------------------------------------------------


def test_example_extract_refreshes_with_nothing_quarantined(tmp_path):
    warehouse = tmp_path / "warehouse" / "registry.duckdb"
    run_cli("refresh", "--extract", str(EXAMPLE), "--warehouse", str(warehouse), check=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from quarantine.rejected_rows").fetchone()[0] == 0
        for table in TABLE_ORDER:
            expected = json.loads((EXAMPLE / "manifest.json").read_text())["files"][f"{table}.csv"]["rows"]
            assert con.execute(f'select count(*) from raw."{table}"').fetchone()[0] == expected, table
        patients = {
            row[0]: row[1:]
            for row in con.execute(
                "select patient_id, rait_group, is_eligible, exclusion_reason, first_response, last_response "
                "from marts.patients"
            ).fetchall()
        }
        # what docs/extract-format.md says of each patient
        assert patients == {
            "EX01": ("m-RAIT", True, None, "PR", "CR"),
            "EX02": ("o-RAIT", True, None, "PR", "PR"),
            "EX03": ("o-RAIT", False, "lung_only_micromets", "PD", "PD"),
        }
        events = dict(con.execute("select patient_id, event_type from marts.pfs").fetchall())
        assert events == {"EX01": "censored", "EX02": "death", "EX03": "progression"}
        (extract_id,) = con.execute("select extract_id from history.refresh_runs").fetchone()
        assert extract_id == "example-3-patients"
    finally:
        con.close()
