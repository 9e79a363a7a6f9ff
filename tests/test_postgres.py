"""The dbt project on PostgreSQL builds the same marts as on DuckDB, row for row.

Runs only with ``RAIT_TEST_POSTGRES=1`` against a server whose address is in the libpq
variables (PGHOST, PGPORT, PGUSER, PGDATABASE): ``make test-postgres`` starts a throwaway
cluster with ``scripts/postgres-test-server.sh`` and runs this file. Skipped in ``make test``.

For the demo registry and the golden edge extract, each in a fresh database:
- ``dbt build --target postgres`` passes: seeds, models, snapshots, every data test and unit test;
- every mart has the DuckDB build's columns, in order, with the same type family, and equals it
  cell by cell (``compare_marts``, floats to 1e-9). (test_golden holds the DuckDB edge marts equal
  to the hand-worked ones.)
- the incremental models (docs/incremental.md) built incrementally: an altered edge extract built
  in full, then the edge extract with ``refresh_mode: incremental`` for the altered patients,
  equals the DuckDB build too.
The server's default collation is linguistic (ICU en-US), so an id tie-break that forgot the
``byte_order`` macro (COLLATE "C") changes the edge marts (patient E30) and fails a unit test.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from .conftest import DATA
from .engine_builds import COMPARED_MARTS, assert_every_node_passed, assert_marts_equal_the_duckdb_build

pytestmark = pytest.mark.skipif(
    os.environ.get("RAIT_TEST_POSTGRES") != "1",
    reason="PostgreSQL tests run with `make test-postgres` (RAIT_TEST_POSTGRES=1 and a server)",
)


@pytest.fixture(scope="module")
def server():
    from rait_registry.engines import PostgresTarget

    if not os.environ.get("PGHOST"):
        pytest.fail("PGHOST is not set: run these tests through scripts/postgres-test-server.sh (make test-postgres)")
    return PostgresTarget.from_env()


def _fresh_database(server, name: str):
    con = server.connect()
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f"drop database if exists {name}")
            cur.execute(f"create database {name}")
    finally:
        con.close()
    return dataclasses.replace(server, dbname=name)


@pytest.fixture(scope="module", params=["demo", "edge"])
def build(request, server, tmp_path_factory):
    """One PostgreSQL build per extract: (name, EngineBuild, marts, column types, DuckDB warehouse)."""
    from rait_registry.engines import build_on_postgres, mart_types_postgres, read_marts_postgres

    name = request.param
    if name == "demo":
        extract, warehouse = request.getfixturevalue("demo_extract"), request.getfixturevalue("demo_warehouse")
    else:
        extract, warehouse = DATA / "edge_extract", request.getfixturevalue("edge_warehouse")
    target = _fresh_database(server, f"rait_{name}")
    result = build_on_postgres(extract, tmp_path_factory.mktemp(f"pg-{name}"), target)
    print(f"\npostgres {name}: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings_s.items()))
    return (
        name,
        result,
        read_marts_postgres(target, COMPARED_MARTS),
        mart_types_postgres(target, COMPARED_MARTS),
        warehouse,
    )


def test_server_collation_is_not_byte_order(server):
    # Otherwise a tie-break without COLLATE "C" would pass unnoticed.
    con = server.connect()
    try:
        with con.cursor() as cur:
            cur.execute("select 'a' < 'B', 'a' < 'B' collate \"C\"")
            assert cur.fetchone() == (True, False)
    finally:
        con.close()


def test_dbt_build_runs_every_model_snapshot_and_test(build):
    _, result, *_ = build
    by_type = assert_every_node_passed(result)
    assert len(by_type["seed"]) == 3
    assert len(by_type["snapshot"]) == 6
    assert len(by_type["model"]) >= 34  # 6 staging + 23 intermediate + 5 marts
    assert len(by_type["unit_test"]) >= 20
    assert len(by_type["test"]) >= 100


def test_marts_equal_the_duckdb_build(build):
    name, _, marts, types, warehouse = build
    assert_marts_equal_the_duckdb_build(name, marts, types, warehouse)


def test_raw_tables_are_copied_exactly(server):
    # COPY text format: tabs, newlines, backslashes and quotes survive; NULL stays apart from ''.
    import pyarrow as pa

    from rait_registry.engines import load_raw_postgres

    values = ["plain", "tab\there", "new\nline\r", "back\\slash \\N", "quote ' \"", "", None, "ünï €"]
    table = pa.table({"source_row": pa.array(range(1, len(values) + 1), pa.int64()), "note": pa.array(values)})
    target = _fresh_database(server, "rait_copy")
    load_raw_postgres({"patients": table}, target)
    con = target.connect()
    try:
        with con.cursor() as cur:
            cur.execute("select source_row, note from raw.patients order by source_row")
            assert cur.fetchall() == list(zip(range(1, len(values) + 1), values))
    finally:
        con.close()


def test_incremental_build_equals_the_duckdb_build(server, tmp_path, edge_warehouse):
    from rait_registry.engines import (
        build_on_postgres,
        ingest_extract,
        load_raw_postgres,
        mart_types_postgres,
        read_marts_postgres,
    )

    from .test_incremental import altered_edge_extract

    altered, edge, patients = altered_edge_extract(tmp_path)
    target = _fresh_database(server, "rait_incremental")
    build_result = build_on_postgres(altered, tmp_path / "pg-full", target, with_unit_tests=False)
    _, tables = ingest_extract(edge)
    load_raw_postgres(tables, target)
    con = target.connect()
    try:
        with con, con.cursor() as cur:
            cur.execute("create schema if not exists history")
            cur.execute("drop table if exists history.changed_patients")
            cur.execute("create table history.changed_patients (patient_id varchar primary key)")
            cur.executemany("insert into history.changed_patients values (%s)", [(p,) for p in sorted(patients)])
    finally:
        con.close()

    def row_versions():  # the transaction that wrote each row of marts.patients
        con = target.connect()
        try:
            with con.cursor() as cur:
                cur.execute("select patient_id, xmin::text from marts.patients")
                return dict(cur.fetchall())
        finally:
            con.close()

    before = row_versions()
    assert patients <= before.keys()
    from rait_registry.engines import _dbt_build, _environment

    with _environment(target.dbt_env()):
        result = _dbt_build("postgres", tmp_path / "pg-incremental", {"refresh_mode": "incremental"}, 2, False, ())
    by_type = assert_every_node_passed(dataclasses.replace(build_result, dbt=result))
    assert len(by_type["model"]) >= 34
    after = row_versions()
    # incremental: the altered patients' rows were rewritten, every other row kept
    assert {p for p in after if after[p] != before.get(p)} == patients
    assert_marts_equal_the_duckdb_build(
        "edge", read_marts_postgres(target, COMPARED_MARTS), mart_types_postgres(target, COMPARED_MARTS), edge_warehouse
    )
