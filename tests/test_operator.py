"""The command line as an operator meets it.

Study parameters checked before any work; ``params`` and ``--version``; progress in a real
pseudo-terminal and in a pipe; quarantine-share limits in ``validate`` and ``refresh``; explicit
extract dates; and a table of bad arguments and bad environments run against every command,
row by row, with the exit code and message each must give (a genuine bug still exits 4).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import time
from importlib.metadata import version
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rait_registry import params
from rait_registry.cli import app

from .conftest import BIN, run_cli
from .test_checks import base_tables, find, write_extract

STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}"
BOX = set("─│┌┐└┘├┤┬┴┼━┃┏┓┗┛┡┩╇╈╭╮╰╯═║")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(args: list[str], env: dict | None = None, columns: int = 120, timeout: float = 600) -> tuple[int, str]:
    """Run ``rait-registry ARGS`` with stdin, stdout and stderr on a new pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "RAIT_LOG_FORMAT")}
    environment.update({"TERM": "xterm-256color", **(env or {})})
    proc = subprocess.Popen(
        [str(BIN / "rait-registry"), *args], stdin=slave, stdout=slave, stderr=slave, env=environment
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def _history_row(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.execute("select * from history.refresh_runs order by finished_at desc limit 1")
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone()))
    finally:
        con.close()


def _last_log(warehouse: Path) -> dict:
    return json.loads((warehouse.parent / "refresh-log.jsonl").read_text().splitlines()[-1])


def _without_manifest(tiny_extract: Path) -> Path:
    (tiny_extract / "manifest.json").unlink(missing_ok=True)
    return tiny_extract


# ---------------------------------------------------------------------------------------------
# parameters, params, --version
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("foo=1", "unknown study parameter 'foo'"),
        ("micromet_max_mm=abc", "takes a number"),
        ("micromet_max_mm", "expects NAME=VALUE"),
        ("micromet_max_mm=-5", "must be > 0 mm"),
        ("surgery_date_min=2019-31-12", "takes a date YYYY-MM-DD"),
    ],
)
def test_bad_var_exits_2_listing_the_valid_parameters_before_any_work(tmp_path, tiny_extract, item, message):
    warehouse = tmp_path / "wh" / "registry.duckdb"
    proc = run_cli("refresh", "--extract", str(tiny_extract), "--warehouse", str(warehouse), "--var", item)
    assert proc.returncode == 2, proc.stderr
    text = " ".join(proc.stderr.split())
    assert message in text
    for parameter in params.REFRESH_PARAMETERS:
        assert parameter.name in text
    assert not warehouse.parent.exists()  # nothing was done, not even the folder
    assert "internal error" not in text


def test_params_prints_the_declaration_as_a_table_and_as_json():
    proc = run_cli("params", check=True)
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:6] == ["name", "scope", "type", "unit", "range", "default"]
    for parameter in params.PARAMETERS:
        row = next(line for line in lines if line.startswith(parameter.name + " "))
        assert parameter.scope in row and parameter.range_text in row and parameter.meaning in row
        assert all(drive in row for drive in parameter.drives)
    assert not BOX & set(proc.stdout)
    proc = run_cli("params", "--format", "json", "--scope", "refresh", check=True)
    rows = json.loads(proc.stdout)
    assert rows == params.table("refresh")
    assert {"name", "type", "unit", "range", "default", "meaning", "drives"} <= set(rows[0])


def test_version_names_the_package_dbt_dbt_duckdb_and_duckdb():
    from rait_registry import __version__

    proc = run_cli("--version", check=True)
    lines = proc.stdout.splitlines()
    assert lines[:4] == [
        f"rait-registry {__version__}",
        f"dbt-core {version('dbt-core')}",
        f"dbt-duckdb {version('dbt-duckdb')}",
        f"duckdb {version('duckdb')}",
    ]


