"""Open to every client: older DuckDB readers, read-write holders, whole exports, the dbt loop, the
project as a dbt package and as an installed wheel. Each test starts the real thing (a DuckDB 1.1
interpreter, a second process holding the file, ``dbt`` and ``pip`` subprocesses)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from .conftest import BIN, run_cli
from .venvs import duckdb_client_venv

DIGEST_SCRIPT = Path(__file__).with_name("relation_digest.py")
#: The oldest DuckDB a published warehouse must open in (the default --storage-version).
OLD_DUCKDB = "1.1.3"
#: dbt and our CLI in subprocesses: dbt's own defaults, not the ones an in-process run_dbt() left behind.
DBT_ENV_KEYS = ("RAIT_DBT_DATABASE", "RAIT_DBT_PROJECT", "RAIT_DBT_TARGET", "RAIT_DBT_THREADS")


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DBT_ENV_KEYS}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
    env.update(extra)
    return env


@pytest.fixture
def published_copy(tmp_path, demo_warehouse) -> Path:
    target = tmp_path / "wh" / "registry.duckdb"
    target.parent.mkdir()
    shutil.copy(demo_warehouse, target)
    return target


def storage_tag(path: Path) -> str:
    """DuckDB's ``storage_version`` tag of the file: the oldest DuckDB that reads it (``v1.0.0+``)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{path}' as probe (read_only)")
        return con.execute(
            "select tags['storage_version'] from duckdb_databases() where database_name = 'probe'"
        ).fetchone()[0]
    finally:
        con.close()


def digests(python: Path, warehouse: Path) -> dict:
    proc = subprocess.run([str(python), str(DIGEST_SCRIPT), str(warehouse)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


# --- 1. storage format: DuckDB 1.1 clients --------------------------------------------------------


def test_published_warehouse_is_written_for_duckdb_1_1_and_records_it(demo_warehouse):
    assert storage_tag(demo_warehouse) == "v1.0.0+"  # DuckDB reports v1.1.0 files as readable from v1.0.0
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    assert con.execute("select storage_version from history.refresh_runs").fetchall() == [("v1.1.0",)]
    con.close()


@pytest.mark.slow
def test_duckdb_1_1_reads_every_relation_as_duckdb_2_does(demo_warehouse, tmp_path):
    published = tmp_path / "registry.duckdb"
    shutil.copy(demo_warehouse, published)
    old = digests(duckdb_client_venv(OLD_DUCKDB) / "bin" / "python", published)
    new = digests(Path(sys.executable), published)
    assert old["duckdb"] == OLD_DUCKDB and new["duckdb"] == duckdb.__version__
    relations = new["relations"]
    kinds = {kind for _, _, kind in relations.values()}
    assert kinds == {"BASE TABLE", "VIEW"}  # the staging views too: DuckDB 1.1 binds their SQL
    assert {f"marts.{mart}" for mart in ("patients", "analysis_cohort", "cohort_attrition")} <= set(relations)
    assert sum(rows for rows, _, _ in relations.values()) > 10_000
    assert old["relations"] == relations


@pytest.mark.slow
def test_storage_version_migrates_both_ways_and_a_reattached_reader_sees_the_publish(published_copy, demo_extract):
    old_python = duckdb_client_venv(OLD_DUCKDB) / "bin" / "python"
    opens_in_old = lambda: subprocess.run(  # noqa: E731
        [str(old_python), "-c", f"import duckdb; duckdb.connect({str(published_copy)!r}, read_only=True).close()"],
        capture_output=True,
        text=True,
    )
    assert opens_in_old().returncode == 0
    # a long-lived reader: an in-memory connection with the warehouse attached read-only
    reader = duckdb.connect()
    reader.execute(f"attach '{published_copy}' as registry (read_only)")
    runs = lambda: reader.execute("select count(*) from registry.history.refresh_runs").fetchone()[0]  # noqa: E731
    assert runs() == 1

    up = run_cli(
        "refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy), "--storage-version", "latest"
    )
    assert up.returncode == 0, up.stderr
    assert storage_tag(published_copy) == "v2.0.0+"
    refused = opens_in_old()
    assert refused.returncode != 0 and "storage" in refused.stderr.lower()
    assert runs() == 1  # the reader still reads the file it opened
    reader.execute("detach registry")
    reader.execute(f"attach '{published_copy}' as registry (read_only)")
    assert runs() == 2  # re-attached: the published file
    reader.close()

    down = run_cli("refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy))
    assert down.returncode == 0, down.stderr
    assert storage_tag(published_copy) == "v1.0.0+"
    assert opens_in_old().returncode == 0
    con = duckdb.connect(str(published_copy), read_only=True)
    recorded = con.execute("select storage_version, status from history.refresh_runs order by started_at").fetchall()
    con.close()
    assert recorded == [("v1.1.0", "published"), ("latest", "unchanged"), ("v1.1.0", "unchanged")]


def test_an_unknown_storage_version_is_a_usage_error(published_copy, demo_extract):
    before = published_copy.read_bytes()
    proc = run_cli(
        "refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy), "--storage-version", "v9.9"
    )
    assert proc.returncode == 2
    assert "--storage-version v9.9" in proc.stderr and "latest" in proc.stderr
    assert published_copy.read_bytes() == before


# --- 2. a process holding the file read-write ---------------------------------------------------


def hold_read_write(path: Path) -> subprocess.Popen:
    """Another process with ``path`` open read-write (DuckDB's default), until it is killed."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; con = duckdb.connect({str(path)!r}); print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "ready"
    return holder


def assert_names_the_holder(proc: subprocess.CompletedProcess, holder: subprocess.Popen) -> None:
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    message = " ".join(proc.stderr.split())
    assert f"(PID {holder.pid})" in message
    assert "python" in message  # the holding program
    assert "duckdb -readonly" in message and "read_only=True" in message
    assert "internal error" not in message and "Traceback" not in message


def test_commands_exit_3_naming_a_read_write_holder(published_copy, demo_extract, tmp_path):
    before = published_copy.read_bytes()
    holder = hold_read_write(published_copy)
    try:
        commands = [
            ("query", "select 1", "--warehouse", str(published_copy)),
            ("analyze", "--warehouse", str(published_copy), "--out", str(tmp_path / "out")),
            ("report", "--warehouse", str(published_copy), "--out", str(tmp_path / "out")),
            ("refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy)),
        ]
        started = time.perf_counter()
        for command in commands:
            assert_names_the_holder(run_cli(*command), holder)
        # refresh found it before doing the work: no ingest, no dbt build
        assert time.perf_counter() - started < 20
    finally:
        holder.kill()
        holder.wait()
    assert published_copy.read_bytes() == before
    assert not list(published_copy.parent.glob(".build-*"))
    log = [json.loads(line) for line in (published_copy.parent / "refresh-log.jsonl").read_text().splitlines()]
    assert log[-1]["status"] == "failed" and log[-1]["error"].startswith("WarehouseHeld")


@pytest.mark.slow
def test_a_holder_arriving_during_a_refresh_stops_the_publish(published_copy, demo_extract):
    before = published_copy.read_bytes()
    refresh = subprocess.Popen(
        [str(BIN / "rait-registry"), "refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list(published_copy.parent.glob(".build-*/registry.duckdb")):
        time.sleep(0.02)
    holder = hold_read_write(published_copy)  # after the refresh's first check
    try:
        stdout, stderr = refresh.communicate(timeout=600)
    finally:
        holder.kill()
        holder.wait()
    assert_names_the_holder(subprocess.CompletedProcess(refresh.args, refresh.returncode, stdout, stderr), holder)
    assert published_copy.read_bytes() == before
