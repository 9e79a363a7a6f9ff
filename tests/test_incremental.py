"""Incremental refreshes are never different from a full rebuild (docs/incremental.md).

A synthetic registry (200 patients) goes through successive extracts, each a seeded random change
set: edited lab results, deleted scans, new patients, rows inserted above every other row (the
quarantine's ``source_row`` of later rows moves), a follow-up dated after the extract (the patient
is quarantined) that a later ``extracted_at`` makes valid, a follow-up with an invalid value, a key
collision across two patients, a centre removed (the stratum 'unknown') and later set, and a
changed study parameter. Each extract is refreshed onto a warehouse the default way (incremental
when possible) and, with ``--full-refresh``, onto a second warehouse. After each step every table
of the marts schema (strategy_evidence_monthly and the baseline, centre and horizon columns
included), the quarantine and the snapshots (validity timestamps aside) are equal cell for cell;
the step ran incrementally exactly when it should; and the patients it recomputed are exactly
those whose accepted records changed, found here independently from the full build's raw tables.
The incremental results are also compared with the oracle and, for the golden edge extract, with
the hand-worked marts.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from rait_registry.contract import TABLE_ORDER, TABLES
from rait_registry.warehouse import MARTS

from .conftest import DATA, read_published_marts
from .oracle import compare_marts, derive_marts, load_extract, read_marts

SNAPSHOT_TIMES = ["dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to"]
EXTRACTED_AT = dt.date(2024, 6, 30)


def read_extract(folder: Path) -> dict[str, pd.DataFrame]:
    return {
        table: pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False, na_filter=False)
        for table in TABLE_ORDER
    }


def write_extract(folder: Path, frames: dict[str, pd.DataFrame], extracted_at: dt.date) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for table, frame in frames.items():
        frame.to_csv(folder / f"{table}.csv", index=False)
    manifest = {
        "extract_id": folder.name,
        "extracted_at": extracted_at.isoformat(),
        "files": {f"{table}.csv": {"rows": len(frame)} for table, frame in frames.items()},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


# --- change sets ---------------------------------------------------------------------------------


def edit_labs(frames, rng, n=6):
    labs = frames["lab_results"]
    rows = rng.choice(labs.index[(labs["analyte"] == "Tg") & (labs["value"] != "")], size=n, replace=False)
    labs.loc[rows, "value"] = [f"{float(v) * 1.37 + 0.5:.3f}" for v in labs.loc[rows, "value"]]


def delete_scans(frames, rng, n=3):
    scans = frames["imaging_findings"]
    patients = rng.choice(scans.loc[scans["modality"] == "RxWBS", "patient_id"].unique(), size=n, replace=False)
    frames["imaging_findings"] = scans[~(scans["patient_id"].isin(patients) & (scans["modality"] == "RxWBS"))]


def add_patients(frames, rng, suffix, n=3):
    """Copies of existing patients under new ids (every key and reference renamed)."""
    chosen = rng.choice(frames["patients"]["patient_id"], size=n, replace=False)
    for table in TABLE_ORDER:
        frame = frames[table]
        copy = frame[frame["patient_id"].isin(chosen)].copy()
        for column in {"patient_id", TABLES[table].key, *TABLES[table].references}:
            copy[column] = copy[column].where(copy[column] == "", copy[column] + suffix)
        frames[table] = pd.concat([frame, copy], ignore_index=True)


def insert_rows_on_top(frames, rng, suffix):
    """A new lab result of a random patient inserted as the first data row: every later row's
    source_row moves by one."""
    labs = frames["lab_results"]
    row = labs.iloc[[int(rng.integers(len(labs)))]].copy()
    row["lab_id"] = row["lab_id"] + suffix
    row["sample_date"] = (pd.to_datetime(row["sample_date"]) + pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d")
    frames["lab_results"] = pd.concat([row, labs], ignore_index=True)


def set_follow_up(frames, patient, column, value):
    follow_up = frames["follow_up"]
    follow_up.loc[follow_up["patient_id"] == patient, column] = value


def set_centre(frames, patient, centre):
    """A patient's centre; '' is a missing centre (the stratum 'unknown' in the marts)."""
    patients = frames["patients"]
    patients.loc[patients["patient_id"] == patient, "center_id"] = centre


