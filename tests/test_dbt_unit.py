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
