"""Row checks (rait_registry.checks): reason codes, cascades, fixed point, reconciliation.

The base extract below is clean; every test changes a few cells and checks exactly which source
rows are quarantined and why. No dbt build: everything runs at the ingest step.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import duckdb
import pandas as pd

from rait_registry import checks
from rait_registry.contract import TABLE_ORDER, TABLES
from rait_registry.ingest import ingest

REPO = Path(__file__).resolve().parents[1]

# A small, clean extract: three patients, every table, both vital statuses, every activity unit,
# TgAb rows with and without their own cut-off. All dates before 2024-06-30.
BASE_CSV: dict[str, str] = {
    "patients": """\
patient_id,sex,birth_date,center_id
P1,F,1970-01-01,C1
P2,M,1960-06-15,C1
P3,F,1980-03-03,
""",
    "follow_up": """\
patient_id,last_contact_date,vital_status,death_date
P1,2020-06-01,alive,
P2,2019-01-01,dead,2019-02-01
P3,2021-01-01,alive,
""",
    "surgeries": """\
surgery_id,patient_id,surgery_date,procedure,histology,max_tumor_size_cm,t_stage,n_stage,ete,resection,vascular_invasion_foci,positive_nodes,largest_node_cm,aggressive_variant
S1,P1,2010-01-10,total_thyroidectomy,PTC,1.5,T1b,N1a,microscopic,R0,0,2,0.8,false
S2,P2,2012-05-05,total_thyroidectomy,FTC,3.2,T3a,N0,none,R1,5,0,,
S3,P3,2015-02-02,lobectomy,PTC,0.9,T1a,NX,none,R0,,,,
S4,P3,2015-06-01,completion_thyroidectomy,,,,,,,,,,
""",
    "rait_administrations": """\
rait_id,patient_id,admin_date,activity,activity_unit,preparation,intent
R1,P1,2010-03-01,3.7,GBq,withdrawal,metastatic_disease
R2,P1,2011-03-01,150,mCi,rhTSH,metastatic_disease
R3,P2,2012-08-01,5550,MBq,withdrawal,adjuvant
R4,P3,2015-08-01,1.1,GBq,rhTSH,remnant_ablation
""",
    "lab_results": """\
lab_id,patient_id,sample_date,analyte,value,comparator,unit,tgab_cutoff
L1,P1,2010-02-25,Tg,12,,ng/mL,
L2,P1,2010-02-25,TSH,80,,mIU/L,
L3,P1,2010-02-25,TgAb,200,,IU/mL,
L4,P1,2011-02-20,TgAb,20,<,IU/mL,
L5,P2,2012-07-25,Tg,3.5,,ug/L,
L6,P3,2015-07-25,TgAb,50,,kIU/L,40
""",
    "imaging_findings": """\
