"""pandera checks on the marts, after ``dbt build`` and before publication (design step 2).

:func:`validate_marts` validates each mart of the build database against its pandera model
(:mod:`rait_registry.schemas.marts`, every failure collected at once), checks the database types
(dates are DATE, flags BOOLEAN, numbers numeric). Any failure raises
:class:`~rait_registry.exceptions.MartCheckFailed` and the refresh publishes nothing.

The agreement between marts (the analysis cohort is exactly the eligible patients, the attrition
counts add up, one PFS row per treated patient, one cycle row per counted administration, no
orphan rows) is not repeated here: the dbt tests of the same build state it
(``dbt_project/tests/*.sql`` and the ``relationships`` tests of the marts), and a failed dbt test
stops the refresh before these checks run.

Reports name the mart, the column, the check and the 0-based row index in the mart ordered by
its key (``MART_KEYS``; ties, which only a broken mart has, in storage order) -- never a value:
pandera's ``failure_case`` column is dropped.

Two engines run the same rules:

``pandas``
    reads the mart into pandas and validates it with the pandera model, lazily. A mart larger
    than ``chunk_rows`` is validated in chunks of whole patients (``hash(patient_id) % n``), so
    per-patient rules still see every row of a patient. Fast for cohort-sized marts; at a million
    patients (five million mart rows) it takes about a minute and several GB.
``sql``
    evaluates the rules in DuckDB, one pass per mart, and reads back only the failing rows. The
    pandera models stay the single statement of the rules: the field checks (``nullable``,
    ``unique``, ``Config.unique``, ``isin``, ranges, ...) are generated from
    ``MART_MODELS[m].to_schema()`` at import (a check without a SQL translation raises there), and
    every ``@pa.dataframe_check`` has a hand-written SQL twin that reproduces the pandas
    semantics, NULLs included (both in :mod:`rait_registry.mart_sql`). Strictness and required columns are compared with the
    mart's columns; a database type the model cannot take (e.g. VARCHAR for a float) is a
    table-level failure ``database type is ...``. The failures are the same
    ``(mart, column, check, row)`` as pandera's (tests/test_schemas.py asserts it on hundreds of
    random breaks). A mart that lacks a column a SQL twin needs (an optional lineage column, say) is
    validated with pandas.

``engine="auto"`` (the default) uses pandas for marts of at most ``pandas_max_rows`` rows and SQL
above, so small builds (the demo, the tests) keep pandera's own reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pandera.errors

from .exceptions import MartCheckFailed, UsageError
from .mart_sql import SQL_RULES, TYPES, WINDOW, dtype_family, failed_rules, sql_column
from .schemas.marts import CRITERIA, MART_KEYS, MART_MODELS

#: Database type families the specification fixes (section 3): mart -> column -> family.
DATE_COLUMNS = {
    "patients": ("diagnosis_date", "initial_surgery_date", "first_rait_date", "lung_met_date"),
    "rait_cycles": ("admin_date",),
    "pfs": ("start_date", "end_date"),
}
FLAG_COLUMNS = {"patients": (*CRITERIA, "is_eligible")}
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")

DEFAULT_CHUNK_ROWS = 2_000_000
#: With ``engine="auto"``, marts with more rows are checked by the SQL engine.
PANDAS_MAX_ROWS = 50_000
ENGINES = ("auto", "pandas", "sql")
MAX_SHOWN = 25


@dataclass(frozen=True)
class MartFailure:
    """One failed check: where, never what value."""

    mart: str
    column: str | None
    check: str
    row: int | None  # 0-based index in the mart ordered by its key; None for a table-level check

    def describe(self) -> str:
        where = f"marts.{self.mart}"
        if self.row is not None:
            where += f" row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.check}"


@dataclass
class MartCheckReport:
    """Outcome of :func:`validate_marts`: rows checked per mart and every failure."""

    rows_checked: dict[str, int] = field(default_factory=dict)
    failures: list[MartFailure] = field(default_factory=list)
    engines: dict[str, str] = field(default_factory=dict)  # mart -> "pandas" or "sql"

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self, max_shown: int = MAX_SHOWN) -> str:
        """Human-readable report grouped by mart, column and check; values never appear."""
        groups: dict[tuple[str, str | None, str], list[int]] = {}
        for failure in self.failures:
            rows = groups.setdefault((failure.mart, failure.column, failure.check), [])
            if failure.row is not None:
                rows.append(failure.row)
        lines = [f"{len(self.failures)} mart check failure(s) in {len(groups)} check(s); nothing was published."]
        for (mart, column, check), rows in list(groups.items())[:max_shown]:
            where = f"marts.{mart}" + (f", column {column}" if column else "")
            if rows:
                shown = ", ".join(str(r) for r in sorted(rows)[:10]) + (", ..." if len(rows) > 10 else "")
                where += f", {len(rows)} row(s) (index {shown})"
            lines.append(f"  {where}: {check}")
        if len(groups) > max_shown:
            lines.append(f"  ... and {len(groups) - max_shown} more check(s)")
        lines.append(
            "Row indices are 0-based in the mart ordered by its key. The marts disagree with the rules of "
            "schemas/marts.py: fix the dbt model that builds the named mart (or the schema, if the contract "
            "changed) and refresh again."
        )
        return "\n".join(lines)


def _failures_from(mart: str, exc: pandera.errors.SchemaErrors) -> list[MartFailure]:
    """Failures of a pandera SchemaErrors, without the failing values (``failure_case``)."""
    failures: list[MartFailure] = []
    seen = set()
    for record in exc.failure_cases.to_dict("records"):
        check = str(record.get("check"))
        column = record.get("column")
        if check in ("column_in_schema", "column_in_dataframe"):
            column = record.get("failure_case")  # here the failure case is a column name, not a value
        elif record.get("schema_context") == "DataFrameSchema":
            column = None  # a cross-column check: pandera repeats it for every column of the row
        index = record.get("index")
        row = None if index is None or (isinstance(index, float) and math.isnan(index)) else int(index)
        column = None if column is None or (isinstance(column, float) and math.isnan(column)) else str(column)
        if (column, row, check) in seen:
            continue
        seen.add((column, row, check))
        failures.append(MartFailure(mart, column, check, row))
    return failures


def _read(
    con: duckdb.DuckDBPyConnection, mart: str, chunk: tuple[int, int] | None, order_by: str | None = None
) -> pd.DataFrame:
    """The mart (or one chunk of it) indexed by the 0-based row in key order.

    Unchunked, the rows are read in key order and the default index is that row number (no
    window function: sorting alone is about twice as fast at 2 million rows). A chunk reads
    ``_mart_rows`` (see :func:`_number_rows`).
    """
    if chunk is None:
        return con.execute(f"select * from marts.{mart} order by {order_by or MART_KEYS[mart]}").df()
    k, _ = chunk
    frame = con.execute(f"select * exclude (_chunk) from _mart_rows where _chunk = {k} order by _mart_row").df()
    return frame.set_index("_mart_row").rename_axis(None)


def _number_rows(con: duckdb.DuckDBPyConnection, mart: str, n_chunks: int, order_by: str | None = None) -> None:
    """Temp table ``_mart_rows``: the mart with its row number in key order and its chunk
    (``hash(patient_id) % n_chunks``: whole patients), numbered once for all chunks."""
    con.execute(
        "create or replace temp table _mart_rows as select row_number() over "
        f"(order by {order_by or MART_KEYS[mart]}) - 1 as _mart_row, hash(patient_id) % {n_chunks} as _chunk, * "
        f"from marts.{mart}"
    )


def _order_by(mart: str, table_type: str | None) -> str:
    """The key order of ``mart``; ties (a broken key) in storage order (``rowid``) when the mart is
    a table, so that both engines number the rows alike."""
    return MART_KEYS[mart] + (", rowid" if table_type == "BASE TABLE" else "")


def _type_failures(con: duckdb.DuckDBPyConnection) -> list[MartFailure]:
    types = {
        (table, column): data_type.upper()
        for table, column, data_type in con.execute(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = 'marts'"
        ).fetchall()
    }
    failures = []
    for mart, columns in DATE_COLUMNS.items():
        for column in columns:
            if (mart, column) in types and types[(mart, column)] != "DATE":
                failures.append(MartFailure(mart, column, "database type is DATE", None))
    for mart, columns in FLAG_COLUMNS.items():
        for column in columns:
            if (mart, column) in types and types[(mart, column)] != "BOOLEAN":
                failures.append(MartFailure(mart, column, "database type is BOOLEAN", None))
    for column in ("pfs_event",):
        for mart in ("pfs", "analysis_cohort"):
            data_type = types.get((mart, column))
            if data_type is not None and not data_type.startswith(NUMERIC_TYPES):
                failures.append(MartFailure(mart, column, "database type is an integer 1/0", None))
    return failures


def _validate_sql(
    con: duckdb.DuckDBPyConnection, mart: str, db_types: dict[str, str], table_type: str | None
) -> list[MartFailure] | None:
    """Failures of ``mart`` under the SQL engine; None when the mart lacks a column a rule needs
    (then pandas validates it).

    One query: ``_mart`` is the mart as the rules see it (NaN as NULL, incompatible types cast),
    ``mart_rows`` adds ``_mart_row``; the rules without a window function are evaluated first, so
    that the window functions of the others (per patient, in key order) carry only the columns
    they need and the list of failures so far; only failing rows come back. For a table the row
    number in key order is joined in only when a rule names it, and found for failing rows only
    (``rowid`` identifies a row meanwhile): a million rows are sorted once, narrowly, or not at all.
    """
    schema = MART_MODELS[mart].to_schema()
    by_column, table_rules = SQL_RULES[mart]
    present = [c for c in db_types if c in schema.columns]
    if any(not rule.needs <= set(present) for rule in table_rules):
        return None
    failures = [MartFailure(mart, c, "column_in_schema", None) for c in db_types if c not in schema.columns]
    failures += [
        MartFailure(mart, name, "column_in_dataframe", None)
        for name, column in schema.columns.items()
        if column.required and name not in db_types
    ]
    columns = []
    for name in present:
        family = dtype_family(schema.columns[name].dtype)
        description, compatible, _ = TYPES[family]
        if not compatible(db_types[name]):
            failures.append(MartFailure(mart, name, f"database type is {description}", None))
        columns.append(sql_column(name, family, db_types[name]))
    rules = [rule for name in present for rule in by_column[name]] + table_rules
    plain = [rule for rule in rules if not WINDOW.search(rule.sql)]
    windowed = [rule for rule in rules if WINDOW.search(rule.sql)]
    rules = plain + windowed
    key_order = _order_by(mart, table_type)
    by_rowid = table_type == "BASE TABLE"
    if not by_rowid:  # a view: number the rows up front
        mart_cte = (
            f"select row_number() over (order by {key_order}) - 1 as _rid, {', '.join(columns)} from marts.{mart}"
        )
        rows_cte = "select _rid as _mart_row, * from _mart"
    else:
        mart_cte = f"select rowid as _rid, {', '.join(columns)} from marts.{mart}"
        rows_cte = "select * from _mart"
        if any("_mart_row" in rule.sql for rule in rules):
            rows_cte = (
                "select n._mart_row, _mart.* from _mart join (select rowid as _rid, row_number() over "
                f"(order by {key_order}) - 1 as _mart_row from marts.{mart}) as n using (_rid)"
            )
    sql = (
        f"with _mart as not materialized ({mart_cte}),\n"
        f"mart_rows as not materialized ({rows_cte}),\n"
        f"_plain as (select *, {failed_rules(plain, 0)} as _failed from mart_rows)\n"
        f"select _rid, failed from (select _rid, list_concat(_failed, {failed_rules(windowed, len(plain))}) as failed "
        "from _plain) where len(failed) > 0"
    )
    found = con.execute(sql).fetchall()
    row_of = {rid: rid for rid, _ in found}
    if found and by_rowid:
        row_of = dict(
            con.execute(
                f"select _rid, _mart_row from (select rowid as _rid, row_number() over (order by {key_order}) - 1 "
                f"as _mart_row from marts.{mart}) where _rid in (select unnest(?))",
                [list(row_of)],
            ).fetchall()
        )
    by_rule: dict[int, list[int]] = {}
    for rid, failed in found:
        for i in failed:
            by_rule.setdefault(i, []).append(int(row_of[rid]))
    for i in sorted(by_rule):
        rule = rules[i]
        failures.extend(MartFailure(mart, rule.column, rule.check, row) for row in sorted(by_rule[i]))
    return failures


def _validate_frame(mart: str, frame: pd.DataFrame) -> list[MartFailure]:
    """Failures of one mart (or chunk) against its pandera model."""
    try:
        MART_MODELS[mart].validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        return _failures_from(mart, exc)
    except pandera.errors.SchemaError as exc:  # pragma: no cover - lazy mode collects
        return [MartFailure(mart, None, type(exc).__name__, None)]
    return []


def validate_marts(
    con: duckdb.DuckDBPyConnection,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    engine: str = "auto",
    pandas_max_rows: int = PANDAS_MAX_ROWS,
) -> MartCheckReport:
    """Validate every mart of the build database behind ``con``.

    Parameters
    ----------
    con
        Connection to the build database after ``dbt build``.
    chunk_rows
        With the pandas engine, marts with more rows are validated in chunks of whole patients.
    engine
        ``"pandas"`` (pandera on the mart read into pandas), ``"sql"`` (the same rules evaluated in
        DuckDB; see the module docstring) or ``"auto"``: pandas for marts of at most
        ``pandas_max_rows`` rows, SQL above. Both report the same failures.
    pandas_max_rows
        The largest mart ``engine="auto"`` validates with pandas.

    Returns
    -------
    MartCheckReport
        Rows checked and engine used per mart (no failures).

    Raises
    ------
    MartCheckFailed
        Any failed check; the message lists mart, column, check and row index, never a value.
        Its ``report`` attribute is the :class:`MartCheckReport`.
    UsageError
        An unknown ``engine``.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown mart check engine {engine!r}; use one of {', '.join(ENGINES)}")
    report = MartCheckReport()
    table_types = dict(
        con.execute(
            "select table_name, table_type from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    )
    present = set(table_types)
    for mart in MART_MODELS:
        if mart not in present:
            report.failures.append(MartFailure(mart, None, "the mart exists", None))
            continue
        rows = con.execute(f"select count(*) from marts.{mart}").fetchone()[0]
        report.rows_checked[mart] = rows
        db_types = {r[0]: str(r[1]).upper() for r in con.execute(f"describe marts.{mart}").fetchall()}
        order_by = _order_by(mart, table_types[mart])
        if engine == "sql" or (engine == "auto" and rows > pandas_max_rows):
            failures = _validate_sql(con, mart, db_types, table_types[mart])
            if failures is not None:
                report.engines[mart] = "sql"
                report.failures.extend(failures)
                continue
        report.engines[mart] = "pandas"
        n_chunks = max(1, math.ceil(rows / chunk_rows)) if "patient_id" in db_types else 1
        if n_chunks > 1:
            _number_rows(con, mart, n_chunks, order_by)
        for k in range(n_chunks):
            frame = _read(con, mart, (k, n_chunks) if n_chunks > 1 else None, order_by)
            report.failures.extend(_validate_frame(mart, frame))
            del frame
        if n_chunks > 1:
            con.execute("drop table _mart_rows")
    report.failures.extend(_type_failures(con))
    if report.failures:
        error = MartCheckFailed(report.summary())
        error.report = report  # the failures, for callers that act on them (no values in it)
        raise error
    return report
