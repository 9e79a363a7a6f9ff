"""Paths, storage format and read-only access to a published warehouse; the reads the analysis and
the report share."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .exceptions import UsageError, WarehouseHeld, WarehouseNotFound

if TYPE_CHECKING:  # pandas is imported by duckdb's .df() when a read needs it
    import pandas as pd

DEFAULT_WAREHOUSE = Path("warehouse/registry.duckdb")
#: The development warehouse of ``rait-registry load``: ``dbt_project/profiles.yml`` points dbt at
#: ``../warehouse/dev.duckdb`` from ``dbt_project/``, i.e. this path from the repository root.
DEFAULT_DEV_WAREHOUSE = Path("warehouse/dev.duckdb")
#: Schemas the project writes (``raw`` by the ingest or :mod:`rait_registry.engines`, the rest by dbt).
PROJECT_SCHEMAS = ("raw", "reference", "staging", "intermediate", "marts", "snapshots")
MARTS = ("patients", "rait_cycles", "pfs", "analysis_cohort", "cohort_attrition")

#: Storage format a refresh publishes in (``refresh --storage-version``): a file that DuckDB 1.1 and
#: every later version opens (CLI, Python, JDBC, ODBC, DBeaver...). ``latest`` is the newest format
#: of the running DuckDB, which older clients cannot open.
DEFAULT_STORAGE_VERSION = "v1.1.0"

#: A refresh warns when the extract is older than this many days (``refresh --max-age-days``).
DEFAULT_MAX_AGE_DAYS = 31

#: What DuckDB says when another process has the file open read-write.
_HELD = re.compile(
    r'Could not set lock on file "(?P<path>[^"]*)": Conflicting lock is held in (?P<holder>.*?)(?:\. See|$)'
)
_HOLDER = re.compile(r"(?P<program>.*) \(PID (?P<pid>\d+)\)$")


def default_warehouse() -> Path:
    """The warehouse path: ``$RAIT_WAREHOUSE`` or ``warehouse/registry.duckdb``."""
    return Path(os.environ.get("RAIT_WAREHOUSE", DEFAULT_WAREHOUSE))


#: File stems a warehouse cannot have: the database would be named like one of its schemas.
RESERVED_NAMES = frozenset({*PROJECT_SCHEMAS, "landing", "quarantine", "history", "main"})


def check_warehouse_name(path: Path) -> Path:
    """``path`` unless its stem is a schema name (:class:`UsageError`): DuckDB names a database after its
    file, and ``raw.duckdb`` would break every ``raw.<table>`` reference."""
    if path.stem.lower() in RESERVED_NAMES:
        raise UsageError(
            f"the warehouse file cannot be named {path.name}: DuckDB names a database after its file, "
            f"and {path.stem} is also a schema of the warehouse; choose another name (e.g. registry.duckdb)."
        )
    return path


def sql_string(value: str | Path) -> str:
    """``value`` as an SQL string literal (for paths in ATTACH and COPY, which take no parameters)."""
    return "'" + str(value).replace("'", "''") + "'"


def held_error(exc: BaseException, path: str | Path | None = None) -> WarehouseHeld | None:
    """The :class:`WarehouseHeld` error for DuckDB's lock conflict ``exc``, or None for any other error.

    The message names the holding program and its process id, as DuckDB reports them.
    """
    match = _HELD.search(str(exc))
    if match is None:
        return None
    held = match["path"] or str(path)
    holder = _HOLDER.match(match["holder"].strip())
    who = f"{holder['program']} (PID {holder['pid']})" if holder else match["holder"].strip() or "another process"
    return WarehouseHeld(
        f"{held} is held read-write by {who}: no other process can open it while that connection is open, "
        "and a refresh does not publish over it. Close that connection and open the warehouse read-only: "
        f"`duckdb -readonly {held}` (DuckDB CLI), `duckdb.connect('{held}', read_only=True)` (Python), or the "
        "read-only setting of DBeaver, JDBC (duckdb.read_only=true) or ODBC (access_mode=READ_ONLY); then run "
        "this command again."
    )


def connect_read_only(path: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """Open the published warehouse read-only (never blocks, never blocks a refresh's publish).

    Raises
    ------
    WarehouseNotFound
        No file at ``path`` (exit code 2).
    WarehouseHeld
        Another process has the file open read-write (exit code 3).
    """
    path = Path(path) if path is not None else default_warehouse()
    if not path.is_file():
        raise WarehouseNotFound(
            f"no published warehouse at {path}; run `rait-registry refresh --extract DIR --warehouse {path}` first."
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        held = held_error(exc, path)
        if held is not None:
            raise held from None
        raise


def ensure_not_held(path: str | Path) -> None:
    """Raise :class:`WarehouseHeld` when another process has the file at ``path`` open read-write.

    A refresh calls it before its work and again just before it publishes: a process writing to the
    published file would keep writing to the replaced one, and would lose what it wrote.
    """
    if Path(path).is_file():
        connect_read_only(path).close()


def check_storage_version(version: str) -> str:
    """``version`` (``v1.1.0``, ``v1.4.0``, ``latest``...) if the running DuckDB can write it, else :class:`UsageError`."""
    con = duckdb.connect()
    try:
        con.execute(f"attach ':memory:' as probe (storage_version {sql_string(version)})")
    except duckdb.Error:
        raise UsageError(
            f"--storage-version {version}: not a DuckDB storage version this DuckDB ({duckdb.__version__}) can "
            f"write; use a DuckDB release such as {DEFAULT_STORAGE_VERSION} (the oldest DuckDB that must read the "
            "file) or latest."
        ) from None
    finally:
        con.close()
    return version


def storage_compatibility(con: duckdb.DuckDBPyConnection, catalog: str) -> str | None:
    """The oldest DuckDB that reads the attached database ``catalog`` as DuckDB reports it (e.g. ``v1.0.0+``);
    None where this DuckDB does not report it."""
    try:
        row = con.execute("select tags from duckdb_databases() where database_name = ?", [catalog]).fetchone()
    except duckdb.Error:
        return None
    return (row[0] or {}).get("storage_version") if row else None


def read_mart(name: str, path: str | Path | None = None):
    """Read one mart into a pandas DataFrame."""
    if name not in MARTS:
        raise KeyError(f"unknown mart {name}; choose one of {', '.join(MARTS)}")
    con = connect_read_only(path)
    try:
        return con.execute(f"select * from marts.{name}").df()
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Reading a published warehouse (the analysis and the report)
# ---------------------------------------------------------------------------------------------

#: The marts the analysis and the report read.
ANALYSIS_MARTS = ("analysis_cohort", "rait_cycles", "cohort_attrition")


@dataclass
class PublishedMarts:
    """What the analysis and the report read from a published warehouse.

    Attributes
    ----------
    path : Path
    cohort : DataFrame
        ``marts.analysis_cohort`` in ``patient_id`` order.
    cycles : DataFrame
        ``marts.rait_cycles`` of the cohort's patients, in ``patient_id, cycle_number`` order.
    attrition : DataFrame
        ``marts.cohort_attrition`` in ``step`` order.
    refresh : dict or None
        The latest row of ``history.refresh_runs`` (`latest_refresh`); None without history.
    n_quarantined_rows : int or None
        Distinct source rows in ``quarantine.rejected_rows``; None without that table.
    pfs : DataFrame or None
        ``marts.pfs`` of the cohort's patients in ``patient_id`` order (deaths, the PFS end under
        both censoring rules); None without that mart.
    baseline_cohort : DataFrame or None
        The patients eligible at baseline (`read_baseline_eligible_cohort`), the cohort of the
        baseline-eligible sensitivity analysis; None for a warehouse without
        ``marts.patients.is_eligible_at_baseline``.
    strategy_months : DataFrame or None
        The ``marts.strategy_evidence_monthly`` rows of the target-trial emulation's eligible
        patients (`strategy_cohort`); None without that mart.
    """

    path: Path
    cohort: pd.DataFrame
    cycles: pd.DataFrame
    attrition: pd.DataFrame
    refresh: dict[str, Any] | None
    n_quarantined_rows: int | None
    pfs: pd.DataFrame | None = None
    baseline_cohort: pd.DataFrame | None = None
    strategy_months: pd.DataFrame | None = None

    @property
    def strategy_cohort(self) -> pd.DataFrame:
        """The target-trial emulation's eligible patients: `baseline_cohort` (eligibility fixed at
        time zero) when the warehouse publishes it, else ``cohort``."""
        return self.cohort if self.baseline_cohort is None else self.baseline_cohort


#: Columns of ``marts.analysis_cohort`` taken from ``marts.pfs`` (cohort column -> pfs column), as
#: dbt_project/models/marts/analysis_cohort.sql selects them; the others are columns of ``marts.patients``.
_PFS_COHORT_COLUMNS = {
    "pfs_months": "pfs_months",
    "pfs_event": "pfs_event",
    "follow_up_months": "follow_up_months",
    "event_type": "event_type",
    "pfs_start_date": "start_date",
    "pfs_end_date": "end_date",
}


def column_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    """Whether ``schema.table`` has ``column``."""
    return bool(
        con.execute(
            "select count(*) from information_schema.columns "
            "where table_schema = ? and table_name = ? and column_name = ?",
            [schema, table, column],
        ).fetchone()[0]
    )


def read_baseline_eligible_cohort(con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """The patients eligible at baseline, shaped like ``marts.analysis_cohort``, in ``patient_id`` order.

    ``marts.analysis_cohort`` holds the patients of the contract's ``is_eligible``. This is the
    cohort of ``marts.patients.is_eligible_at_baseline`` (the same criteria judged with what is
    known at the first RAIT, docs/specification.md "Eligibility at baseline"): the same columns, from
    ``marts.patients`` and ``marts.pfs``, for the baseline-eligible sensitivity analysis and for any
    analysis that needs eligibility fixed at time zero (a target-trial emulation).

    Returns
    -------
    DataFrame or None
        None when the warehouse publishes no ``is_eligible_at_baseline`` (refreshed by an older
        version: refresh it again).
    """
    if not (table_exists(con, "marts", "pfs") and column_exists(con, "marts", "patients", "is_eligible_at_baseline")):
        return None
    columns = [d[0] for d in con.execute("select * from marts.analysis_cohort limit 0").description]
    select = ", ".join(
        f"pfs.{_PFS_COHORT_COLUMNS[c]} as {c}" if c in _PFS_COHORT_COLUMNS else f"patients.{c}" for c in columns
    )
    return con.execute(
        f"select {select} from marts.patients as patients "
        "inner join marts.pfs as pfs on patients.patient_id = pfs.patient_id "
        "where patients.is_eligible_at_baseline order by patients.patient_id"
    ).df()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the connection's database."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
        ).fetchone()[0]
    )


def latest_refresh(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The latest ``history.refresh_runs`` row as a dict (JSON columns parsed); None without history.

    Values are as pandas reads them (timestamps as ``pandas.Timestamp``).
    """
    if not table_exists(con, "history", "refresh_runs"):
        return None
    cursor = con.execute("select * from history.refresh_runs order by started_at desc limit 1")
    json_columns = {d[0] for d in cursor.description if str(d[1]) == "JSON"}
    frame = cursor.df()
    if frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    return {k: json.loads(v) if k in json_columns and isinstance(v, str) else v for k, v in row.items()}


