"""Ingest: verify an extract and load it into the ``raw`` schema of a build database.

Step 1 of the refresh (README.md, "How it works"; docs/specification.md section 1). Every file is read by DuckDB *as text* into
``landing.<table>`` with ``source_row`` (1-based data row: the first record after the header
is 1): a CSV file is parsed once into a landing table; a Parquet file is read through a view
(``read_parquet`` with every column cast to text), so its tens of millions of rows are not
written a second time. The row checks (:mod:`rait_registry.checks`) write every row read
once to ``raw.<table>`` with the contract's types (text trimmed, vocabulary in the contract's
spelling, dates, decimals, integers, booleans), check it there, write every failing row to
``quarantine.rejected_rows`` and delete it from ``raw``, which keeps the accepted rows in file
order; the counts are reconciled: per table, rows read = rows staged + rows quarantined
(distinct source rows). ``landing`` is dropped at the end; the text as read stays only in
``quarantine.rejected_rows.raw_record``.

File-level problems refuse the whole extract with :class:`~rait_registry.exceptions.ExtractRefused`
(exit code 1), naming the file and, where it applies, the column. Messages never contain cell values.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from . import checks
from .console import reporter
from .contract import TABLE_ORDER, TABLES
from .exceptions import ExtractRefused
from .history import content_digest

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
    #: Order-independent hash of the accepted rows' values (``source_row`` left out): equal
    #: fingerprints mean the same records (:func:`fingerprint`).
    fingerprint: str | None = None


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
    #: Where ``extracted_at`` came from: ``manifest``, ``option`` (``--extracted-at``) or ``file times``.
    extracted_at_source: str = "manifest"

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
        raise ExtractRefused(
            f"manifest.json: not valid UTF-8 JSON ({type(exc).__name__}); re-export the manifest."
        ) from None
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
        if entry is not None and not isinstance(entry, dict):
            raise ExtractRefused(f'manifest.json: the entry of {name} must be an object {{"rows", "sha256"}}.')
        rows = (entry or {}).get("rows")
        if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
            raise ExtractRefused(f"manifest.json: rows of {name} must be a whole number >= 0; re-export the manifest.")
        expected = (entry or {}).get("sha256")
        if expected is not None and not (isinstance(expected, str) and re.fullmatch(r"[0-9a-fA-F]{64}", expected)):
            raise ExtractRefused(
                f"manifest.json: sha256 of {name} must be 64 hexadecimal digits; re-export the manifest."
            )
        if expected and sha256_file(by_name[name]) != str(expected).lower():
            raise ExtractRefused(
                f"{name}: sha256 differs from manifest.json; the file changed or was truncated after export."
            )
    unlisted = [path.name for path in files.values() if path.name not in listed]
    if unlisted:
        raise ExtractRefused(
            f"{unlisted[0]}: not listed in manifest.json, so it cannot be verified; re-export the extract "
            "with a complete manifest (or remove manifest.json)."
        )


#: Where the extract date of an ingest came from (``IngestReport.extracted_at_source``).
DATE_SOURCES = ("manifest", "option", "file times")


def resolve_extract_date(
    manifest: dict | None, files: dict[str, Path], extracted_at: dt.date | None = None
) -> tuple[dt.date, str]:
    """The extract date and where it came from (one of :data:`DATE_SOURCES`).

    ``extracted_at`` of the manifest wins; without one, the date given by the operator
    (``--extracted-at``); without that, the newest file's modification date (UTC), which a copy
    or a download may have changed: the ingest warns then.

    Raises
    ------
    UsageError
        A date was given although the manifest has its own (exit code 2).
    ExtractRefused
        The manifest's ``extracted_at`` is not an ISO date.
    """
    if manifest and manifest.get("extracted_at"):
        text = str(manifest["extracted_at"])
        try:
            date = dt.date.fromisoformat(text[:10])
        except ValueError:
            raise ExtractRefused("manifest.json: extracted_at is not an ISO date (YYYY-MM-DD...).") from None
        if extracted_at is not None and extracted_at != date:
            from .exceptions import UsageError

            raise UsageError(
                f"--extracted-at {extracted_at.isoformat()} conflicts with manifest.json, whose extracted_at "
                f"({date.isoformat()}) is the extract's date; --extracted-at is only for an extract without "
                "one. Drop the option, or correct manifest.json."
            )
        return date, "manifest"
    if extracted_at is not None:
        return extracted_at, "option"
    newest = max(path.stat().st_mtime for path in files.values())
    return dt.datetime.fromtimestamp(newest, tz=dt.UTC).date(), "file times"


def extract_date(manifest: dict | None, files: dict[str, Path], extracted_at: dt.date | None = None) -> dt.date:
    """The extract date of :func:`resolve_extract_date`."""
    return resolve_extract_date(manifest, files, extracted_at)[0]


def describe_extract_date(date: dt.date, source: str) -> str:
    """The extract date with where it came from, for messages (``2024-06-30 from manifest.json``)."""
    where = {
        "manifest": "from manifest.json",
        "option": "from --extracted-at",
        "file times": "from the files' modification times",
    }[source]
    return f"{date.isoformat()} ({where})"


def _read_csv_header(path: Path) -> list[str]:
    """The header names of a CSV file, read strictly (UTF-8, optional BOM, comma-separated).

    Only the first line is read here; DuckDB then parses the data rows against exactly these
    columns, so a row with another number of fields is an error instead of a guess.
    """
    with open(path, "rb") as handle:
        first = handle.readline()
    if not first.strip(b"\r\n"):
        raise ExtractRefused(
            f"{path.name}: the file is empty or its first line is blank; the first line must be the header row."
        )
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise ExtractRefused(f"{path.name} line 1: not valid UTF-8; export the file as UTF-8.") from None
    text = text.removeprefix("\ufeff").rstrip("\r\n")
    try:
        names = next(csv.reader([text], delimiter=",", quotechar='"', strict=True))
    except csv.Error:
        raise ExtractRefused(f"{path.name} line 1: the header row is not valid CSV (unbalanced quotes).") from None
    names = [name if name.strip() else f"column{i + 1}" for i, name in enumerate(names)]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise ExtractRefused(f"{path.name}: column {duplicate.strip().lower()} appears twice in the header; keep one.")
    return names


def read_as_text(con: duckdb.DuckDBPyConnection, table: str, path: Path, report: IngestReport) -> list[str]:
    """Make one file readable as ``landing.<table>``; return the unknown columns it dropped.

    ``landing.<table>`` holds ``source_row`` and every contract column of the table as text
    (VARCHAR), in file order; a contract column the file lacks is NULL. A CSV file is parsed
    into a table (once); a Parquet file becomes a view over ``read_parquet``, read again by each
    check instead of being copied (a copy of the text of tens of millions of rows costs more at
    registry scale than the reads it saves).
    """
    target = f'landing."{table}"'
    if path.suffix == ".csv":
        header = _read_csv_header(path)
        scan = (
            "read_csv(?, columns = ?, header = true, delim = ',', quote = '\"', escape = '\"', "
            "auto_detect = false, strict_mode = true, null_padding = false, encoding = 'utf-8')"
        )
        try:
            con.execute(
                f"create or replace temp table landing_scan as select * from {scan}",
                [str(path), dict.fromkeys(header, "VARCHAR")],
            )
        except duckdb.Error as exc:
            raise ExtractRefused(_csv_error_message(path, exc, len(header))) from None
        sources, unknown = _normalise_columns(table, path, header, report)
        select = ", ".join(
            f"{_quote(source)} as {_quote(column)}"
            if source is not None
            else f"cast(null as varchar) as {_quote(column)}"
            for column, source in sources.items()
        )
        # the temp table keeps the file's order, so rowid + 1 is the data row number
        con.execute(f"create or replace table {target} as select rowid + 1 as source_row, {select} from landing_scan")
        con.execute("drop table landing_scan")
    else:
        try:
            described = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
        except duckdb.Error as exc:
            raise ExtractRefused(
                f"{path.name}: cannot be read as Parquet ({type(exc).__name__}); re-export the file."
            ) from None
        types = {name: str(data_type) for name, data_type, *_ in described if name != "file_row_number"}
        sources, unknown = _normalise_columns(table, path, list(types), report)
        select = ", ".join(
            _parquet_text(source, types[source], column)
            if source is not None
            else f"cast(null as varchar) as {_quote(column)}"
            for column, source in sources.items()
        )
        # typed Parquet values the checks read directly (checks.NATIVE_TYPES), beside their text
        spec = TABLES[table]
        native = [
            f"{_quote(source)} as {_quote(column + checks.NATIVE_SUFFIX)}"
            for column, source in sources.items()
            if source is not None
            and spec.column(column).vocabulary is None
            and types[source].upper() in checks.NATIVE_TYPES.get(spec.column(column).dtype, ())
        ]
        if native:
            select += ", " + ", ".join(native)
        # a view takes no parameters: the path is an SQL string literal
        location = "'" + str(path.resolve()).replace("'", "''") + "'"
        con.execute(
            f"create or replace view {target} as select file_row_number + 1 as source_row, {select} "
            f"from read_parquet({location}, file_row_number = true)"
        )
    return unknown


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _parquet_text(name: str, data_type: str, alias: str) -> str:
    """A Parquet column as text, named ``alias``. A timestamp exactly at midnight (pandas writes
    date columns as timestamps) is that date; any other time of day stays as read and fails the
    date check."""
    column = _quote(name)
    if data_type.upper() in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        return (
            f"case when cast({column} as time) = time '00:00:00' then strftime({column}, '%Y-%m-%d') "
            f"else cast({column} as varchar) end as {_quote(alias)}"
        )
    return f"cast({column} as varchar) as {_quote(alias)}"


def _csv_error_message(path: Path, exc: duckdb.Error, n_header_fields: int) -> str:
    """A refusal message for a CSV parse error: file, line and kind of problem, never the line's content."""
    text = str(exc)
    lower = text.lower()
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = f"{path.name} line {line.group(1)}" if line else path.name
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if "unicode" in lower or "not utf-8" in lower:
        reason = "not valid UTF-8; export the file as UTF-8"
    elif "unterminated quote" in lower:
        reason = "a quoted value is never closed (the file is truncated or malformed)"
    elif fields:
        found = int(fields.group(2))
        reason = (
            f"{found} field{'s' if found != 1 else ''} where the header has {n_header_fields} "
            "(wrong delimiter, an unquoted comma, or a truncated file)"
        )
    elif "maximum line size" in lower:
        reason = "a line is longer than the reader's limit (not a CSV file, or a quote never closed)"
    else:
        # the first line of DuckDB's message names the kind of problem; later lines quote the data
        first = text.splitlines()[0] if text else ""
        first = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", first)[:160]  # quoted parts may be data
        detail = "" if "original line" in first.lower() else f" ({type(exc).__name__}: {first})"
        reason = f"cannot be parsed as a comma-separated UTF-8 file with a header row{detail}"
    return f"{where}: {reason}; fix the file and run again."


