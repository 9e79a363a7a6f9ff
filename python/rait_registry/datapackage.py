"""The extract format as a Frictionless Data Package (Table Schema), generated from contract.py.

``rait-registry schema`` writes it (``datapackage.json``): one tabular resource per raw table
(``<table>.csv``) with its fields (type, format, description, example, unit) and constraints
(``required``, ``enum``, ``minimum`` / ``exclusiveMinimum`` / ``maximum`` /
``exclusiveMaximum``), the primary key, the foreign keys and ``missingValues: [""]``. A hospital
can check an extract with any Frictionless tool before it reaches rait-registry, e.g.
``frictionless validate extract/datapackage.json``.

The Table Schema states the rules of one value, one row's key and the references between tables.
The rules of specification section 1 it cannot state are listed in :data:`NOT_EXPRESSED` (and in
the package's description): ``rait-registry validate`` applies every rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import __version__
from .contract import TABLE_ORDER, TABLES, Column, Table

#: Table Schema field type of each column type of :data:`rait_registry.contract.DTYPES`.
FIELD_TYPES = {"text": "string", "date": "date", "decimal": "number", "integer": "integer", "boolean": "boolean"}

#: The spellings of a boolean the Table Schema accepts (ingest accepts any letter case).
TRUE_VALUES = ["true", "True", "TRUE"]
FALSE_VALUES = ["false", "False", "FALSE"]

TABLE_SCHEMA_PROFILE = "https://datapackage.org/profiles/2.0/tableschema.json"
DATA_PACKAGE_PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"

#: Rules of specification section 1 that a Table Schema cannot express; `rait-registry validate`
#: and `refresh` apply them (docs/extract-format.md lists them too).
NOT_EXPRESSED: tuple[str, ...] = (
    "Spelling: ingest trims the spaces around a value and matches vocabulary values, booleans and column "
    "names without regard to letter case (`ptc`, ` Lung`, `TRUE` and `True` are accepted and stored as "
    "`PTC`, `lung`, `true`). The Table Schema states the spelling rait-registry stores, so a Frictionless "
    "tool reports such a value as an error that a refresh would accept.",
    "An integral decimal such as `3.0` in an integer column is accepted by ingest, not by the Table Schema.",
    "Rules across the columns of a row: `rait_id` is required when `modality` is `RxWBS`; `death_date` is "
    "given exactly when `vital_status` is `dead` and is not before `last_contact_date`; a lab `unit` must be "
    "one accepted for the row's `analyte`; an activity must be plausible once converted to GBq.",
    "Rules across rows and tables: no date after the extract date; no event before the patient's birth, after "
    "their death or after their last contact; no administration before the patient's first operation; an "
    "RxWBS names an administration of the same patient; every patient has exactly one `follow_up` row (the "
    "key makes it at most one).",
    "Consequences: a row that refers to a quarantined row is quarantined too (a patient without an accepted "
    "`follow_up` row loses all their rows); of rows that are exact copies, ingest keeps the first (the Table "
    "Schema reports a duplicate key).",
    "Files: a table may also be a Parquet file (`<table>.parquet`), which this package does not describe; "
    "`manifest.json` (row counts and sha256 of the files, the extract date) is checked by ingest.",
)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def field(column: Column) -> dict[str, Any]:
    """The Table Schema field of one contract column."""
    out: dict[str, Any] = {"name": column.name, "type": FIELD_TYPES[column.dtype]}
    if column.dtype == "date":
        out["format"] = "default"  # YYYY-MM-DD
    out["description"] = column.description
    if column.example is not None:
        out["example"] = column.example
    if column.unit:
        out["unit"] = column.unit  # not a Table Schema property: documentation for the reader
    if column.dtype == "boolean":
        out["trueValues"], out["falseValues"] = TRUE_VALUES, FALSE_VALUES
    constraints: dict[str, Any] = {"required": column.required}
    if column.vocabulary is not None:
        constraints["enum"] = list(column.vocabulary)
    if column.min_value is not None:
        constraints["minimum" if column.min_inclusive else "exclusiveMinimum"] = _number(column.min_value)
    if column.max_value is not None:
        constraints["maximum" if column.max_inclusive else "exclusiveMaximum"] = _number(column.max_value)
    out["constraints"] = constraints
    return out


def table_schema(table: Table) -> dict[str, Any]:
    """The Table Schema of one raw table."""
    return {
        "$schema": TABLE_SCHEMA_PROFILE,
        "fields": [field(column) for column in table.columns],
        # columns in any order; unknown columns are dropped by ingest; optional columns may be absent
        "fieldsMatch": "partial",
        "missingValues": [""],
        "primaryKey": [table.key],
        "foreignKeys": [
            {"fields": [column], "reference": {"resource": target, "fields": [TABLES[target].key]}}
            for column, target in table.references.items()
        ],
    }


def resource(table: Table) -> dict[str, Any]:
    """The tabular data resource of one raw table, read from ``<table>.csv``."""
    return {
        "name": table.name,
        "type": "table",
        "path": f"{table.name}.csv",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "description": table.description,
        "dialect": {"header": True, "delimiter": ",", "quoteChar": '"', "doubleQuote": True},
        "schema": table_schema(table),
    }


def datapackage() -> dict[str, Any]:
    """The Data Package descriptor of a rait-registry extract (the six tables, in loading order)."""
    return {
        "$schema": DATA_PACKAGE_PROFILE,
        "name": "rait-registry-extract",
        "title": "rait-registry raw registry extract",
        "version": __version__,
        "description": (
            "The six tables of a rait-registry extract (docs/specification.md section 1), generated from "
            "python/rait_registry/contract.py by `rait-registry schema`. Not expressed in this Table Schema "
            "(`rait-registry validate` checks them): " + " ".join(NOT_EXPRESSED)
        ),
        "resources": [resource(TABLES[name]) for name in TABLE_ORDER],
    }


def to_json(descriptor: dict[str, Any] | None = None) -> str:
    """The descriptor as the text of ``datapackage.json`` (indented, ending in a newline)."""
    return json.dumps(descriptor if descriptor is not None else datapackage(), indent=2, ensure_ascii=False) + "\n"


def write(path: str | Path) -> Path:
    """Write ``datapackage.json`` to ``path`` (a file, or a folder to hold ``datapackage.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "datapackage.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(), encoding="utf-8")
    return path
