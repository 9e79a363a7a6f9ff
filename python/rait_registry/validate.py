"""``rait-registry validate``: check an extract without building anything.

The extract goes through exactly the ingest of a refresh (file-level refusals, then the row
checks of :mod:`rait_registry.checks`) into a throw-away DuckDB database in a temporary folder
(a file, so that extracts larger than memory spill to disk); nothing is written next to the
extract or to any warehouse, and the temporary folder is removed afterwards. The result says, per table, how many rows
were read, would be accepted and would be quarantined, and which reasons are most frequent.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .exceptions import ExtractRefused
from .ingest import IngestReport, ingest


@dataclass
class ReasonCount:
    """Distinct source rows of one table quarantined for one reason."""

    table: str
    reason_code: str
    column: str | None
    rows: int


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_extract`.

    Attributes
    ----------
    extract_dir
        The folder validated.
    refused
        The refusal message when the whole extract is refused (a file-level problem), else None.
    ingest
        Per-table rows read / accepted / quarantined (None when refused).
    reasons
        Quarantine counts per (table, reason, column), most frequent first.
    """

    extract_dir: str
    refused: str | None = None
    ingest: IngestReport | None = None
    reasons: list[ReasonCount] = field(default_factory=list)

    @property
    def rows_quarantined(self) -> int:
        return self.ingest.rows_quarantined if self.ingest else 0

    @property
    def clean(self) -> bool:
        """True when the extract would be accepted with no quarantined row."""
        return self.refused is None and self.rows_quarantined == 0

    @property
    def exit_code(self) -> int:
        """docs/specification.md section 5: 0 when clean, 1 when refused or rows would be quarantined."""
        return 0 if self.clean else 1


def validate_extract(extract_dir: str | Path, top: int | None = None) -> ValidationReport:
    """Check an extract as a refresh would, without building or publishing anything.

    Parameters
    ----------
    extract_dir
        Folder with the six table files and an optional ``manifest.json``.
    top
        Keep only the ``top`` most frequent (table, reason, column) counts (all when None).

    Returns
    -------
    ValidationReport
        ``refused`` is set for a file-level problem; otherwise per-table counts and reasons.
        Neither contains a cell value.
    """
    report = ValidationReport(extract_dir=str(extract_dir))
    with tempfile.TemporaryDirectory(prefix="rait-validate-") as scratch:
        con = duckdb.connect(str(Path(scratch) / "validate.duckdb"))
        try:
            return _validate(extract_dir, con, report, top)
        finally:
            con.close()


def _validate(
    extract_dir: str | Path, con: duckdb.DuckDBPyConnection, report: ValidationReport, top: int | None
) -> ValidationReport:
    try:
        report.ingest = ingest(extract_dir, con)
    except ExtractRefused as exc:
        report.refused = str(exc)
        return report
    rows = con.execute(
        """
        select source_table, reason_code, "column", count(distinct source_row) as n
        from quarantine.rejected_rows
        group by all
        order by n desc, source_table, reason_code, "column"
        """
    ).fetchall()
    report.reasons = [ReasonCount(table, reason, column, int(n)) for table, reason, column, n in rows]
    if top is not None:
        report.reasons = report.reasons[:top]
    return report
