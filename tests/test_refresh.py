"""Scheduled refreshes that are safe: lock, atomic publish, idempotence, history, change summary."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from rait_registry.lock import WarehouseLock

from .conftest import BIN, run_cli


def _history(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select run_id, status, is_unchanged from history.refresh_runs order by started_at"
        ).fetchall()
    finally:
        con.close()


def _snapshots_run(warehouse: Path) -> set[str]:
    """The dbt snapshots the last refresh of ``warehouse`` ran (from dbt's run_results.json)."""
    results = json.loads((warehouse.parent / ".dbt" / "dbt-target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("snapshot.")}


def test_same_extract_twice_is_unchanged_and_history_is_carried(published_copy, demo_extract):
    before = _history(published_copy)
    assert len(before) == 1 and before[0][1] == "published"
    proc = run_cli("refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy), check=True)
    assert "identical to the last published refresh" in proc.stdout
    after = _history(published_copy)
    assert after[0] == before[0]
    assert after[1][1:] == ("unchanged", True)
    con = duckdb.connect(str(published_copy), read_only=True)
    hashes = con.execute("select mart_hashes from history.refresh_runs order by started_at").fetchall()
    assert hashes[0] == hashes[1]
    snapshot_rows = con.execute("select count(*) from snapshots.follow_up_history").fetchone()[0]
    staged = con.execute("select count(*) from staging.follow_up").fetchone()[0]
    assert snapshot_rows == staged  # nothing changed: no new snapshot versions
    con.close()
    # every source table has the records of the last refresh: no snapshot was even run
    assert _snapshots_run(published_copy) == set()
    log = [json.loads(line) for line in (published_copy.parent / "refresh-log.jsonl").read_text().splitlines()]
    assert [row["status"] for row in log] == ["unchanged"]


def test_change_summary_reports_a_new_progression_event(published_copy, demo_extract, demo_con, tmp_path):
    patient_id, last_contact = demo_con.execute(
        """
        select cohort.patient_id, follow_up.last_contact_date
        from marts.analysis_cohort as cohort
        join staging.follow_up as follow_up using (patient_id)
        where cohort.pfs_event = 0
        order by cohort.follow_up_months desc, cohort.patient_id
        limit 1
        """
    ).fetchone()
    extract = tmp_path / "extract"
    shutil.copytree(demo_extract, extract)
    (extract / "manifest.json").unlink()
    findings = extract / "imaging_findings.csv"
    with open(findings, newline="") as handle:
        header = next(csv.reader(handle))
    row = dict.fromkeys(header, "")
    row.update(
        finding_id="FZZZ-new-lesion",
        patient_id=patient_id,
        study_date=(last_contact - dt.timedelta(days=1)).isoformat(),
        modality="CT",
        site="lung",
        status="new",
        max_lesion_mm="12",
        confirmation="imaging",
    )
    with open(findings, "a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=header, lineterminator="\n").writerow(row)
    # and, for the snapshots, one TSH result corrected and another withdrawn
    labs = extract / "lab_results.csv"
    with open(labs, newline="") as handle:
        reader = csv.DictReader(handle)
        lab_header, lab_rows = reader.fieldnames, list(reader)
    tsh = [row for row in lab_rows if row["analyte"] == "TSH"]
    corrected, withdrawn = tsh[0]["lab_id"], tsh[1]["lab_id"]
    tsh[0]["value"] = str(float(tsh[0]["value"]) + 1.0)
    lab_rows = [row for row in lab_rows if row["lab_id"] != withdrawn]
    with open(labs, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=lab_header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(lab_rows)
    run_cli("refresh", "--extract", str(extract), "--warehouse", str(published_copy), check=True)
    con = duckdb.connect(str(published_copy), read_only=True)
    status, summary = con.execute(
        "select status, change_summary from history.refresh_runs order by started_at desc limit 1"
    ).fetchone()
    versions = con.execute(
        """select lab_id, count(*), count(*) filter (where dbt_valid_to is null)
           from snapshots.lab_results_history group by lab_id"""
    ).fetchall()
    new_finding = con.execute(
        "select count(*) from snapshots.imaging_findings_history where finding_id = 'FZZZ-new-lesion' and dbt_valid_to is null"
    ).fetchone()[0]
    con.close()
    # only the snapshots of the two tables that changed ran
    assert _snapshots_run(published_copy) == {"lab_results_history", "imaging_findings_history"}
    by_lab = {lab_id: (n, current) for lab_id, n, current in versions}
    assert by_lab.pop(corrected) == (2, 1)  # the old version closed, the corrected one current
    assert by_lab.pop(withdrawn) == (1, 0)  # invalidated: no current version
    assert set(by_lab.values()) == {(1, 1)}  # every other result untouched
    assert new_finding == 1
    summary = json.loads(summary)
    assert status == "published"
    assert summary["new_progression_events"] == [patient_id]
    assert set(summary["pfs_5y_shift"]) == {"o-RAIT", "m-RAIT"}
    # a new extract under the same rules: the differences are data changes
    assert summary["attribution"]["cause"] == "data_change" and summary["attribution"]["extract_changed"] is True
    assert summary["changes"]["pfs"] == "data_change"


def test_a_revision_1_warehouse_refreshes_into_revision_2_as_rule_changes(published_copy, demo_extract):
    """A warehouse published by revision-1 code, refreshed with the same extract: the history is
    upgraded (its runs implemented revision 1) and the differences are labelled rule changes."""
    from rait_registry.contract import CONTRACT_REVISION

    con = duckdb.connect(str(published_copy))
    # the history as revision-1 code wrote it: no contract_revision column
    con.execute("create table history.runs_r1 as select * exclude (contract_revision) from history.refresh_runs")
    con.execute("drop table history.refresh_runs")
    con.execute("alter table history.runs_r1 rename to refresh_runs")
    # marts as revision 1 published them: PFS censored at last contact, a cycle response and an
    # eligibility decision that revision 2 changes
    con.execute("update marts.pfs set pfs_months = pfs_months_last_contact, end_date = last_contact_date")
    con.execute(
        "update marts.analysis_cohort set pfs_months = pfs.pfs_months from marts.pfs as pfs "
        "where analysis_cohort.patient_id = pfs.patient_id"
    )
    rait_id = con.execute("select min(rait_id) from marts.rait_cycles where response = 'SD'").fetchone()[0]
    con.execute(
        "update marts.rait_cycles set response = 'PR', response_basis = 'tg_decline' where rait_id = ?", [rait_id]
    )
    left_out = con.execute("select min(patient_id) from marts.analysis_cohort").fetchone()[0]
    con.execute("delete from marts.analysis_cohort where patient_id = ?", [left_out])
    censored = con.execute("select count(*) from marts.pfs where event_type = 'censored'").fetchone()[0]
    con.close()

    run_cli("refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy), check=True)
    con = duckdb.connect(str(published_copy), read_only=True)
    runs = con.execute("select status, contract_revision, change_summary from history.refresh_runs order by started_at")
    (old_status, old_revision, _), (status, revision, summary) = runs.fetchall()
    con.close()
    assert (old_status, old_revision) == ("published", 1)  # the upgrade path: runs before the column were r1
    assert (status, revision) == ("published", CONTRACT_REVISION) and CONTRACT_REVISION == 2
    summary = json.loads(summary)
    assert summary["attribution"] == {
        "contract_revision": {"previous": 1, "current": 2},
        "extract_changed": False,
        "parameters_changed": False,
        "package_changed": False,
        "cause": "rule_change",
    }
    assert summary["changes"] == {"eligibility": "rule_change", "responses": "rule_change", "pfs": "rule_change"}
    assert summary["patients_entering_cohort"] == [left_out]
    assert summary["response_changes"]["transitions"] == {"PR->SD": 1}
    # every censored patient with imaging before last contact is censored earlier under revision 2
    assert 0 < summary["pfs_changes"]["n_patients"] <= censored


def test_second_writer_exits_3_naming_the_holder(published_copy, demo_extract):
    with WarehouseLock(published_copy):
        proc = run_cli("refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy))
    assert proc.returncode == 3
    assert f"process {os.getpid()}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_stale_lock_from_dead_process_is_taken_over(published_copy, tiny_extract):
    lock = Path(str(published_copy) + ".lock")
    lock.write_text(json.dumps({"pid": 999999, "host": "gone", "started_at": "2020-01-01T00:00:00+00:00"}))
    proc = run_cli("-v", "refresh", "--extract", str(tiny_extract), "--warehouse", str(published_copy))
    assert proc.returncode == 0, proc.stderr
    assert "stale lock" in proc.stderr


def test_kill_during_build_leaves_published_intact_and_rerun_cleans_up(published_copy, demo_extract):
    before = published_copy.read_bytes()
    proc = subprocess.Popen(
        [str(BIN / "rait-registry"), "refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list(published_copy.parent.glob(".build-*/registry.duckdb")):
        time.sleep(0.05)
    time.sleep(1.0)  # well inside ingest or dbt build
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(published_copy.parent.glob(".build-*")), "the killed run should have left its build folder"
    assert published_copy.read_bytes() == before
    con = duckdb.connect(str(published_copy), read_only=True)
    assert con.execute("select count(*) from marts.analysis_cohort").fetchone()[0] > 0
    con.close()
    rerun = run_cli("refresh", "--extract", str(demo_extract), "--warehouse", str(published_copy))
    assert rerun.returncode == 0, rerun.stderr
    assert not list(published_copy.parent.glob(".build-*"))


def test_readers_are_not_blocked_by_a_refresh(published_copy, tiny_extract):
    reader = duckdb.connect(str(published_copy), read_only=True)
    n_before = reader.execute("select count(*) from marts.patients").fetchone()[0]
    proc = run_cli("refresh", "--extract", str(tiny_extract), "--warehouse", str(published_copy))
    assert proc.returncode == 0, proc.stderr
    # the open reader keeps its snapshot; a new reader sees the new build
    assert reader.execute("select count(*) from marts.patients").fetchone()[0] == n_before
    reader.close()
    fresh = duckdb.connect(str(published_copy), read_only=True)
    assert fresh.execute("select count(*) from marts.patients").fetchone()[0] == 2
    fresh.close()


def test_failed_refresh_is_logged_and_publishes_nothing(published_copy, tiny_extract):
    before = published_copy.read_bytes()
    (tiny_extract / "patients.csv").write_text("patient_id,birth_date\nP1,1980-01-01\n")
    proc = run_cli("refresh", "--extract", str(tiny_extract), "--warehouse", str(published_copy))
    assert proc.returncode == 1
    assert "sex" in proc.stderr
    assert published_copy.read_bytes() == before
    log = [json.loads(line) for line in (published_copy.parent / "refresh-log.jsonl").read_text().splitlines()]
    assert log[-1]["status"] == "failed"
    assert "ExtractRefused" in log[-1]["error"]


def test_prepare_build_keeps_only_history_and_snapshots_and_upgrades_an_old_history(tmp_path):
    from rait_registry import history

    published = tmp_path / "registry.duckdb"
    con = duckdb.connect(str(published))
    for schema in ("raw", "staging", "marts", "quarantine", "history", "snapshots"):
        con.execute(f"create schema {schema}")
        con.execute(f"create table {schema}.t as select 1 as x")
    # a history written by an older version: fewer columns, in another order
    con.execute("create table history.refresh_runs (status varchar, run_id varchar)")
    con.execute("insert into history.refresh_runs values ('published', 'run-1')")
    con.close()
    build = tmp_path / "build" / "registry.duckdb"
    build.parent.mkdir()
    assert history.start_build(build, published)
    assert not history.start_build(tmp_path / "other.duckdb", tmp_path / "missing.duckdb")
    con = duckdb.connect(str(build))
    history.prepare_build(con)
    schemas = {row[0] for row in con.execute("select schema_name from information_schema.schemata").fetchall()}
    assert {"raw", "staging", "marts", "quarantine"}.isdisjoint(schemas)
    assert con.execute("select x from snapshots.t").fetchall() == [(1,)]
    columns = [row[0] for row in con.execute("describe history.refresh_runs").fetchall()]
    assert columns[:2] == ["run_id", "extract_id"] and "mart_hashes" in columns
    assert con.execute(
        "select run_id, status, mart_hashes, contract_revision from history.refresh_runs"
    ).fetchall() == [
        ("run-1", "published", None, 1)  # written before contract_revision was recorded: revision 1
    ]
    con.close()
    # the published file itself is untouched
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute("select count(*) from marts.t").fetchone()[0] == 1
    con.close()


def test_an_older_extract_is_refused_unless_forced_and_an_old_one_warns(published_copy, demo_extract, tmp_path):
    con = duckdb.connect(str(published_copy), read_only=True)
    published_at = con.execute("select max(extracted_at) from history.refresh_runs").fetchone()[0]
    con.close()
    older = tmp_path / "older"
    shutil.copytree(demo_extract, older)
    manifest = json.loads((older / "manifest.json").read_text())
    manifest["extracted_at"] = (published_at - dt.timedelta(days=1)).isoformat()
    (older / "manifest.json").write_text(json.dumps(manifest))
    before = published_copy.read_bytes()
    proc = run_cli("refresh", "--extract", str(older), "--warehouse", str(published_copy))
    assert proc.returncode == 1
    assert "before the published one" in proc.stderr and "--force" in proc.stderr
    assert published_copy.read_bytes() == before
    # forced, the day-older extract (every event is dated before it) publishes; it is also
    # older than --max-age-days 0, which warns
    proc = run_cli(
        "refresh",
        "--extract",
        str(older),
        "--warehouse",
        str(published_copy),
        "--force",
        "--max-age-days",
        "0",
        check=True,
    )
    assert "days old" in proc.stderr and "--force: publishing an extract" in proc.stderr
    assert _history(published_copy)[-1][1] in ("published", "unchanged")


def test_a_warehouse_named_like_a_schema_is_a_usage_error(tmp_path, tiny_extract):
    from rait_registry.exceptions import UsageError
    from rait_registry.refresh import refresh

    with pytest.raises(UsageError, match="choose another name"):
        refresh(tiny_extract, tmp_path / "raw.duckdb")
    assert not (tmp_path / "raw.duckdb").exists()
