"""Quarantine shares and their limits (rait_registry.quarantine_limits), at the ingest step."""

from __future__ import annotations

import pytest

from rait_registry import quarantine_limits as ql
from rait_registry.exceptions import QuarantineLimitExceeded, UsageError

from .test_checks import base_tables, find, run_ingest, write_extract


@pytest.fixture
def ingested(tmp_path):
    """The base extract with patient P3 missing a required value (its rows cascade) and lab row 1
    broken twice (a bad date and a bad number)."""
    tables = base_tables()
    find(tables["patients"], "patient_id", "P3")["sex"] = ""
    lab = find(tables["lab_results"], "lab_id", "L1")
    lab["sample_date"] = "2010-13-45"
    lab["value"] = "twelve"
    con, report, _ = run_ingest(write_extract(tmp_path / "x", tables))
    return con, {name: load.rows_read for name, load in report.tables.items()}


def _checks(shares: ql.QuarantineShares) -> dict[str, tuple[int, int, float | None]]:
    return {check.label: (check.rows, check.rows_read, check.limit) for check in shares.checks}


def test_shares_count_distinct_rows_per_table_and_each_reason_in_its_own_table(ingested):
    con, rows_read = ingested
    shares = ql.measure(con, rows_read)
    checks = _checks(shares)
    # a row broken twice counts once in its table and once under each reason
    assert checks["lab_results"] == (2, 6, 0.05)
    assert checks["lab_results.invalid_date"] == (1, 6, None)
    assert checks["lab_results.invalid_decimal"] == (1, 6, None)
    # the cascade counts in the table it reaches, under its own reason
    assert checks["lab_results.reference_quarantined"] == (1, 6, None)
    assert checks["patients"] == (1, 3, 0.05) and checks["patients.missing_required"] == (1, 3, None)
    assert checks["surgeries"] == (2, 4, 0.05) and checks["surgeries.reference_quarantined"] == (2, 4, None)
    assert [check.label for check in shares.checks][:3] == ["patients", "patients.missing_required", "follow_up"]
    assert shares.to_dict()["lab_results"]["share"] == pytest.approx(2 / 6)
    assert shares.to_dict()["lab_results"]["reasons"]["invalid_date"] == {
        "rows": 1,
        "share": pytest.approx(1 / 6),
        "max_share": None,
    }


def test_a_share_equal_to_its_limit_passes_and_one_above_fails(ingested):
    con, rows_read = ingested
    limits = ql.QuarantineLimits(default=1.0).with_items(["patients=0.3333333333333333", "surgeries=0.49"])
    shares = ql.measure(con, rows_read, limits)
    assert [check.label for check in shares.failures] == ["surgeries"]
    with pytest.raises(QuarantineLimitExceeded) as info:
        ql.check(shares)
    message = str(info.value)
    assert "surgeries: 2 of 4 rows quarantined (50.00%), over the limit of 49.00%" in message
    assert "--max-quarantine-share" in message and "published warehouse is unchanged" in message
    assert info.value.exit_code == 1


def test_reason_limits_apply_to_their_table_only_and_a_zero_limit_is_listed(ingested):
    con, rows_read = ingested
    limits = ql.QuarantineLimits(default=1.0).with_items(
        ["lab_results.invalid_date=0", "imaging_findings.invalid_date=0"]
    )
    shares = ql.measure(con, rows_read, limits)
    assert [check.label for check in shares.failures] == ["lab_results.invalid_date"]
    assert _checks(shares)["imaging_findings.invalid_date"] == (0, 5, 0.0)  # set, so shown, and it passes


def test_the_default_limit_is_5_percent_per_table(ingested):
    con, rows_read = ingested
    shares = ql.measure(con, rows_read)
    assert {check.limit for check in shares.checks if check.reason_code is None} == {ql.DEFAULT_MAX_SHARE} == {0.05}
    # P3's rows reach every table; at 1 of 3 to 2 of 6 rows each table is over 5%
    assert [check.label for check in shares.failures] == [
        "patients",
        "follow_up",
        "surgeries",
        "rait_administrations",
        "lab_results",
        "imaging_findings",
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("1.5", "between 0 and 1"),
        ("-0.1", "between 0 and 1"),
        ("abc", "a share is a number from 0 to 1 or a percentage"),
        ("labs=0.1", "unknown table 'labs'"),
        ("lab_results.typo=0.1", "unknown reason code 'typo'"),
        ("lab_results=", "a share is a number"),
    ],
)
def test_bad_limit_items_are_usage_errors(item, message):
    with pytest.raises(UsageError) as info:
        ql.QuarantineLimits().with_items([item])
    assert message in str(info.value) and info.value.exit_code == 2


def test_items_accept_percentages_and_later_ones_win():
    limits = ql.QuarantineLimits().with_items(["10%", "lab_results=0.2", "lab_results=25%", "follow_up.out_of_range=0"])
    assert limits.default == pytest.approx(0.10)
    assert limits.table_limit("lab_results") == pytest.approx(0.25)
    assert limits.table_limit("patients") == pytest.approx(0.10)
    assert limits.reason_limit("follow_up", "out_of_range") == 0.0
    assert limits.reason_limit("follow_up", "invalid_date") is None


CONFIG = """\
[quarantine]
max_share = "2%"

[quarantine.tables]
follow_up = 0.01

[quarantine.tables.lab_results]
max_share = 0.10
reasons = { unit_not_valid_for_analyte = 0.02, date_after_extract = 0 }
"""


def test_config_file_format(tmp_path):
    path = tmp_path / "rait-registry.toml"
    path.write_text(CONFIG)
    limits = ql.load_config(path)
    assert limits.default == pytest.approx(0.02)
    assert limits.table_limit("follow_up") == 0.01 and limits.table_limit("lab_results") == 0.10
    assert limits.reason_limit("lab_results", "date_after_extract") == 0
    assert limits.reason_limit("lab_results", "unit_not_valid_for_analyte") == 0.02
    # the command line wins over the file
    assert ql.resolve_limits(path, ["lab_results=0.5"]).table_limit("lab_results") == 0.5


def test_config_file_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "limits.toml"
    path.write_text("[quarantine]\nmax_share = 0.2\n")
    monkeypatch.setenv("RAIT_CONFIG", str(path))
    assert ql.resolve_limits().default == 0.2
    monkeypatch.delenv("RAIT_CONFIG")
    assert ql.resolve_limits().default == ql.DEFAULT_MAX_SHARE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[quarantine\n", "not valid TOML"),
        ("[limits]\nmax_share = 0.1\n", "unknown section [limits]"),
        ("[quarantine]\nmax_shares = 0.1\n", "unknown key 'max_shares'"),
        ("[quarantine]\nmax_share = 2\n", "between 0 and 1"),
        ("[quarantine.tables]\nlabs = 0.1\n", "unknown table 'labs'"),
        ("[quarantine.tables.lab_results]\nreasons = { typo = 0.1 }\n", "unknown reason code 'typo'"),
        ("[quarantine.tables.lab_results]\nlimit = 0.1\n", "unknown key 'limit'"),
    ],
)
def test_bad_config_files_are_usage_errors_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        ql.load_config(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_config_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        ql.load_config(tmp_path / "missing.toml")
