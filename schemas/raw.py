"""pandera models of the six raw tables of registry contract section 1.

These models state, in pandera, the same row and within-table rules that the SQL checks of
:mod:`rait_registry.checks` apply at scale in DuckDB; ``tests/test_schemas.py`` keeps the two (and
:mod:`rait_registry.contract`) in agreement by generating bad rows per rule and checking that
both reject exactly the same rows.

The models validate a table *as read* (text, ``None`` for an empty field) and coerce it at this
raw boundary into typed columns:

* surrounding spaces are trimmed and an empty field is missing (parsers);
* vocabulary values are matched case-insensitively and returned in contract spelling (parsers);
* dates, decimals, integers and booleans are coerced by strict data types (:class:`IsoDate`,
  :class:`StrictDecimal`, :class:`StrictInteger`, :class:`StrictBoolean`) that accept exactly
  what the SQL checks accept -- never ``12/31/2019``, ``2,5`` or ``yes`` -- so a bad value is a
  coercion failure, reported per row.

Cross-column rules are ``@pa.dataframe_check`` methods. Rules that need other tables
(references, date order, one follow_up row per patient) are SQL-only: see
``docs/quarantine-reasons.md``. ``extracted_at`` (dates after the extract date) is added by
:func:`raw_schema`.
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
    FINDING_STATUSES,
    HISTOLOGIES,
    LAB_UNITS,
    MODALITIES,
    N_STAGES,
    PROCEDURES,
    SITES,
    T_STAGES,
    TABLES,
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


def _text_fields(*names: str):
    """A parser that trims the given text columns."""
    return pa.parser(*names)(lambda cls, series: _trim(series))


def _vocab_parser(name: str, vocabulary: tuple[str, ...]):
    parse = _canonical(vocabulary)
    return pa.parser(name)(lambda cls, series: parse(series))


_register_checks()


class Patients(pa.DataFrameModel):
    """patients -- one row per patient."""

    patient_id: Series[str] = pa.Field(nullable=False)
    sex: Series[str] = pa.Field(nullable=False, isin=["F", "M"])
    birth_date: Series[IsoDate] = pa.Field(nullable=False)
    center_id: Series[str] = pa.Field(nullable=True)

    class Config:
        name = "patients"
        strict = True
        coerce = True

    _trim_text = _text_fields("patient_id", "center_id")
    _sex = _vocab_parser("sex", ("F", "M"))

    @pa.dataframe_check(name="key_unique_up_to_exact_duplicates")
    def _key(cls, df: pd.DataFrame) -> pd.Series:
        return _key_rule(df, "patient_id")


class Surgeries(pa.DataFrameModel):
    """surgeries -- one row per thyroid or neck operation."""

    surgery_id: Series[str] = pa.Field(nullable=False)
    patient_id: Series[str] = pa.Field(nullable=False)
    surgery_date: Series[IsoDate] = pa.Field(nullable=False)
    procedure: Series[str] = pa.Field(nullable=False, isin=list(PROCEDURES))
    histology: Series[str] = pa.Field(nullable=True, isin=list(HISTOLOGIES))
    max_tumor_size_cm: Series[StrictDecimal] = pa.Field(nullable=True, **_range(0, 20, min_inclusive=False))
    t_stage: Series[str] = pa.Field(nullable=True, isin=list(T_STAGES))
    n_stage: Series[str] = pa.Field(nullable=True, isin=list(N_STAGES))
    ete: Series[str] = pa.Field(nullable=True, isin=["none", "microscopic", "gross"])
    resection: Series[str] = pa.Field(nullable=True, isin=["R0", "R1", "R2"])
    vascular_invasion_foci: Series[StrictInteger] = pa.Field(nullable=True, **_range(0))
    positive_nodes: Series[StrictInteger] = pa.Field(nullable=True, **_range(0))
    largest_node_cm: Series[StrictDecimal] = pa.Field(nullable=True, **_range(0, min_inclusive=False))
    aggressive_variant: Series[StrictBoolean] = pa.Field(nullable=True)

    class Config:
        name = "surgeries"
        strict = True
        coerce = True

    _trim_text = _text_fields("surgery_id", "patient_id")
    _procedure = _vocab_parser("procedure", PROCEDURES)
    _histology = _vocab_parser("histology", HISTOLOGIES)
    _t_stage = _vocab_parser("t_stage", T_STAGES)
    _n_stage = _vocab_parser("n_stage", N_STAGES)
    _ete = _vocab_parser("ete", ("none", "microscopic", "gross"))
    _resection = _vocab_parser("resection", ("R0", "R1", "R2"))

    @pa.dataframe_check(name="key_unique_up_to_exact_duplicates")
    def _key(cls, df: pd.DataFrame) -> pd.Series:
        return _key_rule(df, "surgery_id")


class RaitAdministrations(pa.DataFrameModel):
    """rait_administrations -- one row per radioactive-iodine administration."""

    rait_id: Series[str] = pa.Field(nullable=False)
    patient_id: Series[str] = pa.Field(nullable=False)
    admin_date: Series[IsoDate] = pa.Field(nullable=False)
    activity: Series[StrictDecimal] = pa.Field(nullable=False, **_range(0, min_inclusive=False))
    activity_unit: Series[str] = pa.Field(nullable=False, isin=list(ACTIVITY_UNITS_TO_GBQ))
    preparation: Series[str] = pa.Field(nullable=True, isin=["withdrawal", "rhTSH"])
    intent: Series[str] = pa.Field(nullable=False, isin=["remnant_ablation", "adjuvant", "metastatic_disease"])

    class Config:
        name = "rait_administrations"
        strict = True
        coerce = True

    _trim_text = _text_fields("rait_id", "patient_id")
    _unit = _vocab_parser("activity_unit", tuple(ACTIVITY_UNITS_TO_GBQ))
    _preparation = _vocab_parser("preparation", ("withdrawal", "rhTSH"))
    _intent = _vocab_parser("intent", ("remnant_ablation", "adjuvant", "metastatic_disease"))

    @pa.dataframe_check(name="activity_plausible_0_5_to_15_gbq")
    def _plausible(cls, df: pd.DataFrame) -> pd.Series:
        activity = _strict(df["activity"], StrictDecimal())
        gbq = activity * df["activity_unit"].map(ACTIVITY_UNITS_TO_GBQ).astype(float)
        low, high = ACTIVITY_PLAUSIBLE_GBQ
        unknown = gbq.isna() | ~(activity > 0)
        return unknown | gbq.between(low, high)

    @pa.dataframe_check(name="key_unique_up_to_exact_duplicates")
    def _key(cls, df: pd.DataFrame) -> pd.Series:
        return _key_rule(df, "rait_id")


_LAB_UNIT_VOCABULARY = tuple(sorted({u for units in LAB_UNITS.values() for u in units}))


class LabResults(pa.DataFrameModel):
    """lab_results -- one row per Tg, TgAb or TSH result."""

    lab_id: Series[str] = pa.Field(nullable=False)
    patient_id: Series[str] = pa.Field(nullable=False)
    sample_date: Series[IsoDate] = pa.Field(nullable=False)
    analyte: Series[str] = pa.Field(nullable=False, isin=list(LAB_UNITS))
    value: Series[StrictDecimal] = pa.Field(nullable=False, **_range(0))
    comparator: Series[str] = pa.Field(nullable=True, isin=["<", ">"])
    unit: Series[str] = pa.Field(nullable=False, isin=list(_LAB_UNIT_VOCABULARY))
    tgab_cutoff: Series[StrictDecimal] = pa.Field(nullable=True, **_range(0, min_inclusive=False))

    class Config:
        name = "lab_results"
        strict = True
        coerce = True

    _trim_text = _text_fields("lab_id", "patient_id")
    _analyte = _vocab_parser("analyte", tuple(LAB_UNITS))
    _comparator = _vocab_parser("comparator", ("<", ">"))
    _unit = _vocab_parser("unit", _LAB_UNIT_VOCABULARY)

    @pa.dataframe_check(name="unit_valid_for_analyte")
    def _unit_for_analyte(cls, df: pd.DataFrame) -> pd.Series:
        known = df["analyte"].isin(list(LAB_UNITS)) & df["unit"].isin(list(_LAB_UNIT_VOCABULARY))
        allowed = [unit in LAB_UNITS.get(analyte, {}) for analyte, unit in zip(df["analyte"], df["unit"])]
        return ~known | pd.Series(allowed, index=df.index, dtype=bool)

    @pa.dataframe_check(name="key_unique_up_to_exact_duplicates")
    def _key(cls, df: pd.DataFrame) -> pd.Series:
        return _key_rule(df, "lab_id")


class ImagingFindings(pa.DataFrameModel):
    """imaging_findings -- one row per imaging study and anatomic site."""

    finding_id: Series[str] = pa.Field(nullable=False)
    patient_id: Series[str] = pa.Field(nullable=False)
    study_date: Series[IsoDate] = pa.Field(nullable=False)
    modality: Series[str] = pa.Field(nullable=False, isin=list(MODALITIES))
    rait_id: Series[str] = pa.Field(nullable=True)
    site: Series[str] = pa.Field(nullable=False, isin=list(SITES))
    status: Series[str] = pa.Field(nullable=False, isin=list(FINDING_STATUSES))
    rai_avid: Series[StrictBoolean] = pa.Field(nullable=True)
    max_lesion_mm: Series[StrictDecimal] = pa.Field(nullable=True, **_range(0, min_inclusive=False))
    remnant_uptake: Series[str] = pa.Field(nullable=True, isin=["none", "minor", "massive"])
    confirmation: Series[str] = pa.Field(nullable=True, isin=["imaging", "cytology", "histology"])

    class Config:
        name = "imaging_findings"
        strict = True
        coerce = True

    _trim_text = _text_fields("finding_id", "patient_id", "rait_id")
    _modality = _vocab_parser("modality", MODALITIES)
    _site = _vocab_parser("site", SITES)
    _status = _vocab_parser("status", FINDING_STATUSES)
    _remnant = _vocab_parser("remnant_uptake", ("none", "minor", "massive"))
    _confirmation = _vocab_parser("confirmation", ("imaging", "cytology", "histology"))

    @pa.dataframe_check(name="rxwbs_needs_rait_id")
    def _rxwbs(cls, df: pd.DataFrame) -> pd.Series:
        return ~((df["modality"] == "RxWBS") & df["rait_id"].isna())

    @pa.dataframe_check(name="key_unique_up_to_exact_duplicates")
    def _key(cls, df: pd.DataFrame) -> pd.Series:
        return _key_rule(df, "finding_id")


class FollowUp(pa.DataFrameModel):
    """follow_up -- one row per patient."""

    patient_id: Series[str] = pa.Field(nullable=False)
    last_contact_date: Series[IsoDate] = pa.Field(nullable=False)
    vital_status: Series[str] = pa.Field(nullable=False, isin=["alive", "dead"])
    death_date: Series[IsoDate] = pa.Field(nullable=True)

    class Config:
        name = "follow_up"
        strict = True
        coerce = True

    _trim_text = _text_fields("patient_id")
    _vital = _vocab_parser("vital_status", ("alive", "dead"))

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

    @pa.dataframe_check(name="key_unique_up_to_exact_duplicates")
    def _key(cls, df: pd.DataFrame) -> pd.Series:
        return _key_rule(df, "patient_id")


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
