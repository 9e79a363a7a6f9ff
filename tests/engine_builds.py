"""Checks shared by the PostgreSQL and Spark builds (tests/test_postgres.py, tests/test_spark.py)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from rait_registry.warehouse import MARTS

from .conftest import read_published_marts
from .oracle import compare_marts

#: The marts another engine's build is compared on: the paper's five and the target-trial
#: emulation's person-months.
COMPARED_MARTS: tuple[str, ...] = (*MARTS, "strategy_evidence_monthly")


def assert_every_node_passed(result) -> dict[str, list[str]]:
    """The statuses of the dbt build's nodes by resource type (seed, model, snapshot, test, unit_test),
    after asserting that every one succeeded or passed. Exposures (dbt_project/models/exposures.yml)
    are not built (dbt reports them "no-op") and are left out."""
    run_results = json.loads((Path(result.dbt.target_path) / "run_results.json").read_text())
    by_type: dict[str, list[str]] = {}
    for item in run_results["results"]:
        if item["unique_id"].startswith("exposure."):
            continue
        by_type.setdefault(item["unique_id"].split(".")[0], []).append(item["status"])
    assert all(status in ("success", "pass") for statuses in by_type.values() for status in statuses), by_type
    return by_type


def assert_marts_equal_the_duckdb_build(name: str, marts: dict, types: dict, warehouse: Path) -> None:
    """Every mart built on another engine has the DuckDB build's columns, type families and rows."""
    from rait_registry.engines import mart_types_duckdb, type_family

    expected = read_published_marts(warehouse)
    assert set(expected) == set(COMPARED_MARTS)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        expected_types = mart_types_duckdb(con, COMPARED_MARTS)
    finally:
        con.close()
    for mart, frame in expected.items():
        assert list(marts[mart].columns) == list(frame.columns), mart
        assert len(marts[mart]) == len(frame), mart
        families = {column: type_family(t) for column, t in types[mart].items()}
        assert families == {column: type_family(t) for column, t in expected_types[mart].items()}, mart
    differences = compare_marts(marts, expected)
    assert not differences, f"{name}: " + "\n".join(differences[:50])
