"""What an operator sees while a command runs: progress, log lines, warnings and result tables.

Progress, warnings, log records and errors go to stderr; results go to stdout. The global
option ``--log-format`` chooses how stderr looks:

``rich``
    a live display on a terminal: one line per phase with a bar, done / total, the counts so
    far and the elapsed time;
``plain``
    one timestamped line per finished phase with its duration and counts, never wrapped and
    without box drawing (what a cron log or the systemd journal keeps);
``json``
    one JSON object per line (phases, warnings, log records, errors) for log shippers;
``auto`` (the default)
    ``rich`` when stderr is a terminal, else ``plain``.

``--quiet`` drops the progress and the informational lines (warnings, errors and the results
stay); ``--verbose`` adds the package's log records at INFO (``-vv``: DEBUG) and one line per
item of a phase (each table read, each dbt node finished, each analysis section).

Result tables (:func:`print_table`) are drawn with rich on a terminal; elsewhere they are plain
columns separated by two spaces, one row per line, never wrapped. A missing value (NULL) and
an empty string print differently everywhere: ``NULL`` (dim on a terminal) and ``""``.

Library code reports through :func:`reporter`, which stays silent unless the command line set
one up (:func:`configure`), so the package prints nothing when it is imported and called.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

#: The values of ``--log-format``.
LOG_FORMATS = ("auto", "rich", "plain", "json")

#: How a missing value (SQL NULL, Python None) prints in a result table.
NULL_TEXT = "NULL"
#: How an empty string prints in a result table (so that it differs from NULL).
EMPTY_TEXT = '""'


def now_text() -> str:
    """The local time with its UTC offset, to the second (ISO 8601): the stamp of a log line."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (not a pipe, a file or a dumb terminal)."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return bool(interactive) and os.environ.get("TERM") != "dumb"


