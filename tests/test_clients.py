"""Open to every client: older DuckDB readers, read-write holders, whole exports, the dbt loop, the
project as a dbt package and as an installed wheel. Each test starts the real thing (a DuckDB 1.1
interpreter, a second process holding the file, ``dbt`` and ``pip`` subprocesses)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from rait_registry import history

from .conftest import BIN, REPO, run_cli
from .venvs import dependencies_venv, duckdb_client_venv, run

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
        for command in commands:
            assert_names_the_holder(run_cli(*command), holder)
        # refresh found it before doing the work: its logged run read no table and ran no dbt
        log = [json.loads(line) for line in (published_copy.parent / "refresh-log.jsonl").read_text().splitlines()]
        assert log[-1]["status"] == "failed" and "WarehouseHeld" in log[-1]["error"]
        assert log[-1]["table_counts"] == {} and log[-1]["dbt_invocation_id"] is None
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


# --- 3. query: whole exports, streamed ----------------------------------------------------------

ROWS_SQL = "select range as id, 'patient ' || range as label, case when range % 3 = 0 then null else range * 0.5 end as half from range({n})"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_exports_hold_every_row(demo_warehouse, tmp_path, fmt):
    output = tmp_path / f"rows.{fmt}"
    proc = run_cli(
        "query", ROWS_SQL.format(n=20_000), "--warehouse", str(demo_warehouse), "--format", fmt, "--output", str(output)
    )
    assert proc.returncode == 0, proc.stderr
    assert "20000 row(s)" in proc.stderr
    con = duckdb.connect()
    reader = {"csv": "read_csv", "jsonl": "read_json", "json": "read_json", "parquet": "read_parquet"}[fmt]
    rows = con.execute(
        f"select count(*), count(distinct id), count(half), max(label) from {reader}('{output}')"
    ).fetchone()
    assert rows == (20_000, 20_000, 13_333, "patient 9999")
    if fmt == "json":
        assert isinstance(json.loads(output.read_text()), list)
    if fmt == "jsonl":
        lines = output.read_text().splitlines()
        assert len(lines) == 20_000 and json.loads(lines[1]) == {"id": 1, "label": "patient 1", "half": 0.5}


def test_csv_to_stdout_is_whole_and_tells_null_from_empty(demo_warehouse):
    proc = run_cli("query", ROWS_SQL.format(n=20_000), "--warehouse", str(demo_warehouse), "--csv")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 20_001
    sql = "select 'a' as k, '' as empty, null as missing, 'x, \"y\"' as quoted, 'nan'::double as x"
    proc = run_cli("query", sql, "--warehouse", str(demo_warehouse), "--format", "csv", check=True)
    assert proc.stdout.splitlines() == ["k,empty,missing,quoted,x", 'a,"",,"x, ""y""",nan']
    assert list(csv.reader(io.StringIO(proc.stdout)))[1] == ["a", "", "", 'x, "y"', "nan"]
    proc = run_cli("query", sql, "--warehouse", str(demo_warehouse), "--format", "jsonl", check=True)
    # JSON has no NaN: a non-finite double is null
    assert json.loads(proc.stdout) == {"k": "a", "empty": "", "missing": None, "quoted": 'x, "y"', "x": None}


def test_terminal_table_says_how_many_rows_it_hid(demo_warehouse):
    proc = run_cli("query", ROWS_SQL.format(n=20_000), "--warehouse", str(demo_warehouse), "--max-rows", "5")
    assert proc.returncode == 0, proc.stderr
    assert "patient 4" in proc.stdout and "patient 5" not in proc.stdout
    assert "5 of 20000 rows printed, 19995 hidden" in " ".join(proc.stderr.split())
    small = run_cli("query", "select 1 as one", "--warehouse", str(demo_warehouse), check=True)
    assert "hidden" not in small.stderr


def test_sql_from_a_file_an_at_path_or_standard_input(demo_warehouse, tmp_path):
    sql_file = tmp_path / "q.sql"
    sql_file.write_text("-- eligible patients\nselect count(*) as n from marts.analysis_cohort;\n")
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    expected = str(con.execute("select count(*) from marts.analysis_cohort").fetchone()[0])
    con.close()
    for args, stdin in (((f"@{sql_file}",), None), (("--file", str(sql_file)), None), (("-",), sql_file.read_text())):
        proc = subprocess.run(
            [str(BIN / "rait-registry"), "query", *args, "--warehouse", str(demo_warehouse), "--csv"],
            input=stdin,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout.splitlines() == ["n", expected]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("select 1", "--format", "parquet"), "--output"),
        (("select 1", "--format", "table", "--output", "x.csv"), "terminal"),
        (("select 1", "--csv", "--format", "json"), "--format csv"),
        (("select 1", "--format", "xml"), "choose one of"),
        ((), "give the SQL"),
        (("@/nonexistent/q.sql",), "cannot read"),
    ],
)
def test_query_usage_errors_exit_2(demo_warehouse, args, message):
    proc = run_cli("query", *args, "--warehouse", str(demo_warehouse))
    assert proc.returncode == 2
    assert message in " ".join(proc.stderr.split())


