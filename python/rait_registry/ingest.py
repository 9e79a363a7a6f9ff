"""Ingest: verify an extract and load it into the ``raw`` schema of a build database.

Design step 1 (``shared/design.md``). Every file is read by DuckDB *as text* into
``landing.<table>`` with ``source_row`` (1-based data row: the first record after the header
is 1). Row checks (:mod:`rait_registry.checks`) then write every failing row to
``quarantine.rejected_rows``; the accepted rows are copied to ``raw.<table>`` and the counts are
reconciled: per table, rows read = rows staged + rows quarantined (distinct source rows).

File-level problems refuse the whole extract with :class:`~rait_registry.exceptions.ExtractRefused`
(exit code 1), naming the file and, where it applies, the column. Messages never contain cell values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from . import checks
from .contract import TABLE_ORDER, TABLES
from .exceptions import ExtractRefused

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet")


@dataclass
class TableLoad:
    """What ingest did with one extract file."""

    table: str
    file: str
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    unknown_columns: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """Summary of one ingest: identity of the extract and per-table counts."""

    extract_dir: str
    extract_id: str | None
    extracted_at: str
    manifest_sha256: str | None
    tables: dict[str, TableLoad] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    tgab_positive_samples: int = 0

    @property
    def rows_quarantined(self) -> int:
        return sum(t.rows_quarantined for t in self.tables.values())

    def to_dict(self) -> dict:
        return asdict(self)


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def discover_files(extract_dir: Path) -> dict[str, Path]:
    """Map each contract table to its file in ``extract_dir`` (``<table>.csv`` or ``.parquet``)."""
    if not extract_dir.is_dir():
        raise ExtractRefused(f"extract folder {extract_dir} does not exist or is not a folder; pass --extract DIR.")
    files: dict[str, Path] = {}
    for table in TABLE_ORDER:
        candidates = [extract_dir / f"{table}.{fmt}" for fmt in FORMATS if (extract_dir / f"{table}.{fmt}").is_file()]
        if not candidates:
            raise ExtractRefused(
                f"{table}: no file {table}.csv or {table}.parquet in {extract_dir}; every extract needs all six "
                f"tables ({', '.join(TABLE_ORDER)})."
            )
        if len(candidates) > 1:
            raise ExtractRefused(
                f"{table}: both {table}.csv and {table}.parquet are present in {extract_dir}; keep exactly one."
            )
        files[table] = candidates[0]
    return files


def read_manifest(extract_dir: Path) -> tuple[dict | None, str | None]:
    """Read ``manifest.json`` if present; return (manifest, sha256 of its bytes)."""
    path = extract_dir / "manifest.json"
    if not path.exists():
        return None, None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExtractRefused(f"manifest.json: not valid UTF-8 JSON ({type(exc).__name__}); re-export the manifest.") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", {}), dict):
        raise ExtractRefused('manifest.json: expected an object with "extract_id", "extracted_at" and "files".')
    return manifest, sha256_file(path)


def verify_manifest(manifest: dict, files: dict[str, Path]) -> None:
    """Check every file the manifest lists: present, and the same sha256 (row counts are checked after reading)."""
    listed = manifest.get("files", {})
    by_name = {path.name: path for path in files.values()}
    for name, entry in listed.items():
        if name not in by_name:
            raise ExtractRefused(f"manifest.json lists {name}, which is not in the extract; re-export the extract.")
        expected = (entry or {}).get("sha256")
        if expected and sha256_file(by_name[name]) != str(expected).lower():
            raise ExtractRefused(
                f"{name}: sha256 differs from manifest.json; the file changed or was truncated after export."
            )


def extract_date(manifest: dict | None, files: dict[str, Path]) -> dt.date:
    """The extract date: ``extracted_at`` of the manifest, else the newest file's modification date."""
    if manifest and manifest.get("extracted_at"):
        text = str(manifest["extracted_at"])
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            raise ExtractRefused("manifest.json: extracted_at is not an ISO date (YYYY-MM-DD...).") from None
    newest = max(path.stat().st_mtime for path in files.values())
    return dt.datetime.fromtimestamp(newest, tz=dt.timezone.utc).date()


