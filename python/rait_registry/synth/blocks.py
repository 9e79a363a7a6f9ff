"""Blocks as Arrow tables: the clean generator (:func:`iter_blocks`) and :func:`simulate`.

Writes nothing to disk. Each block of :data:`BLOCK_PATIENTS` patients is simulated with its
own generator seeded from ``(seed, block index)`` (:func:`.course.simulate_block`), then
turned into the six Arrow tables of docs/specification.md section 1: ids built straight into Arrow
buffers and continued across blocks, vocabulary codes into text, day numbers into dates.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import UsageError
from .bounds import CASES_STREAM
from .course import simulate_block
from .layout import COLUMN_KINDS, ID_PREFIX, MAX_CENTRES, NULL_DATE, SCHEMAS, TABLE_NAMES, VOCABULARIES, id_width
from .plan import CENTRE_STREAM, CentreEffects

#: Patients per random block: each block has its own generator seeded from (seed, block).
BLOCK_PATIENTS = 20_000


def _id_array(prefix: str, start: int, count: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``start .. start+count-1``, built straight into Arrow buffers."""
    if start + count - 1 >= 10**width:
        raise RuntimeError(f"{prefix} ids overflow {width} digits; raise ROWS_BOUND (a bug in synth).")
    numbers = np.arange(start, start + count, dtype=np.int64)
    prefix_bytes = prefix.encode("ascii")
    size = len(prefix_bytes) + width
    buffer = np.empty((count, size), dtype=np.uint8)
    buffer[:, : len(prefix_bytes)] = np.frombuffer(prefix_bytes, dtype=np.uint8)
    for digit in range(width):
        buffer[:, size - 1 - digit] = (numbers // 10**digit) % 10 + 48
    offsets = np.arange(0, (count + 1) * size, size, dtype=np.int64)
    array = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(buffer)))
    return array.cast(pa.string())


def _to_arrow(
    table: str,
    columns: dict[str, np.ndarray],
    patient_ids: pa.Array,
    rait_ids: pa.Array | None,
    id_start: int,
    width: int,
) -> pa.Table:
    """One table of a block as Arrow, in contract column order and :data:`SCHEMAS` types."""
    count = len(columns["_p"])
    arrays = []
    for column, kind in COLUMN_KINDS[table].items():
        if kind == "id":
            array = _id_array(ID_PREFIX[table], id_start, count, width)
        elif kind == "pid":
            array = patient_ids.take(pa.array(columns["_p"]))
        elif kind == "date":
            values = columns[column]
            null = values == NULL_DATE
            array = pa.array(np.where(null, 0, values).astype(np.int32), mask=null).cast(pa.date32())
        elif kind == "cat":
            values = columns[column]
            array = pa.array(list(VOCABULARIES[column])).take(pa.array(values, type=pa.int8(), mask=values < 0))
        elif kind == "float":
            values = columns[column]
            array = pa.array(values, type=pa.float64(), mask=np.isnan(values))
        elif kind == "int":
            values = columns[column]
            array = pa.array(values.astype(np.int32), type=pa.int32(), mask=values < 0)
        elif kind == "bool":
            values = columns[column]
            array = pa.array(values == 1, type=pa.bool_(), mask=values < 0)
        else:  # ref: local rait row -> rait_id
            values = columns[column]
            assert rait_ids is not None
            array = rait_ids.take(pa.array(values, type=pa.int64(), mask=values < 0))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[table])


def check_args(n_patients: int, seed: int, centres: int | None = None) -> None:
    """Refuse a registry size, seed or number of centres that is not a whole number in range."""
    if isinstance(n_patients, bool) or not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise UsageError(f"n_patients must be a whole number >= 1 (got {n_patients!r}); pass e.g. 160.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0 (got {seed!r}).")
    if centres is not None and (
        isinstance(centres, bool) or not isinstance(centres, (int, np.integer)) or not 1 <= centres <= MAX_CENTRES
    ):
        raise UsageError(
            f"centres must be a whole number from 1 to {MAX_CENTRES} (got {centres!r}); leave it out for the "
            "default registry."
        )


