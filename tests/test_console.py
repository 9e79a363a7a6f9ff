"""What an operator sees (rait_registry.console): phase lines, JSON events, result tables, dbt progress.

Unit tests of the formats on in-memory streams; the command line is exercised end to end in a
pseudo-terminal and a pipe in tests/test_operator.py.
"""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace

import pytest

from rait_registry import console
from rait_registry.cli import _hoist_global_options
from rait_registry.dbt_runner import BuildProgress, parse_found_stats

STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}"
BOX = set("─│┌┐└┘├┤┬┴┼━┃┏┓┗┛┡┩╇╈╭╮╰╯═║")


class Terminal(io.StringIO):
    """An in-memory stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _silent_afterwards():
    yield
    console.reset()


def test_plain_format_one_timestamped_line_per_phase_with_duration_and_counts(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    stream = io.StringIO()
    report = console.configure("plain", command="refresh", stream=stream)
    with report.phase("ingest", total=6, unit="tables") as phase:
        for _ in range(6):
            phase.advance(item="patients.csv: 160 rows")
        phase.update(rows=7824)
    with pytest.raises(RuntimeError), report.phase("dbt build", unit="nodes") as phase:
        phase.update(total=10, models="3/4")
        raise RuntimeError("boom")
    with report.phase("snapshots") as phase:
        phase.skip("every source table unchanged")
    report.warning("the extract is " + "very " * 20 + "old")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4, lines  # no line per item without --verbose, and no wrapping at COLUMNS=40
    assert re.fullmatch(STAMP + r" rait-registry refresh: ingest done in \d+\.\d s \(6/6 tables, rows 7824\)", lines[0])
    assert re.fullmatch(
        STAMP + r" rait-registry refresh: dbt build failed in \d+\.\d s \(0/10 nodes, models 3/4\)", lines[1]
    )
    assert lines[2].endswith("snapshots skipped in 0.0 s (every source table unchanged)")
    assert lines[3].endswith("warning: the extract is " + "very " * 20 + "old")
    assert not BOX & set(stream.getvalue())


def test_plain_verbose_adds_a_line_per_item_and_quiet_drops_all_but_warnings_and_failures():
    stream = io.StringIO()
    report = console.configure("plain", verbose=1, command="validate", stream=stream)
    with report.phase("ingest", total=2, unit="tables") as phase:
        phase.advance(item="patients.csv: 3 rows")
        phase.advance(item="follow_up.csv: 3 rows")
    assert [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()[:2]] == [
        "ingest: patients.csv: 3 rows",
        "ingest: follow_up.csv: 3 rows",
    ]
    quiet = io.StringIO()
    report = console.configure("plain", quiet=True, stream=quiet)
    with report.phase("ingest", total=1) as phase:
        phase.advance(item="x")
    report.info("informational")
    assert quiet.getvalue() == ""
    report.warning("kept")
    report.error("also kept", 2)
    assert quiet.getvalue().count("\n") == 2 and "warning: kept" in quiet.getvalue()


def test_json_format_one_object_per_line():
    stream = io.StringIO()
    report = console.configure("json", command="refresh", stream=stream)
    with report.phase("ingest", total=6, unit="tables") as phase:
        phase.update(completed=6, rows=10)
    report.warning("careful")
    report.error("it failed", 1)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [event["event"] for event in events] == ["phase", "warning", "error"]
    assert events[0]["phase"] == "ingest" and events[0]["status"] == "done"
    assert events[0]["completed"] == 6 and events[0]["total"] == 6 and events[0]["counts"] == {"rows": 10}
    assert events[0]["command"] == "rait-registry refresh" and re.fullmatch(STAMP, events[0]["time"])
    assert events[2] == {**events[2], "message": "it failed", "exit_code": 1}


def test_log_records_of_the_package_go_through_the_reporter():
    import logging

    stream = io.StringIO()
    console.configure("plain", verbose=1, stream=stream)
    logging.getLogger("rait_registry.lock").info("took over a stale lock")
    logging.getLogger("rait_registry.lock").debug("not shown at -v")
    assert "info: rait_registry.lock: took over a stale lock" in stream.getvalue()
    assert "not shown" not in stream.getvalue()


def test_rich_format_draws_a_live_display_on_a_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "120")
    stream = Terminal()
    report = console.configure("auto", stream=stream)
    assert report.format == "rich"
    with report.phase("dbt build", unit="nodes") as phase:
        phase.update(total=4, models="2/2", tests="2/2")
        phase.advance(4)
    report.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "\x1b[" in stream.getvalue()  # drawn with terminal control codes
    assert "dbt build" in text and "4/4 nodes, models 2/2, tests 2/2" in text
    assert re.search(r"\d:\d{2}:\d{2}", text)  # elapsed time


def test_rich_display_cuts_long_counts_to_the_terminal_instead_of_wrapping(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "60")
    stream = Terminal()
    report = console.configure("rich", stream=stream)
    with report.phase("row checks") as phase:
        phase.update(staged=123456789, quarantined=98765, cross_row_rounds=3, something_else="x" * 40)
    report.close()
    lines = [line for line in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue()).split("\n") if line.strip()]
    assert all(len(part) <= 60 for line in lines for part in line.split("\r")), lines
    assert "…" in lines[-1] and "row checks" in lines[-1] and "0:00:00" in lines[-1]


def test_auto_is_plain_off_a_terminal_and_on_a_dumb_one(monkeypatch):
    assert console.resolve_format("auto", io.StringIO()) == "plain"
    monkeypatch.setenv("TERM", "dumb")
    assert console.resolve_format("auto", Terminal()) == "plain"


def test_plain_table_tells_null_from_empty_and_never_wraps(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    stream = io.StringIO()
    long_text = "a value much longer than forty columns, kept on one line"
    console.print_table(
        ["id", "note", "n"], [["P1", None, 1], ["P2", "", 22], ["P3", "two\nlines", None]], stream=stream
    )
    console.print_table(["id", "note"], [["P4", long_text]], title="second", stream=stream)
    lines = stream.getvalue().splitlines()
    assert lines[0].split() == ["id", "note", "n"]
    assert lines[1].split() == ["P1", "NULL", "1"]
    assert lines[2].split() == ["P2", '""', "22"]
    assert lines[3].split() == ["P3", "two\\nlines", "NULL"]
    assert lines[4] == "second" and lines[6].endswith(long_text)
    assert not BOX & set(stream.getvalue())
    # numbers are right-aligned
    assert lines[1].endswith(" 1") and lines[2].endswith("22")


def test_terminal_table_tells_null_from_empty(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    stream = Terminal()
    console.print_table(["id", "note"], [["P1", None], ["P2", ""]], stream=stream)
    text = stream.getvalue()
    assert "\x1b[2mNULL" in text  # dim
    assert '""' in text and BOX & set(text)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["refresh", "--extract", "x", "-q"], ["-q", "refresh", "--extract", "x"]),
        (
            ["validate", "--log-format", "json", "--extract", "x"],
            ["--log-format", "json", "validate", "--extract", "x"],
        ),
        (["-v", "params", "-vv", "--log-format=plain"], ["-v", "-vv", "--log-format=plain", "params"]),
        (["query", "--", "-q"], ["query", "--", "-q"]),
        (["refresh", "--var", "x=1"], ["refresh", "--var", "x=1"]),
    ],
)
def test_global_options_are_accepted_after_the_command(args, expected):
    assert _hoist_global_options(args) == expected


def _event(name: str, **data):
    return SimpleNamespace(info=SimpleNamespace(name=name), data=SimpleNamespace(**data))


def _node(kind: str, status: str = "success", name: str = "n"):
    info = SimpleNamespace(resource_type=kind, node_status=status, unique_id=f"{kind}.p.{name}", node_name=name)
    return _event("NodeFinished", node_info=info)


def test_build_progress_counts_nodes_per_type_from_dbt_events():
    report = console.Reporter()
    with report.phase("dbt build", unit="nodes") as phase:
        progress = BuildProgress(phase, excluded={"unit_test": None, "snapshot": 1})
        progress(_event("FoundStats", stat_line="2 models, 3 data tests, 1 seed, 2 snapshots, 4 sources, 9 unit tests"))
        progress(_event("ConcurrencyLine", node_count=7))
        assert phase.total == 7
        assert phase.counts == {"seeds": "0/1", "models": "0/2", "snapshots": "0/1", "tests": "0/3"}
        for node in [_node("seed"), _node("model"), _node("model"), _node("snapshot"), _node("test", "fail")]:
            progress(node)
    assert phase.completed == 5
    assert phase.counts == {"seeds": "1/1", "models": "2/2", "snapshots": "1/1", "tests": "1/3", "failed": 1}
    assert progress.failed == ["test.p.n"]


def test_build_progress_shows_done_counts_alone_when_the_totals_do_not_add_up():
    report = console.Reporter()
    with report.phase("dbt build", unit="nodes") as phase:
        progress = BuildProgress(phase)  # unit tests not declared excluded: 2 + 9 != 2
        progress(_event("FoundStats", stat_line="2 models, 9 unit tests"))
        progress(_event("ConcurrencyLine", node_count=2))
        progress(_node("model"))
    assert phase.counts == {"models": 1}
    assert phase.summary() == "1/2 nodes, models 1"


def test_found_stats_line_is_parsed_singular_and_plural():
    assert parse_found_stats("1 model, 1 data test, 2 seeds, 6 sources, 544 macros, 1 unit test") == {
        "model": 1,
        "test": 1,
        "seed": 2,
        "unit_test": 1,
    }
