"""Incremental refreshes: which patients changed, and whether a refresh may build incrementally.

docs/incremental.md describes the design. In short: every derivation rule of the dbt project
depends on one patient's accepted records only (keys and references, the table-wide rules, are
decided by the row checks of ingest, which always run on the whole extract). So a patient whose
accepted records (the typed rows of ``raw.*`` without ``source_row``) are those of the last
published refresh has the same intermediate and mart rows, and the same snapshot records, as
then; only the other patients are recomputed.

- :func:`store_fingerprints` computes, after the row checks, one order-independent fingerprint per
  patient and table (row count and two sums of a 64-bit ``hash()`` of each accepted record) and
  compares them with those the published warehouse keeps in ``history.patient_fingerprints``:
  the patients whose fingerprint differs in any table, or who are new or gone, are written to
  ``history.changed_patients``, which dbt reads (``dbt_project/macros/incremental.sql``).
  Table-wide effects need no special case, because they show in the accepted records: a key
  collision or a reference to another patient's row quarantines rows of the patients it
  reaches; a later ``extracted_at`` accepts a formerly future-dated row. The quarantine itself
  is rebuilt whole by every refresh, so a ``source_row`` that moves (rows inserted above) is
  right without recomputing anyone.
- :func:`plan_build` decides, before anything is loaded, whether the build may be incremental: a
  first refresh, ``--full-refresh``, another dbt project (models, macros, seeds, snapshots,
  tests), other study parameters, another package version or contract revision, or a published
  warehouse without patient fingerprints make it a full build, with the reason recorded.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

import duckdb

from . import __version__
from .contract import CONTRACT_REVISION, TABLE_ORDER, TABLES
from .history import REVISION_BEFORE_RECORDING

#: The refresh kinds recorded in ``history.refresh_runs.refresh_kind``.
FULL, INCREMENTAL = "full", "incremental"

#: Schemas an incremental build keeps from the published warehouse besides the history and the
#: snapshots: the incremental models, recomputed for the changed patients only.
INCREMENTAL_SCHEMAS = ("intermediate", "marts")

FINGERPRINTS = "history.patient_fingerprints"
CHANGED = "history.changed_patients"

#: The dbt var that makes a ``dbt build`` incremental (``dbt_project/macros/incremental.sql``).
REFRESH_MODE_VAR = "refresh_mode"

#: The folders and files of the dbt project a build depends on (:func:`dbt_project_digest`).
PROJECT_PARTS = ("models", "macros", "seeds", "snapshots", "tests", "dbt_project.yml")


@functools.cache
def dbt_project_digest() -> str:
    """sha256 (16 hex digits) of the dbt project's models, macros, seeds, snapshots, tests and
    ``dbt_project.yml``: a refresh whose digest differs from the published one's builds in full."""
    from .dbt_runner import project_dir

    project = project_dir()
    digest = hashlib.sha256()
    files = []
    for part in PROJECT_PARTS:
        path = project / part
        files.extend([path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()])
    for path in sorted(files):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass
class BuildPlan:
    """The kind of build a refresh runs, and why."""

    kind: str
    #: Why the build is full (None for an incremental build).
    reason: str | None = None
    #: Patients whose accepted records differ from the published refresh's (new and gone included).
    n_patients_changed: int | None = None
    #: Patients whose intermediate and mart rows were computed by this build.
    n_patients_recomputed: int | None = None

    @property
    def is_incremental(self) -> bool:
        return self.kind == INCREMENTAL

    def dbt_vars(self, dbt_vars: dict | None) -> dict:
        """The vars of the ``dbt build``: the study parameters and, for an incremental build, the mode."""
        return {**(dbt_vars or {}), **({REFRESH_MODE_VAR: INCREMENTAL} if self.is_incremental else {})}


def _normalised(value) -> object:
    return json.loads(json.dumps(value or {}, sort_keys=True, default=str))


