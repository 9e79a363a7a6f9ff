"""Row-level checks of contract section 1, run as SQL in DuckDB on ``landing.*``.

Every failing row is written to ``quarantine.rejected_rows`` (one row per failed rule) and
never reaches ``raw.*``. The rules are declared once in :mod:`rait_registry.contract`.
"""

from __future__ import annotations

import datetime as dt

import duckdb

REJECTED_ROWS_DDL = """
create table if not exists quarantine.rejected_rows (
    source_table varchar not null,
    source_row bigint not null,
    row_key varchar,
    "column" varchar,
    reason_code varchar not null,
    message varchar not null,
    raw_record json
)
"""


def run_row_checks(con: duckdb.DuckDBPyConnection, extracted_at: dt.date) -> None:
    """Check every landing table against contract section 1 and fill ``quarantine.rejected_rows``."""
    con.execute(REJECTED_ROWS_DDL)


def count_tgab_positive(con: duckdb.DuckDBPyConnection) -> int:
    """Number of accepted TgAb samples that are positive (value >= cut-off, not reported as `<`)."""
    return 0