def read_published(path: str | Path | None = None) -> PublishedMarts:
    """Read the analysis marts (and ``marts.pfs`` when present), the latest refresh and the quarantine count (read-only).

    Raises
    ------
    WarehouseNotFound
        No published warehouse at ``path``.
    UsageError
        A mart the analysis needs is missing (rebuild with ``rait-registry refresh``).
    """
    path = Path(path) if path is not None else default_warehouse()
    con = connect_read_only(path)
    try:
        for mart in ANALYSIS_MARTS:
            if not table_exists(con, "marts", mart):
                raise UsageError(
                    f"the warehouse {path} has no marts.{mart}; run `rait-registry refresh` to rebuild it."
                )
        cohort = con.execute("select * from marts.analysis_cohort order by patient_id").df()
        cycles = con.execute(
            "select cycles.* from marts.rait_cycles as cycles "
            "join marts.analysis_cohort as cohort using (patient_id) order by patient_id, cycle_number"
        ).df()
        attrition = con.execute("select * from marts.cohort_attrition order by step").df()
        pfs = None
        if table_exists(con, "marts", "pfs"):
            pfs = con.execute(
                "select pfs.* from marts.pfs as pfs "
                "join marts.analysis_cohort as cohort using (patient_id) order by patient_id"
            ).df()
        quarantined = None
        if table_exists(con, "quarantine", "rejected_rows"):
            quarantined = int(
                con.execute(
                    "select count(*) from (select distinct source_table, source_row from quarantine.rejected_rows)"
                ).fetchone()[0]
            )
        baseline = read_baseline_eligible_cohort(con)
        strategy_months = None
        if table_exists(con, "marts", "strategy_evidence_monthly"):  # the target-trial emulation's months
            eligible = (
                "select patient_id from marts.analysis_cohort"
                if baseline is None
                else "select patient_id from marts.patients where is_eligible_at_baseline"
            )
            strategy_months = con.execute(
                "select months.* from marts.strategy_evidence_monthly as months "
                f"where months.patient_id in ({eligible}) order by months.patient_id, months.month_number"
            ).df()
        return PublishedMarts(
            path,
            cohort,
            cycles,
            attrition,
            latest_refresh(con),
            quarantined,
            pfs,
            baseline,
            strategy_months,
        )
    finally:
        con.close()