def resolve_format(log_format: str, stream: TextIO) -> str:
    """The log format actually used: ``auto`` is ``rich`` on a terminal, else ``plain``."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    if log_format == "auto":
        return "rich" if is_terminal(stream) else "plain"
    return log_format


def _label(key: str) -> str:
    return key.replace("_", " ")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


class Phase:
    """One step of a command, used as a context manager.

    Entering it shows the step; ``advance``/``update`` move its progress; leaving it records
    its duration and status (``done``, ``failed`` when an exception leaves it, or ``skipped``
    after :meth:`skip`) and prints one line in the plain and JSON formats.

    Attributes
    ----------
    name : str
        What the step does (``ingest``, ``dbt build``...).
    total : int or None
        How many items the step has (None: unknown).
    unit : str or None
        What an item is (``tables``, ``nodes``, ``sections``).
    completed : int
        Items done so far.
    counts : dict
        Further counts shown with the step (``rows_read``...), in insertion order.
    status : str
        ``running``, ``done``, ``failed`` or ``skipped``.
    elapsed_s : float or None
        Duration in seconds once the step has ended.
    """

    def __init__(self, reporter: Reporter, name: str, total: int | None = None, unit: str | None = None):
        self.reporter = reporter
        self.name = name
        self.total = total
        self.unit = unit
        self.completed = 0
        self.counts: dict[str, Any] = {}
        self.status = "running"
        self.reason: str | None = None
        self.elapsed_s: float | None = None
        self._started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since the step started (its duration once it has ended)."""
        return self.elapsed_s if self.elapsed_s is not None else time.perf_counter() - self._started

    def advance(self, n: int = 1, item: str | None = None) -> None:
        """Count ``n`` more items done; ``item`` names the last one (printed with ``--verbose``)."""
        self.completed += n
        self.reporter._update(self)
        if item is not None:
            self.reporter._item(self, item)

    def update(self, *, completed: int | None = None, total: int | None = None, **counts: Any) -> None:
        """Set the items done, the total and further counts."""
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        self.counts.update(counts)
        self.reporter._update(self)

    def item(self, text: str) -> None:
        """A line about one item of the step, printed with ``--verbose``."""
        self.reporter._item(self, text)

    def skip(self, reason: str) -> None:
        """Mark the step as skipped, with the reason printed beside it."""
        self.status = "skipped"
        self.reason = reason

    def summary(self) -> str:
        """The step's progress and counts in words (``6/6 tables, rows read 7824``)."""
        parts = []
        if self.total is not None:
            parts.append(f"{self.completed}/{self.total} {self.unit or ''}".strip())
        elif self.unit:
            parts.append(f"{self.completed} {self.unit}")
        parts += [f"{_label(key)} {_value(value)}" for key, value in self.counts.items()]
        if self.reason:
            parts.append(self.reason)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The step as the JSON format and the run records write it."""
        return {
            "phase": self.name,
            "status": self.status,
            "elapsed_s": round(self.elapsed, 3),
            "completed": self.completed,
            "total": self.total,
            "unit": self.unit,
            "counts": dict(self.counts),
            "reason": self.reason,
        }

    def __enter__(self) -> Phase:
        self._started = time.perf_counter()
        self.reporter._start(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.elapsed_s = time.perf_counter() - self._started
        if exc_type is not None and self.status == "running":
            self.status = "failed"
        elif self.status == "running":
            self.status = "done"
        self.reporter._finish(self)
        return False


class Reporter:
    """The silent reporter: phases are timed and kept in :attr:`phases`, nothing is printed.

    Subclasses print in one of the formats of ``--log-format``.
    """

    format = "silent"

    def __init__(self, command: str | None = None, verbose: int = 0, quiet: bool = False, stream: TextIO | None = None):
        self.command = command or "rait-registry"
        self.verbose = verbose
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.phases: list[Phase] = []
        self._lock = threading.Lock()

    def phase(self, name: str, total: int | None = None, unit: str | None = None) -> Phase:
        """A new step (use it as a context manager)."""
        return Phase(self, name, total, unit)

    # -- what subclasses print -----------------------------------------------------------

    def _start(self, phase: Phase) -> None:
        self.phases.append(phase)

    def _update(self, phase: Phase) -> None:
        pass

    def _item(self, phase: Phase, text: str) -> None:
        pass

    def _finish(self, phase: Phase) -> None:
        pass

    def info(self, message: str) -> None:
        """An informational line (dropped by ``--quiet``)."""

    def warning(self, message: str) -> None:
        """A warning (printed even with ``--quiet``)."""

    def error(self, message: str, exit_code: int, label: str = "error") -> None:
        """The error that ends the command with ``exit_code``."""

    def log(self, record: logging.LogRecord) -> None:
        """A record of the standard logging module (see :func:`configure`)."""

    def close(self) -> None:
        """Stop any live display (before results are printed to stdout)."""


class PlainReporter(Reporter):
    """One timestamped line per finished phase, warning and error; never wrapped."""

    format = "plain"

    def _write(self, text: str) -> None:
        prefix = f"{now_text()} {self.command}: "
        lines = text.splitlines() or [""]
        with self._lock:
            self.stream.write(prefix + lines[0] + "\n")
            for line in lines[1:]:
                self.stream.write(" " * len(prefix) + line + "\n")
            self.stream.flush()

    def _finish(self, phase: Phase) -> None:
        if self.quiet and phase.status != "failed":
            return
        summary = phase.summary()
        self._write(f"{phase.name} {phase.status} in {phase.elapsed:.1f} s" + (f" ({summary})" if summary else ""))

    def _item(self, phase: Phase, text: str) -> None:
        if self.verbose and not self.quiet:
            self._write(f"{phase.name}: {text}")

    def info(self, message: str) -> None:
        if not self.quiet:
            self._write(message)

    def warning(self, message: str) -> None:
        self._write(f"warning: {message}")

    def error(self, message: str, exit_code: int, label: str = "error") -> None:
        self._write(f"{label}: {message}")

    def log(self, record: logging.LogRecord) -> None:
        self._write(f"{record.levelname.lower()}: {record.name}: {record.getMessage()}")


class JsonReporter(Reporter):
    """One JSON object per line: ``{"time", "command", "event", ...}``."""

    format = "json"

    def _emit(self, event: str, **fields: Any) -> None:
        record = {"time": now_text(), "command": self.command, "event": event, **fields}
        with self._lock:
            self.stream.write(json.dumps(record, default=str) + "\n")
            self.stream.flush()

    def _finish(self, phase: Phase) -> None:
        if self.quiet and phase.status != "failed":
            return
        self._emit("phase", **phase.to_dict())

    def _item(self, phase: Phase, text: str) -> None:
        if self.verbose and not self.quiet:
            self._emit("step", phase=phase.name, item=text)

    def info(self, message: str) -> None:
        if not self.quiet:
            self._emit("info", message=message)

    def warning(self, message: str) -> None:
        self._emit("warning", message=message)

    def error(self, message: str, exit_code: int, label: str = "error") -> None:
        self._emit("error", kind=label, message=message, exit_code=exit_code)

    def log(self, record: logging.LogRecord) -> None:
        self._emit("log", level=record.levelname.lower(), logger=record.name, message=record.getMessage())


class RichReporter(Reporter):
    """A live progress display on a terminal: one line per phase, kept when it ends."""

    format = "rich"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        from rich.console import Console

        self.console = Console(file=self.stream, highlight=False, soft_wrap=False)
        self._progress = None
        self._tasks: dict[int, Any] = {}

    def _display(self):
        if self._progress is None:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.table import Column

            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✓[/]", table_column=Column(width=1, no_wrap=True)),
                TextColumn("{task.description}", table_column=Column(width=22, no_wrap=True, overflow="ellipsis")),
                BarColumn(bar_width=16, table_column=Column(width=16, no_wrap=True)),
                TimeElapsedColumn(table_column=Column(width=7, no_wrap=True)),
                TextColumn("{task.fields[summary]}", table_column=Column(no_wrap=True)),
                console=self.console,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.start()
        return self._progress

    def _start(self, phase: Phase) -> None:
        super()._start(phase)
        if self.quiet:
            return
        with self._lock:
            self._tasks[id(phase)] = self._display().add_task(
                _escape(phase.name), total=phase.total, summary=self._fit(phase.summary())
            )

    #: Width of the columns before a phase's summary (spinner, name, bar, elapsed and the gaps).
    _FIXED_WIDTH = 1 + 22 + 16 + 7 + 4

    def _fit(self, text: str) -> str:
        """``text`` cut to the room the terminal leaves for it (the display never wraps)."""
        room = max(self.console.width - self._FIXED_WIDTH, 10)
        return _escape(text if len(text) <= room else text[: room - 1] + "…")

    def _update(self, phase: Phase) -> None:
        task = self._tasks.get(id(phase))
        if task is not None and self._progress is not None:
            self._progress.update(
                task, completed=phase.completed, total=phase.total, summary=self._fit(phase.summary())
            )

    def _item(self, phase: Phase, text: str) -> None:
        if self.verbose and not self.quiet:
            self.console.print(f"[dim]{phase.name}:[/] {_escape(text)}")

    def _finish(self, phase: Phase) -> None:
        task = self._tasks.pop(id(phase), None)
        if task is None or self._progress is None:
            if phase.status == "failed":
                self.console.print(f"[red]{_escape(phase.name)} failed[/] after {phase.elapsed:.1f} s")
            return
        total = phase.total if phase.total is not None else max(phase.completed, 1)
        description = {
            "done": _escape(phase.name),
            "failed": f"[red]{_escape(phase.name)} failed[/]",
            "skipped": f"[yellow]{_escape(phase.name)} skipped[/]",
        }[phase.status]
        self._progress.update(
            task,
            description=description,
            total=total,
            completed=total if phase.status != "failed" else phase.completed,
            summary=self._fit(phase.summary()),
        )
        self._progress.stop_task(task)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(_escape(message))

    def warning(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {_escape(message)}")

    def error(self, message: str, exit_code: int, label: str = "error") -> None:
        self.close()
        self.console.print(f"[bold red]{label}:[/] {_escape(message)}")

    def log(self, record: logging.LogRecord) -> None:
        colour = "red" if record.levelno >= logging.ERROR else "yellow" if record.levelno >= logging.WARNING else "dim"
        self.console.print(f"[{colour}]{record.levelname.lower()}:[/] {record.name}: {_escape(record.getMessage())}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(str(text))


_REPORTERS = {"rich": RichReporter, "plain": PlainReporter, "json": JsonReporter}
_current: Reporter = Reporter()


def reporter() -> Reporter:
    """The reporter of the running command (silent when no command line set one up)."""
    return _current


class _ReporterHandler(logging.Handler):
    """Hands the package's log records to the current reporter."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _current.log(record)
        except Exception:  # pragma: no cover - logging must never end a command
            self.handleError(record)