def test_help_shows_real_defaults_and_environment_variables():
    proc = run_cli("refresh", "--help", env={"COLUMNS": "200"}, check=True)
    text = " ".join(proc.stdout.split())
    assert "Published DuckDB file. [env var: RAIT_WAREHOUSE] [default: (warehouse/registry.duckdb)]" in text
    assert "[env var: RAIT_CONFIG]" in text and "Default: 5% per table, no limit per reason." in text
    assert "--max-age-days" in text and "[default: 31]" in text
    top = " ".join(run_cli("--help", env={"COLUMNS": "200"}, check=True).stdout.split())
    for name in ("RAIT_WAREHOUSE", "RAIT_CONFIG", "RAIT_LOG_FORMAT", "RAIT_DBT_PROJECT", "RAIT_DUCKDB_MEMORY_LIMIT"):
        assert name in top
    assert "RAIT_DEBUG" in top and "--version" in top and "--quiet" in top


# ---------------------------------------------------------------------------------------------
# progress on a terminal and in a pipe
# ---------------------------------------------------------------------------------------------


def test_refresh_on_a_terminal_shows_live_progress_per_phase(tmp_path, tiny_extract):
    extract = _without_manifest(tiny_extract)
    warehouse = tmp_path / "wh" / "registry.duckdb"
    code, output = run_in_pty(
        ["refresh", "--extract", str(extract), "--warehouse", str(warehouse), "--extracted-at", "2024-12-31"]
    )
    assert code == 0, output
    assert "\x1b[" in output  # drawn with terminal control codes
    text = ANSI.sub("", output)
    for phase in ("prepare", "ingest", "row checks", "quarantine limits", "dbt build", "mart checks", "publish"):
        assert phase in text, phase
    assert "6/6 tables" in text
    final = re.findall(r"(\d+)/(\d+) nodes, seeds (\d+)/(\d+), models (\d+)/(\d+), snapshots \d+/\d+, tests", text)
    assert final and final[-1][0] == final[-1][1] and int(final[-1][1]) > 300
    assert re.search(r"\d:\d{2}:\d{2}", text)  # elapsed time of each phase
    assert BOX & set(text)  # the result table is drawn on a terminal
    assert "modification times" not in text  # the date was given
    row = _history_row(warehouse)
    assert row["extracted_at"] == dt.date(2024, 12, 31) and row["extracted_at_source"] == "option"