def collide_keys(frames, rng):
    """A lab result of one patient given the lab_id of another patient's (different) result."""
    labs = frames["lab_results"]
    first, second = rng.choice(labs.index, size=2, replace=False)
    while labs.at[first, "patient_id"] == labs.at[second, "patient_id"]:
        second = int(rng.integers(len(labs)))
    original = labs.at[second, "lab_id"]
    labs.at[second, "lab_id"] = labs.at[first, "lab_id"]
    return second, original


# --- comparison ----------------------------------------------------------------------------------


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), na_position="first", ignore_index=True)


def published_state(warehouse: Path) -> dict[str, pd.DataFrame]:
    """Every table of the marts schema, the quarantine and the snapshots (validity timestamps
    replaced by is_current)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        marts = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        state = {f"marts.{mart}": con.execute(f"select * from marts.{mart}").df() for mart in marts}
        state["quarantine"] = con.execute("select * from quarantine.rejected_rows").df()
        for table in TABLE_ORDER:
            snapshot = con.execute(
                f"select * exclude ({', '.join(SNAPSHOT_TIMES)}), dbt_valid_to is null as is_current "
                f"from snapshots.{table}_history"
            ).df()
            state[f"snapshots.{table}_history"] = snapshot
    finally:
        con.close()
    return {name: _sorted(frame) for name, frame in state.items()}


#: Marts and columns added after the incremental models were written, each derived per patient: the
#: comparison must hold them (a mart missing from the published warehouse would go unnoticed).
NEWER_MART_COLUMNS = {
    "marts.patients": {"center_id", "is_eligible_at_baseline", "baseline_exclusion_reason"},
    "marts.analysis_cohort": {"center_id"},
    "marts.rait_cycles": {"response_at_horizon"},
    "marts.strategy_evidence_monthly": {"month_number", "delta_tg", "second_rait_in_month"},
}


def assert_same_state(incremental: Path, full: Path, step: str) -> None:
    left, right = published_state(incremental), published_state(full)
    assert left.keys() == right.keys()
    assert {f"marts.{mart}" for mart in MARTS} | NEWER_MART_COLUMNS.keys() <= left.keys()
    for name, columns in NEWER_MART_COLUMNS.items():
        assert columns <= set(left[name].columns), f"{step}: {name} lacks {columns - set(left[name].columns)}"
        assert not left[name].empty, f"{step}: {name} is empty"
    for name in left:
        assert len(left[name]) == len(right[name]), f"{step}: {name} has {len(left[name])} rows, not {len(right[name])}"
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=False, rtol=1e-12, obj=f"{step}: {name}")


def accepted_records(warehouse: Path) -> dict[str, list]:
    """Per patient, the sorted accepted records of every raw table (source_row left out)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        records: dict[str, list] = {}
        for table in TABLE_ORDER:
            frame = con.execute(f"select * exclude (source_row) from raw.{table}").df().astype(str)
            for patient, rows in frame.groupby("patient_id"):
                records.setdefault(patient, []).extend(f"{table}|" + "|".join(row) for row in rows.to_numpy())
    finally:
        con.close()
    return {patient: sorted(rows) for patient, rows in records.items()}


def changed_between(before: dict, after: dict) -> set[str]:
    return {patient for patient in before.keys() | after.keys() if before.get(patient) != after.get(patient)}


