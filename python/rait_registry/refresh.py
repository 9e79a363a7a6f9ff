"""Refresh: ingest -> build file -> dbt build -> checks -> atomic publish (design.md steps 1-3).

The build happens in ``<warehouse dir>/.build-<run_id>/<warehouse name>``: a new file that is
never the published one. Only when ingest, ``dbt build`` (models, snapshots, data tests and unit
tests) and the mart checks pass is it moved onto the published path with an atomic rename
(``os.replace``); a crash or kill at any moment leaves the previously published database intact
and queryable, and the next run removes the leftovers. One writer at a time
(:class:`~rait_registry.lock.WarehouseLock`); readers open the published file read-only and are
never blocked (the rename does not wait for them: they keep reading the file they opened).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from . import __version__, history, incremental, quarantine_limits
from .console import reporter
from .contract import CONTRACT_REVISION
from .dbt_runner import BuildProgress, DbtResult, require_success, run_dbt
from .ingest import IngestReport, ingest
from .lock import WarehouseLock
from .quarantine_limits import QuarantineLimits, QuarantineShares
from .warehouse import (
    DEFAULT_MAX_AGE_DAYS,
    DEFAULT_STORAGE_VERSION,
    check_storage_version,
    check_warehouse_name,
    ensure_not_held,
    held_error,
)

log = logging.getLogger(__name__)


@dataclass
class RefreshResult:
    """What one refresh did."""

    run_id: str
    warehouse: str
    status: str
    ingest: IngestReport | None = None
    dbt: DbtResult | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    mart_rows: dict[str, int] = field(default_factory=dict)
    mart_hashes: dict[str, dict] = field(default_factory=dict)
    is_unchanged: bool = False
    change_summary: dict = field(default_factory=dict)
    removed_leftovers: list[str] = field(default_factory=list)
    mart_checks: object | None = None
    warnings: list[str] = field(default_factory=list)
    #: dbt snapshots left alone: their source table has the same records as at the last published refresh
    snapshots_skipped: list[str] = field(default_factory=list)
    #: DuckDB storage format of the published file (``--storage-version``)
    storage_version: str = DEFAULT_STORAGE_VERSION
    #: The quarantine share of each table and reason with its limit (:mod:`rait_registry.quarantine_limits`)
    quarantine_shares: QuarantineShares | None = None
    #: Full or incremental build, why, and how many patients changed and were recomputed
    #: (:mod:`rait_registry.incremental`)
    build: incremental.BuildPlan | None = None


def new_run_id() -> str:
    """Sortable, unique run id: UTC timestamp plus a random suffix."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@functools.cache
def snapshot_definition() -> str:
    """sha256 (16 hex digits) of what a dbt snapshot of a source table depends on besides its
    records: the staging models, the snapshot configuration, the seeds and this package's version.
    A table's fingerprint in the history is stored with it, so a change of any of these runs
    every snapshot again."""
    from .dbt_runner import project_dir

    project = project_dir()
    digest = hashlib.sha256(__version__.encode())
    files = sorted(
        [
            *(project / "models" / "staging").glob("*"),
            *(project / "snapshots").glob("*"),
            *(project / "seeds").glob("*"),
        ]
    )
    for path in files:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def check_freshness(
    extract_dir: Path,
    warehouse: Path,
    force: bool = False,
    max_age_days: int | None = DEFAULT_MAX_AGE_DAYS,
    extracted_at: dt.date | None = None,
) -> list[str]:
    """Warnings about the extract's age; refuse an extract older than the published one.

    The extract date is that of :func:`rait_registry.ingest.resolve_extract_date` (the
    manifest's ``extracted_at``, else ``extracted_at`` given here, else the newest file's date);
    the published one is the latest ``extracted_at`` of a published refresh in
    ``history.refresh_runs``.

    Raises
    ------
    ExtractRefused
        The extract was taken before the published one (it would roll the warehouse back), and
        ``force`` is not set. The message says which dates were compared, where each came from,
        and how to go on.
    UsageError
        ``extracted_at`` is given although the manifest has its own date.
    """
    from .exceptions import ExtractRefused
    from .ingest import describe_extract_date, discover_files, read_manifest, resolve_extract_date

    extract_dir = Path(extract_dir)
    manifest, _ = read_manifest(extract_dir)
    extracted_at, source = resolve_extract_date(manifest, discover_files(extract_dir), extracted_at)
    warnings = []
    age = (dt.datetime.now(dt.UTC).date() - extracted_at).days
    if max_age_days is not None and age > max_age_days:
        warnings.append(
            f"the extract is {age} days old (extracted_at {extracted_at.isoformat()}; --max-age-days {max_age_days})."
        )
    previous = _published_extract(warehouse)
    if previous is not None and extracted_at < previous["extracted_at"]:
        this = describe_extract_date(extracted_at, source)
        that = _describe_published(previous)
        if not force:
            raise ExtractRefused(
                f"the extract is dated {this}, before the published one, dated {that}: publishing it would roll "
                "the warehouse back. If this extract is the newer one, its date is wrong: correct extracted_at in "
                "its manifest.json (or pass --extracted-at DATE for an extract without one); if the published "
                "date was wrong (e.g. taken from file times), or you mean to go back to this extract, pass --force."
            )
        warnings.append(f"--force: publishing an extract dated {this} over the published one dated {that}.")
    return warnings