_handler = _ReporterHandler()


_saved_root_level: int | None = None


def make_reporter(
    log_format: str = "auto",
    verbose: int = 0,
    quiet: bool = False,
    command: str | None = None,
    stream: TextIO | None = None,
) -> Reporter:
    """A reporter in ``log_format`` on ``stream`` (default: stderr), without making it the current one."""
    stream = stream if stream is not None else sys.stderr
    cls = _REPORTERS[resolve_format(log_format, stream)]
    return cls(command=f"rait-registry {command}" if command else None, verbose=verbose, quiet=quiet, stream=stream)


def configure(
    log_format: str = "auto",
    verbose: int = 0,
    quiet: bool = False,
    command: str | None = None,
    stream: TextIO | None = None,
) -> Reporter:
    """Set up the reporter of a command and route log records to it (:func:`reset` undoes it).

    Parameters
    ----------
    log_format
        One of :data:`LOG_FORMATS`.
    verbose
        0: warnings of the package and of its libraries; 1: the package's INFO records and a
        line per item of a phase; 2: the package's DEBUG records too.
    quiet
        Drop progress and informational lines (warnings, errors and results stay).
    command
        The command's name, shown in each plain and JSON line.
    stream
        Where progress and logs go (default: stderr at the time of the call).
    """
    global _current, _saved_root_level
    reset()
    _current = make_reporter(log_format, verbose, quiet, command, stream)
    root = logging.getLogger()
    _saved_root_level = root.level
    root.addHandler(_handler)
    root.setLevel(logging.WARNING)
    package = logging.getLogger("rait_registry")
    package.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)
    return _current