def _normalise_columns(
    table: str, path: Path, columns: list[str], report: IngestReport
) -> tuple[dict[str, str | None], list[str]]:
    """Match the file's header to the contract: lower-case/trim names, drop unknown columns with a
    warning, refuse a missing required column.

    Returns the contract columns in contract order, each with the file's column that holds it
    (None when the file lacks an optional column), and the unknown columns dropped.
    """
    spec = TABLES[table]
    seen: dict[str, str] = {}
    for column in columns:
        if column == "source_row":
            continue  # ingest's own row number; a file's column of that name is not contract data
        name = column.strip().lower()
        if name in seen:
            raise ExtractRefused(f"{path.name}: column {name} appears twice in the header; keep one.")
        seen[name] = column
    if (len(seen) == 1 and ";" in next(iter(seen))) or (len(seen) == 1 and "\t" in next(iter(seen))):
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
    return {c: seen.get(c) for c in spec.column_names}, unknown


def ingest(
    extract_dir: str | Path,
    con: duckdb.DuckDBPyConnection,
    tgab_positive_cutoff: float | None = None,
    extracted_at: dt.date | None = None,
) -> IngestReport:
    """Verify and load an extract into ``raw.*`` of the database behind ``con``.

    Parameters
    ----------
    extract_dir
        Folder with one file per contract table (``<table>.csv`` or ``<table>.parquet``) and an
        optional ``manifest.json``.
    con
        Open read-write connection to the build database.
    tgab_positive_cutoff
        TgAb cut-off (IU/mL) for rows without their own, for the TgAb-positive count; ``None``
        is the declared default of the parameter ``tgab_positive_cutoff`` (:mod:`rait_registry.params`).
    extracted_at
        The extract date when the extract has no manifest date (``--extracted-at``); it decides
        which rows are dated in the future. Without either, the newest file's modification date
        is used, with a warning.

    Progress goes to :func:`rait_registry.console.reporter`: the phase ``ingest`` (one item per
    table read) and ``row checks``.

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
    extracted_at, source = resolve_extract_date(manifest, files, extracted_at)
    report = IngestReport(
        extract_dir=str(extract_dir),
        extract_id=(manifest or {}).get("extract_id"),
        extracted_at=extracted_at.isoformat(),
        manifest_sha256=manifest_sha,
        extracted_at_source=source,
    )
    if source == "file times":
        missing = "no manifest.json" if manifest is None else "manifest.json has no extracted_at"
        report.warnings.append(
            f"{missing}: the extract date is taken from the files' modification times "
            f"({extracted_at.isoformat()}); it decides which rows are dated in the future and whether a later "
            "extract is newer. Pass --extracted-at DATE to set it."
        )
    con.execute("set enable_progress_bar = false")  # long scans must not draw on the command's stdout
    for schema in ("landing", "raw", "quarantine"):
        con.execute(f"create schema if not exists {schema}")

    progress = reporter()
    with progress.phase("ingest", total=len(TABLE_ORDER), unit="tables") as phase:
        for table in TABLE_ORDER:
            path = files[table]
            unknown = read_as_text(con, table, path, report)
            try:
                rows = con.execute(f'select count(*) from landing."{table}"').fetchone()[0]
            except duckdb.Error as exc:
                raise ExtractRefused(
                    f"{path.name}: cannot be read ({type(exc).__name__}); re-export the file."
                ) from None
            if rows == 0:
                raise ExtractRefused(f"{path.name}: the table has no data rows; an extract needs every table filled.")
            listed = ((manifest or {}).get("files") or {}).get(path.name) or {}
            if listed.get("rows") is not None and int(listed["rows"]) != rows:
                raise ExtractRefused(
                    f"{path.name}: {rows} data rows read but manifest.json says {int(listed['rows'])}; "
                    "the file is truncated or the manifest is stale."
                )
            report.tables[table] = TableLoad(table=table, file=path.name, rows_read=rows, unknown_columns=unknown)
            phase.update(rows=sum(load.rows_read for load in report.tables.values()))
            phase.advance(item=f"{path.name}: {rows} rows")

    with progress.phase("row checks") as phase:
        try:
            summary = checks.run_row_checks(con, extracted_at=extracted_at)
            _stage_accepted_rows(con, report)
        except duckdb.IOException as exc:
            # a Parquet file is read again by each check: one changed or damaged since it was opened
            raise ExtractRefused(
                f"an extract file could not be read during the row checks ({type(exc).__name__}); "
                "make sure no file changes while the refresh runs, and re-export damaged files."
            ) from None
        report.tgab_positive_samples = checks.count_tgab_positive(con, default_cutoff=tgab_positive_cutoff)
        phase.update(
            staged=sum(load.rows_staged for load in report.tables.values()),
            quarantined=report.rows_quarantined,
            cross_row_rounds=summary.rounds if summary is not None else 0,
        )
    return report


def _stage_accepted_rows(con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
    """Reconcile, per table, rows read = rows staged + rows quarantined, and drop ``landing``.

    The row checks have left the accepted rows in ``raw.<table>``, typed (the values the rules
    checked: :func:`rait_registry.checks.typed_select`) and in file order.
    """
    quarantined = dict(
        con.execute(
            "select source_table, count(distinct source_row) from quarantine.rejected_rows group by source_table"
        ).fetchall()
    )
    for table, load in report.tables.items():
        load.rows_quarantined = int(quarantined.get(table, 0))
        load.rows_staged = con.execute(f'select count(*) from raw."{table}"').fetchone()[0]
        load.fingerprint = fingerprint(con, table)
        if load.rows_read != load.rows_staged + load.rows_quarantined:
            raise RuntimeError(
                f"{table}: reconciliation failed: {load.rows_read} read != {load.rows_staged} staged + "
                f"{load.rows_quarantined} quarantined"
            )
    con.execute("drop schema landing cascade")


def fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Order-independent fingerprint of the records of ``raw.<table>`` (``source_row`` left out).

    :func:`rait_registry.history.content_digest`, the digest of the mart hashes, over the
    contract columns: a record moving within the file is no change, a repeated record counts
    twice. A refresh compares it with the last published run's to leave the dbt snapshot of an
    unchanged table alone. ``hash()`` may change between DuckDB versions, which can only make a
    table look changed.
    """
    columns = ", ".join(f'"{c}"' for c in TABLES[table].column_names)
    return content_digest(con, f'raw."{table}"', f"row({columns})")[1]
