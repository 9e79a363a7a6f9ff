"""The extract layout as the simulator holds it: column kinds, vocabulary codes, row accumulation.

Inside a block, every text column with a vocabulary is an ``int8`` code into the contract's
vocabulary (:mod:`rait_registry.contract`), every date a day number, and every table a set of
column arrays with a local patient index ``_p``. The phases add rows to a :class:`TableRows`
in vectorised parts; :meth:`TableRows.finish` sorts them by (patient, date, order), which is
the row order of the extract. Conversion to Arrow (ids, text) is in :mod:`.blocks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ..contract import TABLES

#: The six tables of docs/specification.md section 1, in the order they are written.
TABLE_NAMES = (
    "patients",
    "surgeries",
    "rait_administrations",
    "lab_results",
    "imaging_findings",
    "follow_up",
)

#: ``center_id`` is free text in the contract; the default simulated registry has the first three of
#: these centres, ``synth --centres N`` the first N (:data:`MAX_CENTRES` at most).
MAX_CENTRES = 99
CENTRE_IDS = tuple(f"C{i:02d}" for i in range(1, MAX_CENTRES + 1))

#: Kind of every column: id, pid (patient id), date, cat (vocabulary code), float, int, bool,
#: ref (local rait row index -> rait_id).
COLUMN_KINDS: dict[str, dict[str, str]] = {
    "patients": {"patient_id": "pid", "sex": "cat", "birth_date": "date", "center_id": "cat"},
    "surgeries": {
        "surgery_id": "id",
        "patient_id": "pid",
        "surgery_date": "date",
        "procedure": "cat",
        "histology": "cat",
        "max_tumor_size_cm": "float",
        "t_stage": "cat",
        "n_stage": "cat",
        "ete": "cat",
        "resection": "cat",
        "vascular_invasion_foci": "int",
        "positive_nodes": "int",
        "largest_node_cm": "float",
        "aggressive_variant": "bool",
    },
    "rait_administrations": {
        "rait_id": "id",
        "patient_id": "pid",
        "admin_date": "date",
        "activity": "float",
        "activity_unit": "cat",
        "preparation": "cat",
        "intent": "cat",
    },
    "lab_results": {
        "lab_id": "id",
        "patient_id": "pid",
        "sample_date": "date",
        "analyte": "cat",
        "value": "float",
        "comparator": "cat",
        "unit": "cat",
        "tgab_cutoff": "float",
    },
    "imaging_findings": {
        "finding_id": "id",
        "patient_id": "pid",
        "study_date": "date",
        "modality": "cat",
        "rait_id": "ref",
        "site": "cat",
        "status": "cat",
        "rai_avid": "bool",
        "max_lesion_mm": "float",
        "remnant_uptake": "cat",
        "confirmation": "cat",
    },
    "follow_up": {
        "patient_id": "pid",
        "last_contact_date": "date",
        "vital_status": "cat",
        "death_date": "date",
    },
}
for _table, _kinds in COLUMN_KINDS.items():  # the layout must be exactly docs/specification.md section 1's
    assert list(_kinds) == TABLES[_table].column_names, _table


def _vocabularies() -> dict[str, tuple[str, ...]]:
    """Every coded column (names are unique across tables) -> its contract vocabulary."""
    out: dict[str, tuple[str, ...]] = {"center_id": CENTRE_IDS}
    for table, kinds in COLUMN_KINDS.items():
        for column, kind in kinds.items():
            if kind == "cat" and column not in out:
                vocabulary = TABLES[table].column(column).vocabulary
                assert vocabulary is not None, (table, column)
                out[column] = vocabulary
    return out


#: Coded column -> vocabulary; a code is the index of its value.
VOCABULARIES: dict[str, tuple[str, ...]] = _vocabularies()


def code(column: str, value: str) -> int:
    """Code of a vocabulary value of ``column``."""
    return VOCABULARIES[column].index(value)


def codes(column: str, values) -> np.ndarray:
    """``int8`` codes of several values of ``column``, in the order given."""
    return np.array([code(column, value) for value in values], dtype=np.int8)


_ARROW_TYPES = {
    "id": pa.string(),
    "pid": pa.string(),
    "date": pa.date32(),
    "cat": pa.string(),
    "float": pa.float64(),
    "int": pa.int32(),
    "bool": pa.bool_(),
    "ref": pa.string(),
}
#: Arrow schema of each table as written (Parquet keeps these types; CSV writes them as text).
SCHEMAS: dict[str, pa.Schema] = {
    table: pa.schema([(column, _ARROW_TYPES[kind]) for column, kind in kinds.items()])
    for table, kinds in COLUMN_KINDS.items()
}

#: Prefix of the row ids of the event tables.
ID_PREFIX = {"surgeries": "S", "rait_administrations": "R", "lab_results": "L", "imaging_findings": "F"}
#: Upper bound of rows per patient, used only to fix the zero-padded width of the ids.
ROWS_BOUND = {"surgeries": 10, "rait_administrations": 10, "lab_results": 1000, "imaging_findings": 1000}


def id_width(table: str, n_patients: int) -> int:
    """Digits of the zero-padded ids of ``table`` for a registry of ``n_patients``."""
    if table in ("patients", "follow_up"):
        return max(6, len(str(n_patients)))
    return max(6, len(str(n_patients * ROWS_BOUND[table])))


#: Missing date (day number).
NULL_DATE = np.iinfo(np.int64).min


class TableRows:
    """Rows of one table for one block, added in vectorised parts, sorted at the end.

    Rows are sorted by (patient, date, ``order``) and, for equal keys, kept in the order of
    the :meth:`add` calls: the order in which the phases add their rows is part of the output.
    """

    _NULL = {"cat": -1, "float": np.nan, "int": -1, "bool": -1, "ref": -1, "date": NULL_DATE}
    _DTYPE = {"cat": np.int8, "float": np.float64, "int": np.int32, "bool": np.int8, "ref": np.int64, "date": np.int64}

    def __init__(self, table: str) -> None:
        self.table = table
        self.kinds = {c: k for c, k in COLUMN_KINDS[table].items() if k not in ("id", "pid")}
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, patient: np.ndarray, date, order: int = 0, **columns) -> None:
        """Add rows for the local patient indices ``patient`` on ``date`` (scalars broadcast).

        A text value is a vocabulary value of its column; absent columns are missing.
        """
        patient = np.asarray(patient, dtype=np.int64)
        count = len(patient)
        if count == 0:
            return
        part = {
            "_p": patient,
            "_date": np.broadcast_to(np.asarray(date, dtype=np.int64), (count,)),
            "_order": np.full(count, order, dtype=np.int64),
        }
        for name, values in columns.items():
            kind = self.kinds[name]
            if isinstance(values, str):
                values = code(name, values)
            part[name] = np.broadcast_to(np.asarray(values, dtype=self._DTYPE[kind]), (count,))
        self.parts.append(part)

    def finish(self, date_column: str) -> dict[str, np.ndarray]:
        """Concatenate, fill absent columns with nulls, sort by (patient, date, order)."""
        kinds = {c: k for c, k in self.kinds.items() if c != date_column}
        if not self.parts:
            out = {"_p": np.zeros(0, np.int64), date_column: np.zeros(0, np.int64)}
            for column, kind in kinds.items():
                out[column] = np.zeros(0, self._DTYPE[kind])
            return out
        patient = np.concatenate([part["_p"] for part in self.parts])
        date = np.concatenate([part["_date"] for part in self.parts])
        order = np.concatenate([part["_order"] for part in self.parts])
        key = (patient << 24) + ((date + 40_000) << 8) + order
        sort = np.argsort(key, kind="stable")
        out = {"_p": patient[sort], date_column: date[sort]}
        for column, kind in kinds.items():
            arrays = [
                part[column] if column in part else np.full(len(part["_p"]), self._NULL[kind], dtype=self._DTYPE[kind])
                for part in self.parts
            ]
            out[column] = np.concatenate(arrays)[sort]
        return out


@dataclass
class EventRows:
    """The rows of the five event tables of one block, filled phase by phase."""

    surgeries: TableRows = field(default_factory=lambda: TableRows("surgeries"))
    rait_administrations: TableRows = field(default_factory=lambda: TableRows("rait_administrations"))
    lab_results: TableRows = field(default_factory=lambda: TableRows("lab_results"))
    imaging_findings: TableRows = field(default_factory=lambda: TableRows("imaging_findings"))
    follow_up: TableRows = field(default_factory=lambda: TableRows("follow_up"))