def iter_blocks(n_patients: int, seed: int = 0, centres: int | None = None) -> Iterator[dict[str, pa.Table]]:
    """Simulate the registry block by block (the clean generator; nothing is written).

    Parameters
    ----------
    n_patients
        Registry size (>= 1).
    seed
        Non-negative random seed. Block ``b`` (patients ``b * BLOCK_PATIENTS + 1`` ...) uses
        ``numpy.random.default_rng(SeedSequence([seed, b]))`` for the course and
        ``SeedSequence([seed, b, 2])`` for the cases of :mod:`.bounds`.
    centres
        ``None`` (default): the default registry, three centres C01-C03 drawn last, without
        effects. ``N``: centres C01..CN with centre effects (`.plan.CentreEffects`, drawn once
        from ``SeedSequence(seed, spawn_key=(1,))``), each block's centres from
        ``SeedSequence([seed, b, 1])``; every other draw is that of the default registry.

    Yields
    ------
    dict of pyarrow.Table
        The six raw tables (docs/specification.md section 1 columns, :data:`SCHEMAS` types) for the
        patients of one block; ids continue across blocks.
    """
    check_args(n_patients, seed, centres)
    effects = None if centres is None else CentreEffects.draw(seed, int(centres))
    widths = {table: id_width(table, n_patients) for table in TABLE_NAMES}
    next_id = dict.fromkeys(ID_PREFIX, 1)
    for block, start in enumerate(range(0, n_patients, BLOCK_PATIENTS)):
        count = min(BLOCK_PATIENTS, n_patients - start)
        rng = np.random.default_rng(np.random.SeedSequence([seed, block]))
        cases_rng = np.random.default_rng(np.random.SeedSequence([seed, block, CASES_STREAM]))
        block_centres = None
        if effects is not None:
            block_centres = (np.random.default_rng(np.random.SeedSequence([seed, block, CENTRE_STREAM])), effects)
        raw = simulate_block(rng, count, cases_rng, block_centres)
        patient_ids = _id_array("P", start + 1, count, widths["patients"])
        n_rait = len(raw["rait_administrations"]["_p"])
        rait_ids = _id_array("R", next_id["rait_administrations"], n_rait, widths["rait_administrations"])
        out = {}
        for table in TABLE_NAMES:
            id_start = next_id.get(table, 0)
            out[table] = _to_arrow(table, raw[table], patient_ids, rait_ids, id_start, widths[table])
            if table in next_id:
                next_id[table] += out[table].num_rows
        yield out


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    mapper = {pa.bool_(): pd.BooleanDtype(), pa.int32(): pd.Int64Dtype()}.get
    frame = table.to_pandas(types_mapper=mapper, date_as_object=False)
    for field in table.schema:
        if pa.types.is_date32(field.type):
            frame[field.name] = frame[field.name].astype("datetime64[ns]")
    return frame


def simulate(n_patients: int, seed: int = 0, centres: int | None = None) -> dict[str, pd.DataFrame]:
    """Simulate a registry and return its six raw tables as DataFrames.

    Parameters
    ----------
    n_patients
        Number of patients (the default registry has 160).
    seed
        Random seed; the same ``(n_patients, seed)`` always gives the same tables.
    centres
        Number of centres with centre effects (`iter_blocks`); None: the default registry.

    Returns
    -------
    dict of DataFrame
        ``patients``, ``surgeries``, ``rait_administrations``, ``lab_results``,
        ``imaging_findings``, ``follow_up`` with the docs/specification.md section 1 columns in contract
        order: text as ``object``, dates ``datetime64[ns]``, decimals ``float64``, integers
        ``Int64``, booleans ``boolean`` (missing = NA). Raw events only, nothing derived.

    Notes
    -----
    Holds the whole registry in memory; for large registries write it with
    :func:`~rait_registry.synth.write_extract` (chunked) instead.
    """
    parts: dict[str, list[pa.Table]] = {table: [] for table in TABLE_NAMES}
    for block in iter_blocks(n_patients, seed, centres):
        for table in TABLE_NAMES:
            parts[table].append(block[table])
    return {table: _to_pandas(pa.concat_tables(parts[table])) for table in TABLE_NAMES}
