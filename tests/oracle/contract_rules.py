"""Independent pandas reading of docs/specification.md section 2 (the *oracle*).

The dbt project owns every derivation that the product publishes. This module re-implements
the same rules a second time, in plain pandas, straight from the contract text (revision 2;
``docs/specification.md`` sections 2 and 3 restate it), so that a test can compare every cell
of the dbt marts with an independent reading. Two readings that disagree reveal a bug or an
ambiguity; every ambiguity resolved here is recorded in ``docs/contract-readings.md``.

Public API
----------
``DEFAULT_VARS``
    The contract's study parameters (dbt ``vars``) with their default values.
``load_extract(path)``
    Read a clean CSV or Parquet extract into typed DataFrames (trimmed, vocabulary in
    contract spelling).
``derive_marts(tables, vars=None)``
    The five marts of docs/specification.md section 3 from the six typed raw tables.
``compare_marts(actual, expected)``
    Readable cell-by-cell differences between two sets of marts.
``read_marts(path)``
    Read marts written as ``<mart>.csv`` (all cells as text) for ``compare_marts``.

The code favours clarity over speed, but every step is a vectorised merge / groupby, so a
20 000-patient extract derives in seconds.

References
----------
Shi C. et al. Less is more: once vs. multiple radioactive iodine therapy in patients with
RAI-avid pulmonary micrometastatic differentiated thyroid cancer. Eur J Nucl Med Mol Imaging
(2025). Haugen B.R. et al. 2015 American Thyroid Association management guidelines. Thyroid
26 (2016) 1-133.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import warnings
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_VARS",
    "MART_COLUMNS",
    "MART_KEYS",
    "TABLE_COLUMNS",
    "VOCABULARIES",
    "compare_marts",
    "derive_marts",
    "load_extract",
    "read_marts",
]

# --------------------------------------------------------------------------------------
# Contract constants
# --------------------------------------------------------------------------------------

#: Study parameters of docs/specification.md section 2 with their default values (dbt ``vars``).
DEFAULT_VARS: dict[str, Any] = {
    "synchronous_window_days": 365,
    "local_disease_window_days": 365,
    "ata_window_days": 365,
    "tgab_positive_cutoff": 115,
    "stimulated_tsh_min": 30,
    "tg_pre_window_days": 30,
    "tg_post_min_days": 90,
    "tg_post_max_days": 730,
    "rxwbs_window_days": 14,
    "tg_response_threshold": 0.25,
    "cr_tg_max": 1.0,
    "pfs_censoring": "last_assessment",
    "surgery_date_min": "2000-01-01",
    "surgery_date_max": "2022-12-31",
    "micromet_max_mm": 10,
    "early_pd_exclusion_days": 183,
    "response_horizon_months": 12,
}

DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25
GBQ_PER_UNIT = {"GBq": 1.0, "MBq": 0.001, "mCi": 0.037}

#: docs/specification.md section 1 vocabularies in contract spelling, keyed by (table, column).
VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("patients", "sex"): ("F", "M"),
    ("surgeries", "procedure"): (
        "total_thyroidectomy",
        "subtotal_thyroidectomy",
        "completion_thyroidectomy",
        "lobectomy",
        "neck_dissection",
        "other",
    ),
    ("surgeries", "histology"): ("PTC", "FTC", "other"),
    ("surgeries", "t_stage"): ("T1a", "T1b", "T2", "T3a", "T3b", "T4a", "T4b", "TX"),
    ("surgeries", "n_stage"): ("N0", "N1a", "N1b", "NX"),
    ("surgeries", "ete"): ("none", "microscopic", "gross"),
    ("surgeries", "resection"): ("R0", "R1", "R2"),
    ("rait_administrations", "activity_unit"): ("GBq", "MBq", "mCi"),
    ("rait_administrations", "preparation"): ("withdrawal", "rhTSH"),
    ("rait_administrations", "intent"): ("remnant_ablation", "adjuvant", "metastatic_disease"),
    ("lab_results", "analyte"): ("Tg", "TgAb", "TSH"),
    ("lab_results", "comparator"): ("<", ">"),
    ("lab_results", "unit"): ("ng/mL", "ug/L", "IU/mL", "kIU/L", "mIU/L", "uIU/mL"),
    ("imaging_findings", "modality"): ("RxWBS", "DxWBS", "CT", "US", "MRI", "PET_CT", "bone_scan"),
    ("imaging_findings", "site"): ("lung", "thyroid_bed", "neck_nodes", "bone", "brain", "liver", "other"),
    ("imaging_findings", "status"): ("new", "present", "stable", "increased", "reduced", "resolved", "absent"),
    ("imaging_findings", "remnant_uptake"): ("none", "minor", "massive"),
    ("imaging_findings", "confirmation"): ("imaging", "cytology", "histology"),
    ("follow_up", "vital_status"): ("alive", "dead"),
}

#: docs/specification.md section 1 columns: table -> {column: (kind, required)}.
#: kind is one of text, vocab, date, decimal, integer, boolean.
TABLE_COLUMNS: dict[str, dict[str, tuple[str, bool]]] = {
    "patients": {
        "patient_id": ("text", True),
        "sex": ("vocab", True),
        "birth_date": ("date", True),
        "center_id": ("text", False),
    },
    "surgeries": {
        "surgery_id": ("text", True),
        "patient_id": ("text", True),
        "surgery_date": ("date", True),
        "procedure": ("vocab", True),
        "histology": ("vocab", False),
        "max_tumor_size_cm": ("decimal", False),
        "t_stage": ("vocab", False),
        "n_stage": ("vocab", False),
        "ete": ("vocab", False),
        "resection": ("vocab", False),
        "vascular_invasion_foci": ("integer", False),
        "positive_nodes": ("integer", False),
        "largest_node_cm": ("decimal", False),
        "aggressive_variant": ("boolean", False),
    },
    "rait_administrations": {
        "rait_id": ("text", True),
        "patient_id": ("text", True),
        "admin_date": ("date", True),
        "activity": ("decimal", True),
        "activity_unit": ("vocab", True),
        "preparation": ("vocab", False),
        "intent": ("vocab", True),
    },
    "lab_results": {
        "lab_id": ("text", True),
        "patient_id": ("text", True),
        "sample_date": ("date", True),
        "analyte": ("vocab", True),
        "value": ("decimal", True),
        "comparator": ("vocab", False),
        "unit": ("vocab", True),
        "tgab_cutoff": ("decimal", False),
    },
    "imaging_findings": {
        "finding_id": ("text", True),
        "patient_id": ("text", True),
        "study_date": ("date", True),
        "modality": ("vocab", True),
        "rait_id": ("text", False),
        "site": ("vocab", True),
        "status": ("vocab", True),
        "rai_avid": ("boolean", False),
        "max_lesion_mm": ("decimal", False),
        "remnant_uptake": ("vocab", False),
        "confirmation": ("vocab", False),
    },
    "follow_up": {
        "patient_id": ("text", True),
        "last_contact_date": ("date", True),
        "vital_status": ("vocab", True),
        "death_date": ("date", False),
    },
}

HISTOLOGIES = ("PTC", "FTC", "other")
INITIAL_PROCEDURES = ("total_thyroidectomy", "subtotal_thyroidectomy", "lobectomy")
DTC_PROCEDURES = ("total_thyroidectomy", "subtotal_thyroidectomy", "completion_thyroidectomy")
DISEASE_STATUSES = ("new", "present", "stable", "increased", "reduced")
T_ORDER = ("T1a", "T1b", "T2", "T3a", "T3b", "T4a", "T4b")
N_ORDER = ("N0", "N1a", "N1b")
NON_LUNG_DISTANT_SITES = ("bone", "brain", "liver", "other")
LOCAL_SITES = ("thyroid_bed", "neck_nodes")
ELIGIBILITY_STEPS = (
    "dtc_surgery",
    "lung_only_micromets",
    "avid_on_every_rxwbs",
    "mets_after_first_rait",
    "massive_remnant",
    "early_progression",
)
#: Steps 1-3 are met when true; steps 4-6 exclude when true.
_EXCLUDES_WHEN_TRUE = {"mets_after_first_rait", "massive_remnant", "early_progression"}

#: Column names of the marts (docs/specification.md section 3).
MART_COLUMNS: dict[str, list[str]] = {
    "patients": [
        "patient_id",
        "sex",
        "birth_date",
        "diagnosis_date",
        "initial_surgery_date",
        "first_rait_date",
        "lung_met_date",
        "age_at_diagnosis_years",
        "histology",
        "max_tumor_size_cm",
        "t_stage_max",
        "n_stage_max",
        "t_stage_group",
        "metastasis_timing",
        "local_disease_status",
        "ata_risk",
        "n_rait_cycles",
        "rait_group",
        "median_activity_gbq",
        "cumulative_gbq",
        "first_response",
        "last_response",
        "pd_date",
        *ELIGIBILITY_STEPS,
        "is_eligible",
        "exclusion_reason",
        "n_rait_without_rxwbs",
        "center_id",
        "is_eligible_at_baseline",
        "baseline_exclusion_reason",
    ],
    "rait_cycles": [
        "patient_id",
        "rait_id",
        "cycle_number",
        "admin_date",
        "activity_gbq",
        "cumulative_gbq",
        "days_since_previous",
        "tg_pre",
        "tg_post",
        "delta_tg",
        "scan_change",
        "response",
        "response_basis",
        "tg_pre_comparator",
        "tg_post_comparator",
        "response_at_horizon",
    ],
    "pfs": [
        "patient_id",
        "start_date",
        "end_date",
        "pfs_months",
        "pfs_event",
        "event_type",
        "follow_up_months",
        "pfs_months_last_contact",
    ],
    "analysis_cohort": [
        "patient_id",
        "rait_group",
        "n_rait_cycles",
        "sex",
        "age_at_diagnosis_years",
        "histology",
        "max_tumor_size_cm",
        "t_stage_group",
        "n_stage_max",
        "ata_risk",
        "local_disease_status",
        "metastasis_timing",
        "first_response",
        "last_response",
        "median_activity_gbq",
        "cumulative_gbq",
        "pfs_months",
        "pfs_event",
        "follow_up_months",
        "center_id",
    ],
    "cohort_attrition": ["step", "criterion", "n_remaining", "n_excluded"],
    "strategy_evidence_monthly": [
        "patient_id",
        "month_number",
        "start_months",
        "stop_months",
        "tg_post_known",
        "delta_tg",
        "scan_change",
        "n_new_lesions",
        "second_rait_given",
        "second_rait_in_month",
        "pfs_event_in_month",
        "is_last_month",
    ],
}

#: Key column(s) of each mart (one row per key value).
MART_KEYS: dict[str, str | tuple[str, ...]] = {
    "patients": "patient_id",
    "rait_cycles": "rait_id",
    "pfs": "patient_id",
    "analysis_cohort": "patient_id",
    "cohort_attrition": "step",
    "strategy_evidence_monthly": ("patient_id", "month_number"),
}

# --------------------------------------------------------------------------------------
# Reading an extract
# --------------------------------------------------------------------------------------


def _bad(table: str, column: str, rows: pd.Series, what: str) -> ValueError:
    """Error naming table, 1-based data rows and column (never the cell value)."""
    first = [int(i) + 1 for i in rows[rows].index[:5]]
    return ValueError(
        f"{table}.{column}: {what} in data row(s) {first}"
        f"{' ...' if int(rows.sum()) > 5 else ''}; load_extract reads only clean extracts — "
        "run the extract through `rait-registry validate` first."
    )


def _as_text(s: pd.Series) -> pd.Series:
    """Trimmed text with empty strings as missing (object dtype)."""
    out = s.astype(object).where(s.notna(), None)
    out = out.map(lambda x: x.strip() if isinstance(x, str) else (None if x is None else str(x)))
    return out.where(out.map(lambda x: x is not None and x != ""), None)


def _type_column(table: str, column: str, kind: str, s: pd.Series) -> pd.Series:
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(s):
            return pd.to_datetime(s).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
        txt = _as_text(s)
        if txt.map(lambda x: isinstance(x, (_dt.date, pd.Timestamp))).any():
            return pd.to_datetime(txt).astype("datetime64[ns]")
        ok = txt.isna() | txt.map(lambda x: isinstance(x, str) and bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", x)))
        if not ok.all():
            raise _bad(table, column, ~ok, "date not in ISO YYYY-MM-DD form")
        return pd.to_datetime(txt, format="%Y-%m-%d").astype("datetime64[ns]")
    if kind in ("decimal", "integer"):
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            return s.astype(float)
        txt = _as_text(s)
        num = pd.to_numeric(txt, errors="coerce")
        bad = txt.notna() & num.isna()
        if bad.any():
            raise _bad(table, column, bad, "value is not a number")
        return num.astype(float)
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(s):
            return s.astype("boolean")
        txt = _as_text(s).map(lambda x: x.lower() if isinstance(x, str) else x)
        bad = txt.notna() & ~txt.isin(["true", "false"])
        if bad.any():
            raise _bad(table, column, bad, "boolean is not true/false")
        return txt.map({"true": True, "false": False}).astype("boolean")
    txt = _as_text(s)
    if kind == "vocab":
        allowed = VOCABULARIES[(table, column)]
        lookup = {v.lower(): v for v in allowed}
        mapped = txt.map(lambda x: lookup.get(x.lower(), "\x00bad") if isinstance(x, str) else None)
        bad = mapped.eq("\x00bad")
        if bad.any():
            raise _bad(table, column, bad, "value outside the contract vocabulary")
        return mapped
    return txt


def load_extract(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read a clean extract directory into the six typed raw tables.

    Parameters
    ----------
    path
        Directory with ``<table>.csv`` or ``<table>.parquet`` for each of the six tables of
        docs/specification.md section 1 (``manifest.json`` is ignored here: verifying it is ingest's job).

    Returns
    -------
    dict of DataFrame
        Keyed by table name. Text is trimmed (empty = missing), vocabulary values are in
        contract spelling (matched case-insensitively), dates are ``datetime64[ns]``,
        numbers ``float``, booleans pandas ``boolean``. Unknown columns are dropped with a
        warning; optional columns that are absent are added as missing.

    Raises
    ------
    FileNotFoundError
        A table file is missing.
    ValueError
        A required column is missing or a cell breaks its type or vocabulary; the message
        names table, column and data rows, never the value.
    """
    root = Path(path)
    tables: dict[str, pd.DataFrame] = {}
    for table, columns in TABLE_COLUMNS.items():
        csv, parquet = root / f"{table}.csv", root / f"{table}.parquet"
        if csv.exists():
            raw = pd.read_csv(csv, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
        elif parquet.exists():
            raw = pd.read_parquet(parquet)
        else:
            raise FileNotFoundError(
                f"{root}: neither {table}.csv nor {table}.parquet exists; an extract needs all six tables."
            )
        raw.columns = [str(c).strip() for c in raw.columns]
        unknown = [c for c in raw.columns if c not in columns]
        if unknown:
            warnings.warn(f"{table}: unknown column(s) {unknown} dropped", stacklevel=2)
        out = pd.DataFrame(index=raw.index)
        for column, (kind, required) in columns.items():
            if column not in raw.columns:
                if required:
                    raise ValueError(f"{table}: required column {column!r} is missing; add it to the extract.")
                out[column] = pd.Series([None] * len(raw), index=raw.index, dtype=object)
                out[column] = _type_column(table, column, kind, out[column])
                continue
            out[column] = _type_column(table, column, kind, raw[column])
        tables[table] = out.reset_index(drop=True)
    return tables


# --------------------------------------------------------------------------------------
# Preparing the typed tables
# --------------------------------------------------------------------------------------


def _to_dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).astype("datetime64[ns]")


