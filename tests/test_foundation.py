"""Foundation: ingest into a build file, staging layer, atomic publish, query CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from rait_registry.contract import TABLE_ORDER, TABLES
from rait_registry.ingest import ingest

from .conftest import run_cli


def _csv_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def test_ingest_loads_every_table_typed_with_source_rows(tiny_extract):
    con = duckdb.connect()
    report = ingest(tiny_extract, con)
    for table in TABLE_ORDER:
        rows = con.execute(f"select * from raw.{table} order by source_row").fetchall()
        assert len(rows) == _csv_rows(tiny_extract / f"{table}.csv")
        assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
        columns = [row[0] for row in con.execute(f"describe raw.{table}").fetchall()]
        assert columns == ["source_row", *TABLES[table].column_names]
        # each column with its contract type (vocabularies and ids are text)
        sql_types = {"date": "DATE", "decimal": "DOUBLE", "integer": "INTEGER", "boolean": "BOOLEAN"}
        types = {row[0]: row[1] for row in con.execute(f"describe raw.{table}").fetchall()[1:]}
        assert types == {
            c.name: "VARCHAR" if c.vocabulary is not None else sql_types.get(c.dtype, "VARCHAR")
            for c in TABLES[table].columns
        }
        load = report.tables[table]
        assert load.rows_read == load.rows_staged + load.rows_quarantined
    # the unknown column is dropped and named in a warning, never loaded
    assert any("extra_col" in warning for warning in report.warnings)
    assert "landing" not in {
        row[0] for row in con.execute("select schema_name from information_schema.schemata").fetchall()
    }


def test_parquet_and_csv_extracts_load_identically(tiny_extract, tmp_path):
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    src = duckdb.connect()
    for table in TABLE_ORDER:
        src.execute(
            f"copy (select * from read_csv('{tiny_extract / (table + '.csv')}', all_varchar=true)) "
            f"to '{parquet_dir / (table + '.parquet')}' (format parquet)"
        )
    from_csv, from_parquet = duckdb.connect(), duckdb.connect()
    ingest(tiny_extract, from_csv)
    ingest(parquet_dir, from_parquet)
    for table in TABLE_ORDER:
        query = f"select * from raw.{table} order by source_row"
        assert from_csv.execute(query).fetchall() == from_parquet.execute(query).fetchall()


def test_manifest_sha_mismatch_refuses(tiny_extract):
    from rait_registry.exceptions import ExtractRefused

    (tiny_extract / "manifest.json").write_text(
        json.dumps(
            {
                "extract_id": "x",
                "extracted_at": "2024-01-01",
                "files": {"patients.csv": {"rows": 2, "sha256": "0" * 64}},
            }
        )
    )
    with pytest.raises(ExtractRefused, match="patients.csv: sha256"):
        ingest(tiny_extract, duckdb.connect())


def test_demo_staging_tables_have_every_row(demo_warehouse, demo_extract, demo_con):
    for table in TABLE_ORDER:
        staged = demo_con.execute(f"select count(*) from staging.{table}").fetchone()[0]
        quarantined = demo_con.execute(
            "select count(distinct source_row) from quarantine.rejected_rows where source_table = ?", [table]
        ).fetchone()[0]
        assert staged + quarantined == _csv_rows(demo_extract / f"{table}.csv"), table
        assert staged > 0


def test_demo_schemas_are_named_without_prefixes(demo_con):
    schemas = {row[0] for row in demo_con.execute("select schema_name from information_schema.schemata").fetchall()}
    assert {"raw", "staging", "intermediate", "marts", "quarantine"} <= schemas
    assert not any(name.startswith("main_") for name in schemas)


def test_activity_is_normalised_to_gbq(demo_con, demo_extract):
    rows = demo_con.execute("select activity, activity_unit, activity_gbq from staging.rait_administrations").fetchall()
    factors = {"GBq": 1.0, "MBq": 0.001, "mCi": 0.037}
    assert {unit for _, unit, _ in rows} >= {"GBq"}
    for activity, unit, gbq in rows:
        assert gbq == pytest.approx(activity * factors[unit], rel=1e-12)
        assert 0.5 <= gbq <= 15


def test_lab_units_are_canonical(demo_con):
    units = dict(
        demo_con.execute(
            "select analyte, string_agg(distinct unit, ',') from staging.lab_results group by 1"
        ).fetchall()
    )
    assert units == {"Tg": "ng/mL", "TgAb": "IU/mL", "TSH": "mIU/L"} or set(units.values()) <= {
        "ng/mL",
        "IU/mL",
        "mIU/L",
    }


def test_query_cli_reads_each_staging_table_after_extract_is_gone(demo_warehouse, demo_extract, tmp_path):
    # the published database never depends on the extract folder
    moved = tmp_path / "extract-moved"
    shutil.copytree(demo_extract, moved)
    published = tmp_path / "copy.duckdb"
    shutil.copy(demo_warehouse, published)
    shutil.rmtree(moved)
    for table in TABLE_ORDER:
        proc = run_cli("query", f"select count(*) as n from staging.{table}", "--warehouse", str(published), "--csv")
        assert proc.returncode == 0, proc.stderr
        assert int(proc.stdout.splitlines()[1]) > 0


def test_query_cli_is_read_only(demo_warehouse):
    proc = run_cli("query", "create table marts.evil as select 1", "--warehouse", str(demo_warehouse))
    assert proc.returncode == 2
    assert "read-only" in proc.stderr.lower() or "read only" in proc.stderr.lower()


def test_query_cli_missing_warehouse_is_a_usage_error(tmp_path):
    proc = run_cli("query", "select 1", "--warehouse", str(tmp_path / "nope.duckdb"))
    assert proc.returncode == 2
    assert "refresh" in proc.stderr


def test_refresh_with_missing_file_exits_1_and_keeps_published(tiny_extract, tmp_path, demo_warehouse):
    published = tmp_path / "registry.duckdb"
    shutil.copy(demo_warehouse, published)
    before = published.read_bytes()
    (tiny_extract / "lab_results.csv").unlink()
    proc = run_cli("refresh", "--extract", str(tiny_extract), "--warehouse", str(published))
    assert proc.returncode == 1
    assert "lab_results" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert published.read_bytes() == before
    assert not list(tmp_path.glob(".build-*"))