def _read_as_text(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> list[str]:
    """Load one file into ``landing.<table>`` as all-VARCHAR columns + ``source_row``; return its column names."""
    target = f'landing."{table}"'
    if path.suffix == ".csv":
        scan = (
            "read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"', "
            "auto_detect = true, strict_mode = true, null_padding = false, encoding = 'utf-8')"
        )
        try:
            con.execute(f"create or replace temp table landing_scan as select * from {scan}", [str(path)])
        except duckdb.Error as exc:
            raise ExtractRefused(_csv_error_message(path, exc)) from None
        con.execute(f"create or replace table {target} as select rowid + 1 as source_row, * from landing_scan")
        con.execute("drop table landing_scan")
    else:
        try:
            described = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
            columns = [row[0] for row in described]
            select = ", ".join(f'cast("{c}" as varchar) as "{c}"' for c in columns if c != "file_row_number")
            con.execute(
                f"create or replace table {target} as select file_row_number + 1 as source_row, {select} "
                "from read_parquet(?, file_row_number = true) order by file_row_number",
                [str(path)],
            )
        except duckdb.Error as exc:
            raise ExtractRefused(f"{path.name}: cannot be read as Parquet ({type(exc).__name__}); re-export the file.") from None
    return [row[0] for row in con.execute(f"describe {target}").fetchall() if row[0] != "source_row"]


def _csv_error_message(path: Path, exc: duckdb.Error) -> str:
    text = str(exc)
    if "unicode" in text.lower() or "utf" in text.lower() or "encoding" in text.lower():
        reason = "is not valid UTF-8; export it as UTF-8"
    elif "quote" in text.lower():
        reason = "has an unterminated quote (truncated or malformed CSV)"
    elif "column" in text.lower() or "expected" in text.lower():
        reason = "has rows with a different number of fields than the header (wrong delimiter or truncated file)"
    else:
        reason = "cannot be parsed as a comma-separated UTF-8 file with a header row"
    return f"{path.name}: {reason}; fix the file and run again."


def _normalise_columns(con: duckdb.DuckDBPyConnection, table: str, path: Path, columns: list[str], report: IngestReport) -> list[str]:
    """Lower-case/trim header names, drop unknown columns with a warning, refuse a missing required column."""
    spec = TABLES[table]
    seen: dict[str, str] = {}
    for column in columns:
        name = column.strip().lower()
        if name in seen:
            raise ExtractRefused(f"{path.name}: column {name} appears twice in the header; keep one.")
        seen[name] = column
    if len(seen) == 1 and ";" in next(iter(seen)) or len(seen) == 1 and "\t" in next(iter(seen)):
        raise ExtractRefused(f"{path.name}: the header has a single column; the file is not comma-separated.")
    missing = [c for c in spec.required_columns if c not in seen]
    if missing:
        raise ExtractRefused(
            f"{path.name}: required column {missing[0]} is missing"
            + (f" (also {', '.join(missing[1:])})" if missing[1:] else "")
            + "; add it to the export."
        )
    unknown = [seen[name] for name in seen if name not in spec.column_names]
    if unknown:
        report.warnings.append(f"{path.name}: unknown column(s) {', '.join(unknown)} dropped before any check.")
        log.info("%s: unknown column(s) dropped", path.name)
    select = ["source_row"] + [
        (f'"{seen[c]}" as "{c}"' if c in seen else f'cast(null as varchar) as "{c}"') for c in spec.column_names
    ]
    con.execute(f'create or replace table landing."{table}" as select {", ".join(select)} from landing."{table}"')
    return unknown


def ingest(extract_dir: str | Path, con: duckdb.DuckDBPyConnection) -> IngestReport:
    """Verify and load an extract into ``raw.*`` of the database behind ``con``.

    Parameters
    ----------
    extract_dir
        Folder with one file per contract table (``<table>.csv`` or ``<table>.parquet``) and an
        optional ``manifest.json``.
    con
        Open read-write connection to the build database.

    Returns
    -------
    IngestReport
        Per-table rows read / staged / quarantined and any warnings.

    Raises
    ------
    ExtractRefused
        For a file-level problem (missing file or required column, unreadable file, manifest mismatch,
        empty table); nothing is loaded then.
    """
    extract_dir = Path(extract_dir)
    files = discover_files(extract_dir)
    manifest, manifest_sha = read_manifest(extract_dir)
    if manifest is not None:
        verify_manifest(manifest, files)
    extracted_at = extract_date(manifest, files)
    report = IngestReport(
        extract_dir=str(extract_dir),
        extract_id=(manifest or {}).get("extract_id"),
        extracted_at=extracted_at.isoformat(),
        manifest_sha256=manifest_sha,
    )
    for schema in ("landing", "raw", "quarantine"):
        con.execute(f"create schema if not exists {schema}")

    for table in TABLE_ORDER:
        path = files[table]
        columns = _read_as_text(con, table, path)
        unknown = _normalise_columns(con, table, path, columns, report)
        rows = con.execute(f'select count(*) from landing."{table}"').fetchone()[0]
        if rows == 0:
            raise ExtractRefused(f"{path.name}: the table has no data rows; an extract needs every table filled.")
        listed = ((manifest or {}).get("files") or {}).get(path.name) or {}
        if listed.get("rows") is not None and int(listed["rows"]) != rows:
            raise ExtractRefused(
                f"{path.name}: {rows} data rows read but manifest.json says {int(listed['rows'])}; "
                "the file is truncated or the manifest is stale."
            )
        report.tables[table] = TableLoad(table=table, file=path.name, rows_read=rows, unknown_columns=unknown)

    checks.run_row_checks(con, extracted_at=extracted_at)
    _stage_accepted_rows(con, report)
    report.tgab_positive_samples = checks.count_tgab_positive(con)
    return report


def _stage_accepted_rows(con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
    """Copy rows not quarantined from landing to raw and reconcile read = staged + quarantined."""
    quarantined = dict(
        con.execute(
            "select source_table, count(distinct source_row) from quarantine.rejected_rows group by source_table"
        ).fetchall()
    )
    for table, load in report.tables.items():
        con.execute(
            f'create or replace table raw."{table}" as select landing.* from landing."{table}" as landing '
            "where not exists (select 1 from quarantine.rejected_rows as rejected "
            "where rejected.source_table = ? and rejected.source_row = landing.source_row) order by source_row",
            [table],
        )
        load.rows_staged = con.execute(f'select count(*) from raw."{table}"').fetchone()[0]
        load.rows_quarantined = int(quarantined.get(table, 0))
        if load.rows_read != load.rows_staged + load.rows_quarantined:
            raise RuntimeError(
                f"{table}: reconciliation failed: {load.rows_read} read != {load.rows_staged} staged + "
                f"{load.rows_quarantined} quarantined"
            )
    con.execute("drop schema landing cascade")
