"""``rait-registry load``: an extract into a development warehouse, for the dbt loop.

dbt users build the project themselves (``cd dbt_project && dbt build``). What dbt cannot do is
the ingest: the file-level checks, the row checks and the quarantine that write ``raw.*``, the
project's sources. :func:`load` does only that, into a development warehouse
(``warehouse/dev.duckdb``, the file ``dbt_project/profiles.yml`` targets by default); dbt then
builds staging, intermediate and marts in it. Nothing is published: the published warehouse is
written only by ``refresh``, never by dbt, and :func:`load` refuses it.

The load works on a copy of the development file (its dbt models and snapshots are kept, its
``raw`` and ``quarantine`` are replaced), renamed into place when the ingest has passed: a
refused extract leaves the development warehouse as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import duckdb

from . import history
from .exceptions import UsageError
from .ingest import IngestReport, ingest
from .lock import WarehouseLock
from .warehouse import (
    DEFAULT_DEV_WAREHOUSE,
    DEFAULT_STORAGE_VERSION,
    check_warehouse_name,
    connect_read_only,
    ensure_not_held,
)

#: Schemas a load replaces (the ingest writes them; ``landing`` only while it runs).
LOADED_SCHEMAS = ("landing", "raw", "quarantine")


def is_published(path: Path) -> bool:
    """True when ``path`` is a warehouse published by ``refresh`` (it has ``history.refresh_runs``)."""
    if not path.is_file():
        return False
    con = connect_read_only(path)
    try:
        return bool(
            con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'history' and table_name = 'refresh_runs'"
            ).fetchone()[0]
        )
    finally:
        con.close()


def load(
    extract_dir: str | Path, warehouse: str | Path = DEFAULT_DEV_WAREHOUSE, tgab_positive_cutoff: float | None = None
) -> IngestReport:
    """Check ``extract_dir`` and load its accepted rows into ``raw.*`` of the development ``warehouse``.

    Parameters
    ----------
    extract_dir
        The raw extract (one file per table and ``manifest.json``).
    warehouse
        Development DuckDB file (created when missing). Not a published warehouse.
    tgab_positive_cutoff
        TgAb cut-off (IU/mL) for the TgAb-positive count; None: the declared default.

    Returns
    -------
    IngestReport
        Per-table rows read / staged / quarantined, as ``refresh`` reports them.

    Raises
    ------
    UsageError
        ``warehouse`` is a published warehouse, or named like a schema (exit code 2).
    ExtractRefused
        A file-level problem (exit code 1); the development warehouse is unchanged.
    LockHeld, WarehouseHeld
        A refresh or load is writing the file, or another process (a running ``dbt build``, a
        read-write client) has it open (exit code 3).
    """
    warehouse = check_warehouse_name(Path(warehouse).resolve())
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with WarehouseLock(warehouse):
        ensure_not_held(warehouse)
        if is_published(warehouse):
            raise UsageError(
                f"{warehouse} is a published warehouse (it has history.refresh_runs): `load` writes a development "
                "warehouse for dbt, and only `refresh` replaces a published one. Load into another file, e.g. "
                f"--warehouse {DEFAULT_DEV_WAREHOUSE}."
            )
        work = warehouse.parent / f".load-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        try:
            copy = work / warehouse.name
            history.start_build(copy, warehouse, DEFAULT_STORAGE_VERSION)
            con = duckdb.connect(str(copy))
            try:
                for schema in LOADED_SCHEMAS:
                    con.execute(f"drop schema if exists {schema} cascade")
                report = ingest(extract_dir, con, tgab_positive_cutoff=tgab_positive_cutoff)
                con.execute("checkpoint")
            finally:
                con.close()
            ensure_not_held(warehouse)
            os.replace(copy, warehouse)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return report