def _published_extract(warehouse: Path) -> dict | None:
    """Date (and its source and run) of the latest published extract, None without one."""
    from .warehouse import connect_read_only

    if not warehouse.is_file():
        return None
    con = connect_read_only(warehouse)
    try:
        columns = {row[0] for row in con.execute("describe history.refresh_runs").fetchall()}
        source = "extracted_at_source" if "extracted_at_source" in columns else "null"
        row = con.execute(
            f"select extracted_at, {source}, run_id from history.refresh_runs "
            "where status in ('published', 'unchanged') and extracted_at is not null "
            "order by extracted_at desc, finished_at desc limit 1"
        ).fetchone()
    except duckdb.Error:
        return None  # no history (a warehouse not built by rait-registry): nothing to compare
    finally:
        con.close()
    if row is None:
        return None
    return {"extracted_at": row[0], "source": row[1], "run_id": row[2]}


def _describe_published(previous: dict) -> str:
    from .ingest import DATE_SOURCES, describe_extract_date

    if previous["source"] in DATE_SOURCES:
        text = describe_extract_date(previous["extracted_at"], previous["source"])
        return text[:-1] + f", refresh {previous['run_id']})"
    return f"{previous['extracted_at'].isoformat()} (refresh {previous['run_id']})"


def log_path(warehouse: Path) -> Path:
    """``refresh-log.jsonl`` beside the warehouse."""
    return warehouse.parent / "refresh-log.jsonl"


def _remove_leftovers(warehouse: Path) -> list[str]:
    """Delete build folders of earlier runs that crashed or were killed (we hold the lock)."""
    removed = []
    for leftover in sorted(warehouse.parent.glob(".build-*")):
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover.name)
    return removed


#: DuckDB memory limit of a refresh (its own connections and dbt's, see dbt_project/profiles.yml);
#: ``$RAIT_DUCKDB_MEMORY_LIMIT`` overrides. Above it DuckDB spills to disk beside the build file.
DEFAULT_MEMORY_LIMIT = "4GB"


