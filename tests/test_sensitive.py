"""Sensitive values: a recognisable value planted in bad rows appears only in quarantine.rejected_rows.

The planted value sits in bad rows -- as the bad value itself (a lab value, an imaging site), as a
patient id (of an orphan row, of a quarantined patient and all their rows), in another column of
a quarantined row, and in an unknown column (never loaded at all). It must not appear in stdout
or stderr, log records, dbt's logs and target folder, the refresh history, refusal messages,
pandera/mart-check reports, or any table or view other than quarantine.rejected_rows.

This module holds the one full refresh of the validation tests: a messy extract whose clean
remainder must build and publish, with exactly the answer key's rows quarantined.
"""

from __future__ import annotations

import logging
import os

import duckdb
import pytest

from rait_registry.exceptions import ExtractRefused, MartCheckFailed
from rait_registry.ingest import ingest
from rait_registry.mart_checks import validate_marts
from rait_registry.messy import inject_faults, write_tables
from rait_registry.synth import simulate

from .conftest import run_cli
from .test_checks import write_extract
from .test_schemas import good_marts, mart_database

SECRET = "ZQSECRET4471"


def _plant(messy) -> dict[str, int]:
    """Put SECRET into bad rows of ``messy`` (in place); return how many cells were planted."""
    tables, key = messy.tables, messy.expected
    planted = {}

    def rows_of(fault: str) -> list[int]:
        return [int(r) - 1 for r in key.loc[key.fault == fault, "source_row"]]

    lab = tables["lab_results"]
    lab.loc[rows_of("text_in_number")[:1], "value"] = SECRET  # the bad value itself
    lab.loc[rows_of("orphan")[:1], "patient_id"] = SECRET + "-ORPHAN"  # a missing patient's id
    tables["imaging_findings"].loc[rows_of("vocabulary_typo")[:1], "site"] = SECRET  # a bad vocabulary value
    patients = tables["patients"]
    quarantined_patient = rows_of("missing_required")[0]
    patients.loc[quarantined_patient, "center_id"] = SECRET + "-CENTRE"  # another column of a bad row
    old_id = patients.loc[quarantined_patient, "patient_id"]
    for frame in tables.values():  # a quarantined patient's id, on all their rows
        frame.loc[frame["patient_id"] == old_id, "patient_id"] = SECRET + "-PID"
    patients.loc[patients.index[::7], "notes"] = SECRET + "-NOTES"  # an unknown column: never loaded
    planted["rows_of_quarantined_patient"] = sum(
        int((f["patient_id"] == SECRET + "-PID").sum()) for f in tables.values()
    )
    return planted


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    root = tmp_path_factory.mktemp("sensitive")
    messy = inject_faults(simulate(80, 21), rate=0.04, seed=21)
    planted = _plant(messy)
    extract = write_tables(messy, root / "extract")
    warehouse = root / "warehouse" / "registry.duckdb"
    env = {k: v for k, v in os.environ.items() if k != "RAIT_DEBUG"}
    # far more than 5% of some tables is quarantined here: the limits are not what this module tests
    proc = run_cli(
        "--verbose",
        "refresh",
        "--extract",
        str(extract),
        "--warehouse",
        str(warehouse),
        "--max-quarantine-share",
        "100%",
        env=env,
    )
    return proc, messy, planted, extract, warehouse


def test_messy_extract_refreshes_and_publishes_the_clean_remainder(refreshed):
    proc, messy, _, _, warehouse = refreshed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rejected = con.execute("select distinct source_table, source_row from quarantine.rejected_rows").fetchall()
        expected = set(zip(messy.expected["table"], messy.expected["source_row"].astype(int)))
        assert set((t, int(r)) for t, r in rejected) == expected
        for table, frame in messy.tables.items():
            staged = con.execute(f"select count(*) from staging.{table}").fetchone()[0]
            quarantined = sum(1 for t, _ in expected if t == table)
            assert staged + quarantined == len(frame), table
        assert con.execute("select count(*) from marts.patients").fetchone()[0] > 0
        assert con.execute("select count(*) from marts.rait_cycles").fetchone()[0] > 0
    finally:
        con.close()