def reset() -> None:
    """Back to the silent reporter: close any live display and give logging back its settings
    (the command line calls it when a command ends, so a stream it used is not written to after)."""
    global _current, _saved_root_level
    _current.close()
    _current = Reporter()
    root = logging.getLogger()
    if _handler in root.handlers:
        root.removeHandler(_handler)
        logging.getLogger("rait_registry").setLevel(logging.NOTSET)
        if _saved_root_level is not None:
            root.setLevel(_saved_root_level)
    _saved_root_level = None


# ---------------------------------------------------------------------------------------------
# Results on stdout
# ---------------------------------------------------------------------------------------------


def plain_cell(value: Any) -> str:
    """A value as a plain result table prints it: NULL, ``""`` for an empty string, newlines escaped."""
    if value is None:
        return NULL_TEXT
    text = str(value)
    if text == "":
        return EMPTY_TEXT
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _rich_cell(value: Any):
    from rich.text import Text

    if value is None:
        return Text(NULL_TEXT, style="dim")
    if str(value) == "":
        return Text(EMPTY_TEXT, style="dim")
    return Text(str(value))


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?")


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    title: str | None = None,
    right: Iterable[str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Print a result table on ``stream`` (default: stdout).

    On a terminal a rich table; elsewhere plain columns separated by two spaces, one row per
    line, no box drawing, no wrapping. NULL prints as ``NULL`` (dim on a terminal), an empty
    string as ``""``.

    Parameters
    ----------
    columns
        Column names.
    rows
        Rows of values (any type; ``None`` is NULL).
    title
        A line printed above the table.
    right
        Columns aligned to the right (default: those whose every value is a number).
    """
    stream = stream if stream is not None else sys.stdout
    rows = [list(row) for row in rows]
    if right is None:
        right = {
            name
            for i, name in enumerate(columns)
            if rows and all(row[i] is None or _NUMBER.fullmatch(str(row[i])) for row in rows)
        }
    right = set(right)
    if is_terminal(stream):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for name in columns:
            table.add_column(name, justify="right" if name in right else "left")
        for row in rows:
            table.add_row(*[_rich_cell(value) for value in row])
        Console(file=stream, highlight=False).print(table)
        return
    cells = [[plain_cell(value) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if name in right else value.ljust(width)
            for name, value, width in zip(columns, values, widths)
        ).rstrip()

    if title:
        stream.write(title + "\n")
    stream.write(line(list(columns)) + "\n")
    for row in cells:
        stream.write(line(row) + "\n")
    stream.flush()


def print_text(text: str, stream: TextIO | None = None) -> None:
    """Print a line of results on ``stream`` (default: stdout) as it is: no markup, never wrapped."""
    stream = stream if stream is not None else sys.stdout
    stream.write(text + "\n")
    stream.flush()