def test_refresh_in_a_pipe_prints_one_plain_line_per_phase_never_wrapped(tmp_path, tiny_extract):
    extract = _without_manifest(tiny_extract)
    warehouse = tmp_path / "wh" / "registry.duckdb"
    proc = run_cli("refresh", "--extract", str(extract), "--warehouse", str(warehouse), env={"COLUMNS": "40"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert all(re.match(STAMP + " rait-registry refresh: ", line) for line in lines), lines
    phases = [re.match(STAMP + r" rait-registry refresh: (.+?) done in \d+\.\d s", line) for line in lines]
    assert [m.group(1) for m in phases if m] == [
        "prepare",
        "ingest",
        "row checks",
        "quarantine limits",
        "changed patients",
        "dbt build",
        "mart checks",
        "history",
        "publish",
    ]
    dbt_line = next(line for line in lines if "dbt build done" in line)
    assert re.search(r"\((\d+)/\1 nodes, seeds 3/3, models (\d+)/\2, snapshots 6/6, tests (\d+)/\3[,)]", dbt_line)
    warning = next(line for line in lines if "warning:" in line)
    assert "no manifest.json" in warning and "modification times" in warning and "--extracted-at" in warning
    assert not BOX & set(proc.stdout + proc.stderr)
    assert max(len(line) for line in proc.stdout.splitlines()) > 40  # the result table is not wrapped
    table = proc.stdout.splitlines()[1:8]
    assert table[0].split() == ["table", "read", "staged", "quarantined", "share", "limit"]
    assert table[1].split() == ["patients", "2", "2", "0", "0.00%", "5.00%"]
    assert _history_row(warehouse)["extracted_at_source"] == "file times"


def test_json_log_format_and_quiet(tiny_extract):
    proc = run_cli("--log-format", "json", "validate", "--extract", str(tiny_extract))
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [(e["event"], e.get("phase")) for e in events if e["event"] == "phase"] == [
        ("phase", "ingest"),
        ("phase", "row checks"),
    ]
    assert events[0]["total"] == 6 and events[0]["counts"]["rows"] == 12
    assert any(e["event"] == "warning" and "modification times" in e["message"] for e in events)
    proc = run_cli("validate", "--extract", str(tiny_extract), "--quiet")
    assert proc.returncode == 0
    assert all(" warning: " in line for line in proc.stderr.splitlines())  # only warnings
    assert "clean" in proc.stdout


def test_verbose_adds_a_line_per_table(tiny_extract):
    proc = run_cli("validate", "--extract", str(tiny_extract), "-v")
    assert proc.returncode == 0
    assert re.search(STAMP + r" rait-registry validate: ingest: patients.csv: 2 rows", proc.stderr)


# ---------------------------------------------------------------------------------------------
# quarantine-share limits
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def lab_extract(tmp_path) -> Path:
    """The base extract of test_checks with one of six lab rows broken (17% of lab_results)."""
    tables = base_tables()
    find(tables["lab_results"], "lab_id", "L5")["value"] = "3,5"
    return write_extract(tmp_path / "labs", tables)


def test_validate_prints_pass_or_fail_per_table_and_reason(lab_extract, tmp_path):
    proc = run_cli("validate", "--extract", str(lab_extract))
    assert proc.returncode == 1
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in proc.stdout.splitlines()}
    assert rows[("lab_results", "(all)")] == ["1", "6", "16.67%", "5.00%", "FAIL"]
    assert rows[("lab_results", "invalid_decimal")] == ["1", "6", "16.67%", "none", "-"]
    assert rows[("patients", "(all)")] == ["0", "3", "0.00%", "5.00%", "pass"]
    assert "1 limit(s) exceeded (lab_results)" in proc.stdout
    # raised: still exit 1 (a row is quarantined), but no limit is exceeded
    proc = run_cli("validate", "--extract", str(lab_extract), "--max-quarantine-share", "lab_results=20%")
    assert proc.returncode == 1 and "FAIL" not in proc.stdout and "exceeded" not in proc.stdout
    # a reason limit, from a configuration file
    config = tmp_path / "rait-registry.toml"
    config.write_text(
        "[quarantine]\nmax_share = 1\n[quarantine.tables.lab_results]\nreasons = { invalid_decimal = 0.1 }\n"
    )
    proc = run_cli("validate", "--extract", str(lab_extract), "--config", str(config))
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in proc.stdout.splitlines()}
    assert rows[("lab_results", "(all)")][-1] == "pass" and rows[("lab_results", "invalid_decimal")][-2:] == [
        "10.00%",
        "FAIL",
    ]
    proc = run_cli("validate", "--extract", str(lab_extract), env={"RAIT_CONFIG": str(config)})
    assert "1 limit(s) exceeded (lab_results.invalid_decimal)" in proc.stdout


def test_refresh_over_a_limit_exits_1_keeps_the_publication_and_logs_the_shares(demo_warehouse, lab_extract, tmp_path):
    warehouse = tmp_path / "wh" / "registry.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(demo_warehouse, warehouse)
    before = warehouse.read_bytes()
    manifest = json.loads((lab_extract / "manifest.json").read_text())
    manifest["extracted_at"] = dt.date.today().isoformat()  # newer than the published demo extract
    (lab_extract / "manifest.json").write_text(json.dumps(manifest))
    proc = run_cli("refresh", "--extract", str(lab_extract), "--warehouse", str(warehouse))
    assert proc.returncode == 1, proc.stderr
    assert "lab_results: 1 of 6 rows quarantined (16.67%), over the limit of 5.00%" in proc.stderr
    assert "dbt build" not in proc.stderr  # it stopped before the build
    assert warehouse.read_bytes() == before
    log = _last_log(warehouse)
    assert log["status"] == "failed" and log["error"].startswith("QuarantineLimitExceeded")
    assert log["quarantine_shares"]["lab_results"]["share"] == pytest.approx(1 / 6)
    assert log["quarantine_shares"]["lab_results"]["max_share"] == 0.05
    assert log["quarantine_shares"]["lab_results"]["reasons"]["invalid_decimal"]["rows"] == 1
    assert [phase["phase"] for phase in log["phases"]][-1] == "quarantine limits"