def plan_build(con: duckdb.DuckDBPyConnection, dbt_vars: dict | None, full_refresh: bool = False) -> BuildPlan:
    """Full or incremental, decided on the build file as copied from the published warehouse
    (before :func:`rait_registry.history.prepare_build` drops what a full build does not keep).

    Incremental only when the published warehouse has marts and patient fingerprints, and its
    last published refresh ran the same dbt project, study parameters, package version and
    contract revision as this one.
    """
    if full_refresh:
        return BuildPlan(FULL, "--full-refresh")
    tables = {
        (schema, name)
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = current_database()"
        ).fetchall()
    }
    if ("history", "refresh_runs") not in tables:
        return BuildPlan(FULL, "first refresh")
    columns = {row[0] for row in con.execute("describe history.refresh_runs").fetchall()}
    if "dbt_project_sha256" not in columns:
        return BuildPlan(FULL, "the published warehouse was built before incremental refreshes")
    wanted = ("dbt_project_sha256", "dbt_vars", "package_version", "contract_revision")
    row = con.execute(
        f"select {', '.join(c if c in columns else 'null' for c in wanted)} from history.refresh_runs "
        "where status in ('published', 'unchanged') order by finished_at desc limit 1"
    ).fetchone()
    if row is None:
        return BuildPlan(FULL, "first refresh")
    if ("history", "patient_fingerprints") not in tables or not any(schema == "marts" for schema, _ in tables):
        return BuildPlan(FULL, "the published warehouse has no patient fingerprints or marts")
    project, previous_vars, version, revision = row
    if project != dbt_project_digest():
        return BuildPlan(FULL, "the dbt project changed (models, macros, seeds, snapshots or tests)")
    if _normalised(json.loads(previous_vars) if previous_vars else {}) != _normalised(dbt_vars):
        return BuildPlan(FULL, "the study parameters (dbt vars) changed")
    if version != __version__:
        return BuildPlan(FULL, f"the package version changed ({version} -> {__version__})")
    if revision is None:  # a history written before the revision was recorded: revision 1
        revision = REVISION_BEFORE_RECORDING
    if revision != CONTRACT_REVISION:
        return BuildPlan(FULL, f"the contract revision changed ({revision} -> {CONTRACT_REVISION})")
    return BuildPlan(INCREMENTAL)


def _fingerprint_select(table: str) -> str:
    columns = ", ".join(f'"{c}"' for c in TABLES[table].column_names)
    record = f"row({columns})"
    return (
        f"select '{table}' as source_table, patient_id, count(*) as n_rows, "
        f"sum(hash({record})::hugeint) as hash_sum, sum(hash({record}, 'rait-registry')::hugeint) as hash_sum_2 "
        f'from raw."{table}" group by patient_id'
    )


def store_fingerprints(con: duckdb.DuckDBPyConnection, plan: BuildPlan) -> BuildPlan:
    """Fingerprint every patient's accepted records per table, write the patients whose
    fingerprints differ from the published ones to ``history.changed_patients`` and keep this
    refresh's fingerprints in ``history.patient_fingerprints``; returns ``plan`` with the counts.

    Runs after the row checks (``raw.*`` holds the accepted rows). A patient is one
    ``patient_id``; a record's fingerprint leaves ``source_row`` out (a row moving within its
    file changes nothing derived from it). Without published fingerprints every patient counts
    as changed.
    """
    con.execute(
        "create or replace temp table _patient_fingerprints as "
        + "\nunion all\n".join(_fingerprint_select(table) for table in TABLE_ORDER)
    )
    previous = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'history' "
        "and table_name = 'patient_fingerprints' and table_catalog = current_database()"
    ).fetchone()[0]
    before = FINGERPRINTS if previous else "(select * from _patient_fingerprints where false)"
    con.execute(
        f"""
        create or replace table {CHANGED} as
        select distinct coalesce(now.patient_id, before.patient_id) as patient_id
        from _patient_fingerprints as now
        full outer join {before} as before
            on now.source_table = before.source_table and now.patient_id = before.patient_id
        where now.patient_id is null or before.patient_id is null
           or now.n_rows <> before.n_rows or now.hash_sum <> before.hash_sum or now.hash_sum_2 <> before.hash_sum_2
        """
    )
    con.execute(f"create or replace table {FINGERPRINTS} as select * from _patient_fingerprints")
    con.execute("drop table _patient_fingerprints")
    plan.n_patients_changed = con.execute(f"select count(*) from {CHANGED}").fetchone()[0]
    if plan.is_incremental:
        plan.n_patients_recomputed = plan.n_patients_changed
    else:
        plan.n_patients_recomputed = con.execute("select count(distinct patient_id) from raw.patients").fetchone()[0]
    return plan