def test_a_failed_export_leaves_no_partial_file(demo_warehouse, tmp_path):
    output = tmp_path / "rows.csv"
    output.write_text("earlier\n")
    sql = "select range, case when range = 15000 then error('stop') end as boom from range(20000)"
    proc = run_cli("query", sql, "--warehouse", str(demo_warehouse), "--output", str(output))
    assert proc.returncode == 2 and "stop" in proc.stderr
    assert output.read_text() == "earlier\n"
    assert [path.name for path in tmp_path.iterdir()] == ["rows.csv"]


@pytest.mark.slow
def test_a_million_row_export_streams_in_little_memory(demo_warehouse, tmp_path):
    """Peak RSS of the query process for 1M rows (~106 MB of CSV) stays near that of a one-row query."""
    wide = (
        "select range as id, 'patient ' || range as label, range * 0.5 as half, repeat('x', 80) as pad from range({n})"
    )

    def peak_mb(sql: str, output: Path) -> float:
        measure = (
            "import resource, subprocess, sys; "
            "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode; "
            "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        command = [BIN / "rait-registry", "query", sql, "--warehouse", demo_warehouse, "--output", output]
        code, kib = run(sys.executable, "-c", measure, *command).stdout.split()
        assert code == "0"
        return int(kib) / 1024

    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    big_mb = peak_mb(wide.format(n=1_000_000), big)
    small_mb = peak_mb(wide.format(n=1), small)
    size_mb = big.stat().st_size / 2**20
    print(f"1M-row CSV export: {size_mb:.0f} MB written, peak RSS {big_mb:.0f} MB (1 row: {small_mb:.0f} MB)")
    with open(big) as handle:
        assert sum(1 for _ in handle) == 1_000_001
    assert size_mb > 100
    assert big_mb < small_mb + 100  # the rows are never all in memory


# --- 4. the dbt loop: load, then plain dbt ------------------------------------------------------


def copy_dbt_project(target: Path) -> Path:
    """The dbt project as a clone has it (no target/, logs/, dbt_packages/), under ``target``."""
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages", "package-lock.yml", "__pycache__", ".user.yml")
    shutil.copytree(REPO / "dbt_project", target, ignore=ignore)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_load_then_dbt_build_and_docs_as_the_readme_writes_them(demo_extract, demo_warehouse, tmp_path):
    clone = tmp_path / "clone"
    project = copy_dbt_project(clone / "dbt_project")
    env = clean_env()
    load = subprocess.run(
        [str(BIN / "rait-registry"), "load", "--extract", str(demo_extract)],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    assert load.returncode == 0, load.stderr
    assert "patients: 160 read" in load.stdout and "dbt build" in load.stdout
    dev = clone / "warehouse" / "dev.duckdb"
    assert dev.is_file()
    for command in (["build"], ["docs", "generate"]):
        proc = subprocess.run([str(BIN / "dbt"), *command], cwd=project, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:]
    assert (project / "target" / "index.html").is_file()
    assert "analysis_cohort" in (project / "target" / "catalog.json").read_text()
    # the dev build has the marts of the published warehouse
    built, published = duckdb.connect(str(dev), read_only=True), duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        assert history.mart_hashes(built) == history.mart_hashes(published)
        assert built.execute("select count(*) from quarantine.rejected_rows").fetchone()[0] == 0
    finally:
        built.close()
        published.close()
    # dbt docs serve finds what docs generate wrote
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "dbt"), "docs", "serve", "--port", str(port), "--no-browser"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pages = {}
        deadline = time.time() + 60
        while time.time() < deadline and len(pages) < 2:
            try:
                for page in ("index.html", "catalog.json"):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{page}", timeout=5) as response:
                        pages[page] = response.read()
            except OSError:
                assert server.poll() is None, "dbt docs serve exited"
                time.sleep(0.3)
        assert b"dbt" in pages["index.html"] and b"analysis_cohort" in pages["catalog.json"]
    finally:
        server.kill()
        server.wait()


def test_load_refuses_a_published_warehouse(published_copy, demo_extract):
    before = published_copy.read_bytes()
    proc = run_cli("load", "--extract", str(demo_extract), "--warehouse", str(published_copy))
    assert proc.returncode == 2
    assert "published warehouse" in " ".join(proc.stderr.split())
    assert published_copy.read_bytes() == before


def test_a_refused_extract_leaves_the_dev_warehouse_as_it_was(tiny_extract, tmp_path):
    dev = tmp_path / "dev.duckdb"
    run_cli("load", "--extract", str(tiny_extract), "--warehouse", str(dev), check=True)
    before = dev.read_bytes()
    (tiny_extract / "lab_results.csv").unlink()
    proc = run_cli("load", "--extract", str(tiny_extract), "--warehouse", str(dev))
    assert proc.returncode == 1 and "lab_results" in proc.stderr
    assert dev.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


# --- 5. a dbt package, a wheel ------------------------------------------------------------------


@pytest.mark.slow
def test_the_project_is_a_dbt_package(demo_extract, demo_warehouse, tmp_path):
    consumer = tmp_path / "consumer"
    (consumer / "models").mkdir(parents=True)
    database = tmp_path / "consumer.duckdb"
    (consumer / "dbt_project.yml").write_text(
        'name: registry_consumer\nversion: "1.0.0"\nconfig-version: 2\nprofile: registry_consumer\nmodel-paths: ["models"]\n'
    )
    (consumer / "packages.yml").write_text(f"packages:\n  - local: {REPO / 'dbt_project'}\n")
    (consumer / "profiles.yml").write_text(
        textwrap.dedent(
            f"""\
            registry_consumer:
              target: dev
              outputs:
                dev:
                  type: duckdb
                  path: {database}
                  threads: 2
            """
        )
    )
    (consumer / "models" / "eligible_by_group.sql").write_text(
        "select rait_group, count(*) as n_patients\nfrom {{ ref('rait_registry', 'analysis_cohort') }}\ngroup by rait_group\n"
    )
    env = clean_env()
    run_cli("load", "--extract", str(demo_extract), "--warehouse", str(database), check=True)
    # our seeds, models and snapshots and the consumer's model (the data tests of our project run in test_dbt_unit
    # and every refresh; left out here for time)
    build = ["build", "--exclude", "resource_type:test", "resource_type:unit_test"]
    for command in (["deps"], build):
        proc = subprocess.run([str(BIN / "dbt"), *command], cwd=consumer, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:]
    con = duckdb.connect(str(database), read_only=True)
    ours = dict(con.execute("select rait_group, n_patients from main.eligible_by_group").fetchall())
    con.close()
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    expected = dict(con.execute("select rait_group, count(*) from marts.analysis_cohort group by 1").fetchall())
    con.close()
    assert ours == expected and sum(ours.values()) > 0


@pytest.mark.slow
def test_an_installed_wheel_refreshes_from_outside_the_clone(demo_extract, demo_warehouse, tmp_path):
    source = tmp_path / "source"  # what a source distribution holds; the build leaves no trace in the clone
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in ("python", "schemas"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    copy_dbt_project(source / "dbt_project")
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, source)
    (wheel,) = wheels.glob("rait_registry-*.whl")

    venv = dependencies_venv()
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--force-reinstall", wheel)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = clean_env()
    where = run(python, "-c", "import rait_registry.dbt_runner as r; print(r.project_dir())", cwd=outside, env=env)
    project = Path(where.stdout.strip())
    assert project.is_relative_to(venv) and (project / "seeds" / "ajcc_stage_order.csv").is_file()

    proc = subprocess.run(
        [
            str(venv / "bin" / "rait-registry"),
            "refresh",
            "--extract",
            str(demo_extract),
            "--warehouse",
            "wh/registry.duckdb",
        ],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    built = duckdb.connect(str(outside / "wh" / "registry.duckdb"), read_only=True)
    published = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        assert history.mart_hashes(built) == history.mart_hashes(published)
    finally:
        built.close()
        published.close()


def test_rait_dbt_project_overrides_the_project_folder(tmp_path, monkeypatch):
    from rait_registry.dbt_runner import project_dir

    assert (project_dir() / "seeds" / "_seeds.yml").is_file()  # the seeds are inside the dbt project
    monkeypatch.setenv("RAIT_DBT_PROJECT", str(tmp_path))
    assert project_dir() == tmp_path
