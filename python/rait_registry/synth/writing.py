"""Writing an extract: CSV / Parquet sinks, batching by patients, ``manifest.json``.

Writes the six table files and the manifest of docs/specification.md section 1. Separate from the clean
generator (:func:`.blocks.iter_blocks`) so that a transformation, such as fault injection,
can sit between the blocks and the files; ``chunk_size`` only sets how many patients are
written at once (Parquet row groups), never the data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..exceptions import UsageError
from .blocks import check_args, iter_blocks
from .layout import NULL_DATE, TABLE_NAMES
from .sampling import EPOCH
from .timeline import CUTOFF_DAY


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _CsvSink:
    """One CSV file: header written once, unquoted values (none contains , " or newline)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.handle = open(path, "wb")
        self.handle.write((",".join(schema.names) + "\n").encode("utf-8"))
        self.writer = pacsv.CSVWriter(
            self.handle, schema, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none")
        )

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()
        self.handle.close()


class _ParquetSink:
    """One Parquet file (snappy), one row group per batch."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.writer = pq.ParquetWriter(path, schema, compression="snappy")

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))

    def close(self) -> None:
        self.writer.close()


def _check_format(fmt: str) -> None:
    if fmt not in ("csv", "parquet"):
        raise UsageError(f"fmt must be 'csv' or 'parquet' (got {fmt!r}).")


def write_blocks(
    out_dir: str | Path,
    blocks: Iterable[dict[str, pa.Table]],
    fmt: str = "csv",
    chunk_size: int = 100_000,
    extract_id: str = "synth",
) -> Path:
    """Write blocks of the six tables as an extract folder with ``manifest.json``.

    The writing half of :func:`write_extract`, separate from the clean generator so that a
    transformation (e.g. fault injection) can sit between :func:`~.blocks.iter_blocks` and
    the files.

    Parameters
    ----------
    out_dir
        Folder to write into (created if needed). A table file of the *other* format
        already there is refused: it would make the extract ambiguous.
    blocks
        Iterable of ``{table: pyarrow.Table}`` holding the six tables; every block of a
        table must have the same schema (that of its first block is used).
    fmt
        ``"csv"`` or ``"parquet"``.
    chunk_size
        Patients (rows of ``patients``) gathered before a batch is written; one Parquet row
        group per batch.
    extract_id
        The manifest's ``extract_id``.

    Returns
    -------
    pathlib.Path
        The extract folder.
    """
    _check_format(fmt)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise UsageError(f"chunk_size must be a whole number >= 1 (got {chunk_size!r}).")
    out = Path(out_dir)
    other = "parquet" if fmt == "csv" else "csv"
    clash = [f"{table}.{other}" for table in TABLE_NAMES if (out / f"{table}.{other}").exists()]
    if clash:
        raise UsageError(
            f"{out} already holds {', '.join(clash)}; writing {fmt} beside them would make the extract "
            "ambiguous. Choose an empty folder or remove those files."
        )
    out.mkdir(parents=True, exist_ok=True)
    names = {table: f"{table}.{fmt}" for table in TABLE_NAMES}
    sink_class = _CsvSink if fmt == "csv" else _ParquetSink
    sinks: dict[str, _CsvSink | _ParquetSink] = {}
    rows = dict.fromkeys(TABLE_NAMES, 0)
    latest = NULL_DATE
    pending: list[dict[str, pa.Table]] = []
    pending_patients = 0

    def flush() -> None:
        nonlocal pending, pending_patients, latest
        if not pending:
            return
        for name in TABLE_NAMES:
            table = pa.concat_tables([block[name] for block in pending]) if len(pending) > 1 else pending[0][name]
            for field in table.schema:
                if pa.types.is_date32(field.type):
                    most_recent = pc.max(table[field.name]).cast(pa.int32()).as_py()
                    if most_recent is not None:
                        latest = max(latest, most_recent)
            if name not in sinks:
                sinks[name] = sink_class(out / names[name], table.schema)
            sinks[name].write(table)
            rows[name] += table.num_rows
        pending, pending_patients = [], 0

    try:
        for block in blocks:
            pending.append(block)
            pending_patients += block["patients"].num_rows
            if pending_patients >= chunk_size:
                flush()
        flush()
    finally:
        for sink in sinks.values():
            sink.close()
    if len(sinks) != len(TABLE_NAMES):
        raise UsageError("write_blocks got no block to write; pass at least one block of the six tables.")
    manifest = {
        "extract_id": extract_id,
        "extracted_at": _extracted_at(latest),
        "files": {names[t]: {"rows": rows[t], "sha256": _sha256(out / names[t])} for t in TABLE_NAMES},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out


def _extracted_at(latest_day: int) -> str:
    """The day after the latest date of the extract, 06:00 UTC (the data cut-off when no date)."""
    day = CUTOFF_DAY if latest_day == NULL_DATE else latest_day
    return f"{(EPOCH + np.timedelta64(int(day) + 1, 'D')).astype(str)}T06:00:00Z"


def write_extract(
    out_dir: str | Path,
    n_patients: int = 160,
    seed: int = 0,
    fmt: str = "csv",
    chunk_size: int = 100_000,
    centres: int | None = None,
) -> Path:
    """Simulate a registry and write it as a docs/specification.md section 1 extract.

    Writes ``<table>.csv`` (or ``.parquet``) for the six tables and ``manifest.json``
    ``{"extract_id", "extracted_at", "files": {"<table>.<ext>": {"rows", "sha256"}}}``.

    Parameters
    ----------
    out_dir
        Folder to write into (created if needed). Files of this extract are overwritten; a
        table file of the *other* format already there is refused (it would make the
        extract ambiguous).
    n_patients
        Number of patients; the default registry has 160.
    seed
        Random seed. The same ``(n_patients, seed, fmt)`` writes the same bytes (same
        sha256), on the same library versions.
    fmt
        ``"csv"`` (UTF-8, comma, header, ISO dates, empty = missing, ``true``/``false``) or
        ``"parquet"`` (typed: date32, float64, int32, bool, string).
    chunk_size
        Patients simulated and written per batch (memory bound; one Parquet row group per
        batch). It does not change the data.
    centres
        ``N``: patients in centres C01..CN with centre effects (frailty on progression, RAIT
        practice, case-mix; `.blocks.iter_blocks`); None (default): the default registry,
        unchanged.

    Returns
    -------
    pathlib.Path
        The extract folder.

    Notes
    -----
    ``extracted_at`` is the day after the latest date in the extract (06:00 UTC), so it
    depends on the data, never on the wall clock, and no event is dated after it.

    Examples
    --------
    >>> write_extract("demo/extract")                                   # doctest: +SKIP
    >>> write_extract("big", n_patients=1_000_000, fmt="parquet")       # doctest: +SKIP
    """
    check_args(n_patients, seed, centres)
    _check_format(fmt)
    return write_blocks(
        out_dir,
        iter_blocks(n_patients, seed, centres),
        fmt=fmt,
        chunk_size=chunk_size,
        extract_id=f"synth-n{n_patients}-seed{seed}" + ("" if centres is None else f"-centres{centres}"),
    )
