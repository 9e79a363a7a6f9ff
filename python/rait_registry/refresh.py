"""Refresh: ingest -> build file -> dbt build -> checks -> atomic publish (design.md steps 1-3).

The build happens in ``<warehouse dir>/.build-<run_id>/<warehouse name>``: a new file that is
never the published one. Only when ingest and ``dbt build`` (models, data tests and unit tests)
pass is it moved onto the published path with an atomic rename; a failure at any point leaves
the previously published database untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .dbt_runner import DbtResult, require_success, run_dbt
from .ingest import IngestReport, ingest

log = logging.getLogger(__name__)


@dataclass
class RefreshResult:
    """What one refresh did."""

    run_id: str
    warehouse: str
    status: str
    ingest: IngestReport | None = None
    dbt: DbtResult | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    mart_rows: dict[str, int] = field(default_factory=dict)


def new_run_id() -> str:
    """Sortable, unique run id: UTC timestamp plus a random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def refresh(
    extract_dir: str | Path,
    warehouse: str | Path,
    dbt_vars: dict | None = None,
    threads: int = 2,
    keep_failed_build: bool = False,
) -> RefreshResult:
    """Build a new warehouse from ``extract_dir`` and publish it atomically onto ``warehouse``.

    Raises
    ------
    ExtractRefused, BuildFailed
        Data problems (exit code 1); the published warehouse is unchanged.
    """
    warehouse = Path(warehouse).resolve()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    build_dir = warehouse.parent / f".build-{run_id}"
    build_dir.mkdir()
    build_file = build_dir / warehouse.name
    result = RefreshResult(run_id=run_id, warehouse=str(warehouse), status="running")
    published = False
    try:
        started = time.perf_counter()
        con = duckdb.connect(str(build_file))
        try:
            result.ingest = ingest(extract_dir, con)
        finally:
            con.close()
        result.timings_s["ingest"] = time.perf_counter() - started

        started = time.perf_counter()
        result.dbt = require_success(
            run_dbt("build", build_file, work_dir=warehouse.parent / ".dbt", dbt_vars=dbt_vars, threads=threads)
        )
        result.timings_s["dbt_build"] = time.perf_counter() - started

        con = duckdb.connect(str(build_file))
        try:
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall():
                result.mart_rows[name] = con.execute(f'select count(*) from marts."{name}"').fetchone()[0]
            con.execute("checkpoint")
        finally:
            con.close()

        started = time.perf_counter()
        os.replace(build_file, warehouse)
        published = True
        result.timings_s["publish"] = time.perf_counter() - started
        result.status = "published"
        return result
    finally:
        if published or not keep_failed_build:
            shutil.rmtree(build_dir, ignore_errors=True)
