"""pandera checks on the marts, after ``dbt build`` and before publication (design step 2).

:func:`validate_marts` validates each mart of the build database against its pandera model
(:mod:`rait_registry.schemas.marts`, every failure collected at once), checks the database types
(dates are DATE, flags BOOLEAN, numbers numeric) and the agreement between marts (the analysis
cohort is exactly the eligible patients, the attrition counts add up, one PFS row per treated
patient, one cycle row per administration). Any failure raises
:class:`~rait_registry.exceptions.MartCheckFailed` and the refresh publishes nothing.

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
    every ``@pa.dataframe_check`` has a hand-written SQL twin in ``SQL_CHECKS`` that reproduces
    the pandas semantics, NULLs included. Strictness and required columns are compared with the
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
import re
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pandera.errors
import pandera.pandas as pa

from .exceptions import MartCheckFailed, UsageError
from .schemas.marts import CRITERIA, MART_KEYS, MART_MODELS, SQL_CHECKS, sql_literal

#: Database type families the contract fixes (section 3): mart -> column -> family.
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


_AGREEMENT = {
    "analysis cohort is exactly the eligible patients": (
        "analysis_cohort",
        "patient_id",
        """select patient_id from marts.analysis_cohort
           except select patient_id from marts.patients where is_eligible
           union all
           (select patient_id from marts.patients where is_eligible
            except select patient_id from marts.analysis_cohort)""",
    ),
    "one rait_cycles row per administration counted in patients.n_rait_cycles": (
        "rait_cycles",
        "patient_id",
        """select p.patient_id from marts.patients as p
           left join (select patient_id, count(*) as n from marts.rait_cycles group by 1) as c using (patient_id)
           where coalesce(c.n, 0) <> p.n_rait_cycles
           union all
           select patient_id from marts.rait_cycles where patient_id not in (select patient_id from marts.patients)""",
    ),
    "one pfs row per patient with a RAIT": (
        "pfs",
        "patient_id",
        """select patient_id from marts.pfs
           except select patient_id from marts.patients where n_rait_cycles > 0
           union all
           (select patient_id from marts.patients where n_rait_cycles > 0
            except select patient_id from marts.pfs)""",
    ),
    "attrition n_excluded counts the patients excluded at the step": (
        "cohort_attrition",
        "n_excluded",
        """select a.criterion from marts.cohort_attrition as a
           left join (select exclusion_reason, count(*) as n from marts.patients group by 1) as p
             on p.exclusion_reason = a.criterion
           where a.step > 0 and a.n_excluded <> coalesce(p.n, 0)""",
    ),
    "attrition starts at all patients and ends at the analysis cohort": (
        "cohort_attrition",
        "n_remaining",
        """select 1 where (select n_remaining from marts.cohort_attrition where step = 0)
                          <> (select count(*) from marts.patients)
           union all
           select 1 where (select n_remaining from marts.cohort_attrition order by step desc limit 1)
                          <> (select count(*) from marts.analysis_cohort)""",
    ),
}


def _agreement_failures(con: duckdb.DuckDBPyConnection, present: set[str]) -> list[MartFailure]:
    failures = []
    for check, (mart, column, sql) in _AGREEMENT.items():
        needed = {"patients", mart} | (
            {"analysis_cohort"} if "analysis cohort" in check or "ends at" in check else set()
        )
        if not needed <= present:
            continue
        n = con.execute(f"select count(*) from ({sql})").fetchone()[0]
        if n:
            failures.append(MartFailure(mart, column, f"{check} ({n} disagreement(s))", None))
    return failures


# ---------------------------------------------------------------------------------------------
# SQL engine: the pandera models' rules evaluated in DuckDB
# ---------------------------------------------------------------------------------------------

_INTEGER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
)
_FLOAT_TYPES = ("FLOAT", "REAL", "DOUBLE")
_DATETIME_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")


def _family(dtype: object) -> str:
    """The family of a pandera column dtype: str, float, int, datetime or bool."""
    name = str(dtype)
    if name == "str":
        return "str"
    if name.startswith("float"):
        return "float"
    if name.lower().startswith(("int", "uint")):
        return "int"
    if name.startswith("datetime64"):
        return "datetime"
    if name.lower() in ("bool", "boolean"):
        return "bool"
    raise NotImplementedError(
        f"the SQL engine of mart_checks.py knows no database type for the pandera dtype {name!r}; "
        "add it to mart_checks._family and _TYPES"
    )


#: family -> (the database types it takes, as the failure names them; predicate; SQL type to try_cast others to)
_TYPES = {
    "str": ("VARCHAR", lambda t: t == "VARCHAR", "VARCHAR"),
    "float": ("numeric", lambda t: t in _INTEGER_TYPES or t in _FLOAT_TYPES or t.startswith("DECIMAL"), "DOUBLE"),
    "int": ("an integer type", lambda t: t in _INTEGER_TYPES, "BIGINT"),
    "datetime": ("DATE or TIMESTAMP", lambda t: t in _DATETIME_TYPES, "TIMESTAMP"),
    "bool": ("BOOLEAN", lambda t: t == "BOOLEAN", "BOOLEAN"),
}


def _element_check_sql(column: str, check: pa.Check) -> str:
    """SQL that is TRUE where ``column`` passes the pandera built-in ``check``.

    Raises
    ------
    NotImplementedError
        The check has no SQL translation (then the SQL engine could not state the model's rules).
    """
    stats = check.statistics or {}
    c = column
    translations = {
        "isin": lambda: f"{c} in ({', '.join(sql_literal(v) for v in stats['allowed_values'])})",
        "notin": lambda: f"{c} not in ({', '.join(sql_literal(v) for v in stats['forbidden_values'])})",
        "equal_to": lambda: f"{c} = {sql_literal(stats['value'])}",
        "not_equal_to": lambda: f"{c} <> {sql_literal(stats['value'])}",
        "greater_than": lambda: f"{c} > {sql_literal(stats['min_value'])}",
        "greater_than_or_equal_to": lambda: f"{c} >= {sql_literal(stats['min_value'])}",
        "less_than": lambda: f"{c} < {sql_literal(stats['max_value'])}",
        "less_than_or_equal_to": lambda: f"{c} <= {sql_literal(stats['max_value'])}",
        "in_range": lambda: (
            f"{c} {'>=' if stats.get('include_min', True) else '>'} {sql_literal(stats['min_value'])} and "
            f"{c} {'<=' if stats.get('include_max', True) else '<'} {sql_literal(stats['max_value'])}"
        ),
        "str_startswith": lambda: f"starts_with({c}, {sql_literal(stats['string'])})",
        "str_endswith": lambda: f"ends_with({c}, {sql_literal(stats['string'])})",
    }
    if check.name not in translations or check.raise_warning or check.groupby is not None:
        raise NotImplementedError(
            f"column {column}: the pandera check {check.error or check.name!r} has no SQL translation; "
            "add one to mart_checks._element_check_sql (or write the rule as a dataframe check with a "
            "SQL twin in schemas/marts.py::SQL_CHECKS)"
        )
    sql = translations[check.name]()
    # pandera leaves missing values out of element checks (ignore_na); without it they fail
    return f"{c} is null or ({sql})" if check.ignore_na else f"coalesce({sql}, false)"


@dataclass(frozen=True)
class _SqlCheck:
    """One rule of the SQL engine: reported as (column, check); ``sql`` is TRUE where a row passes."""

    column: str | None
    check: str
    sql: str
    needs: frozenset[str]  # the mart columns the SQL names


_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _names_in(sql: str, columns) -> frozenset[str]:
    """The columns of ``columns`` that ``sql`` names (string literals left out)."""
    words = set(_IDENTIFIER.findall(_STRING_LITERAL.sub("''", sql)))
    return frozenset(c for c in columns if c in words)


def _sql_rules(mart: str) -> tuple[dict[str, list[_SqlCheck]], list[_SqlCheck]]:
    """Field rules per column (generated from the model) and table rules (``Config.unique`` and
    the SQL twins of the dataframe checks) of ``mart``."""
    schema = MART_MODELS[mart].to_schema()
    by_column: dict[str, list[_SqlCheck]] = {}
    for name, column in schema.columns.items():
        _family(column.dtype)  # an unknown dtype fails here, at import
        rules = by_column.setdefault(name, [])
        needs = frozenset([name])
        if not column.nullable:
            rules.append(_SqlCheck(name, "not_nullable", f"{name} is not null", needs))
        if column.unique:
            # pandera reports every row of a duplicated value, but drops missing failure cases
            duplicated = f"select {name} from _mart where {name} is not null group by {name} having count(*) > 1"
            rules.append(_SqlCheck(name, "field_uniqueness", f"{name} is null or {name} not in ({duplicated})", needs))
        for check in column.checks:
            rules.append(_SqlCheck(name, check.error or check.name, _element_check_sql(name, check), needs))
    table: list[_SqlCheck] = []
    if schema.unique:
        unique = [schema.unique] if isinstance(schema.unique, str) else list(schema.unique)
        # rows (struct values compare missing == missing, like pandas duplicated) of a duplicated
        # combination; pandera drops a row whose cells are all missing
        combination = f"row({', '.join(unique)})"
        duplicated = f"select {combination} from _mart group by 1 having count(*) > 1"
        all_missing = " and ".join(f"{c} is null" for c in unique)
        table.append(
            _SqlCheck(
                None,
                "multiple_fields_uniqueness",
                f"({all_missing}) or {combination} not in ({duplicated})",
                frozenset(unique),
            )
        )
    twins = SQL_CHECKS.get(mart, {})
    checks = [check.name for check in schema.checks]
    if sorted(checks) != sorted(twins):
        raise NotImplementedError(
            f"marts.{mart}: the dataframe checks {sorted(set(checks) ^ set(twins))} lack a SQL twin (or the twin "
            "lacks its check); every @pa.dataframe_check needs one in schemas/marts.py::SQL_CHECKS"
        )
    for name in checks:
        table.append(_SqlCheck(None, name, twins[name], _names_in(twins[name], schema.columns)))
    return by_column, table


#: mart -> (field rules per column, table rules); built at import so an untranslatable check fails early.
SQL_RULES = {mart: _sql_rules(mart) for mart in MART_MODELS}


def _sql_column(name: str, family: str, db_type: str) -> str:
    """The column as the rules see it: NaN as NULL (pandas reads both as NaN), and a value of an
    incompatible database type cast to the model's type (its failure is reported separately)."""
    description, compatible, sql_type = _TYPES[family]
    expression = name if compatible(db_type) else f"try_cast({name} as {sql_type})"
    if family == "float":
        expression = f"nullif(cast({expression} as double), cast('nan' as double))"
    return expression if expression == name else f"{expression} as {name}"


_WINDOW = re.compile(r"\bover\s*\(", re.IGNORECASE)


def _flags(rules: list[_SqlCheck], first: int) -> str:
    """A list of the indices (from ``first``) of the rules a row fails."""
    cases = ", ".join(
        f"case when not coalesce(({rule.sql}), false) then {first + i} end" for i, rule in enumerate(rules)
    )
    return f"list_filter([{cases}], lambda x: x is not null)"


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
        family = _family(schema.columns[name].dtype)
        description, compatible, _ = _TYPES[family]
        if not compatible(db_types[name]):
            failures.append(MartFailure(mart, name, f"database type is {description}", None))
        columns.append(_sql_column(name, family, db_types[name]))
    rules = [rule for name in present for rule in by_column[name]] + table_rules
    plain = [rule for rule in rules if not _WINDOW.search(rule.sql)]
    windowed = [rule for rule in rules if _WINDOW.search(rule.sql)]
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
        f"_plain as (select *, {_flags(plain, 0)} as _failed from mart_rows)\n"
        f"select _rid, failed from (select _rid, list_concat(_failed, {_flags(windowed, len(plain))}) as failed "
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
    report.failures.extend(_agreement_failures(con, present))
    if report.failures:
        error = MartCheckFailed(report.summary())
        error.report = report  # the failures, for callers that act on them (no values in it)
        raise error
    return report