def test_published_runs_store_their_shares_in_the_history(demo_con):
    rows = demo_con.execute(
        "select tables.key, cast(tables.value ->> 'share' as double), cast(tables.value ->> 'max_share' as double) "
        "from history.refresh_runs as runs, json_each(runs.quarantine_shares) as tables"
    ).fetchall()
    assert sorted(name for name, _, _ in rows) == sorted(params_tables())
    assert all(share == 0 and limit == 0.05 for _, share, limit in rows)


def params_tables() -> list[str]:
    from rait_registry.contract import TABLE_ORDER

    return list(TABLE_ORDER)


def test_history_upgrade_adds_the_new_columns_to_an_older_warehouse(tmp_path):
    from rait_registry import history

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema history")
    con.execute(
        "create table history.refresh_runs (run_id varchar primary key, extracted_at date, status varchar, "
        "package_version varchar)"
    )
    con.execute("insert into history.refresh_runs values ('old-run', date '2024-01-01', 'published', '0.0.1')")
    history.prepare_build(con)
    columns = [row[0] for row in con.execute("describe history.refresh_runs").fetchall()]
    assert "quarantine_shares" in columns and "extracted_at_source" in columns
    assert con.execute(
        "select run_id, quarantine_shares, extracted_at_source from history.refresh_runs"
    ).fetchall() == [("old-run", None, None)]
    con.close()


# ---------------------------------------------------------------------------------------------
# extract dates
# ---------------------------------------------------------------------------------------------


def test_extracted_at_sets_the_date_that_decides_future_rows(tmp_path):
    folder = write_extract(tmp_path / "x", extracted_at=None)
    proc = run_cli("validate", "--extract", str(folder), "--extracted-at", "2015-12-31")
    assert proc.returncode == 1
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in proc.stdout.splitlines()}
    # F5 is dated 2016-01-01 and the follow_up of P1 and P3 after 2015-12-31
    assert rows[("imaging_findings", "date_after_extract")][0] == "1"
    assert "modification times" not in proc.stderr
    proc = run_cli("validate", "--extract", str(folder))
    assert proc.returncode == 0 and "modification times" in proc.stderr


def test_extracted_at_is_refused_when_the_manifest_has_a_date(tmp_path):
    folder = write_extract(tmp_path / "x")
    proc = run_cli("validate", "--extract", str(folder), "--extracted-at", "2024-01-01")
    assert proc.returncode == 2
    assert "conflicts with manifest.json" in proc.stderr and "2024-06-30" in proc.stderr


def test_an_older_extract_is_refused_naming_both_dates_their_sources_and_the_way_on(tmp_path, tiny_extract):
    from rait_registry.exceptions import ExtractRefused
    from rait_registry.refresh import check_freshness

    warehouse = tmp_path / "registry.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema history")
    con.execute(
        "create table history.refresh_runs (run_id varchar, extracted_at date, extracted_at_source varchar, "
        "status varchar, finished_at timestamptz)"
    )
    con.execute(
        "insert into history.refresh_runs values ('run-1', date '2026-01-31', 'file times', 'published', now())"
    )
    con.close()
    extract = _without_manifest(tiny_extract)
    with pytest.raises(ExtractRefused) as info:
        check_freshness(extract, warehouse, extracted_at=dt.date(2025, 12, 31))
    message = str(info.value)
    assert "2025-12-31 (from --extracted-at)" in message
    assert "2026-01-31 (from the files' modification times, refresh run-1)" in message
    assert "--force" in message and "--extracted-at DATE" in message and "manifest.json" in message
    warnings = check_freshness(extract, warehouse, extracted_at=dt.date(2025, 12, 31), force=True, max_age_days=None)
    assert warnings == [
        "--force: publishing an extract dated 2025-12-31 (from --extracted-at) over the published one dated "
        "2026-01-31 (from the files' modification times, refresh run-1)."
    ]


