"""dbt unit tests of the SQL rules (contract section 2), run once per test session.

Scheduled refreshes skip them (they test the SQL on fixed inputs, not the extract); this test
runs every one of them against a copy of the demo build.
"""

from __future__ import annotations

import json
import shutil

from rait_registry.dbt_runner import run_dbt


def test_every_dbt_unit_test_passes(demo_warehouse, tmp_path):
    database = tmp_path / "registry.duckdb"
    shutil.copy(demo_warehouse, database)
    result = run_dbt("test", database, work_dir=tmp_path, extra_args=["--select", "test_type:unit"])
    assert result.success, "\n".join(result.failures)
    run_results = json.loads((tmp_path / "dbt-target" / "run_results.json").read_text())
    unit_tests = [r for r in run_results["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 20
    assert all(r["status"] == "pass" for r in unit_tests)


def test_unique_data_test_finds_every_duplicated_value(demo_warehouse, tmp_path):
    # the DuckDB `unique` test groups by hash first (dbt_project/macros/test_unique.sql): it must
    # still return each duplicated value once, like dbt's default
    import duckdb

    database = tmp_path / "registry.duckdb"
    shutil.copy(demo_warehouse, database)
    con = duckdb.connect(str(database))
    con.execute(
        "insert into raw.lab_results select * replace (source_row + 1000000 as source_row) "
        "from raw.lab_results order by source_row limit 2"
    )
    con.execute(  # a third copy of the first: still one duplicated value
        "insert into raw.lab_results select * replace (source_row + 2000000 as source_row) "
        "from raw.lab_results order by source_row limit 1"
    )
    con.close()
    result = run_dbt(
        "test", database, work_dir=tmp_path, extra_args=["--select", "stg_registry__lab_results,test_name:unique"]
    )
    assert not result.success
    run_results = json.loads((tmp_path / "dbt-target" / "run_results.json").read_text())
    [unique] = [r for r in run_results["results"] if "unique_stg_registry__lab_results_lab_id" in r["unique_id"]]
    assert unique["status"] == "fail" and unique["failures"] == 2
