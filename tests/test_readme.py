"""The README's promises: its SQL examples run on the published demo warehouse, dbt docs build."""

from __future__ import annotations

import re

from rait_registry.dbt_runner import run_dbt

from .conftest import REPO, run_cli

SQL_BLOCKS = re.findall(r"```sql\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_readme_has_the_three_example_queries():
    assert len(SQL_BLOCKS) >= 3


def test_every_readme_query_runs_and_returns_rows(demo_warehouse):
    for sql in SQL_BLOCKS:
        proc = run_cli("query", sql, "--warehouse", str(demo_warehouse), "--csv")
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()
        assert len(lines) >= 3, sql  # a header and at least two rows


def test_readme_pfs_query_agrees_with_the_cohort(demo_con, demo_warehouse):
    proc = run_cli("query", SQL_BLOCKS[2], "--warehouse", str(demo_warehouse), "--csv", check=True)
    rows = [line.split(",") for line in proc.stdout.strip().splitlines()[1:]]
    events = dict(
        demo_con.execute("select rait_group, sum(pfs_event) from marts.analysis_cohort group by 1").fetchall()
    )
    assert {row[0]: int(float(row[2])) for row in rows} == {group: int(n) for group, n in events.items()}


def test_dbt_docs_generate_works(demo_warehouse, tmp_path):
    import shutil

    database = tmp_path / "registry.duckdb"
    shutil.copy(demo_warehouse, database)
    result = run_dbt("docs generate", database, work_dir=tmp_path)
    assert result.success, result.failures
    catalog = (tmp_path / "dbt-target" / "catalog.json").read_text()
    assert "analysis_cohort" in catalog and "cohort_attrition" in catalog
