"""Fault injection (rait_registry.messy): exactly the broken rows, and their cascades, are quarantined.

The answer key is worked out by messy.py from the clean data and the faults it placed, not by
the checks; these tests compare the two at the ingest step (no dbt build). The one full refresh
of a messy extract (the clean remainder builds and publishes) is in tests/test_sensitive.py.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from rait_registry import checks
from rait_registry.ingest import ingest
from rait_registry.messy import CASCADE_CODES, FAULTS, inject_faults, write_messy_extract, write_tables
from rait_registry.synth import simulate

from .conftest import run_cli

N_PATIENTS = 400  # enough dead patients for the death-related classes
SEED = 11
RATE = 0.03


@pytest.fixture(scope="module")
def clean_tables():
    return simulate(N_PATIENTS, SEED)


@pytest.fixture(scope="module")
def messy_run(clean_tables, tmp_path_factory):
    messy = inject_faults(clean_tables, rate=RATE, seed=SEED)
    folder = write_tables(messy, tmp_path_factory.mktemp("messy") / "extract")
    con = duckdb.connect()
    report = ingest(folder, con)
    rejected = con.execute("select * from quarantine.rejected_rows").df()
    yield messy, report, rejected, con
    con.close()


def _by_row(rejected: pd.DataFrame) -> dict[tuple[str, int], set[str]]:
    return {
        (table, int(row)): set(group)
        for (table, row), group in rejected.groupby(["source_table", "source_row"])["reason_code"]
    }


def test_every_fault_class_is_injected(messy_run):
    messy, *_ = messy_run
    assert set(messy.counts) == set(FAULTS)
    assert all(n >= 1 for n in messy.counts.values()), messy.counts
    direct = messy.expected[messy.expected.kind == "direct"]
    assert set(direct.fault) == set(FAULTS)


def test_exactly_the_expected_rows_are_quarantined(messy_run):
    messy, report, rejected, _ = messy_run
    got = set(_by_row(rejected))
    expected = set(zip(messy.expected["table"], messy.expected["source_row"].astype(int)))
    assert got == expected
    assert report.rows_quarantined == len(expected)
    for load in report.tables.values():
        assert load.rows_read == load.rows_staged + load.rows_quarantined


def test_direct_faults_carry_their_reason_code(messy_run):
    messy, _, rejected, _ = messy_run
    by_row = _by_row(rejected)
    direct = messy.expected[messy.expected.kind == "direct"]
    for fault, rows in direct.groupby("fault"):
        assert all(FAULTS[fault].reason_code == code for code in rows.reason_code)
        missing = [
            (t, r)
            for t, r, code in zip(rows.table, rows.source_row, rows.reason_code)
            if code not in by_row[(t, int(r))]
        ]
        assert not missing, f"{fault}: rows without reason {FAULTS[fault].reason_code}: {missing[:5]}"


def test_cascaded_rows_carry_only_cascade_reasons(messy_run):
    messy, _, rejected, _ = messy_run
    by_row = _by_row(rejected)
    cascade = messy.expected[messy.expected.kind == "cascade"]
    assert len(cascade) > 0
    for table, row in zip(cascade.table, cascade.source_row):
        assert by_row[(table, int(row))] <= CASCADE_CODES, (table, row, by_row[(table, int(row))])
    assert set(checks.REASONS) >= CASCADE_CODES


def test_harmless_noise_and_unknown_column_are_not_quarantined(messy_run):
    messy, report, _, con = messy_run
    assert messy.noise > 0
    # " NEW " etc. are accepted and staged in the contract's spelling
    statuses = {row[0] for row in con.execute("select distinct status from raw.imaging_findings").fetchall()}
    assert statuses and statuses <= {"new", "present", "stable", "increased", "reduced", "resolved", "absent", None}
    assert any("notes" in warning for warning in report.warnings)


def test_rate_zero_breaks_nothing(clean_tables, tmp_path):
    messy = inject_faults(clean_tables, rate=0.0, seed=1)
    assert messy.expected.empty and sum(messy.counts.values()) == 0
    con = duckdb.connect()
    report = ingest(write_tables(messy, tmp_path / "x"), con)
    assert report.rows_quarantined == 0


def test_rate_scales_the_number_of_broken_rows(clean_tables):
    low = inject_faults(clean_tables, rate=0.01, seed=3)
    high = inject_faults(clean_tables, rate=0.05, seed=3)
    assert sum(high.counts.values()) > 3 * sum(low.counts.values())
    # the rate applies to eligible rows: rows already broken and rows of the patients kept for
    # cross-row faults (one per class, rate x patients each) are not eligible
    lab_rows = len(clean_tables["lab_results"])
    assert 0.85 * 0.01 * lab_rows <= low.counts["us_date"] <= 0.01 * lab_rows + 1
    assert 0.6 * 0.05 * lab_rows <= high.counts["us_date"] <= 0.05 * lab_rows + 1


def test_same_seed_same_faults(clean_tables):
    a = inject_faults(clean_tables, rate=RATE, seed=5)
    b = inject_faults(clean_tables, rate=RATE, seed=5)
    pd.testing.assert_frame_equal(a.expected, b.expected)
    for table in a.tables:
        pd.testing.assert_frame_equal(a.tables[table], b.tables[table])


def test_parquet_messy_extract_quarantines_the_same_rows(tmp_path):
    folder, messy = write_messy_extract(tmp_path / "p", n_patients=120, seed=4, rate=0.05, fmt="parquet")
    con = duckdb.connect()
    ingest(folder, con)
    rejected = con.execute("select source_table, source_row, reason_code from quarantine.rejected_rows").df()
    assert set(_by_row(rejected)) == set(zip(messy.expected["table"], messy.expected["source_row"].astype(int)))


def test_rate_outside_bounds_is_a_usage_error(clean_tables):
    from rait_registry.exceptions import UsageError

    with pytest.raises(UsageError, match="rate"):
        inject_faults(clean_tables, rate=0.5)


def test_synth_messy_cli_writes_an_answer_key_that_validate_confirms(tmp_path):
    folder = tmp_path / "m"
    proc = run_cli("synth", "--patients", "60", "--seed", "2", "--out", str(folder), "--messy", "--messy-rate", "0.05")
    assert proc.returncode == 0, proc.stderr
    assert "must be quarantined" in " ".join(proc.stdout.split())
    key = pd.read_csv(folder / "messy_expected_quarantine.csv")
    proc = run_cli("validate", "--extract", str(folder))
    assert proc.returncode == 1
    assert f"{len(key)} row(s) would be quarantined" in " ".join(proc.stdout.split())