def connect_build(build_file: Path) -> duckdb.DuckDBPyConnection:
    """Read-write connection to the build database, under the refresh's DuckDB memory limit."""
    limit = os.environ.get("RAIT_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
    return duckdb.connect(str(build_file), config={"memory_limit": limit})


def _check_marts(con: duckdb.DuckDBPyConnection):
    """pandera checks on the marts before publication (raises MartCheckFailed; nothing is published)."""
    from .mart_checks import validate_marts

    return validate_marts(con)


def refresh(
    extract_dir: str | Path,
    warehouse: str | Path,
    dbt_vars: dict | None = None,
    threads: int = 2,
    keep_failed_build: bool = False,
    with_unit_tests: bool = False,
    force: bool = False,
    max_age_days: int | None = DEFAULT_MAX_AGE_DAYS,
    storage_version: str = DEFAULT_STORAGE_VERSION,
    limits: QuarantineLimits | None = None,
    extracted_at: dt.date | None = None,
    full_refresh: bool = False,
) -> RefreshResult:
    """Build a new warehouse from ``extract_dir`` and publish it atomically onto ``warehouse``.

    Parameters
    ----------
    extract_dir
        The raw extract (docs/specification.md section 1).
    warehouse
        Published DuckDB file to replace.
    dbt_vars
        Study-parameter overrides (dbt vars).
    threads
        dbt threads.
    keep_failed_build
        Keep the build folder of a failed run for inspection (it is removed by the next run).
    with_unit_tests
        Also run the dbt unit tests (they test the SQL rules on fixed inputs, so they do not
        depend on the extract; CI runs them).
    force
        Publish an extract taken before the published one (refused otherwise).
    max_age_days
        Warn (``RefreshResult.warnings``) when the extract is older than this; None: never.
    storage_version
        DuckDB storage format of the published file: a DuckDB release (``v1.1.0``, the default:
        DuckDB 1.1 and later open it) or ``latest`` (only the running DuckDB's version and later).
        A published file in another format is converted by this refresh.
    limits
        Limits of the quarantine shares (default: 5% of every table's rows); a share over its
        limit stops the refresh before the build.
    extracted_at
        The extract date of an extract without a manifest date (``--extracted-at``).
    full_refresh
        Rebuild every patient (``--full-refresh``) even when an incremental build is possible
        (:func:`rait_registry.incremental.plan_build`: only the patients whose accepted records
        changed are recomputed then).

    Progress goes to :func:`rait_registry.console.reporter`, one phase per step (prepare,
    ingest, row checks, quarantine limits, dbt build, mart checks, history, publish).

    Raises
    ------
    LockHeld
        Another refresh is running (exit code 3).
    WarehouseHeld
        Another process has the published file open read-write (exit code 3), found before the
        work starts or just before publishing; nothing is published.
    ExtractRefused, QuarantineLimitExceeded, BuildFailed, MartCheckFailed
        Data problems (exit code 1); the published warehouse is unchanged.
    """
    warehouse = check_warehouse_name(Path(warehouse).resolve())
    check_storage_version(storage_version)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    started_at = dt.datetime.now(dt.UTC)
    result = RefreshResult(run_id=run_id, warehouse=str(warehouse), status="running", storage_version=storage_version)
    progress = reporter()
    first_phase = len(progress.phases)
    with WarehouseLock(warehouse):
        result.removed_leftovers = _remove_leftovers(warehouse)
        build_dir = warehouse.parent / f".build-{run_id}"
        build_dir.mkdir()
        build_file = build_dir / warehouse.name
        published = False
        error: BaseException | None = None
        try:
            started = time.perf_counter()
            with progress.phase("prepare") as phase:
                ensure_not_held(warehouse)  # a read-write holder would lose its writes, and blocks the reads below
                result.warnings = check_freshness(
                    Path(extract_dir), warehouse, force=force, max_age_days=max_age_days, extracted_at=extracted_at
                )
                # the history and the snapshots come forward with a copy of the published file
                carried = history.start_build(build_file, warehouse, storage_version)
                phase.update(published_copy="yes" if carried else "none (first refresh)")
            con = connect_build(build_file)
            try:
                result.build = incremental.plan_build(con, dbt_vars, full_refresh=full_refresh)
                history.prepare_build(con, keep=incremental.INCREMENTAL_SCHEMAS if result.build.is_incremental else ())
                cutoff = (dbt_vars or {}).get("tgab_positive_cutoff")
                result.ingest = ingest(
                    extract_dir,
                    con,
                    tgab_positive_cutoff=None if cutoff is None else float(cutoff),
                    extracted_at=extracted_at,
                )
                with progress.phase("quarantine limits") as phase:
                    result.quarantine_shares = quarantine_limits.measure(
                        con, {name: load.rows_read for name, load in result.ingest.tables.items()}, limits
                    )
                    phase.update(
                        checked=len(result.quarantine_shares.checks),
                        over_limit=len(result.quarantine_shares.failures),
                    )
                    quarantine_limits.check(result.quarantine_shares)
                with progress.phase("changed patients") as phase:
                    incremental.store_fingerprints(con, result.build)
                    phase.update(
                        refresh=result.build.kind,
                        **({"full_because": result.build.reason} if result.build.reason else {}),
                        changed=result.build.n_patients_changed,
                        recomputed=result.build.n_patients_recomputed,
                    )
                result.snapshots_skipped = history.unchanged_snapshots(con, result.ingest, snapshot_definition())
            finally:
                con.close()
            result.timings_s["ingest"] = time.perf_counter() - started

            started = time.perf_counter()
            with progress.phase("dbt build", unit="nodes") as phase:
                if result.snapshots_skipped:
                    phase.update(snapshots_unchanged=len(result.snapshots_skipped))
                result.dbt = require_success(
                    run_dbt(
                        "build",
                        build_file,
                        work_dir=warehouse.parent / ".dbt",
                        dbt_vars=result.build.dbt_vars(dbt_vars),
                        threads=threads,
                        # dbt unit tests check the SQL, not the data: they run in `make test`/CI
                        # (tests/test_dbt_unit.py) and on request, not on every scheduled refresh.
                        extra_args=([] if with_unit_tests else ["--exclude-resource-type", "unit_test"])
                        + (["--exclude", *result.snapshots_skipped] if result.snapshots_skipped else []),
                        on_event=BuildProgress(
                            phase,
                            excluded={
                                "snapshot": len(result.snapshots_skipped),
                                **({} if with_unit_tests else {"unit_test": None}),
                            },
                        ),
                    )
                )
            result.timings_s["dbt_build"] = time.perf_counter() - started

            con = connect_build(build_file)
            try:
                started = time.perf_counter()
                with progress.phase("mart checks"):
                    result.mart_checks = _check_marts(con)
                result.timings_s["mart_checks"] = time.perf_counter() - started

                started = time.perf_counter()
                with progress.phase("history") as phase:
                    result.mart_hashes = history.mart_hashes(con)
                    result.mart_rows = {name: value["rows"] for name, value in result.mart_hashes.items()}
                    has_previous = history.attach_previous(con, warehouse)
                    before = history.previous_hashes(con, has_previous)
                    result.is_unchanged = before == result.mart_hashes
                    result.change_summary = (
                        history.change_summary(con, has_previous, _this_refresh(result, dbt_vars))
                        if has_previous and before
                        else {"first_refresh": True}
                    )
                    if has_previous:
                        con.execute(f"detach {history.PREVIOUS}")
                    history.record_run(
                        con,
                        _history_row(
                            result, started_at, dbt_vars, status="unchanged" if result.is_unchanged else "published"
                        ),
                    )
                    con.execute("checkpoint")
                    phase.update(marts=len(result.mart_rows), unchanged="yes" if result.is_unchanged else "no")
                result.timings_s["history"] = time.perf_counter() - started
            finally:
                con.close()

            started = time.perf_counter()
            with progress.phase("publish"):
                ensure_not_held(warehouse)  # again: a holder may have opened it during the build
                os.replace(build_file, warehouse)
                published = True
            result.timings_s["publish"] = time.perf_counter() - started
            result.status = "unchanged" if result.is_unchanged else "published"
            return result
        except duckdb.IOException as exc:
            # the published file opened read-write by another process while the refresh read it
            error = held_error(exc, warehouse) or exc
            result.status = "failed"
            if error is exc:
                raise
            raise error from None
        except BaseException as exc:
            error = exc
            result.status = "failed"
            raise
        finally:
            if published or not keep_failed_build:
                shutil.rmtree(build_dir, ignore_errors=True)
            row = _history_row(result, started_at, dbt_vars, status=result.status)
            if error is not None:
                row["error"] = f"{type(error).__name__}: {error}"
            row["phases"] = [phase.to_dict() for phase in progress.phases[first_phase:]]
            history.append_log(log_path(warehouse), row)


def _this_refresh(result: RefreshResult, dbt_vars: dict | None) -> dict:
    """This refresh as :func:`rait_registry.history.attribute_changes` compares it with the last one."""
    report = result.ingest
    return {
        "contract_revision": CONTRACT_REVISION,
        "dbt_vars": dbt_vars or {},
        "fingerprints": {name: t.fingerprint for name, t in (report.tables.items() if report else [])},
        "manifest_sha256": report.manifest_sha256 if report else None,
        "package_version": __version__,
    }


def _history_row(result: RefreshResult, started_at: dt.datetime, dbt_vars: dict | None, status: str) -> dict:
    report = result.ingest
    return {
        "run_id": result.run_id,
        "extract_id": report.extract_id if report else None,
        "extract_dir": report.extract_dir if report else None,
        "manifest_sha256": report.manifest_sha256 if report else None,
        "extracted_at": report.extracted_at if report else None,
        "started_at": started_at.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "status": status,
        "is_unchanged": result.is_unchanged,
        "table_counts": {
            name: {
                "read": t.rows_read,
                "staged": t.rows_staged,
                "quarantined": t.rows_quarantined,
                "fingerprint": history.snapshot_fingerprint(t.fingerprint, snapshot_definition()),
            }
            for name, t in (report.tables.items() if report else [])
        },
        "mart_rows": result.mart_rows,
        "mart_hashes": {name: value["md5"] for name, value in result.mart_hashes.items()},
        "dbt_invocation_id": result.dbt.invocation_id if result.dbt else None,
        "dbt_vars": dbt_vars or {},
        "change_summary": result.change_summary,
        "package_version": __version__,
        "storage_version": result.storage_version,
        "quarantine_shares": result.quarantine_shares.to_dict() if result.quarantine_shares else None,
        "extracted_at_source": report.extracted_at_source if report else None,
        "contract_revision": CONTRACT_REVISION,
        "refresh_kind": result.build.kind if result.build else None,
        "full_refresh_reason": result.build.reason if result.build else None,
        "n_patients_changed": result.build.n_patients_changed if result.build else None,
        "n_patients_recomputed": result.build.n_patients_recomputed if result.build else None,
        "dbt_project_sha256": incremental.dbt_project_digest(),
    }
