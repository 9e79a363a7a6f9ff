"""Paths and read-only access to a published warehouse."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .exceptions import WarehouseNotFound

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