finding_id,patient_id,study_date,modality,rait_id,site,status,rai_avid,max_lesion_mm,remnant_uptake,confirmation
F1,P1,2010-03-06,RxWBS,R1,lung,present,true,4,,imaging
F2,P1,2010-03-06,RxWBS,R1,thyroid_bed,present,true,,minor,
F3,P1,2011-03-06,RxWBS,R2,lung,reduced,true,3,,imaging
F4,P2,2012-08-06,RxWBS,R3,lung,present,true,,,
F5,P3,2016-01-01,CT,,lung,new,,8,,imaging
""",
}

EXTRACTED_AT = "2024-06-30"


def base_tables() -> dict[str, list[dict[str, str]]]:
    """The base extract as rows of text (a fresh copy each call)."""
    return {t: list(csv.DictReader(io.StringIO(text))) for t, text in BASE_CSV.items()}


def write_extract(
    folder: Path,
    tables: dict[str, list[dict[str, str]]] | None = None,
    extracted_at: str | None = EXTRACTED_AT,
) -> Path:
    """Write ``tables`` (default: the base extract) as CSV, with a manifest when ``extracted_at``."""
    tables = base_tables() if tables is None else tables
    folder.mkdir(parents=True, exist_ok=True)
    for table, rows in tables.items():
        columns = list(rows[0]) if rows else TABLES[table].column_names
        with open(folder / f"{table}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    if extracted_at is not None:
        manifest = {"extract_id": "test", "extracted_at": extracted_at, "files": {f"{t}.csv": {} for t in tables}}
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def find(rows: list[dict[str, str]], key: str, value: str) -> dict[str, str]:
    return next(row for row in rows if row[key] == value)


def run_ingest(folder: Path) -> tuple[duckdb.DuckDBPyConnection, object, pd.DataFrame]:
    """Ingest ``folder`` into an in-memory database; return (connection, report, rejected rows)."""
    con = duckdb.connect()
    report = ingest(folder, con)
    rejected = con.execute(
        'select * from quarantine.rejected_rows order by source_table, source_row, reason_code, "column"'
    ).df()
    return con, report, rejected


def quarantined(rejected: pd.DataFrame) -> set[tuple[str, int]]:
    """Distinct (table, source_row) quarantined."""
    return {(t, int(r)) for t, r in zip(rejected["source_table"], rejected["source_row"])}


def reasons(rejected: pd.DataFrame) -> set[tuple[str, int, str]]:
    """Distinct (table, source_row, reason_code)."""
    return {
        (t, int(r), c) for t, r, c in zip(rejected["source_table"], rejected["source_row"], rejected["reason_code"])
    }


def assert_reconciled(con, report) -> None:
    for table in TABLE_ORDER:
        load = report.tables[table]
        staged = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
        distinct = con.execute(
            "select count(distinct source_row) from quarantine.rejected_rows where source_table = ?", [table]
        ).fetchone()[0]
        assert load.rows_read == staged + distinct == load.rows_staged + load.rows_quarantined


# ---------------------------------------------------------------------------------------------
# the base extract and the reason codes
# ---------------------------------------------------------------------------------------------


def test_base_extract_is_clean_and_counts_tgab_positive(tmp_path):
    con, report, rejected = run_ingest(write_extract(tmp_path / "x"))
    assert rejected.empty
    assert_reconciled(con, report)
    # L3: 200 >= 115 (default cut-off); L6: 50 >= its own cut-off 40; L4 is reported as "< 20"
    assert report.tgab_positive_samples == 2


def test_tgab_positive_respects_comparator_and_cutoff(tmp_path):
    tables = base_tables()
    find(tables["lab_results"], "lab_id", "L4").update(value="500", comparator="<")  # below detection: negative
    find(tables["lab_results"], "lab_id", "L6").update(tgab_cutoff="60")  # 50 < 60: negative
    find(tables["lab_results"], "lab_id", "L3").update(value="115", comparator=">")  # exactly the cut-off: positive
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    assert rejected.empty
    assert report.tgab_positive_samples == 1
    assert checks.count_tgab_positive(con, default_cutoff=116) == 0


def test_every_reason_code_is_documented():
    doc = (REPO / "docs" / "quarantine-reasons.md").read_text(encoding="utf-8")
    doc = doc.split("## Reason codes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, flags=re.M))
    assert documented == set(checks.REASONS)
    assert set(checks.REASONS) >= checks.CASCADE_REASONS


def test_messages_name_table_row_column_and_reason(tmp_path):
    tables = base_tables()
    find(tables["patients"], "patient_id", "P3")["birth_date"] = "03/03/1980"
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    row = rejected[rejected.reason_code == "invalid_date"].iloc[0]
    assert row.message.startswith("patients row 3, column birth_date: ")
    assert "[invalid_date]" in row.message
    assert "03/03/1980" not in row.message and "1980" not in row.message
    assert json.loads(row.raw_record)["birth_date"] == "03/03/1980"
    assert row.row_key == "P3"


def test_raw_record_is_the_row_as_read_untrimmed(tmp_path):
    tables = base_tables()
    find(tables["surgeries"], "surgery_id", "S1")["t_stage"] = " T9 "
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    record = json.loads(rejected.iloc[0].raw_record)
    assert list(record) == TABLES["surgeries"].column_names
    assert record["t_stage"] == " T9 " and record["surgery_id"] == "S1"


# ---------------------------------------------------------------------------------------------
# cascades and the fixed point
# ---------------------------------------------------------------------------------------------


def test_cascade_needs_several_rounds_surgery_to_rait_to_scan(tmp_path):
    # S1 is P1's only operation; when it is quarantined (after death? no: bad procedure), P1's first
    # accepted operation disappears -> no RAIT is "before" it, so nothing cascades from S1 alone.
    # Give P1 a later operation S5: without S1, R1 (2010) and R2 (2011) precede S5 (2012) -> both
    # RAITs are quarantined in round 1, and their RxWBS rows F1-F3 in round 2.
    tables = base_tables()
    tables["surgeries"].append(
        {
            **find(tables["surgeries"], "surgery_id", "S1"),
            "surgery_id": "S5",
            "surgery_date": "2012-01-01",
            "procedure": "neck_dissection",
        }
    )
    find(tables["surgeries"], "surgery_id", "S1")["procedure"] = "thyroidectomy-ish"
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    assert reasons(rejected) == {
        ("surgeries", 1, "not_in_vocabulary"),
        ("rait_administrations", 1, "rait_before_first_surgery"),
        ("rait_administrations", 2, "rait_before_first_surgery"),
        ("imaging_findings", 1, "reference_quarantined"),
        ("imaging_findings", 2, "reference_quarantined"),
        ("imaging_findings", 3, "reference_quarantined"),
    }
    assert_reconciled(con, report)


def test_quarantined_patient_takes_every_row_with_it(tmp_path):
    tables = base_tables()
    find(tables["patients"], "patient_id", "P1")["sex"] = "X"
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    expected = {("patients", 1, "not_in_vocabulary"), ("follow_up", 1, "reference_quarantined")}
    expected |= {("surgeries", 1, "reference_quarantined")}
    expected |= {("rait_administrations", r, "reference_quarantined") for r in (1, 2)}
    expected |= {("lab_results", r, "reference_quarantined") for r in (1, 2, 3, 4)}
    expected |= {("imaging_findings", r, "reference_quarantined") for r in (1, 2, 3)}
    assert reasons(rejected) == expected
    for table in TABLE_ORDER:
        ids = {row[0] for row in con.execute(f"select patient_id from raw.{table}").fetchall()}
        assert "P1" not in ids, table
    assert_reconciled(con, report)


def test_rows_already_quarantined_are_not_re_examined_by_cascades(tmp_path):
    # L1 has a bad value AND belongs to a quarantined patient: only its own row rule is recorded
    tables = base_tables()
    find(tables["patients"], "patient_id", "P1")["sex"] = ""
    find(tables["lab_results"], "lab_id", "L1")["value"] = "twelve"
    con, report, rejected = run_ingest(write_extract(tmp_path / "x", tables))
    lab1 = rejected[(rejected.source_table == "lab_results") & (rejected.source_row == 1)]
    assert list(lab1.reason_code) == ["invalid_decimal"]
    assert ("patients", 1, "missing_required") in reasons(rejected)


def test_check_frames_matches_ingest(tmp_path):
    tables = base_tables()
    find(tables["lab_results"], "lab_id", "L2")["unit"] = "ng/mL"  # TSH in ng/mL
    find(tables["imaging_findings"], "finding_id", "F4")["rait_id"] = ""
    con, report, from_files = run_ingest(write_extract(tmp_path / "x", tables))
    frames = {t: pd.DataFrame(rows) for t, rows in tables.items()}
    from_frames = checks.check_frames(frames, dt.date(2024, 6, 30))
    assert (
        reasons(from_frames)
        == reasons(from_files)
        == {
            ("lab_results", 2, "unit_not_valid_for_analyte"),
            ("imaging_findings", 4, "rait_id_required_for_rxwbs"),
        }
    )


def test_checks_scale_set_based(tmp_path):
    """200 000 lab rows check in seconds (no per-row Python); every 1000th row is bad."""
    import time

    con = duckdb.connect()
    con.execute("create schema landing")
    for table in TABLE_ORDER:
        rows = base_tables()[table]
        cols = TABLES[table].column_names
        values = ", ".join(
            "(" + ", ".join([str(i + 1)] + [("'" + r[c] + "'") if r.get(c) else "null" for c in cols]) + ")"
            for i, r in enumerate(rows)
        )
        con.execute(
            f"create table landing.{table} as select * from (values {values}) as t(source_row, {', '.join(cols)})"
        )
    con.execute("delete from landing.lab_results")
    con.execute(
        """insert into landing.lab_results
           select i, 'L' || i::varchar, 'P1', '2015-01-01', 'Tg',
                  case when i % 1000 = 0 then 'x' else (i % 50)::varchar end, null, 'ng/mL', null
           from range(1, 200001) as r(i)"""
    )
    started = time.perf_counter()
    summary = checks.run_row_checks(con, dt.date(2024, 6, 30))
    elapsed = time.perf_counter() - started
    assert summary.failures == {"invalid_decimal": 200}
    assert elapsed < 20