def last_run(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        frame = con.execute("select * from history.refresh_runs order by finished_at desc limit 1").df()
        changed = {row[0] for row in con.execute("select patient_id from history.changed_patients").fetchall()}
    finally:
        con.close()
    return {**frame.iloc[0].to_dict(), "changed_patients": changed}


# --- the test ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_extract(tmp_path_factory) -> Path:
    from rait_registry.synth import write_extract as synth_extract

    folder = tmp_path_factory.mktemp("incremental") / "base"
    synth_extract(folder, n_patients=200, seed=11, fmt="csv")
    return folder


@pytest.mark.slow
def test_incremental_refreshes_equal_full_rebuilds(tmp_path, base_extract):
    from rait_registry.refresh import refresh

    rng = np.random.default_rng(2026)
    frames = read_extract(base_extract)
    incremental, full = tmp_path / "incremental" / "registry.duckdb", tmp_path / "full" / "registry.duckdb"

    first = refresh(write_extract(tmp_path / "extract0", frames, EXTRACTED_AT), incremental, max_age_days=None)
    assert (first.build.kind, first.build.reason) == ("full", "first refresh")
    full.parent.mkdir()
    shutil.copy(incremental, full)  # the first refresh is a full build on both sides
    records = accepted_records(full)

    patients = list(frames["patients"]["patient_id"])
    late, invalid, moved = patients[5], patients[17], patients[23]

    def step1(frames):
        edit_labs(frames, rng)
        delete_scans(frames, rng)
        add_patients(frames, rng, "N1")
        insert_rows_on_top(frames, rng, "T1")
        set_follow_up(frames, late, "last_contact_date", (EXTRACTED_AT + dt.timedelta(days=10)).isoformat())
        set_follow_up(frames, invalid, "vital_status", "lost")
        set_centre(frames, moved, "")
        return EXTRACTED_AT, None

    collision = {}

    def step2(frames):
        edit_labs(frames, rng)
        add_patients(frames, rng, "N2", n=2)
        insert_rows_on_top(frames, rng, "T2")
        collision["row"], collision["lab_id"] = collide_keys(frames, rng)
        # the extract 30 days later: the follow-up dated after the first extract is valid now
        return EXTRACTED_AT + dt.timedelta(days=30), None

    def step3(frames):
        edit_labs(frames, rng)
        delete_scans(frames, rng, n=2)
        set_follow_up(frames, invalid, "vital_status", "alive")
        frames["lab_results"].at[collision["row"], "lab_id"] = collision["lab_id"]
        set_centre(frames, moved, "C99")
        return EXTRACTED_AT + dt.timedelta(days=31), None

    def step4(frames):
        edit_labs(frames, rng)
        return EXTRACTED_AT + dt.timedelta(days=32), {"tg_response_threshold": 0.3}

    expected_kinds = {1: "incremental", 2: "incremental", 3: "incremental", 4: "full"}
    for number, change in enumerate([step1, step2, step3, step4], start=1):
        extracted_at, dbt_vars = change(frames)
        extract = write_extract(tmp_path / f"extract{number}", frames, extracted_at)
        result = refresh(extract, incremental, dbt_vars=dbt_vars, max_age_days=None)
        baseline = refresh(extract, full, dbt_vars=dbt_vars, max_age_days=None, full_refresh=True)
        step = f"step {number}"
        assert (baseline.build.kind, baseline.build.reason) == ("full", "--full-refresh")
        assert result.build.kind == expected_kinds[number], f"{step}: {result.build.reason}"
        assert_same_state(incremental, full, step)

        now = accepted_records(full)
        changed = changed_between(records, now)
        records = now
        run = last_run(incremental)
        assert run["refresh_kind"] == result.build.kind
        assert run["changed_patients"] == changed, step
        if result.build.kind == "incremental":
            assert run["full_refresh_reason"] is None
            assert run["n_patients_recomputed"] == len(changed) == result.build.n_patients_recomputed
        else:
            assert "study parameters" in run["full_refresh_reason"]
            assert run["n_patients_recomputed"] == len(now)
        if number == 1:
            assert {late, invalid} <= changed and not {late, invalid} & now.keys()  # both quarantined
            assert any(p.endswith("N1") for p in changed)
            assert moved in changed
        if number == 2:
            assert late in changed and late in now  # valid under the later extracted_at
        if number == 3:
            # the extract is clean again: the incremental marts equal the oracle's reading of it
            quarantined = published_state(incremental)["quarantine"]
            assert quarantined.empty, quarantined[["source_table", "reason_code"]].value_counts()
            differences = compare_marts(read_published_marts(incremental), derive_marts(load_extract(extract)))
            assert not differences, "\n".join(differences[:50])


def altered_edge_extract(folder: Path) -> tuple[Path, Path, set[str]]:
    """The golden edge extract and a copy in which every eighth patient has no lab results and no
    scans: (altered extract, edge extract, the altered patients)."""
    frames = read_extract(DATA / "edge_extract")
    manifest = json.loads((DATA / "edge_extract" / "manifest.json").read_text())
    extracted_at = dt.date.fromisoformat(manifest["extracted_at"][:10])
    altered = {table: frame.copy() for table, frame in frames.items()}
    patients = set(list(altered["patients"]["patient_id"])[::8])
    for table in ("lab_results", "imaging_findings"):
        altered[table] = altered[table][~altered[table]["patient_id"].isin(patients)]
    return (
        write_extract(folder / "altered", altered, extracted_at),
        write_extract(folder / "edge", frames, extracted_at),
        patients,
    )


def test_golden_edge_extract_built_incrementally(tmp_path):
    """The edge extract refreshed incrementally onto a warehouse of an altered copy of it equals
    the hand-worked marts."""
    from rait_registry.refresh import refresh

    altered, edge, _ = altered_edge_extract(tmp_path)
    patients = read_extract(edge)["patients"]["patient_id"]
    warehouse = tmp_path / "wh" / "registry.duckdb"
    refresh(altered, warehouse, max_age_days=None)
    result = refresh(edge, warehouse, max_age_days=None)
    assert result.build.kind == "incremental"
    assert 0 < result.build.n_patients_recomputed < len(patients)
    differences = compare_marts(read_published_marts(warehouse), read_marts(DATA / "edge_expected"))
    assert not differences, "\n".join(differences[:50])


def _published_history(con, **overrides):
    from rait_registry import __version__
    from rait_registry.contract import CONTRACT_REVISION
    from rait_registry.history import REFRESH_RUNS_DDL
    from rait_registry.incremental import dbt_project_digest

    con.execute("create schema history")
    con.execute(REFRESH_RUNS_DDL)
    con.execute("create table history.patient_fingerprints (patient_id varchar)")
    con.execute("create schema marts")
    con.execute("create table marts.patients (patient_id varchar)")
    row = {
        "run_id": "r1",
        "status": "published",
        "finished_at": "2026-01-01T00:00:00+00:00",
        "dbt_project_sha256": dbt_project_digest(),
        "dbt_vars": "{}",
        "package_version": __version__,
        "contract_revision": CONTRACT_REVISION,
        **overrides,
    }
    con.execute(
        f"insert into history.refresh_runs ({', '.join(row)}) values ({', '.join('?' for _ in row)})",
        list(row.values()),
    )


@pytest.mark.parametrize(
    ("overrides", "dbt_vars", "full_refresh", "reason"),
    [
        ({}, None, False, None),
        ({}, None, True, "--full-refresh"),
        ({"dbt_vars": '{"tg_response_threshold": 0.3}'}, None, False, "study parameters"),
        ({}, {"tg_response_threshold": 0.3}, False, "study parameters"),
        ({"dbt_project_sha256": "0" * 16}, None, False, "dbt project changed"),
        ({"package_version": "0.0.1"}, None, False, "package version changed"),
        ({"contract_revision": 1}, None, False, "contract revision changed"),
        ({"status": "failed"}, None, False, "first refresh"),
    ],
)
def test_plan_build_says_why_a_build_is_full(overrides, dbt_vars, full_refresh, reason):
    from rait_registry.incremental import plan_build

    con = duckdb.connect()
    _published_history(con, **overrides)
    plan = plan_build(con, dbt_vars, full_refresh=full_refresh)
    if reason is None:
        assert (plan.kind, plan.reason) == ("incremental", None)
        assert plan.dbt_vars({"cr_tg_max": 2}) == {"cr_tg_max": 2, "refresh_mode": "incremental"}
    else:
        assert plan.kind == "full" and reason in plan.reason
        assert plan.dbt_vars(dbt_vars) == (dbt_vars or {})


def test_plan_build_is_full_without_fingerprints_or_history():
    from rait_registry.incremental import plan_build

    con = duckdb.connect()
    assert plan_build(con, None).reason == "first refresh"
    _published_history(con)
    con.execute("drop table history.patient_fingerprints")
    assert "no patient fingerprints" in plan_build(con, None).reason
