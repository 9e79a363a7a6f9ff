"""The dbt project on Apache Spark builds the same marts as on DuckDB, row for row.

Runs only with ``RAIT_TEST_SPARK=1`` (``make test-spark``): dbt-spark's ``session`` method on a
local PySpark session (Java 17) started by :func:`rait_registry.engines.spark_session` in this
process, its warehouse and Hive metastore in a temporary folder. Skipped in ``make test``.

For the demo registry and the golden edge extract (built one after the other in the same
session, each replacing the other's tables):
- ``dbt build --target spark`` passes: seeds, models, every data test and unit test (snapshots
  are left out: on Spark they need a Delta, Iceberg or Hudi table format);
- every mart has the DuckDB build's columns, in order, with the same type family, and equals it
  cell by cell (``compare_marts``, floats to 1e-9).
Spark compares strings by bytes, so ``byte_order`` is the plain column there; the edge extract's
patient E30 (finding ids ``E30-Fa`` / ``E30-FB`` on one date) shows whether that holds.
"""

from __future__ import annotations

import os

import pytest

from .conftest import DATA
from .engine_builds import COMPARED_MARTS, assert_every_node_passed, assert_marts_equal_the_duckdb_build

pytestmark = pytest.mark.skipif(
    os.environ.get("RAIT_TEST_SPARK") != "1",
    reason="Spark tests run with `make test-spark` (RAIT_TEST_SPARK=1, pyspark and Java 17)",
)


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from rait_registry.engines import spark_session

    work_dir = tmp_path_factory.mktemp("spark")
    session = spark_session(work_dir)
    yield session, work_dir
    session.stop()


@pytest.fixture(scope="module", params=["demo", "edge"])
def build(request, spark):
    """One Spark build per extract: (name, EngineBuild, marts, column types, DuckDB warehouse)."""
    from rait_registry.engines import build_on_spark, mart_types_spark, read_marts_spark

    session, work_dir = spark
    name = request.param
    if name == "demo":
        extract, warehouse = request.getfixturevalue("demo_extract"), request.getfixturevalue("demo_warehouse")
    else:
        extract, warehouse = DATA / "edge_extract", request.getfixturevalue("edge_warehouse")
    threads = int(os.environ.get("RAIT_DBT_THREADS", "2"))
    result = build_on_spark(extract, work_dir / name, session, threads=threads)
    print(f"\nspark {name}: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings_s.items()))
    return name, result, read_marts_spark(session, COMPARED_MARTS), mart_types_spark(session, COMPARED_MARTS), warehouse


def test_spark_compares_strings_by_bytes(spark):
    session, _ = spark
    assert session.sql("select 'a' < 'B' as lower_first, 'E30-FB' < 'E30-Fa' as upper_first").first() == (False, True)


def test_dbt_build_runs_every_model_and_test(build):
    _, result, *_ = build
    by_type = assert_every_node_passed(result)
    assert len(by_type["seed"]) == 3
    assert "snapshot" not in by_type
    assert len(by_type["model"]) >= 34  # 6 staging + 23 intermediate + 5 marts
    assert len(by_type["unit_test"]) >= 20
    assert len(by_type["test"]) >= 100


def test_marts_equal_the_duckdb_build(build):
    name, _, marts, types, warehouse = build
    assert_marts_equal_the_duckdb_build(name, marts, types, warehouse)
