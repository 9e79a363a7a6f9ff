"""SQL on the published warehouse: a read-only connection, whole results exported, streamed.

``rait-registry query`` prints a table on the terminal (at most ``--max-rows`` rows, saying how
many it hid) or exports the *whole* result as CSV, JSON lines, a JSON array or Parquet, to a file
or to standard output. Exports are written by DuckDB itself (``COPY (query) TO ...``), which
streams the rows: a million-row export needs little more memory than a ten-row one. The CSV is
DuckDB's: a header, a NULL as an empty field, an empty string as ``""``, fields quoted only when
needed. In JSON a non-finite double (NaN, infinity; JSON has none) is written as null.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .exceptions import UsageError
from .warehouse import sql_string

#: Export formats (``table`` is the terminal display).
FORMATS = ("table", "csv", "jsonl", "json", "parquet")
#: Format of an ``--output`` file by its extension (anything else is CSV).
FORMAT_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
_COPY_OPTIONS = {
    "csv": "format csv, header true",
    "jsonl": "format json",
    "json": "format json, array true",
    "parquet": "format parquet",
}
_FLOATS = ("DOUBLE", "FLOAT", "REAL")
#: Rows fetched at a time for the terminal table (and to count the rows it hides).
BATCH_ROWS = 10_000


class QueryFailed(UsageError):
    """DuckDB refused or could not run the SQL (exit code 2; the message is DuckDB's)."""


def read_sql(sql: str | None, file: Path | None, stdin=None) -> str:
    """The SQL to run: the argument, ``@PATH`` (a file), ``-`` (standard input), or ``--file PATH``."""
    if (sql is None) == (file is None):
        raise UsageError("give the SQL once: as an argument, as @FILE, as - (standard input), or with --file FILE.")
    if file is None and sql == "-":
        text = (stdin or sys.stdin).read()
        source = "standard input"
    elif file is not None or sql.startswith("@"):
        path = Path(file if file is not None else sql[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the SQL file {path}: {exc.strerror or exc}") from None
        source = str(path)
    else:
        text, source = sql, "the argument"
    if not text.strip():
        raise UsageError(f"no SQL in {source}.")
    return text


def resolve_format(fmt: str | None, csv_alias: bool, output: Path | None) -> str:
    """The export format from ``--format``, ``--csv`` and the ``--output`` file's extension."""
    if csv_alias:
        if fmt not in (None, "csv"):
            raise UsageError(f"--csv is --format csv; it cannot be combined with --format {fmt}.")
        fmt = "csv"
    if fmt is None:
        fmt = FORMAT_BY_SUFFIX.get(output.suffix.lower(), "csv") if output is not None else "table"
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(FORMATS)}.")
    if fmt == "table" and output is not None:
        raise UsageError("--format table is the terminal display; write a file as csv, jsonl, json or parquet.")
    if fmt == "parquet" and output is None:
        raise UsageError("Parquet is a binary format: write it to a file with --output FILE.")
    return fmt


def result_query(con: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    """A query of the result of ``sql``, the last of its statements (those before it are run first).

    A query (SELECT, FROM, WITH, DESCRIBE, SHOW...) is returned as it is. Another statement (PRAGMA,
    CALL, EXPLAIN, SET...), which COPY cannot wrap, is run and its (small) result registered as
    ``query_result``; None when it returns no result.
    """
    try:
        statements = duckdb.extract_statements(sql)
        if not statements:
            raise UsageError("no SQL statement to run.")
        for statement in statements[:-1]:
            con.execute(statement.query)
        last = statements[-1].query.strip().rstrip(";").strip()
        if statements[-1].type == duckdb.StatementType.SELECT:
            return last
        cursor = con.execute(last)
        if cursor.description is None:
            return None
        fetch = getattr(cursor, "to_arrow_table", None) or cursor.fetch_arrow_table  # DuckDB 2.0 / 1.x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DuckDB 2.0 warns that a DB-API result is copied: it is small
            con.register("query_result", fetch())
        return "select * from query_result"
    except duckdb.Error as exc:
        raise QueryFailed(f"the query failed: {exc}") from None


def _json_safe(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """``query`` with its non-finite DOUBLE/FLOAT columns written as null (JSON has no NaN or infinity)."""
    relation = con.sql(query)
    names = relation.columns
    floats = [name for name, kind in zip(names, relation.types) if str(kind) in _FLOATS]
    if not floats or len(set(names)) != len(names):
        return query
    quoted = lambda name: '"' + name.replace('"', '""') + '"'  # noqa: E731
    replace = ", ".join(
        f"case when isfinite({quoted(name)}) then {quoted(name)} end as {quoted(name)}" for name in floats
    )
    return f"select * replace ({replace}) from (\n{query}\n)"


def export(con: duckdb.DuckDBPyConnection, sql: str, fmt: str, path: Path) -> int | None:
    """Write the whole result of ``sql`` to ``path`` in ``fmt`` (streamed by DuckDB's COPY); the number
    of rows written, or None when the SQL returns no result (nothing is written then)."""
    query = result_query(con, sql)
    if query is None:
        return None
    try:
        if fmt in ("json", "jsonl"):
            query = _json_safe(con, query)
        row = con.execute(f"copy (\n{query}\n) to {sql_string(path)} ({_COPY_OPTIONS[fmt]})").fetchone()
    except duckdb.Error as exc:
        raise QueryFailed(f"the query failed: {exc}") from None
    return int(row[0]) if row else 0


def export_to_file(con: duckdb.DuckDBPyConnection, sql: str, fmt: str, output: Path) -> int | None:
    """:func:`export` to ``output`` through a temporary file beside it, renamed into place when
    complete: a failed export leaves no partial file (and an earlier file as it was)."""
    output = Path(output)
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    try:
        rows = export(con, sql, fmt, partial)
        if rows is None:
            raise UsageError("the SQL returns no result; nothing to write.")
        os.replace(partial, output)
        return rows
    finally:
        partial.unlink(missing_ok=True)


def export_to_stream(con: duckdb.DuckDBPyConnection, sql: str, fmt: str, stream) -> int | None:
    """:func:`export` to a binary ``stream`` (standard output): DuckDB writes a temporary file, which
    is then copied to the stream in blocks (so memory stays small whatever the result's size, and a
    redirected or appended-to standard output is never truncated)."""
    with tempfile.TemporaryDirectory(prefix="rait-query-") as scratch:
        path = Path(scratch) / f"result.{fmt}"
        rows = export(con, sql, fmt, path)
        if rows is not None:
            with open(path, "rb") as handle:
                shutil.copyfileobj(handle, stream, 1 << 20)
            stream.flush()
    return rows


@dataclass
class Preview:
    """The first rows of a result for the terminal, and how many rows it has in all."""

    columns: list[str]
    rows: list[tuple]
    total: int


def preview(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int) -> Preview | None:
    """The first ``max_rows`` rows of the result of ``sql`` as DuckDB renders each value (None for
    NULL), and its row count (the rest is read in batches and counted, not kept); None when the
    SQL returns no result."""
    query = result_query(con, sql)
    if query is None:
        return None
    try:
        columns = list(con.sql(query).columns)
        as_text = con.sql(f"select columns(*)::varchar from (\n{query}\n)")
        kept: list[tuple] = []
        total = 0
        for batch in _batches(as_text):
            if len(kept) < max_rows:
                taken = batch.slice(0, max_rows - len(kept))
                kept.extend(zip(*(column.to_pylist() for column in taken.columns)))
            total += batch.num_rows
    except duckdb.Error as exc:
        raise QueryFailed(f"the query failed: {exc}") from None
    return Preview(columns=columns, rows=kept, total=total)


def _batches(relation: duckdb.DuckDBPyRelation) -> Iterator:
    """Arrow record batches of ``relation``, streamed (older DuckDB: ``fetch_arrow_reader``)."""
    reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
    yield from reader(BATCH_ROWS)
