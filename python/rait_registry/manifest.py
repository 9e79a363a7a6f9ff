"""Write ``manifest.json`` for an extract folder (``rait-registry manifest``).

The manifest is what ingest verifies before it reads an extract
(:func:`rait_registry.ingest.read_manifest`, :func:`~rait_registry.ingest.verify_manifest`;
specification section 1)::

    {"extract_id": "...", "extracted_at": "YYYY-MM-DD",
     "files": {"patients.csv": {"rows": 3, "sha256": "..."}, ...}}

Rows are counted the way ingest counts them: each file is read by ingest's own reader (the same
CSV dialect and header rules), so a file that ingest would refuse is refused here too, with the
same message, and a quoted line break inside a value does not count as a row.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from .contract import TABLE_ORDER
from .exceptions import UsageError
from .ingest import IngestReport, discover_files, extract_date, read_as_text, sha256_file


def count_rows(path: Path, table: str) -> int:
    """The number of data rows of one extract file, as ingest reads it."""
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")
        con.execute("create schema landing")
        report = IngestReport(extract_dir=str(path.parent), extract_id=None, extracted_at="", manifest_sha256=None)
        read_as_text(con, table, path, report)
        return int(con.execute(f'select count(*) from landing."{table}"').fetchone()[0])
    finally:
        con.close()


def build_manifest(extract_dir: str | Path, extracted_at: dt.date | None = None, extract_id: str | None = None) -> dict:
    """The manifest of the six table files of ``extract_dir``.

    Parameters
    ----------
    extract_dir
        Folder holding ``<table>.csv`` or ``<table>.parquet`` for every table.
    extracted_at
        The date the data were exported from the source system. Default: the modification date of
        the newest file, which is also what ingest assumes for an extract without a manifest.
    extract_id
        A name for this extract, recorded in the refresh history. Default: the folder's name.

    Raises
    ------
    ExtractRefused
        A table file is missing or unreadable (the message of ingest).
    """
    extract_dir = Path(extract_dir)
    files = discover_files(extract_dir)
    if extracted_at is None:
        extracted_at = extract_date(None, files)
    listed = {
        files[table].name: {"rows": count_rows(files[table], table), "sha256": sha256_file(files[table])}
        for table in TABLE_ORDER
    }
    return {
        "extract_id": extract_id if extract_id is not None else extract_dir.resolve().name,
        "extracted_at": extracted_at.isoformat(),
        "files": listed,
    }


def parse_date(text: str, today: dt.date | None = None) -> dt.date:
    """The ``--extracted-at`` date: ``YYYY-MM-DD``, not after today (:class:`UsageError` otherwise)."""
    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--extracted-at must be a date written YYYY-MM-DD (got {text!r}).") from None
    today = today or dt.date.today()
    if date > today:
        raise UsageError(
            f"--extracted-at {date.isoformat()} is after today ({today.isoformat()}); give the date the data "
            "were exported."
        )
    return date


def write_manifest(extract_dir: str | Path, extracted_at: dt.date | None = None, extract_id: str | None = None) -> Path:
    """Write (or replace) ``extract_dir/manifest.json``; return its path."""
    manifest = build_manifest(extract_dir, extracted_at, extract_id)
    path = Path(extract_dir) / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path