# ---------------------------------------------------------------------------------------------
# bad arguments and bad environments, every command
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene(tmp_path_factory, demo_warehouse) -> dict[str, Path]:
    """Files and folders the table below points at."""
    root = tmp_path_factory.mktemp("scene")
    empty_cohort = root / "empty-cohort.duckdb"
    shutil.copy(demo_warehouse, empty_cohort)
    con = duckdb.connect(str(empty_cohort))
    con.execute("delete from marts.analysis_cohort")
    con.close()
    a_file = root / "a-file.txt"
    a_file.write_text("not a folder\n")
    empty = root / "empty.duckdb"
    empty.write_bytes(b"")
    no_tables = root / "no-tables.duckdb"
    duckdb.connect(str(no_tables)).close()
    with_manifest = write_extract(root / "with-manifest")
    missing_table = write_extract(root / "missing-table")
    (missing_table / "patients.csv").unlink()
    manifest = json.loads((missing_table / "manifest.json").read_text())
    del manifest["files"]["patients.csv"]
    (missing_table / "manifest.json").write_text(json.dumps(manifest))
    empty_table = write_extract(root / "empty-table")
    (empty_table / "surgeries.csv").write_text((empty_table / "surgeries.csv").read_text().splitlines()[0] + "\n")
    bad_toml = root / "bad.toml"
    bad_toml.write_text("[quarantine\n")
    return {
        "root": root,
        "file": a_file,
        "empty": empty,
        "no_tables": no_tables,
        "empty_cohort": empty_cohort,
        "extract": with_manifest,
        "missing_table": missing_table,
        "empty_table": empty_table,
        "bad_toml": bad_toml,
    }