def _true(s: pd.Series) -> pd.Series:
    """True where the value is boolean true; missing evidence is false."""

    def one(x: Any) -> bool:
        if isinstance(x, str):
            return x.strip().lower() == "true"
        if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
            return False
        return bool(x)

    return s.map(one).astype(bool)


def _text(s: pd.Series) -> pd.Series:
    """Object column with missing values as None (empty strings count as missing)."""
    return s.astype(object).where(s.notna() & s.astype(object).ne(""), None)


def _prepare(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    t: dict[str, pd.DataFrame] = {}
    for table, columns in TABLE_COLUMNS.items():
        if table not in tables:
            raise KeyError(f"derive_marts needs the table {table!r} (docs/specification.md section 1).")
        df = tables[table].copy()
        for column, (kind, _req) in columns.items():
            if column not in df.columns:
                gbq_given = table == "rait_administrations" and "activity_gbq" in df.columns
                if gbq_given and column in ("activity", "activity_unit"):
                    continue
                df[column] = None
            if kind == "date":
                df[column] = _to_dates(df[column])
            elif kind in ("decimal", "integer"):
                df[column] = pd.to_numeric(df[column]).astype(float)
            elif kind in ("text", "vocab"):
                df[column] = _text(df[column])
        t[table] = df.reset_index(drop=True)
    r = t["rait_administrations"]
    if "activity_gbq" not in r.columns or r["activity_gbq"].isna().all():
        factor = r["activity_unit"].map(GBQ_PER_UNIT)
        if factor.isna().any():
            raise ValueError("rait_administrations.activity_unit: unit missing or not GBq/MBq/mCi.")
        r["activity_gbq"] = r["activity"].astype(float) * factor.astype(float)
    else:
        r["activity_gbq"] = pd.to_numeric(r["activity_gbq"]).astype(float)
    t["lab_results"]["comparator"] = _text(t["lab_results"]["comparator"])
    return t


def _pick(df: pd.DataFrame, by: str, date_col: str, id_col: str, latest: bool = False) -> pd.DataFrame:
    """One row per ``by``: the earliest (or latest) date; ties -> smallest id in byte order.

    Python compares ``str`` by code point, which for UTF-8 text is the byte order.
    """
    ordered = df.sort_values([by, date_col, id_col], ascending=[True, not latest, True], kind="mergesort")
    return ordered.drop_duplicates(by, keep="first")


def _days(td: pd.Series) -> pd.Series:
    return td.dt.days.astype(float)


def _delta_tg(tg_pre: pd.Series, tg_pre_cmp: pd.Series, tg_post: pd.Series, tg_post_cmp: pd.Series) -> pd.Series:
    """(tg_pre - tg_post) / tg_pre; no decline from a tg_pre below detection, nor from a value above the range."""
    measurable = tg_pre_cmp.isna() & ~tg_post_cmp.eq(">")
    both = tg_pre.notna() & tg_post.notna() & (tg_pre > 0) & measurable
    return ((tg_pre - tg_post) / tg_pre).where(both)


def _response(
    new_lesion: pd.Series,
    tg_post: pd.Series,
    tg_post_cmp: pd.Series,
    delta_tg: pd.Series,
    scan_change: pd.Series,
    v: Mapping[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cycle response and basis: the first rule that holds (PD, CR, PR by Tg, PR by scan, SD, else NE)."""
    below_cr = (tg_post_cmp.isna() & (tg_post < v["cr_tg_max"])) | (tg_post_cmp.eq("<") & (tg_post <= v["cr_tg_max"]))
    cr = below_cr & scan_change.isin(("resolved", "absent"))
    pr_tg = delta_tg >= v["tg_response_threshold"]
    pr_scan = scan_change.isin(("reduced", "resolved"))
    sd = tg_post.notna() | scan_change.notna()
    conds = [new_lesion, cr, pr_tg, pr_scan, sd]
    response = np.select(conds, ["PD", "CR", "PR", "PR", "SD"], default="NE")
    basis = np.select(
        conds,
        ["new_lesion", "no_evidence_of_disease", "tg_decline", "scan_reduction", "no_change"],
        default="insufficient_data",
    )
    return response, basis


# --------------------------------------------------------------------------------------
# Derivation (docs/specification.md section 2)
# --------------------------------------------------------------------------------------


def derive_marts(tables: Mapping[str, pd.DataFrame], vars: Mapping[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """Derive the five marts of docs/specification.md section 3 from the six typed raw tables.

    Parameters
    ----------
    tables
        ``patients``, ``surgeries``, ``rait_administrations``, ``lab_results``,
        ``imaging_findings``, ``follow_up`` with docs/specification.md section 1 columns: dates as
        datetime64 or ``datetime.date``, numbers as float, booleans as bool/NA, vocabulary in
        contract spelling (see :func:`load_extract`). ``rait_administrations`` carries
        ``activity`` + ``activity_unit`` (GBq, MBq or mCi) or an ``activity_gbq`` column.
        Rows are assumed valid (quarantine already applied).
    vars
        Overrides of :data:`DEFAULT_VARS` (the dbt ``vars``).

    Returns
    -------
    dict of DataFrame
        ``patients``, ``rait_cycles``, ``pfs``, ``analysis_cohort``, ``cohort_attrition``
        with the columns of :data:`MART_COLUMNS`. Dates are ``datetime64[ns]``, flags
        ``bool``, values unrounded.
    """
    v = {**DEFAULT_VARS, **(dict(vars) if vars else {})}
    unknown = set(v) - set(DEFAULT_VARS)
    if unknown:
        raise KeyError(f"unknown var(s) {sorted(unknown)}; known: {sorted(DEFAULT_VARS)}")
    day = pd.Timedelta(days=1)
    t = _prepare(tables)
    pats, surg, rait = t["patients"], t["surgeries"], t["rait_administrations"]
    labs, img, fu = t["lab_results"], t["imaging_findings"], t["follow_up"]

    # ---- patient frame ------------------------------------------------------------
    P = pats[["patient_id", "sex", "birth_date"]].set_index("patient_id", drop=False).copy()
    P.index.name = None
    # the centre as given; a missing one is the stratum 'unknown'
    P["center_id"] = pats["center_id"].where(pats["center_id"].notna(), "unknown").to_numpy(dtype=object)
    fu_i = fu.drop_duplicates("patient_id").set_index("patient_id")
    P["last_contact_date"] = fu_i["last_contact_date"].reindex(P.index)
    dead = fu_i["vital_status"].eq("dead")
    P["death_date"] = fu_i["death_date"].where(dead).reindex(P.index)

    # ---- patient dates --------------------------------------------------------------
    with_hist = surg[surg["histology"].isin(HISTOLOGIES)]
    first_hist = _pick(with_hist, "patient_id", "surgery_date", "surgery_id").set_index("patient_id")
    P["diagnosis_date"] = first_hist["surgery_date"].reindex(P.index)
    P["histology"] = first_hist["histology"].reindex(P.index)
    P["initial_surgery_date"] = (
        surg[surg["procedure"].isin(INITIAL_PROCEDURES)].groupby("patient_id")["surgery_date"].min().reindex(P.index)
    )

    cyc = rait.sort_values(["patient_id", "admin_date", "rait_id"], kind="mergesort").reset_index(drop=True)
    cyc = cyc[cyc["patient_id"].isin(P.index)].reset_index(drop=True)
    g = cyc.groupby("patient_id", sort=False)
    cyc["cycle_number"] = g.cumcount() + 1
    cyc["n"] = g["rait_id"].transform("size")
    cyc["cumulative_gbq"] = g["activity_gbq"].cumsum()
    cyc["days_since_previous"] = _days(g["admin_date"].diff())
    cyc["next_rait_id"] = g["rait_id"].shift(-1)
    cyc["next_admin_date"] = g["admin_date"].shift(-1)
    cyc["is_last"] = cyc["cycle_number"].eq(cyc["n"])
    first_cyc = cyc[cyc["cycle_number"].eq(1)].set_index("patient_id")
    P["first_rait_date"] = first_cyc["admin_date"].reindex(P.index)
    first_rait_id = first_cyc["rait_id"].reindex(P.index)

    lung_disease = img[img["site"].eq("lung") & img["status"].isin(DISEASE_STATUSES)]
    P["lung_met_date"] = lung_disease.groupby("patient_id")["study_date"].min().reindex(P.index)

    # ---- characteristics ------------------------------------------------------------
    P["age_at_diagnosis_years"] = _days(P["diagnosis_date"] - P["birth_date"]) / DAYS_PER_YEAR
    P["max_tumor_size_cm"] = with_hist.groupby("patient_id")["max_tumor_size_cm"].max().reindex(P.index)
    t_rank = surg["t_stage"].map({s: i for i, s in enumerate(T_ORDER)})
    n_rank = surg["n_stage"].map({s: i for i, s in enumerate(N_ORDER)})
    t_max = t_rank.groupby(surg["patient_id"]).max().reindex(P.index)
    n_max = n_rank.groupby(surg["patient_id"]).max().reindex(P.index)
    P["t_stage_max"] = t_max.map(lambda r: None if pd.isna(r) else T_ORDER[int(r)])
    P["n_stage_max"] = n_max.map(lambda r: None if pd.isna(r) else N_ORDER[int(r)])
    P["t_stage_group"] = t_max.map(lambda r: None if pd.isna(r) else ("T1+T2" if r <= T_ORDER.index("T2") else "T3+T4"))

    gap = _days(P["lung_met_date"] - P["diagnosis_date"])
    P["metastasis_timing"] = np.where(
        gap.isna(), None, np.where(gap <= v["synchronous_window_days"], "synchronous", "metachronous")
    )

    # local disease before the first RAIT, anchored on the initial operation, else the diagnosis;
    # with neither date a RAIT patient is `unknown` (no window can be drawn)
    anchor = P["initial_surgery_date"].fillna(P["diagnosis_date"]).rename("anchor")
    loc = img[
        img["site"].isin(LOCAL_SITES)
        & img["status"].isin(DISEASE_STATUSES)
        & img["confirmation"].isin(("cytology", "histology"))
    ][["patient_id", "study_date"]]
    loc = loc.join(anchor, on="patient_id").join(P[["first_rait_date"]], on="patient_id")
    loc = loc[(loc["study_date"] > loc["anchor"]) & (loc["study_date"] < loc["first_rait_date"])]
    f_local = loc.groupby("patient_id")["study_date"].min().reindex(P.index)
    f_gap = _days(f_local - anchor)
    status = pd.Series("neither", index=P.index, dtype=object)
    status[f_local.notna() & (f_gap <= v["local_disease_window_days"])] = "local_persistent"
    status[f_local.notna() & (f_gap > v["local_disease_window_days"])] = "local_recurrence"
    status[anchor.isna()] = "unknown"
    status[P["first_rait_date"].isna()] = None
    P["local_disease_status"] = status

    # ATA 2015 initial risk
    s = surg.join(P[["diagnosis_date"]], on="patient_id")
    s = s[
        (s["surgery_date"] >= s["diagnosis_date"])
        & (s["surgery_date"] <= s["diagnosis_date"] + v["ata_window_days"] * day)
    ].copy()
    vif = s["vascular_invasion_foci"]
    s["high"] = (
        s["ete"].eq("gross")
        | s["resection"].eq("R2")
        | (s["largest_node_cm"] > 3)
        | (s["histology"].eq("FTC") & (vif > 4))
    )
    s["intermediate"] = (
        s["ete"].eq("microscopic")
        | _true(s["aggressive_variant"])
        | (s["histology"].eq("PTC") & (vif >= 1))
        | (s["positive_nodes"] > 5)
    )
    s["ete_known"] = s["ete"].notna()
    s["resection_known"] = s["resection"].notna()
    s["n_known"] = s["n_stage"].isin(N_ORDER)
    flags = s.groupby("patient_id")[["high", "intermediate", "ete_known", "resection_known", "n_known"]].any()
    flags = flags.reindex(P.index, fill_value=False).astype(bool)
    high = flags["high"] | P["metastasis_timing"].eq("synchronous")
    known = flags["ete_known"] & flags["resection_known"] & flags["n_known"]
    P["ata_risk"] = np.where(
        high, "high", np.where(flags["intermediate"], "intermediate", np.where(known, "low", "unknown"))
    )

    # ---- thyroglobulin --------------------------------------------------------------
    key = ["patient_id", "sample_date"]
    # a TSH reported '<X' never stimulates; '>X' stimulates when X reaches the threshold
    tsh = labs[labs["analyte"].eq("TSH")]
    tsh = tsh[~tsh["comparator"].eq("<") & (tsh["value"] >= v["stimulated_tsh_min"])][key].drop_duplicates()
    # a TgAb that is not clearly negative (positive or indeterminate) spoils the day's Tg
    tgab = labs[labs["analyte"].eq("TgAb")]
    cutoff = tgab["tgab_cutoff"].fillna(float(v["tgab_positive_cutoff"]))
    exact, below = tgab["comparator"].isna(), tgab["comparator"].eq("<")
    negative = (exact & (tgab["value"] < cutoff)) | (below & (tgab["value"] <= cutoff))
    tgab_not_negative = tgab[~negative][key].drop_duplicates()
    tg = labs[labs["analyte"].eq("Tg")][["lab_id", *key, "value", "comparator"]]
    tg = tg.merge(tsh.assign(_stim=True), on=key, how="left")
    tg = tg.merge(tgab_not_negative.assign(_spoilt=True), on=key, how="left")
    tg = tg[tg["_stim"].eq(True) & ~tg["_spoilt"].eq(True)].drop(columns=["_stim", "_spoilt"])

    ct = cyc[["rait_id", "patient_id", "admin_date"]].merge(tg, on="patient_id")
    pre = ct[
        (ct["sample_date"] >= ct["admin_date"] - v["tg_pre_window_days"] * day)
        & (ct["sample_date"] <= ct["admin_date"])
    ]
    pre = _pick(pre, "rait_id", "sample_date", "lab_id", latest=True).set_index("rait_id")
    post = ct[ct["rait_id"].isin(cyc.loc[cyc["is_last"], "rait_id"])]
    post = post[
        (post["sample_date"] >= post["admin_date"] + v["tg_post_min_days"] * day)
        & (post["sample_date"] <= post["admin_date"] + v["tg_post_max_days"] * day)
    ]
    post = _pick(post, "rait_id", "sample_date", "lab_id").set_index("rait_id")

    cyc["tg_pre"] = cyc["rait_id"].map(pre["value"])
    cyc["tg_pre_cmp"] = cyc["rait_id"].map(pre["comparator"])
    nxt = cyc["next_rait_id"]
    cyc["tg_post"] = np.where(cyc["is_last"], cyc["rait_id"].map(post["value"]), nxt.map(pre["value"]))
    cyc["tg_post"] = cyc["tg_post"].astype(float)
    cyc["tg_post_cmp"] = np.where(cyc["is_last"], cyc["rait_id"].map(post["comparator"]), nxt.map(pre["comparator"]))
    cyc["tg_pre_cmp"] = _text(cyc["tg_pre_cmp"])
    cyc["tg_post_cmp"] = _text(pd.Series(cyc["tg_post_cmp"], index=cyc.index))
    cyc["tg_post_date"] = np.where(cyc["is_last"], cyc["rait_id"].map(post["sample_date"]), nxt.map(pre["sample_date"]))
    cyc["tg_post_date"] = _to_dates(cyc["tg_post_date"])
    cyc["delta_tg"] = _delta_tg(cyc["tg_pre"], cyc["tg_pre_cmp"], cyc["tg_post"], cyc["tg_post_cmp"])

    # scan change
    rx = img[img["modality"].eq("RxWBS")]
    rx_lung = rx[rx["site"].eq("lung")].sort_values("finding_id", kind="mergesort").drop_duplicates("rait_id")
    rx_lung_status = rx_lung.set_index("rait_id")["status"]
    dx = img[img["modality"].eq("DxWBS") & img["site"].eq("lung")][["finding_id", "patient_id", "study_date", "status"]]
    dx = cyc.loc[cyc["is_last"], ["rait_id", "patient_id", "admin_date"]].merge(dx, on="patient_id")
    dx = dx[
        (dx["study_date"] >= dx["admin_date"] + v["tg_post_min_days"] * day)
        & (dx["study_date"] <= dx["admin_date"] + v["tg_post_max_days"] * day)
    ]
    dx = _pick(dx, "rait_id", "study_date", "finding_id").set_index("rait_id")
    cyc["scan_change"] = np.where(cyc["is_last"], cyc["rait_id"].map(dx["status"]), nxt.map(rx_lung_status))
    cyc["scan_change"] = _text(pd.Series(cyc["scan_change"], index=cyc.index))
    cyc["scan_date"] = np.where(
        cyc["is_last"], cyc["rait_id"].map(dx["study_date"]), nxt.map(rx_lung.set_index("rait_id")["study_date"])
    )
    cyc["scan_date"] = _to_dates(cyc["scan_date"])

    # ---- progression ----------------------------------------------------------------
    win = v["rxwbs_window_days"] * day
    ev = img[img["status"].eq("new")][["finding_id", "patient_id", "study_date"]]
    ev = ev.join(P[["first_rait_date"]], on="patient_id")
    ev = ev[ev["study_date"] > ev["first_rait_date"] + win]
    P["pd_date"] = ev.groupby("patient_id")["study_date"].min().reindex(P.index)

    cw = cyc[["rait_id", "patient_id", "admin_date", "next_admin_date", "is_last"]].join(
        P[["last_contact_date"]], on="patient_id"
    )
    cw["w_start"] = cw["admin_date"] + win
    cw["w_end"] = np.where(cw["is_last"], cw["last_contact_date"], cw["next_admin_date"] + win)
    cw["w_end"] = _to_dates(cw["w_end"])
    ew = cw.merge(ev[["patient_id", "study_date"]], on="patient_id")
    ew = ew[(ew["study_date"] > ew["w_start"]) & (ew["study_date"] <= ew["w_end"])]
    ew["early"] = _days(ew["study_date"] - ew["admin_date"]) <= v["early_pd_exclusion_days"]
    cyc["new_lesion"] = cyc["rait_id"].isin(ew["rait_id"])
    early_rait = ew.loc[ew["early"], "rait_id"]

    # ---- per-cycle response ---------------------------------------------------------
    cyc["response"], cyc["response_basis"] = _response(
        cyc["new_lesion"], cyc["tg_post"], cyc["tg_post_cmp"], cyc["delta_tg"], cyc["scan_change"], v
    )

    # ---- response at the horizon: the same rules on the evidence up to admin + H months ----
    months = pd.DateOffset(months=int(v["response_horizon_months"]))  # calendar months, clamped to month end
    horizon = cyc["admin_date"] + months
    by_horizon = ew[ew["study_date"] <= ew["admin_date"] + months]
    tg_post_h = cyc["tg_post"].where(cyc["tg_post_date"] <= horizon)
    tg_post_cmp_h = _text(cyc["tg_post_cmp"].where(cyc["tg_post_date"] <= horizon))
    scan_h = _text(cyc["scan_change"].where(cyc["scan_date"] <= horizon))
    cyc["response_at_horizon"], _ = _response(
        cyc["rait_id"].isin(by_horizon["rait_id"]),
        tg_post_h,
        tg_post_cmp_h,
        _delta_tg(cyc["tg_pre"], cyc["tg_pre_cmp"], tg_post_h, tg_post_cmp_h),
        scan_h,
        v,
    )

    # ---- per-patient RAIT summary ---------------------------------------------------
    gp = cyc.groupby("patient_id")
    P["n_rait_cycles"] = gp.size().reindex(P.index).fillna(0).astype(int)
    P["rait_group"] = np.where(P["n_rait_cycles"].eq(0), None, np.where(P["n_rait_cycles"].eq(1), "o-RAIT", "m-RAIT"))
    P["median_activity_gbq"] = gp["activity_gbq"].median().reindex(P.index)
    P["cumulative_gbq"] = gp["activity_gbq"].sum().reindex(P.index)
    P["first_response"] = first_cyc["rait_id"].map(cyc.set_index("rait_id")["response"]).reindex(P.index)
    last_cyc = cyc[cyc["is_last"]].set_index("patient_id")
    P["last_response"] = last_cyc["response"].reindex(P.index)

    # ---- PFS ------------------------------------------------------------------------
    has_rait = P["first_rait_date"].notna()
    pd_first = P["pd_date"].notna() & (P["death_date"].isna() | (P["pd_date"] <= P["death_date"]))
    died = ~pd_first & P["death_date"].notna()
    # the last disease assessment: any imaging row in [first RAIT, last contact], else the first RAIT
    seen = img[["patient_id", "study_date"]].join(P[["first_rait_date", "last_contact_date"]], on="patient_id")
    seen = seen[(seen["study_date"] >= seen["first_rait_date"]) & (seen["study_date"] <= seen["last_contact_date"])]
    last_assessment = seen.groupby("patient_id")["study_date"].max().reindex(P.index).fillna(P["first_rait_date"])
    if v["pfs_censoring"] not in ("last_assessment", "last_contact"):
        raise KeyError(f"pfs_censoring must be last_assessment or last_contact, not {v['pfs_censoring']!r}")
    censor = last_assessment if v["pfs_censoring"] == "last_assessment" else P["last_contact_date"]

    def event_or(censoring: pd.Series) -> pd.Series:
        return censoring.where(~pd_first, P["pd_date"]).where(~died, P["death_date"])

    end, end_last_contact = event_or(censor), event_or(P["last_contact_date"])
    pfs = pd.DataFrame(
        {
            "patient_id": P["patient_id"],
            "start_date": P["first_rait_date"],
            "end_date": _to_dates(end),
            "pfs_months": _days(end - P["first_rait_date"]) / DAYS_PER_MONTH,
            "pfs_event": (pd_first | died).astype(int),
            "event_type": np.where(pd_first, "progression", np.where(died, "death", "censored")),
            "follow_up_months": _days(P["death_date"].fillna(P["last_contact_date"]) - P["first_rait_date"])
            / DAYS_PER_MONTH,
            "pfs_months_last_contact": _days(end_last_contact - P["first_rait_date"]) / DAYS_PER_MONTH,
        }
    )[has_rait].reset_index(drop=True)

    # ---- eligibility ----------------------------------------------------------------
    dmin, dmax = pd.Timestamp(v["surgery_date_min"]), pd.Timestamp(v["surgery_date_max"])
    thyroidectomy = surg[
        surg["procedure"].isin(DTC_PROCEDURES) & (surg["surgery_date"] >= dmin) & (surg["surgery_date"] <= dmax)
    ]
    dtc_hist = surg[surg["histology"].isin(("PTC", "FTC"))]
    P["dtc_surgery"] = P.index.isin(thyroidectomy["patient_id"]) & P.index.isin(dtc_hist["patient_id"])

    baseline_end = pd.concat([P["lung_met_date"], P["first_rait_date"]], axis=1).max(axis=1) + win
    bl = img.join(baseline_end.rename("baseline_end"), on="patient_id")
    bl = bl[bl["study_date"] <= bl["baseline_end"]]
    other_distant = bl[bl["site"].isin(NON_LUNG_DISTANT_SITES) & bl["status"].isin(DISEASE_STATUSES)]
    big_lung = bl[bl["site"].eq("lung") & (bl["max_lesion_mm"] >= v["micromet_max_mm"])]
    P["lung_only_micromets"] = (
        P["lung_met_date"].notna() & ~P.index.isin(other_distant["patient_id"]) & ~P.index.isin(big_lung["patient_id"])
    )

    # avidity is judged on the RAITs from lung_met_date - 14 days on: the earliest of them needs an
    # RxWBS with an avid lung row, a later one is judged only when it has an RxWBS
    rx_scan = rx.assign(_avid_lung=rx["site"].eq("lung") & _true(rx["rai_avid"]))
    avid_by_rait = rx_scan.groupby("rait_id")["_avid_lung"].any()
    cs = cyc[["patient_id", "rait_id", "cycle_number", "admin_date"]].join(P[["lung_met_date"]], on="patient_id")
    cs["has_rxwbs"] = cs["rait_id"].isin(avid_by_rait.index)
    cs["avid"] = cs["rait_id"].map(avid_by_rait).eq(True)
    judged = cs[cs["admin_date"] >= cs["lung_met_date"] - win].sort_values(["patient_id", "cycle_number"])
    earliest = judged.drop_duplicates("patient_id").set_index("patient_id")
    later = judged[~judged["rait_id"].isin(earliest["rait_id"])]
    later_failing = later[later["has_rxwbs"] & ~later["avid"]]["patient_id"]
    earliest_ok = (earliest["has_rxwbs"] & earliest["avid"]).reindex(P.index, fill_value=False).astype(bool)
    P["avid_on_every_rxwbs"] = earliest_ok & ~P.index.isin(later_failing)
    P["n_rait_without_rxwbs"] = (~cs["has_rxwbs"]).groupby(cs["patient_id"]).sum().reindex(P.index).fillna(0)
    P["n_rait_without_rxwbs"] = P["n_rait_without_rxwbs"].astype(int)

    P["mets_after_first_rait"] = (P["lung_met_date"] > P["first_rait_date"] + win).fillna(False).astype(bool)
    massive = rx[rx["remnant_uptake"].eq("massive")]
    P["massive_remnant"] = first_rait_id.isin(massive["rait_id"]) & first_rait_id.notna()
    P["early_progression"] = P.index.isin(cyc.loc[cyc["rait_id"].isin(early_rait), "patient_id"])

    fails = pd.DataFrame({step: (P[step] if step in _EXCLUDES_WHEN_TRUE else ~P[step]) for step in ELIGIBILITY_STEPS})
    P["is_eligible"] = ~fails.any(axis=1)
    P["exclusion_reason"] = fails.idxmax(axis=1).where(~P["is_eligible"], None)
    for step in ELIGIBILITY_STEPS:
        P[step] = P[step].astype(bool)

    # ---- eligibility at baseline: what is known at first_rait_date + 14 days ------------
    # the same criteria on the rows dated up to the cut-off (every row without a RAIT); avidity on
    # the earliest judged RAIT's scan only (rows up to its administration + 14 days); early
    # progression counted from the first RAIT only; exclusion 4 is already a baseline rule
    cutoff = P["first_rait_date"] + win
    known = surg.join(cutoff.rename("cutoff"), on="patient_id")
    known = known[known["cutoff"].isna() | (known["surgery_date"] <= known["cutoff"])]
    known_thyroidectomy = known[
        known["procedure"].isin(DTC_PROCEDURES) & (known["surgery_date"] >= dmin) & (known["surgery_date"] <= dmax)
    ]
    at_baseline = pd.DataFrame(index=P.index)
    at_baseline["dtc_surgery"] = P.index.isin(known_thyroidectomy["patient_id"]) & P.index.isin(
        known.loc[known["histology"].isin(("PTC", "FTC")), "patient_id"]
    )
    bl0 = img.join(cutoff.fillna(P["lung_met_date"] + win).rename("baseline_end"), on="patient_id")
    bl0 = bl0[bl0["study_date"] <= bl0["baseline_end"]]
    distant0 = bl0[bl0["site"].isin(NON_LUNG_DISTANT_SITES) & bl0["status"].isin(DISEASE_STATUSES)]
    big_lung0 = bl0[bl0["site"].eq("lung") & (bl0["max_lesion_mm"] >= v["micromet_max_mm"])]
    at_baseline["lung_only_micromets"] = (
        P["lung_met_date"].notna() & ~P.index.isin(distant0["patient_id"]) & ~P.index.isin(big_lung0["patient_id"])
    )
    first_scan = rx.merge(earliest.reset_index()[["patient_id", "rait_id", "admin_date"]], on=["patient_id", "rait_id"])
    first_scan = first_scan[first_scan["study_date"] <= first_scan["admin_date"] + win]
    avid_first = first_scan[first_scan["site"].eq("lung") & _true(first_scan["rai_avid"])]
    at_baseline["avid_on_every_rxwbs"] = P.index.isin(avid_first["patient_id"])
    at_baseline["mets_after_first_rait"] = P["mets_after_first_rait"]
    rx_first = rx.join(cutoff.rename("cutoff"), on="patient_id")
    rx_first = rx_first[
        rx_first["rait_id"].isin(first_rait_id.dropna()) & (rx_first["study_date"] <= rx_first["cutoff"])
    ]
    at_baseline["massive_remnant"] = P.index.isin(rx_first.loc[rx_first["remnant_uptake"].eq("massive"), "patient_id"])
    early0 = ev[_days(ev["study_date"] - ev["first_rait_date"]) <= v["early_pd_exclusion_days"]]
    at_baseline["early_progression"] = P.index.isin(early0["patient_id"])
    fails0 = pd.DataFrame(
        {step: (at_baseline[step] if step in _EXCLUDES_WHEN_TRUE else ~at_baseline[step]) for step in ELIGIBILITY_STEPS}
    ).astype(bool)
    P["is_eligible_at_baseline"] = ~fails0.any(axis=1)
    P["baseline_exclusion_reason"] = fails0.idxmax(axis=1).where(~P["is_eligible_at_baseline"], None)

    # ---- person-months of the target-trial emulation -----------------------------------
    # month m holds days [m, m + 1) x 30.4375 after the first RAIT; months up to the one holding
    # the PFS end (month 0 always); evidence dated on day d is known from the month starting after d
    month_days = DAYS_PER_MONTH
    fu = pfs[["patient_id", "pfs_event"]].copy()
    fu["end_day"] = _days(pfs["end_date"] - pfs["start_date"]).to_numpy()
    n_months = np.maximum(np.ceil(fu["end_day"].to_numpy(float) / month_days), 1).astype(int)
    pm = fu.loc[fu.index.repeat(n_months)].reset_index(drop=True)
    pm["month_number"] = np.concatenate([np.arange(k) for k in n_months]) if len(n_months) else np.array([], int)
    start_day = pm["month_number"] * month_days
    next_day = (pm["month_number"] + 1) * month_days
    pm["start_months"] = pm["month_number"].astype(float)
    pm["is_last_month"] = pm["end_day"] <= next_day
    pm["stop_months"] = np.where(pm["is_last_month"], pm["end_day"] / month_days, pm["month_number"] + 1.0)
    first = cyc[cyc["cycle_number"].eq(1)].set_index("patient_id")
    first_date = P["first_rait_date"]
    tg_day = _days(first["tg_post_date"] - first_date.reindex(first.index)).reindex(pm["patient_id"]).to_numpy(float)
    pm["tg_post_known"] = tg_day < start_day.to_numpy()
    pm["delta_tg"] = first["delta_tg"].reindex(pm["patient_id"]).to_numpy(float)
    pm["delta_tg"] = pm["delta_tg"].where(pm["tg_post_known"])
    scan_day = _days(first["scan_date"] - first_date.reindex(first.index)).reindex(pm["patient_id"]).to_numpy(float)
    pm["scan_change"] = pd.Series(first["scan_change"].reindex(pm["patient_id"]).to_numpy(), dtype=object)
    pm["scan_change"] = pm["scan_change"].where(scan_day < start_day.to_numpy(), None)
    new = img[img["status"].eq("new")].join(first_date.rename("first_rait"), on="patient_id")
    new = new[new["study_date"] >= new["first_rait"]]
    lesion_day = _days(new["study_date"] - new["first_rait"])
    lesions = pd.DataFrame({"patient_id": new["patient_id"].to_numpy(), "lesion_day": lesion_day.to_numpy(float)})
    counted = pm[["patient_id", "month_number"]].assign(start=start_day).merge(lesions, on="patient_id", how="left")
    counted["known"] = counted["lesion_day"] < counted["start"]
    pm["n_new_lesions"] = (
        counted.groupby(["patient_id", "month_number"])["known"]
        .sum()
        .reindex(pd.MultiIndex.from_frame(pm[["patient_id", "month_number"]]))
        .to_numpy()
        .astype(int)
    )
    second = cyc[cyc["cycle_number"].eq(2)].set_index("patient_id")
    second_day = (
        _days(second["admin_date"] - first_date.reindex(second.index)).reindex(pm["patient_id"]).to_numpy(float)
    )
    pm["second_rait_given"] = second_day < start_day.to_numpy()
    pm["second_rait_in_month"] = (
        (second_day >= start_day.to_numpy())
        & (second_day < next_day.to_numpy())
        & (second_day < pm["end_day"].to_numpy())
    )
    pm["pfs_event_in_month"] = pm["pfs_event"].eq(1) & pm["is_last_month"]
    strategy_evidence_monthly = pm[MART_COLUMNS["strategy_evidence_monthly"]]

    # ---- assemble marts ---------------------------------------------------------------
    patients = P[MART_COLUMNS["patients"]].reset_index(drop=True)
    rait_cycles = cyc.rename(columns={"tg_pre_cmp": "tg_pre_comparator", "tg_post_cmp": "tg_post_comparator"})
    rait_cycles = rait_cycles[MART_COLUMNS["rait_cycles"]].copy()
    rait_cycles["days_since_previous"] = rait_cycles["days_since_previous"].astype("Int64")
    elig = P[P["is_eligible"]]
    cohort = elig.merge(pfs[["patient_id", "pfs_months", "pfs_event", "follow_up_months"]], on="patient_id", how="left")
    analysis_cohort = cohort[MART_COLUMNS["analysis_cohort"]].reset_index(drop=True)

    rows = [{"step": 0, "criterion": "all_patients", "n_remaining": len(P), "n_excluded": 0}]
    remaining = pd.Series(True, index=P.index)
    for i, step in enumerate(ELIGIBILITY_STEPS, start=1):
        excluded = remaining & fails[step]
        remaining = remaining & ~fails[step]
        rows.append(
            {"step": i, "criterion": step, "n_remaining": int(remaining.sum()), "n_excluded": int(excluded.sum())}
        )
    attrition = pd.DataFrame(rows)

    return {
        "patients": patients,
        "rait_cycles": rait_cycles.reset_index(drop=True),
        "pfs": pfs,
        "analysis_cohort": analysis_cohort,
        "cohort_attrition": attrition,
        "strategy_evidence_monthly": strategy_evidence_monthly,
    }


# --------------------------------------------------------------------------------------
# Comparing marts
# --------------------------------------------------------------------------------------

_MISSING = object()
_DATE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T]00:00:00(?:\.0+)?)?$")
_NUM_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def _norm(x: Any) -> Any:
    """Normalise a cell for comparison: missing, float, ISO date string or text."""
    if x is None or x is pd.NA or x is pd.NaT:
        return _MISSING
    if isinstance(x, (bool, np.bool_)):
        return float(x)
    if isinstance(x, (int, float, np.integer, np.floating, Decimal)):
        f = float(x)
        return _MISSING if math.isnan(f) else f
    if isinstance(x, (pd.Timestamp, _dt.datetime)):
        if pd.isna(x):
            return _MISSING
        ts = pd.Timestamp(x)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(x, _dt.date):
        return x.isoformat()
    if isinstance(x, np.datetime64):
        return _norm(pd.Timestamp(x))
    s = str(x).strip()
    if s == "":
        return _MISSING
    low = s.lower()
    if low in ("true", "false"):
        return 1.0 if low == "true" else 0.0
    if _NUM_RE.match(s):
        return float(s)
    m = _DATE_RE.match(s)
    if m:
        return m.group(1)
    return s


def _same(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    return a == b


def _show(x: Any) -> str:
    if x is _MISSING:
        return "NULL"
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def compare_marts(
    actual: Mapping[str, pd.DataFrame],
    expected: Mapping[str, pd.DataFrame],
    *,
    marts: list[str] | None = None,
    columns: Mapping[str, list[str]] | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-9,
) -> list[str]:
    """Readable cell-by-cell differences between two sets of marts.

    Rows are matched on the mart's key (:data:`MART_KEYS`); the columns compared are the
    expected mart's (extra columns of ``actual``, e.g. aliases, are ignored). Cells are
    normalised before comparison, so a DuckDB ``DATE``, a pandas ``Timestamp`` and the text
    ``2015-03-01`` are equal, as are ``True``, ``1`` and ``true``; NULL, NaN, NaT and an
    empty CSV field are all missing; floats are equal within ``rtol``/``atol``.

    Parameters
    ----------
    actual, expected
        Mart name -> DataFrame (e.g. the dbt marts read from DuckDB, the oracle's, or
        :func:`read_marts` of ``tests/data/edge_expected``).
    marts
        Marts to compare (default: every mart in ``expected``).
    columns
        Mart -> columns to compare (default: all of the expected mart's columns).
    rtol, atol
        Float tolerance (``math.isclose``).

    Returns
    -------
    list of str
        One line per difference, ``mart[key=value].column: actual=..., expected=...``, or
        about a missing mart, column, row or a duplicated key. Empty when they agree.
    """
    diffs: list[str] = []
    for mart in marts or list(expected):
        if mart not in expected:
            diffs.append(f"{mart}: not in expected")
            continue
        if mart not in actual:
            diffs.append(f"{mart}: mart missing from actual")
            continue
        exp, act = expected[mart], actual[mart]
        key_spec = MART_KEYS.get(mart, exp.columns[0])
        keys = key_spec if isinstance(key_spec, tuple) else (key_spec,)
        key = ",".join(keys)
        cols = list(columns[mart]) if columns and mart in columns else [c for c in exp.columns if c not in keys]
        missing_cols = [c for c in [*keys, *cols] if c not in act.columns]
        for c in missing_cols:
            diffs.append(f"{mart}: column {c!r} missing from actual")
        if any(k in missing_cols for k in keys):
            continue
        cols = [c for c in cols if c not in missing_cols and c in exp.columns]

        def part(k: Any) -> str:
            numeric = isinstance(k, (int, np.integer, float, np.floating)) and not pd.isna(k)
            return str(int(k)) if numeric else str(k).strip()

        def keyed(
            df: pd.DataFrame, side: str, key: str = key, mart: str = mart, keys: tuple[str, ...] = keys
        ) -> dict[str, dict[str, Any]]:
            out: dict[str, dict[str, Any]] = {}
            for rec in df.to_dict("records"):
                k = ",".join(part(rec[c]) for c in keys)
                if k in out:
                    diffs.append(f"{mart}[{key}={k}]: key appears more than once in {side}")
                out[k] = rec
            return out

        a_rows, e_rows = keyed(act, "actual"), keyed(exp, "expected")
        for k in e_rows:
            if k not in a_rows:
                diffs.append(f"{mart}[{key}={k}]: row missing from actual")
        for k in a_rows:
            if k not in e_rows:
                diffs.append(f"{mart}[{key}={k}]: unexpected row in actual")
        for k, erec in e_rows.items():
            if k not in a_rows:
                continue
            arec = a_rows[k]
            for c in cols:
                a, e = _norm(arec[c]), _norm(erec[c])
                if not _same(a, e, rtol, atol):
                    diffs.append(f"{mart}[{key}={k}].{c}: actual={_show(a)}, expected={_show(e)}")
    return diffs


def read_marts(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``<mart>.csv`` files of a directory as text (empty field = missing).

    Suitable for :func:`compare_marts`, which normalises cell types itself.
    """
    out: dict[str, pd.DataFrame] = {}
    for f in sorted(Path(path).glob("*.csv")):
        df = pd.read_csv(f, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
        out[f.stem] = df.map(lambda x: None if x.strip() == "" else x.strip())
    return out
