"""pandera checks on the marts, after ``dbt build`` and before publication (design step 2).

:func:`validate_marts` reads each mart of the build database, validates it lazily with its
pandera model (:mod:`rait_registry.schemas.marts`, every failure collected at once), checks the
database types (dates are DATE, flags BOOLEAN, numbers numeric) and the agreement between marts
(the analysis cohort is exactly the eligible patients, the attrition counts add up, one PFS row
per treated patient, one cycle row per administration). Any failure raises
:class:`~rait_registry.exceptions.MartCheckFailed` and the refresh publishes nothing.

Reports name the mart, the column, the check and the 0-based row index in the mart ordered by
its key (``MART_KEYS``) -- never a value: pandera's ``failure_case`` column is dropped.

Marts are cohort-sized (one row per patient or cycle). A mart larger than ``chunk_rows`` is
validated in chunks of whole patients (``hash(patient_id) % n``), so per-patient rules still see
every row of a patient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pandera.errors

from .exceptions import MartCheckFailed
from .schemas.marts import CRITERIA, MART_KEYS, MART_MODELS

#: Database type families the contract fixes (section 3): mart -> column -> family.
DATE_COLUMNS = {
    "patients": ("diagnosis_date", "initial_surgery_date", "first_rait_date", "lung_met_date"),
    "rait_cycles": ("admin_date",),
    "pfs": ("start_date", "end_date"),
}
FLAG_COLUMNS = {"patients": (*CRITERIA, "is_eligible")}
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")

DEFAULT_CHUNK_ROWS = 2_000_000
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


def _read(con: duckdb.DuckDBPyConnection, mart: str, chunk: tuple[int, int] | None) -> pd.DataFrame:
    """The mart (or one chunk of it) indexed by the 0-based row in key order.

    Unchunked, the rows are read in key order and the default index is that row number (no
    window function: sorting alone is about twice as fast at 2 million rows). A chunk reads
    ``_mart_rows`` (see :func:`_number_rows`).
    """
    if chunk is None:
        return con.execute(f"select * from marts.{mart} order by {MART_KEYS[mart]}").df()
    k, _ = chunk
    frame = con.execute(f"select * exclude (_chunk) from _mart_rows where _chunk = {k} order by _mart_row").df()
    return frame.set_index("_mart_row").rename_axis(None)


def _number_rows(con: duckdb.DuckDBPyConnection, mart: str, n_chunks: int) -> None:
    """Temp table ``_mart_rows``: the mart with its row number in key order and its chunk
    (``hash(patient_id) % n_chunks``: whole patients), numbered once for all chunks."""
    con.execute(
        f"create or replace temp table _mart_rows as select row_number() over (order by {MART_KEYS[mart]}) - 1 "
        f"as _mart_row, hash(patient_id) % {n_chunks} as _chunk, * from marts.{mart}"
    )


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
        needed = {"patients", mart} | ({"analysis_cohort"} if "analysis cohort" in check or "ends at" in check else set())
        if not needed <= present:
            continue
        n = con.execute(f"select count(*) from ({sql})").fetchone()[0]
        if n:
            failures.append(MartFailure(mart, column, f"{check} ({n} disagreement(s))", None))
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


def validate_marts(con: duckdb.DuckDBPyConnection, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> MartCheckReport:
    """Validate every mart of the build database behind ``con``.

    Parameters
    ----------
    con
        Connection to the build database after ``dbt build``.
    chunk_rows
        Marts with more rows are validated in chunks of whole patients.

    Returns
    -------
    MartCheckReport
        Rows checked per mart (no failures).

    Raises
    ------
    MartCheckFailed
        Any failed check; the message lists mart, column, check and row index, never a value.
    """
    report = MartCheckReport()
    present = {
        row[0]
        for row in con.execute("select table_name from information_schema.tables where table_schema = 'marts'").fetchall()
    }
    for mart in MART_MODELS:
        if mart not in present:
            report.failures.append(MartFailure(mart, None, "the mart exists", None))
            continue
        rows = con.execute(f"select count(*) from marts.{mart}").fetchone()[0]
        report.rows_checked[mart] = rows
        columns = {r[0] for r in con.execute(f"describe marts.{mart}").fetchall()}
        n_chunks = max(1, math.ceil(rows / chunk_rows)) if "patient_id" in columns else 1
        if n_chunks > 1:
            _number_rows(con, mart, n_chunks)
        for k in range(n_chunks):
            frame = _read(con, mart, (k, n_chunks) if n_chunks > 1 else None)
            report.failures.extend(_validate_frame(mart, frame))
            del frame
        if n_chunks > 1:
            con.execute("drop table _mart_rows")
    report.failures.extend(_type_failures(con))
    report.failures.extend(_agreement_failures(con, present))
    if report.failures:
        raise MartCheckFailed(report.summary())
    return report