# (command line with {placeholders}, extra environment, exit code, text the message must contain)
BAD = [
    # synth
    ("synth --out /proc/rait-synth", {}, 2, "--out /proc/rait-synth: cannot write there"),
    ("synth --out {file}", {}, 2, "not a folder"),
    ("synth --out {root}/s --patients 0", {}, 2, "--patients"),
    ("synth --out {root}/s --format xlsx", {}, 2, "--format"),
    ("synth --out {root}/s --messy-rate abc", {}, 2, "--messy-rate"),
    # refresh
    ("refresh", {}, 2, "--extract"),
    (
        "refresh --extract {root}/nowhere --warehouse {root}/w/r.duckdb",
        {},
        2,
        "--extract {root}/nowhere: no such folder",
    ),
    ("refresh --extract {file} --warehouse {root}/w/r.duckdb", {}, 2, "not a folder"),
    ("refresh --extract {extract} --warehouse /proc/registry.duckdb", {}, 2, "cannot write in its folder /proc"),
    ("refresh --extract {extract} --warehouse {file}/registry.duckdb", {}, 2, "cannot write in its folder"),
    ("refresh --extract {extract} --warehouse {root}", {}, 2, "is a folder"),
    ("refresh --extract {extract} --warehouse {empty}", {}, 2, "is not a DuckDB database"),
    ("refresh --extract {extract} --warehouse {root}/w/marts.duckdb", {}, 2, "cannot be named marts.duckdb"),
    ("refresh --extract {extract} --warehouse {root}/w/r.duckdb --var foo=1", {}, 2, "unknown study parameter"),
    ("refresh --extract {extract} --warehouse {root}/w/r.duckdb --threads 0", {}, 2, "--threads"),
    ("refresh --extract {extract} --warehouse {root}/w/r.duckdb --max-quarantine-share 1.5", {}, 2, "between 0 and 1"),
    ("refresh --extract {extract} --warehouse {root}/w/r.duckdb --max-quarantine-share labs=0.1", {}, 2, "'labs'"),
    (
        "refresh --extract {extract} --warehouse {root}/w/r.duckdb --config {root}/no.toml",
        {},
        2,
        "no.toml: no such file",
    ),
    ("refresh --extract {extract} --warehouse {root}/w/r.duckdb --config {bad_toml}", {}, 2, "not valid TOML"),
    ("refresh --extract {extract} --warehouse {root}/w/r.duckdb", {"RAIT_CONFIG": "{root}/no.toml"}, 2, "no such file"),
    ("refresh --extract {extract} --warehouse {root}/w/r.duckdb --extracted-at 31/12/2024", {}, 2, "YYYY-MM-DD"),
    ("refresh --extract {extract} --warehouse {root}/w/r.duckdb --extracted-at 2024-01-01", {}, 2, "conflicts with"),
    (
        "refresh --extract {extract} --warehouse {root}/w/r.duckdb",
        {"RAIT_DBT_PROJECT": "{root}"},
        2,
        "RAIT_DBT_PROJECT",
    ),
    ("refresh --extract {missing_table} --warehouse {root}/w/r.duckdb", {}, 1, "no file patients.csv"),
    ("refresh --extract {empty_table} --warehouse {root}/w/r.duckdb", {}, 1, "surgeries.csv: the table has no data"),
    ("--log-format xml refresh --extract {extract}", {}, 2, "--log-format"),
    # validate
    ("validate --extract {root}/nowhere", {}, 2, "no such folder"),
    ("validate --extract {extract} --top 0", {}, 2, "--top"),
    ("validate --extract {missing_table}", {}, 1, "would be refused"),
    ("validate --extract {extract} --config {bad_toml}", {}, 2, "not valid TOML"),
    # params
    ("params --format xml", {}, 2, "--format"),
    ("params --scope everything", {}, 2, "--scope"),
    # query
    ("query 'select 1' --warehouse {root}/nowhere.duckdb", {}, 2, "no published warehouse"),
    ("query 'select 1' --warehouse {empty}", {}, 2, "is not a DuckDB database"),
    ("query 'select * from marts.patients' --warehouse {no_tables}", {}, 2, "the query failed"),
    ("query 'select 1'", {"RAIT_WAREHOUSE": "{root}/nowhere.duckdb"}, 2, "{root}/nowhere.duckdb"),
    # analyze, report
    ("analyze --warehouse {root}/nowhere.duckdb --out {root}/o", {}, 2, "no published warehouse"),
    ("analyze --warehouse {empty} --out {root}/o", {}, 2, "is not a DuckDB database"),
    ("analyze --warehouse {no_tables} --out {root}/o", {}, 2, "has no marts.analysis_cohort"),
    ("analyze --warehouse {empty_cohort} --out /proc/rait-out", {}, 2, "--out /proc/rait-out: cannot write there"),
    ("analyze --warehouse {empty_cohort} --out {file}", {}, 2, "not a folder"),
    ("analyze --warehouse {empty_cohort} --out {root}/o --age-cut abc", {}, 2, "age_cut_years takes a number"),
    ("analyze --warehouse {empty_cohort} --out {root}/o --caliper-scale miles", {}, 2, "caliper_scale must be"),
    ("analyze --warehouse {empty_cohort} --out {root}/a", {}, 0, "table1 skipped: the cohort has no eligible patient"),
    ("report --warehouse {root}/nowhere.duckdb --out {root}/o", {}, 2, "no published warehouse"),
    ("report --warehouse {empty} --out {root}/o", {}, 2, "is not a DuckDB database"),
    ("report --warehouse {no_tables} --out {root}/o", {}, 2, "has no marts.analysis_cohort"),
    ("report --warehouse {empty_cohort} --out {root}/o --results {file}", {}, 2, "is not valid JSON"),
    ("report --warehouse {empty_cohort} --out {root}/o --results {root}/none.json", {}, 2, "no results file"),
    ("report --warehouse {empty_cohort} --out /proc/rait-report", {}, 2, "--out /proc/rait-report: cannot write"),
    ("report --warehouse {empty_cohort} --out {root}/r", {}, 0, "wrote {root}/r/report.html"),
    # manifest, schema
    ("manifest {root}/nowhere", {}, 2, "DIR {root}/nowhere: no such folder"),
    ("manifest {extract} --extracted-at 31/12/2024", {}, 2, "YYYY-MM-DD"),
    ("manifest {missing_table}", {}, 1, "no file patients.csv"),
    ("schema --out {file}/datapackage.json", {}, 2, "exists and is not a folder"),
    ("schema --out /proc/rait-schema/datapackage.json", {}, 2, "/proc/rait-schema"),
]


def _invoke(command: str, env: dict, scene: dict[str, Path]):
    import shlex

    fill = {name: str(path) for name, path in scene.items()}
    args = [part.format(**fill) for part in shlex.split(command)]
    environment = {key: value.format(**fill) for key, value in env.items()}
    return CliRunner().invoke(app, args, env=environment)


