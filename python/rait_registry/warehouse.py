"""Paths and read-only access to a published warehouse; the reads the analysis and the report share."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .exceptions import UsageError, WarehouseNotFound

if TYPE_CHECKING:  # pandas is imported by duckdb's .df() when a read needs it
    import pandas as pd

DEFAULT_WAREHOUSE = Path("warehouse/registry.duckdb")
#: Schemas the project writes (``raw`` by the ingest or :mod:`rait_registry.engines`, the rest by dbt).
PROJECT_SCHEMAS = ("raw", "reference", "staging", "intermediate", "marts", "snapshots")
MARTS = ("patients", "rait_cycles", "pfs", "analysis_cohort", "cohort_attrition")


def default_warehouse() -> Path:
    """The warehouse path: ``$RAIT_WAREHOUSE`` or ``warehouse/registry.duckdb``."""
    return Path(os.environ.get("RAIT_WAREHOUSE", DEFAULT_WAREHOUSE))


def connect_read_only(path: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """Open the published warehouse read-only (never blocks, never blocks a refresh's publish)."""
    path = Path(path) if path is not None else default_warehouse()
    if not path.is_file():
        raise WarehouseNotFound(
            f"no published warehouse at {path}; run `rait-registry refresh --extract DIR --warehouse {path}` first."
        )
    return duckdb.connect(str(path), read_only=True)


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
    """

    path: Path
    cohort: pd.DataFrame
    cycles: pd.DataFrame
    attrition: pd.DataFrame
    refresh: dict[str, Any] | None
    n_quarantined_rows: int | None


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
    """Read the analysis marts, the latest refresh and the quarantine count (read-only).

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
        quarantined = None
        if table_exists(con, "quarantine", "rejected_rows"):
            quarantined = int(
                con.execute(
                    "select count(*) from (select distinct source_table, source_row from quarantine.rejected_rows)"
                ).fetchone()[0]
            )
        return PublishedMarts(path, cohort, cycles, attrition, latest_refresh(con), quarantined)
    finally:
        con.close()
