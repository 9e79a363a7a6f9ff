"""pandera models of the six raw tables (``docs/specification.md`` section 1), generated from
:mod:`rait_registry.contract`.

Each model's fields are generated from the contract's definition of the table
(:func:`_raw_model`): the data type of each column, nullable unless required, the vocabulary
(``isin``), the range (``contract_range``) and a parser per text column; only the cross-column
rules of a table are written here (a small model per table whose dataframe checks the generated
model inherits). They state, in pandera, the same row and within-table rules that the SQL checks
of :mod:`rait_registry.checks` apply at scale in DuckDB; ``tests/test_schemas.py`` keeps the two
in agreement by generating bad rows per rule and checking that both reject exactly the same rows.

The models validate a table *as read* (text, ``None`` for an empty field) and coerce it at this
raw boundary into typed columns:

* surrounding spaces are trimmed and an empty field is missing (parsers);
* vocabulary values are matched case-insensitively and returned in contract spelling (parsers);
* dates, decimals, integers and booleans are coerced by strict data types (:class:`IsoDate`,
  :class:`StrictDecimal`, :class:`StrictInteger`, :class:`StrictBoolean`) that accept exactly
  what the SQL checks accept -- never ``12/31/2019``, ``2,5`` or ``yes`` -- so a bad value is a
  coercion failure, reported per row.

Rules that need other tables (references, date order, one follow_up row per patient) are
SQL-only: see ``docs/quarantine-reasons.md``. ``extracted_at`` (dates after the extract date) is
added by :func:`raw_schema`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import dtypes, extensions
from pandera.engines import pandas_engine
from pandera.typing import Series

from rait_registry.checks import DATE_PATTERN, DECIMAL_PATTERN, INTEGER_PATTERN
from rait_registry.contract import (
    ACTIVITY_PLAUSIBLE_GBQ,
    ACTIVITY_UNITS_TO_GBQ,
    ANALYTES,
    LAB_UNIT_VOCABULARY,
    LAB_UNITS,
    TABLES,
    Column,
)

__all__ = [
    "RAW_MODELS",
    "FollowUp",
    "ImagingFindings",
    "IsoDate",
    "LabResults",
    "Patients",
    "RaitAdministrations",
    "StrictBoolean",
    "StrictDecimal",
    "StrictInteger",
    "Surgeries",
    "raw_schema",
]

_DATE = re.compile(DATE_PATTERN)
_DECIMAL = re.compile(DECIMAL_PATTERN)
_INTEGER = re.compile(INTEGER_PATTERN)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str | None:
    """Trimmed text of a cell as read; None when empty (the SQL ``nullif(trim(x), '')``)."""
    if _missing(value):
        return None
    text = str(value).strip(" ")
    return text or None


class _StrictType(pandas_engine.DataType):
    """Coerce cell by cell with :meth:`parse`; any cell it rejects is a coercion failure case."""

    def parse(self, text: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def coerce_value(self, value: Any) -> Any:
        text = _text(value)
        return self.missing if text is None else self.parse(text)

    def coerce(self, data_container: pd.Series) -> pd.Series:
        values = [self.coerce_value(v) for v in data_container]
        return pd.Series(values, index=data_container.index, name=data_container.name, dtype=self.type)


@pandas_engine.Engine.register_dtype
@dtypes.immutable
class IsoDate(_StrictType, dtypes.Timestamp):
    """A calendar date written ``YYYY-MM-DD`` (nothing else), as ``datetime64[s]`` (years 1-9999,
    like the SQL checks; nanosecond timestamps would stop at 1677 and 2262)."""

    type = pd.api.types.pandas_dtype("datetime64[s]")
    missing = np.datetime64("NaT", "s")

    def parse(self, text: str) -> np.datetime64:
        if not _DATE.fullmatch(text):
            raise ValueError("not YYYY-MM-DD")
        day = dt.date.fromisoformat(text)  # raises for 2019-02-30 and year 0
        return np.datetime64(day, "s")

    def check(self, pandera_dtype, data_container=None):
        if data_container is not None:
            return data_container.dtype == self.type
        return pd.api.types.is_datetime64_dtype(getattr(pandera_dtype, "type", None))

    def __str__(self) -> str:
        return "iso_date"


@pandas_engine.Engine.register_dtype
@dtypes.immutable
class StrictDecimal(_StrictType, dtypes.Float64):
    """A finite decimal number (optional sign, digits, ``.`` fraction, exponent), as float64."""

    type = pd.api.types.pandas_dtype("float64")
    missing = np.nan

    def parse(self, text: str) -> float:
        if not _DECIMAL.fullmatch(text):
            raise ValueError("not a decimal")
        value = float(text)
        if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
            raise ValueError("not finite")
        return value

    def __str__(self) -> str:
        return "strict_decimal"


@pandas_engine.Engine.register_dtype
@dtypes.immutable
class StrictInteger(_StrictType, dtypes.Int64):
    """A whole number (``3`` or ``3.0``) within 32-bit range, as nullable ``Int64``."""

    type = pd.Int64Dtype()
    missing = pd.NA

    def parse(self, text: str) -> int:
        if not _INTEGER.fullmatch(text):
            raise ValueError("not a whole number")
        value = int(text.split(".")[0])
        if not -(2**31) <= value < 2**31:
            raise ValueError("out of 32-bit range")
        return value

    def __str__(self) -> str:
        return "strict_integer"


@pandas_engine.Engine.register_dtype
@dtypes.immutable
class StrictBoolean(_StrictType, dtypes.Bool):
    """``true`` / ``false`` (case-insensitive), as nullable ``boolean``."""

    type = pd.BooleanDtype()
    missing = pd.NA

    def parse(self, text: str) -> bool:
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError("not true/false")
        return lowered == "true"

    def __str__(self) -> str:
        return "strict_boolean"


def _canonical(vocabulary: tuple[str, ...]):
    lookup = {v.lower(): v for v in vocabulary}

    def parse(series: pd.Series) -> pd.Series:
        def one(value: Any) -> Any:
            text = _text(value)
            return None if text is None else lookup.get(text.lower(), text)

        return series.map(one).astype(object)

    return parse


def _trim(series: pd.Series) -> pd.Series:
    return series.map(_text).astype(object)


def _numbers(series: pd.Series) -> pd.Series:
    """Numeric view of a column for range checks; cells that are not numbers are left to the
    coercion failure already reported for them."""
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    return pd.to_numeric(series.map(_text), errors="coerce").astype("float64")


def _register_checks() -> None:
    """Register the contract's checks with pandera (once): they work on a coerced column and on a
    column whose coercion failed (then only the valid cells are judged)."""
    if hasattr(pa.Check, "contract_range"):
        return

    @extensions.register_check_method(statistics=["min_value", "min_inclusive", "max_value", "max_inclusive"])
    def contract_range(series, *, min_value, min_inclusive, max_value, max_inclusive):
        values = _numbers(series)
        ok = pd.Series(True, index=series.index)
        if min_value is not None:
            ok &= (values >= min_value) if min_inclusive else (values > min_value)
        if max_value is not None:
            ok &= (values <= max_value) if max_inclusive else (values < max_value)
        return ok | values.isna()

    @extensions.register_check_method(statistics=["limit"])
    def not_after(series, *, limit):
        dates = _strict(series, IsoDate())
        return ~(dates > pd.Timestamp(limit)).fillna(False).astype(bool)


def _range(min_value=None, max_value=None, min_inclusive=True, max_inclusive=True) -> dict:
    return {
        "contract_range": {
            "min_value": min_value,
            "min_inclusive": min_inclusive,
            "max_value": max_value,
            "max_inclusive": max_inclusive,
        }
    }


def _strict(series: pd.Series, data_type: _StrictType) -> pd.Series:
    """``series`` coerced by ``data_type``, invalid cells missing (a column whose coercion failed
    stays as read; cross-column checks must not guess at it, the coercion failure is reported)."""
    if series.dtype == data_type.type:
        return series

    def one(value: Any) -> Any:
        try:
            return data_type.coerce_value(value)
        except (ValueError, TypeError):
            return data_type.missing

    return pd.Series([one(v) for v in series], index=series.index, dtype=data_type.type)


def _key_rule(df: pd.DataFrame, key: str) -> pd.Series:
    """False for every row of a key shared with different values and every later exact copy."""
    normalised = df.astype(object).where(df.notna(), None).astype(str)
    later_copy = normalised.duplicated(keep="first")
    distinct_per_key = normalised[df[key].notna()].drop_duplicates().groupby(df[key]).size()
    conflicting = df[key].map(distinct_per_key).fillna(1) > 1
    return ~(later_copy | conflicting)


#: contract dtype -> the pandera data type that coerces a cell as read.
_DATA_TYPES: dict[str, type] = {
    "text": str,
    "date": IsoDate,
    "decimal": StrictDecimal,
    "integer": StrictInteger,
    "boolean": StrictBoolean,
}


def _field(column: Column) -> Any:
    """The pandera field of a contract column: nullable unless required, the vocabulary as
    ``isin`` (its first check) and the range as ``contract_range``."""
    checks: dict[str, Any] = {}
    if column.vocabulary is not None:
        checks["isin"] = list(column.vocabulary)
    if column.min_value is not None or column.max_value is not None:
        checks.update(_range(column.min_value, column.max_value, column.min_inclusive, column.max_inclusive))
    return pa.Field(nullable=not column.required, description=column.description or None, **checks)


def _parser(column: Column) -> Any:
    """The parser of a text column: a vocabulary value in contract spelling, other text trimmed.
    Typed columns need none (their data type trims and parses)."""
    if column.vocabulary is not None:
        parse = _canonical(column.vocabulary)
        return pa.parser(column.name)(lambda cls, series: parse(series))
    return pa.parser(column.name)(lambda cls, series: _trim(series))


def _raw_model(table: str, rules: type[pa.DataFrameModel]) -> type[pa.DataFrameModel]:
    """The pandera model of raw ``table``, generated from :data:`rait_registry.contract.TABLES`:
    one field per column (dtype, nullable, vocabulary, range), a parser per text column and the
    key rule; the cross-column checks are inherited from ``rules``."""
    spec = TABLES[table]
    name = rules.__name__.lstrip("_")
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name}
    for column in spec.columns:
        annotations[column.name] = Series[_DATA_TYPES[column.dtype]]
        namespace[column.name] = _field(column)
        if column.dtype == "text":
            namespace[f"_parse_{column.name}"] = _parser(column)
    namespace["_key"] = pa.dataframe_check(name="key_unique_up_to_exact_duplicates")(
        lambda cls, df: _key_rule(df, spec.key)
    )
    namespace["__annotations__"] = annotations
    namespace["__doc__"] = f"{table} -- {spec.description}"
    namespace["Config"] = type("Config", (), {"name": table, "strict": True, "coerce": True})
    return type(name, (rules,), namespace)


_register_checks()


# -- the cross-column rules of each table (the columns come from contract.py) -----------------


class _Patients(pa.DataFrameModel):
    """patients: no cross-column rule."""


class _Surgeries(pa.DataFrameModel):
    """surgeries: no cross-column rule."""


class _RaitAdministrations(pa.DataFrameModel):
    """rait_administrations: the activity in GBq is plausible."""

    @pa.dataframe_check(name="activity_plausible_0_5_to_15_gbq")
    def _plausible(cls, df: pd.DataFrame) -> pd.Series:
        activity = _strict(df["activity"], StrictDecimal())
        gbq = activity * df["activity_unit"].map(ACTIVITY_UNITS_TO_GBQ).astype(float)
        low, high = ACTIVITY_PLAUSIBLE_GBQ
        unknown = gbq.isna() | ~(activity > 0)
        return unknown | gbq.between(low, high)


class _LabResults(pa.DataFrameModel):
    """lab_results: the unit suits the analyte."""

    @pa.dataframe_check(name="unit_valid_for_analyte")
    def _unit_for_analyte(cls, df: pd.DataFrame) -> pd.Series:
        known = df["analyte"].isin(list(ANALYTES)) & df["unit"].isin(list(LAB_UNIT_VOCABULARY))
        allowed = [unit in LAB_UNITS.get(analyte, {}) for analyte, unit in zip(df["analyte"], df["unit"])]
        return ~known | pd.Series(allowed, index=df.index, dtype=bool)


class _ImagingFindings(pa.DataFrameModel):
    """imaging_findings: a post-therapy scan names its administration."""

    @pa.dataframe_check(name="rxwbs_needs_rait_id")
    def _rxwbs(cls, df: pd.DataFrame) -> pd.Series:
        return ~((df["modality"] == "RxWBS") & df["rait_id"].isna())


class _FollowUp(pa.DataFrameModel):
    """follow_up: a death date exactly when dead, and no contact after it."""

    @pa.dataframe_check(name="death_date_iff_dead")
    def _death_date(cls, df: pd.DataFrame) -> pd.Series:
        given = df["death_date"].map(_text).notna()
        dead_without = (df["vital_status"] == "dead") & ~given
        alive_with = (df["vital_status"] == "alive") & given
        return ~(dead_without | alive_with)

    @pa.dataframe_check(name="last_contact_not_after_death")
    def _contact_before_death(cls, df: pd.DataFrame) -> pd.Series:
        last_contact = _strict(df["last_contact_date"], IsoDate())
        death = _strict(df["death_date"], IsoDate())
        return ~(last_contact > death).fillna(False).astype(bool)


Patients = _raw_model("patients", _Patients)
Surgeries = _raw_model("surgeries", _Surgeries)
RaitAdministrations = _raw_model("rait_administrations", _RaitAdministrations)
LabResults = _raw_model("lab_results", _LabResults)
ImagingFindings = _raw_model("imaging_findings", _ImagingFindings)
FollowUp = _raw_model("follow_up", _FollowUp)


#: table name -> pandera model.
RAW_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "patients": Patients,
    "surgeries": Surgeries,
    "rait_administrations": RaitAdministrations,
    "lab_results": LabResults,
    "imaging_findings": ImagingFindings,
    "follow_up": FollowUp,
}


def raw_schema(table: str, extracted_at: dt.date | None = None) -> pa.DataFrameSchema:
    """The pandera schema of raw ``table``; with ``extracted_at``, no date may be after it."""
    schema = RAW_MODELS[table].to_schema()
    if extracted_at is None:
        return schema
    limit = pd.Timestamp(extracted_at)
    for column in TABLES[table].columns:
        if column.dtype == "date":
            existing = list(schema.columns[column.name].checks)
            schema = schema.update_column(column.name, checks=[*existing, pa.Check.not_after(limit=limit.isoformat())])
    return schema