@pytest.mark.parametrize(("command", "env", "code", "message"), BAD, ids=[row[0][:60] for row in BAD])
def test_bad_arguments_and_environments(scene, command, env, code, message):
    result = _invoke(command, env, scene)
    text = " ".join((result.stdout + result.stderr).split())
    expected = message.format(**{name: str(path) for name, path in scene.items()})
    assert result.exit_code == code, text
    assert expected in text, text
    assert "internal error" not in text and "Traceback" not in text and "This is a bug" not in text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_warehouse_folder_is_a_usage_error(tmp_path, tiny_extract):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = CliRunner().invoke(
            app, ["refresh", "--extract", str(tiny_extract), "--warehouse", str(folder / "r.duckdb")]
        )
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2 and "cannot write in its folder" in result.stderr


def test_another_refresh_holding_the_lock_exits_3(scene, tmp_path):
    from rait_registry.lock import WarehouseLock

    warehouse = tmp_path / "r.duckdb"
    with WarehouseLock(warehouse):
        result = CliRunner().invoke(app, ["refresh", "--extract", str(scene["extract"]), "--warehouse", str(warehouse)])
    assert result.exit_code == 3 and "another refresh holds the lock" in result.stderr


@pytest.mark.parametrize(
    "fault",
    [KeyError("x"), ZeroDivisionError(), PermissionError(13, "Permission denied"), RuntimeError("reconciliation")],
    ids=repr,
)
def test_a_genuine_bug_still_exits_4_with_the_advice_to_report_it(monkeypatch, scene, fault):
    # a fault where no foreseeable condition can cause one; an OSError without a path is not
    # taken for a bad path
    def broken(*args, **kwargs):
        raise fault

    monkeypatch.setattr("rait_registry.validate.validate_extract", broken)
    result = CliRunner().invoke(app, ["validate", "--extract", str(scene["extract"])])
    assert result.exit_code == 4
    text = " ".join(result.stderr.split())
    assert f"internal error: {type(fault).__name__}" in text and "This is a bug in rait-registry" in text
    assert "RAIT_DEBUG=1" in text and "report it" in text


def test_a_genuine_bug_in_refresh_exits_4_and_is_logged(monkeypatch, scene, tmp_path):
    def broken(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr("rait_registry.refresh.ingest", broken)
    warehouse = tmp_path / "w" / "r.duckdb"
    result = CliRunner().invoke(app, ["refresh", "--extract", str(scene["extract"]), "--warehouse", str(warehouse)])
    assert result.exit_code == 4 and "internal error: ZeroDivisionError" in result.stderr
    assert _last_log(warehouse)["error"].startswith("ZeroDivisionError")
    assert not warehouse.exists()


def test_readme_documents_every_option_and_environment_variable():
    from typer.main import get_command

    from .conftest import REPO

    readme = (REPO / "README.md").read_text()
    group = get_command(app)
    options = {opt for param in group.params for opt in [*param.opts, *param.secondary_opts]}
    for command in group.commands.values():
        options |= {
            opt
            for param in command.params
            if param.param_type_name == "option"
            for opt in param.opts + param.secondary_opts
        }
    missing = sorted(opt for opt in options if f"`{opt}" not in readme and f", `{opt}`" not in readme)
    assert not missing, f"options missing from the README: {missing}"
    # every environment variable the package, the dbt project or the tests read
    read = re.compile(r"""(?:environ(?:\.get)?[\[(]|getenv\(|env_var\(|envvar=|_ENV = )\s*['"](RAIT_[A-Z_]+)""")
    used = set()
    for folder in ("python", "dbt_project", "tests"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".yml", ".sql"):
                used |= set(read.findall(path.read_text(encoding="utf-8")))
    assert {"RAIT_WAREHOUSE", "RAIT_CONFIG", "RAIT_DEBUG", "RAIT_DBT_PROJECT", "RAIT_DUCKDB_MEMORY_LIMIT"} <= used
    assert not sorted(name for name in used if f"`{name}`" not in readme)