def test_planted_value_is_not_in_command_output(refreshed):
    proc, *_ = refreshed
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_planted_value_is_only_in_the_quarantine_table(refreshed):
    _, _, planted, _, warehouse = refreshed
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        relations = con.execute(
            "select table_schema, table_name from information_schema.tables order by 1, 2"
        ).fetchall()
        assert len(relations) > 10
        hits = {}
        for schema, name in relations:
            n = con.execute(
                f'select count(*) from "{schema}"."{name}" as x where contains(cast(to_json(x) as varchar), ?)',
                [SECRET],
            ).fetchone()[0]
            if n:
                hits[f"{schema}.{name}"] = n
        # the planted rows are all there, and nowhere else
        assert set(hits) == {"quarantine.rejected_rows"}, hits
        patient_rows = con.execute(
            "select count(distinct (source_table, source_row)) from quarantine.rejected_rows "
            "where json_extract_string(raw_record, '$.patient_id') = ?",
            [SECRET + "-PID"],
        ).fetchone()[0]
        assert patient_rows == planted["rows_of_quarantined_patient"]
        # the unknown column is loaded nowhere, not even in the quarantine
        assert (
            con.execute(
                "select count(*) from quarantine.rejected_rows where contains(raw_record::varchar, ?)",
                [SECRET + "-NOTES"],
            ).fetchone()[0]
            == 0
        )
        # messages never hold the value; row_key may hold the row's own id only
        assert (
            con.execute(
                "select count(*) from quarantine.rejected_rows where contains(message, ?)", [SECRET]
            ).fetchone()[0]
            == 0
        )
    finally:
        con.close()


def test_planted_value_is_not_in_dbt_files_or_refresh_history(refreshed):
    _, _, _, _, warehouse = refreshed
    scanned = 0
    for path in warehouse.parent.rglob("*"):
        if path.is_file() and path.suffix not in (".duckdb", ".wal"):
            assert SECRET.encode() not in path.read_bytes(), path
            scanned += 1
    assert scanned > 3  # dbt target and logs are there
    assert any("dbt-logs" in str(p) for p in warehouse.parent.rglob("*"))
    assert any("dbt-target" in str(p) for p in warehouse.parent.rglob("*"))


def test_planted_value_is_not_in_log_records_or_validate_output(refreshed, caplog):
    _, _, _, extract, _ = refreshed
    with caplog.at_level(logging.DEBUG):
        report = ingest(extract, duckdb.connect())
    assert report.rows_quarantined > 0
    assert SECRET not in caplog.text
    assert not any(SECRET in warning for warning in report.warnings)
    proc = run_cli("validate", "--extract", str(extract))
    assert proc.returncode == 1
    assert SECRET not in proc.stdout + proc.stderr


@pytest.mark.parametrize("damage", ["latin1", "truncated", "quote", "fields"])
def test_refusal_messages_never_quote_the_offending_line(tmp_path, damage):
    folder = write_extract(tmp_path / "x", extracted_at=None)
    path = folder / "patients.csv"
    text = path.read_text()
    if damage == "latin1":
        path.write_bytes(text.replace("C1\n", f"{SECRET}é\n", 1).encode("latin-1"))
    elif damage == "truncated":
        path.write_text(text + f"{SECRET},F")
    elif damage == "quote":
        path.write_text(text + f'P9,F,1990-01-01,"{SECRET}\n')
    else:
        path.write_text(text + f"P9,F,1990-01-01,{SECRET},extra\n")
    with pytest.raises(ExtractRefused) as info:
        ingest(folder, duckdb.connect())
    assert "patients.csv" in str(info.value)
    assert SECRET not in str(info.value)


def test_mart_check_report_never_quotes_values():
    marts = good_marts()
    marts["patients"].loc[0, "histology"] = SECRET
    marts["pfs"].loc[1, "event_type"] = SECRET
    with pytest.raises(MartCheckFailed) as info:
        validate_marts(mart_database(marts))
    assert "marts.patients, column histology" in str(info.value)
    assert SECRET not in str(info.value)
