"""pandera models of the five published marts (``docs/specification.md`` section 3).

Each model is ``strict`` (a column the model does not know fails the check, so a new mart column
is a deliberate change here too) and states, besides types, vocabularies and ranges, the
cross-column rules a correct derivation must satisfy (specification section 2): the response basis
agrees with the response, the PFS event type with the event flag, cumulative activity adds up
per patient, end dates do not precede start dates, the exclusion reason is the first failing
criterion and ``is_eligible`` means no reason. They do not re-derive any clinical rule: they
check that the published relations are internally consistent.

Columns of specification section 3 are required; further columns the dbt marts publish for lineage
(ids of the samples and scans used, windows, extra dates) are declared ``required=False``.

The vocabularies come from :mod:`rait_registry.contract`. The column descriptions come from the
dbt marts YAML, their one home (:func:`rait_registry.dbt_docs.mart_column_descriptions`), so
``Model.to_schema().columns[name].description`` reads as dbt docs do.

:func:`rait_registry.mart_checks.validate_marts` runs these models (lazily, all failures at once)
after ``dbt build`` and before publication; it also checks the database types (dates are DATE,
flags BOOLEAN). For large marts it runs the same rules as SQL in DuckDB
(:mod:`rait_registry.mart_sql`): the field checks are generated from the models, and every
``@pa.dataframe_check`` has a hand-written SQL twin there (same name, same NULL semantics; the
tests assert that both engines report the same failures).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from rait_registry import contract
from rait_registry.contract import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    EARLY_T_STAGES,
    MET_WHEN_TRUE,
    RESPONSE_BASES,
)
from rait_registry.contract import ELIGIBILITY_CRITERIA as CRITERIA
from rait_registry.dbt_docs import mart_column_descriptions

__all__ = [
    "ATA_RISKS",
    "CRITERIA",
    "MART_KEYS",
    "MART_MODELS",
    "RESPONSE_BASES",
    "AnalysisCohortMart",
    "CohortAttritionMart",
    "PatientsMart",
    "PfsMart",
    "RaitCyclesMart",
    "StrategyEvidenceMonthlyMart",
]

#: Vocabularies of the mart columns (lists: pandera names an ``isin`` check by its values).
RESPONSES = list(contract.RESPONSES)
EVENT_TYPES = list(contract.PFS_EVENT_TYPES)
ATA_RISKS = list(contract.ATA_RISKS)
LOCAL_DISEASE = list(contract.LOCAL_DISEASE_STATUSES)
TIMINGS = list(contract.METASTASIS_TIMINGS)
T_STAGES_RANKED = list(contract.T_STAGES_RANKED)
N_STAGES_RANKED = list(contract.N_STAGES_RANKED)
T_STAGE_GROUPS = list(contract.T_STAGE_GROUPS)
RAIT_GROUPS = list(contract.RAIT_GROUPS)
SCAN_STATUSES = list(contract.FINDING_STATUSES)
HISTOLOGIES = list(contract.HISTOLOGIES)
SEXES = list(contract.SEXES)
VITAL_STATUSES = list(contract.VITAL_STATUSES)
PREPARATIONS = list(contract.PREPARATIONS)
INTENTS = list(contract.INTENTS)
COMPARATORS = list(contract.COMPARATORS)

#: mart -> the column(s) that order it (row indices in reports refer to this order).
MART_KEYS = {
    "patients": "patient_id",
    "rait_cycles": "patient_id, cycle_number",
    "pfs": "patient_id",
    "analysis_cohort": "patient_id",
    "cohort_attrition": "step",
    "strategy_evidence_monthly": "patient_id, month_number",
}

ABS_TOL = 1e-3  # months/GBq; FLOAT (single precision) columns carry ~7 significant digits


def _documented(mart: str):
    """Class decorator: give every column of a mart model its description from the dbt marts YAML."""

    def apply(model: type[pa.DataFrameModel]) -> type[pa.DataFrameModel]:
        descriptions = mart_column_descriptions().get(mart, {})
        for name, (_, field) in model.__fields__.items():
            field.description = descriptions.get(name) or None
        return model

    return apply


def _close(a: pd.Series, b: pd.Series, rel: float = 1e-5) -> pd.Series:
    a = a.astype("float64")
    b = b.astype("float64")
    both_missing = a.isna() & b.isna()
    return both_missing | ((a - b).abs() <= ABS_TOL + rel * b.abs()).fillna(False)


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    """Element-wise equality where missing == missing."""
    a = a.astype(object).where(a.notna(), None)
    b = b.astype(object).where(b.notna(), None)
    return pd.Series([x == y for x, y in zip(a, b)], index=a.index, dtype=bool)


def _group_for(n_rait_cycles: pd.Series) -> pd.Series:
    n = n_rait_cycles.astype("Int64")
    return pd.Series(
        np.select([n == 1, n >= 2], ["o-RAIT", "m-RAIT"], default=None), index=n.index, dtype=object
    ).where(n.notna() & (n >= 1), None)


def _expected_exclusion(df: pd.DataFrame) -> pd.Series:
    """Name of the first failing criterion (contract order), None when every criterion passes."""
    reason = pd.Series([None] * len(df), index=df.index, dtype=object)
    for criterion in reversed(CRITERIA):
        flag = df[criterion].astype("boolean").fillna(False).astype(bool)
        fails = ~flag if criterion in MET_WHEN_TRUE else flag
        reason = reason.mask(fails, criterion)
    return reason


@_documented("patients")
class PatientsMart(pa.DataFrameModel):
    """marts.patients -- one row per patient of the extract."""

    patient_id: Series[str] = pa.Field(nullable=False, unique=True)
    sex: Series[str] = pa.Field(nullable=False, isin=SEXES)
    birth_date: Series[pa.DateTime] = pa.Field(nullable=False, required=False)
    center_id: Series[str] = pa.Field(nullable=False, required=False)
    diagnosis_date: Series[pa.DateTime] = pa.Field(nullable=True)
    initial_surgery_date: Series[pa.DateTime] = pa.Field(nullable=True)
    first_rait_date: Series[pa.DateTime] = pa.Field(nullable=True)
    lung_met_date: Series[pa.DateTime] = pa.Field(nullable=True)
    pd_date: Series[pa.DateTime] = pa.Field(nullable=True, required=False)
    last_contact_date: Series[pa.DateTime] = pa.Field(nullable=False, required=False)
    vital_status: Series[str] = pa.Field(nullable=False, isin=VITAL_STATUSES, required=False)
    death_date: Series[pa.DateTime] = pa.Field(nullable=True, required=False)
    age_at_diagnosis_years: Series[float] = pa.Field(nullable=True, ge=0, le=130)
    histology: Series[str] = pa.Field(nullable=True, isin=HISTOLOGIES)
    max_tumor_size_cm: Series[float] = pa.Field(nullable=True, gt=0, le=20)
    t_stage_max: Series[str] = pa.Field(nullable=True, isin=T_STAGES_RANKED)
    n_stage_max: Series[str] = pa.Field(nullable=True, isin=N_STAGES_RANKED)
    t_stage_group: Series[str] = pa.Field(nullable=True, isin=T_STAGE_GROUPS)
    metastasis_timing: Series[str] = pa.Field(nullable=True, isin=TIMINGS)
    local_disease_status: Series[str] = pa.Field(nullable=True, isin=LOCAL_DISEASE)
    ata_risk: Series[str] = pa.Field(nullable=True, isin=ATA_RISKS)
    n_rait_cycles: Series[int] = pa.Field(nullable=False, ge=0)
    rait_group: Series[str] = pa.Field(nullable=True, isin=RAIT_GROUPS)
    median_activity_gbq: Series[float] = pa.Field(nullable=True, gt=0)
    cumulative_gbq: Series[float] = pa.Field(nullable=True, gt=0)
    first_response: Series[str] = pa.Field(nullable=True, isin=RESPONSES)
    last_response: Series[str] = pa.Field(nullable=True, isin=RESPONSES)
    dtc_surgery: Series[bool] = pa.Field(nullable=False, coerce=False)
    lung_only_micromets: Series[bool] = pa.Field(nullable=False, coerce=False)
    avid_on_every_rxwbs: Series[bool] = pa.Field(nullable=False, coerce=False)
    mets_after_first_rait: Series[bool] = pa.Field(nullable=False, coerce=False)
    massive_remnant: Series[bool] = pa.Field(nullable=False, coerce=False)
    early_progression: Series[bool] = pa.Field(nullable=False, coerce=False)
    is_eligible: Series[bool] = pa.Field(nullable=False, coerce=False)
    exclusion_reason: Series[str] = pa.Field(nullable=True, isin=list(CRITERIA))
    n_rait_without_rxwbs: Series[int] = pa.Field(nullable=False, ge=0)
    exclusion_step: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1, le=6, required=False)
    is_eligible_at_baseline: Series[bool] = pa.Field(nullable=False, coerce=False, required=False)
    baseline_exclusion_reason: Series[str] = pa.Field(nullable=True, isin=list(CRITERIA), required=False)

    class Config:
        name = "marts.patients"
        strict = True
        coerce = True

    @pa.dataframe_check(name="exclusion_reason_is_first_failing_criterion")
    def _exclusion_reason(cls, df: pd.DataFrame) -> pd.Series:
        return _same(df["exclusion_reason"], _expected_exclusion(df))

    @pa.dataframe_check(name="is_eligible_iff_no_exclusion_reason")
    def _eligible(cls, df: pd.DataFrame) -> pd.Series:
        return df["is_eligible"].astype(bool) == df["exclusion_reason"].isna()

    @pa.dataframe_check(name="is_eligible_at_baseline_iff_no_baseline_exclusion_reason")
    def _eligible_at_baseline(cls, df: pd.DataFrame) -> pd.Series:
        if "is_eligible_at_baseline" not in df or "baseline_exclusion_reason" not in df:
            return pd.Series(True, index=df.index)
        return df["is_eligible_at_baseline"].astype(bool) == df["baseline_exclusion_reason"].isna()

    @pa.dataframe_check(name="exclusion_step_matches_reason")
    def _step(cls, df: pd.DataFrame) -> pd.Series:
        if "exclusion_step" not in df:
            return pd.Series(True, index=df.index)
        expected = df["exclusion_reason"].map({c: i + 1 for i, c in enumerate(CRITERIA)})
        return _same(df["exclusion_step"], expected.astype("Int64"))

    @pa.dataframe_check(name="rait_group_matches_n_rait_cycles")
    def _rait_group(cls, df: pd.DataFrame) -> pd.Series:
        return _same(df["rait_group"], _group_for(df["n_rait_cycles"]))

    @pa.dataframe_check(name="rait_fields_present_iff_rait")
    def _rait_fields(cls, df: pd.DataFrame) -> pd.Series:
        has_rait = df["n_rait_cycles"] > 0
        ok = has_rait == df["first_rait_date"].notna()
        for column in ("cumulative_gbq", "median_activity_gbq", "first_response", "last_response"):
            ok &= has_rait == df[column].notna()
        ok &= df["local_disease_status"].isna() | has_rait
        return ok

    @pa.dataframe_check(name="o_rait_first_response_equals_last")
    def _o_rait_response(cls, df: pd.DataFrame) -> pd.Series:
        return (df["n_rait_cycles"] != 1) | _same(df["first_response"], df["last_response"])

    @pa.dataframe_check(name="rait_without_rxwbs_at_most_n_rait_cycles")
    def _without_rxwbs(cls, df: pd.DataFrame) -> pd.Series:
        return df["n_rait_without_rxwbs"] <= df["n_rait_cycles"]

    @pa.dataframe_check(name="median_activity_at_most_cumulative")
    def _median(cls, df: pd.DataFrame) -> pd.Series:
        return (df["median_activity_gbq"] <= df["cumulative_gbq"] + ABS_TOL).fillna(True) | df["cumulative_gbq"].isna()

    @pa.dataframe_check(name="t_stage_group_matches_t_stage_max")
    def _t_group(cls, df: pd.DataFrame) -> pd.Series:
        early, late = T_STAGE_GROUPS
        expected = df["t_stage_max"].map(
            lambda t: None if t is None or t != t else (early if t in EARLY_T_STAGES else late)
        )
        return _same(df["t_stage_group"], expected)

    @pa.dataframe_check(name="metastasis_timing_needs_both_dates")
    def _timing(cls, df: pd.DataFrame) -> pd.Series:
        both = df["lung_met_date"].notna() & df["diagnosis_date"].notna()
        return both == df["metastasis_timing"].notna()

    @pa.dataframe_check(name="age_at_diagnosis_matches_dates")
    def _age(cls, df: pd.DataFrame) -> pd.Series:
        if "birth_date" not in df:
            return df["age_at_diagnosis_years"].isna() == df["diagnosis_date"].isna()
        days = (df["diagnosis_date"] - df["birth_date"]).dt.days
        return _close(df["age_at_diagnosis_years"], days / DAYS_PER_YEAR)

    @pa.dataframe_check(name="dates_in_order")
    def _dates(cls, df: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=df.index)
        if "birth_date" in df:
            for column in ("diagnosis_date", "initial_surgery_date", "first_rait_date", "lung_met_date"):
                ok &= ~(df[column] < df["birth_date"]).fillna(False)
        if "vital_status" in df and "death_date" in df:
            ok &= (df["vital_status"] == "dead") == df["death_date"].notna()
        return ok


@_documented("rait_cycles")
class RaitCyclesMart(pa.DataFrameModel):
    """marts.rait_cycles -- one row per administration."""

    patient_id: Series[str] = pa.Field(nullable=False)
    rait_id: Series[str] = pa.Field(nullable=False, unique=True)
    cycle_number: Series[int] = pa.Field(nullable=False, ge=1)
    admin_date: Series[pa.DateTime] = pa.Field(nullable=False)
    activity_gbq: Series[float] = pa.Field(nullable=False, ge=0.5, le=15)
    cumulative_gbq: Series[float] = pa.Field(nullable=False, gt=0)
    days_since_previous: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    tg_pre: Series[float] = pa.Field(nullable=True, ge=0)
    tg_post: Series[float] = pa.Field(nullable=True, ge=0)
    delta_tg: Series[float] = pa.Field(nullable=True, le=1)
    scan_change: Series[str] = pa.Field(nullable=True, isin=SCAN_STATUSES)
    response: Series[str] = pa.Field(nullable=False, isin=RESPONSES)
    response_basis: Series[str] = pa.Field(
        nullable=False, isin=sorted({b for bases in RESPONSE_BASES.values() for b in bases})
    )
    # lineage columns published by the dbt mart
    n_rait_cycles: Series[int] = pa.Field(nullable=False, ge=1, required=False)
    is_last_cycle: Series[bool] = pa.Field(nullable=False, coerce=False, required=False)
    preparation: Series[str] = pa.Field(nullable=True, isin=PREPARATIONS, required=False)
    intent: Series[str] = pa.Field(nullable=True, isin=INTENTS, required=False)
    tg_pre_comparator: Series[str] = pa.Field(nullable=True, isin=COMPARATORS)
    tg_pre_lab_id: Series[str] = pa.Field(nullable=True, required=False)
    tg_post_comparator: Series[str] = pa.Field(nullable=True, isin=COMPARATORS)
    tg_post_lab_id: Series[str] = pa.Field(nullable=True, required=False)
    scan_finding_id: Series[str] = pa.Field(nullable=True, required=False)
    window_start_date: Series[pa.DateTime] = pa.Field(nullable=True, required=False)
    window_end_date: Series[pa.DateTime] = pa.Field(nullable=True, required=False)
    n_new_lesion_events: Series[int] = pa.Field(nullable=False, ge=0, required=False)
    # the same rules on the evidence up to admin_date + response_horizon_months
    response_at_horizon: Series[str] = pa.Field(nullable=False, isin=RESPONSES, required=False)

    class Config:
        name = "marts.rait_cycles"
        strict = True
        coerce = True
        unique = ["patient_id", "cycle_number"]

    @pa.dataframe_check(name="response_basis_consistent_with_response")
    def _basis(cls, df: pd.DataFrame) -> pd.Series:
        return pd.Series(
            [
                basis in RESPONSE_BASES.get(response, ())
                for response, basis in zip(df["response"], df["response_basis"])
            ],
            index=df.index,
            dtype=bool,
        )

    @pa.dataframe_check(name="response_evidence_present")
    def _evidence(cls, df: pd.DataFrame) -> pd.Series:
        known = df["tg_post"].notna() | df["scan_change"].notna()
        ok = pd.Series(True, index=df.index)
        ok &= ~((df["response"] == "NE") & known)
        ok &= ~((df["response"] == "SD") & ~known)
        ok &= ~((df["response_basis"] == "tg_decline") & df["delta_tg"].isna())
        ok &= ~((df["response_basis"] == "scan_reduction") & ~df["scan_change"].isin(["reduced", "resolved"]))
        ok &= ~((df["response"] == "CR") & ~df["scan_change"].isin(["resolved", "absent"]))
        # CR needs a tg_post below cr_tg_max: known, and never a value reported above the range
        ok &= ~((df["response"] == "CR") & (df["tg_post"].isna() | (df["tg_post_comparator"] == ">")))
        if "n_new_lesion_events" in df:
            ok &= (df["response"] == "PD") == (df["n_new_lesion_events"] > 0)
        return ok

    @pa.dataframe_check(name="pd_at_horizon_only_if_pd")
    def _pd_at_horizon(cls, df: pd.DataFrame) -> pd.Series:
        # the new lesions up to the horizon are some of those of the whole evaluation window
        if "response_at_horizon" not in df:
            return pd.Series(True, index=df.index)
        return (df["response_at_horizon"] != "PD") | (df["response"] == "PD")

    @pa.dataframe_check(name="delta_tg_matches_tg_pre_and_tg_post")
    def _delta(cls, df: pd.DataFrame) -> pd.Series:
        # no decline is measured from a tg_pre below detection or from a value above the range
        defined = df["tg_post"].notna() & (df["tg_pre"] > 0) & df["tg_pre_comparator"].isna()
        defined &= df["tg_post_comparator"] != ">"
        expected = ((df["tg_pre"] - df["tg_post"]) / df["tg_pre"]).where(defined)
        return _close(df["delta_tg"], expected)

    @pa.dataframe_check(name="cycles_numbered_1_to_n_in_date_order")
    def _numbering(cls, df: pd.DataFrame) -> pd.Series:
        ordered = df.sort_values(["patient_id", "cycle_number"])
        position = ordered.groupby("patient_id").cumcount() + 1
        previous_date = ordered.groupby("patient_id")["admin_date"].shift()
        ok = (ordered["cycle_number"] == position) & ~(ordered["admin_date"] < previous_date).fillna(False)
        days = (ordered["admin_date"] - previous_date).dt.days
        ok &= _same(ordered["days_since_previous"].astype("Int64"), days.astype("Int64"))
        if "n_rait_cycles" in df:
            n = ordered.groupby("patient_id")["cycle_number"].transform("size")
            ok &= ordered["n_rait_cycles"] == n
            if "is_last_cycle" in df:
                ok &= ordered["is_last_cycle"].astype(bool) == (ordered["cycle_number"] == n)
        return ok.reindex(df.index)

    @pa.dataframe_check(name="cumulative_activity_adds_up_per_patient")
    def _cumulative(cls, df: pd.DataFrame) -> pd.Series:
        ordered = df.sort_values(["patient_id", "cycle_number"])
        expected = ordered.groupby("patient_id")["activity_gbq"].cumsum()
        previous = ordered.groupby("patient_id")["cumulative_gbq"].shift()
        increasing = ~(ordered["cumulative_gbq"] <= previous).fillna(False)
        return (_close(ordered["cumulative_gbq"], expected, rel=1e-6) & increasing).reindex(df.index)

    @pa.dataframe_check(name="window_end_not_before_start")
    def _window(cls, df: pd.DataFrame) -> pd.Series:
        if "window_start_date" not in df or "window_end_date" not in df:
            return pd.Series(True, index=df.index)
        return ~(df["window_end_date"] < df["window_start_date"]).fillna(False)


@_documented("pfs")
class PfsMart(pa.DataFrameModel):
    """marts.pfs -- one row per patient with a RAIT."""

    patient_id: Series[str] = pa.Field(nullable=False, unique=True)
    start_date: Series[pa.DateTime] = pa.Field(nullable=False)
    end_date: Series[pa.DateTime] = pa.Field(nullable=False)
    pfs_months: Series[float] = pa.Field(nullable=False, ge=0)
    pfs_event: Series[int] = pa.Field(nullable=False, isin=[0, 1])
    event_type: Series[str] = pa.Field(nullable=False, isin=EVENT_TYPES)
    follow_up_months: Series[float] = pa.Field(nullable=False, ge=0)
    pfs_months_last_contact: Series[float] = pa.Field(nullable=False, ge=0)
    pd_date: Series[pa.DateTime] = pa.Field(nullable=True, required=False)
    death_date: Series[pa.DateTime] = pa.Field(nullable=True, required=False)
    last_contact_date: Series[pa.DateTime] = pa.Field(nullable=True, required=False)
    last_assessment_date: Series[pa.DateTime] = pa.Field(nullable=False, required=False)

    class Config:
        name = "marts.pfs"
        strict = True
        coerce = True

    @pa.dataframe_check(name="end_date_not_before_start_date")
    def _order(cls, df: pd.DataFrame) -> pd.Series:
        return df["end_date"] >= df["start_date"]

    @pa.dataframe_check(name="event_type_consistent_with_pfs_event")
    def _event(cls, df: pd.DataFrame) -> pd.Series:
        return (df["pfs_event"] == 1) == df["event_type"].isin(["progression", "death"])

    @pa.dataframe_check(name="pfs_months_matches_dates")
    def _months(cls, df: pd.DataFrame) -> pd.Series:
        return _close(df["pfs_months"], (df["end_date"] - df["start_date"]).dt.days / DAYS_PER_MONTH)

    @pa.dataframe_check(name="follow_up_not_shorter_than_pfs")
    def _follow_up(cls, df: pd.DataFrame) -> pd.Series:
        return df["follow_up_months"] + ABS_TOL >= df["pfs_months"]

    @pa.dataframe_check(name="end_date_is_the_event_or_censoring_date")
    def _end(cls, df: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=df.index)
        if "pd_date" in df:
            ok &= ~((df["event_type"] == "progression") & ~_same(df["end_date"], df["pd_date"]))
        if "death_date" in df:
            ok &= ~((df["event_type"] == "death") & ~_same(df["end_date"], df["death_date"]))
            if "pd_date" in df:
                # the earlier of progression and death; a progression on the day of death is progression
                earlier = df[["pd_date", "death_date"]].min(axis=1)
                ok &= ~(df["pfs_event"] == 1) | _same(df["end_date"], earlier)
        if "last_contact_date" in df:
            # censored at the last disease assessment or at last contact (var pfs_censoring)
            censoring_date = _same(df["end_date"], df["last_contact_date"])
            if "last_assessment_date" in df:
                censoring_date |= _same(df["end_date"], df["last_assessment_date"])
            ok &= ~((df["event_type"] == "censored") & ~censoring_date)
            if "death_date" in df:
                follow_up_end = df["death_date"].fillna(df["last_contact_date"])
                ok &= _close(df["follow_up_months"], (follow_up_end - df["start_date"]).dt.days / DAYS_PER_MONTH)
        return ok

    @pa.dataframe_check(name="pfs_months_last_contact_matches")
    def _last_contact(cls, df: pd.DataFrame) -> pd.Series:
        # revision 1's interval: the same for an event, censored at last contact otherwise, so never
        # shorter than pfs_months and never longer than the follow-up
        ok = df["pfs_months_last_contact"] + ABS_TOL >= df["pfs_months"]
        ok &= df["pfs_months_last_contact"] <= df["follow_up_months"] + ABS_TOL
        ok &= (df["pfs_event"] != 1) | _close(df["pfs_months_last_contact"], df["pfs_months"])
        if "last_contact_date" in df:
            to_last_contact = (df["last_contact_date"] - df["start_date"]).dt.days / DAYS_PER_MONTH
            ok &= (df["event_type"] != "censored") | _close(df["pfs_months_last_contact"], to_last_contact)
        return ok


@_documented("analysis_cohort")
class AnalysisCohortMart(pa.DataFrameModel):
    """marts.analysis_cohort -- eligible patients only."""

    patient_id: Series[str] = pa.Field(nullable=False, unique=True)
    rait_group: Series[str] = pa.Field(nullable=False, isin=RAIT_GROUPS)
    n_rait_cycles: Series[int] = pa.Field(nullable=False, ge=1)
    sex: Series[str] = pa.Field(nullable=False, isin=SEXES)
    age_at_diagnosis_years: Series[float] = pa.Field(nullable=True, ge=0, le=130)
    histology: Series[str] = pa.Field(nullable=True, isin=HISTOLOGIES)
    max_tumor_size_cm: Series[float] = pa.Field(nullable=True, gt=0, le=20)
    t_stage_group: Series[str] = pa.Field(nullable=True, isin=T_STAGE_GROUPS)
    n_stage_max: Series[str] = pa.Field(nullable=True, isin=N_STAGES_RANKED)
    ata_risk: Series[str] = pa.Field(nullable=True, isin=ATA_RISKS)
    local_disease_status: Series[str] = pa.Field(nullable=True, isin=LOCAL_DISEASE)
    metastasis_timing: Series[str] = pa.Field(nullable=True, isin=TIMINGS)
    first_response: Series[str] = pa.Field(nullable=False, isin=RESPONSES)
    last_response: Series[str] = pa.Field(nullable=False, isin=RESPONSES)
    median_activity_gbq: Series[float] = pa.Field(nullable=False, gt=0)
    cumulative_gbq: Series[float] = pa.Field(nullable=False, gt=0)
    pfs_months: Series[float] = pa.Field(nullable=False, ge=0)
    pfs_event: Series[int] = pa.Field(nullable=False, isin=[0, 1])
    follow_up_months: Series[float] = pa.Field(nullable=False, ge=0)
    center_id: Series[str] = pa.Field(nullable=False, required=False)
    t_stage_max: Series[str] = pa.Field(nullable=True, isin=T_STAGES_RANKED, required=False)
    event_type: Series[str] = pa.Field(nullable=False, isin=EVENT_TYPES, required=False)
    pfs_start_date: Series[pa.DateTime] = pa.Field(nullable=False, required=False)
    pfs_end_date: Series[pa.DateTime] = pa.Field(nullable=False, required=False)

    class Config:
        name = "marts.analysis_cohort"
        strict = True
        coerce = True

    @pa.dataframe_check(name="rait_group_matches_n_rait_cycles")
    def _rait_group(cls, df: pd.DataFrame) -> pd.Series:
        return _same(df["rait_group"], _group_for(df["n_rait_cycles"]))

    @pa.dataframe_check(name="o_rait_first_response_equals_last")
    def _o_rait_response(cls, df: pd.DataFrame) -> pd.Series:
        return (df["n_rait_cycles"] != 1) | (df["first_response"] == df["last_response"])

    @pa.dataframe_check(name="event_type_consistent_with_pfs_event")
    def _event(cls, df: pd.DataFrame) -> pd.Series:
        if "event_type" not in df:
            return pd.Series(True, index=df.index)
        return (df["pfs_event"] == 1) == df["event_type"].isin(["progression", "death"])

    @pa.dataframe_check(name="end_date_not_before_start_date")
    def _order(cls, df: pd.DataFrame) -> pd.Series:
        if "pfs_start_date" not in df or "pfs_end_date" not in df:
            return pd.Series(True, index=df.index)
        return df["pfs_end_date"] >= df["pfs_start_date"]

    @pa.dataframe_check(name="follow_up_not_shorter_than_pfs")
    def _follow_up(cls, df: pd.DataFrame) -> pd.Series:
        return df["follow_up_months"] + ABS_TOL >= df["pfs_months"]

    @pa.dataframe_check(name="median_activity_at_most_cumulative")
    def _median(cls, df: pd.DataFrame) -> pd.Series:
        return df["median_activity_gbq"] <= df["cumulative_gbq"] + ABS_TOL


@_documented("cohort_attrition")
class CohortAttritionMart(pa.DataFrameModel):
    """marts.cohort_attrition -- one row per eligibility step (0 = all patients)."""

    step: Series[int] = pa.Field(nullable=False, ge=0, le=6, unique=True)
    criterion: Series[str] = pa.Field(nullable=False, isin=["all_patients", *CRITERIA], unique=True)
    n_remaining: Series[int] = pa.Field(nullable=False, ge=0)
    n_excluded: Series[int] = pa.Field(nullable=False, ge=0)

    class Config:
        name = "marts.cohort_attrition"
        strict = True
        coerce = True

    @pa.dataframe_check(name="criterion_matches_step")
    def _criterion(cls, df: pd.DataFrame) -> pd.Series:
        names = {0: "all_patients", **{i + 1: c for i, c in enumerate(CRITERIA)}}
        return df["criterion"] == df["step"].map(names)

    @pa.dataframe_check(name="every_criterion_has_a_step")
    def _complete(cls, df: pd.DataFrame) -> pd.Series:
        complete = set(range(1, 7)) <= set(df["step"].tolist())
        return pd.Series(complete, index=df.index)

    @pa.dataframe_check(name="n_remaining_is_previous_minus_excluded")
    def _remaining(cls, df: pd.DataFrame) -> pd.Series:
        ordered = df.sort_values("step")
        previous = ordered["n_remaining"].shift()
        ok = (previous.isna() | (ordered["n_remaining"] == previous - ordered["n_excluded"])).astype(bool)
        ok &= ~((ordered["step"] == 0) & (ordered["n_excluded"] != 0))
        return ok.reindex(df.index)


#: mart name -> pandera model.
@_documented("strategy_evidence_monthly")
class StrategyEvidenceMonthlyMart(pa.DataFrameModel):
    """marts.strategy_evidence_monthly -- one row per patient with a RAIT and month since the first RAIT."""

    patient_id: Series[str] = pa.Field(nullable=False)
    month_number: Series[int] = pa.Field(nullable=False, ge=0)
    start_months: Series[float] = pa.Field(nullable=False, ge=0)
    stop_months: Series[float] = pa.Field(nullable=False, ge=0)
    tg_post_known: Series[bool] = pa.Field(nullable=False)
    delta_tg: Series[float] = pa.Field(nullable=True)
    scan_change: Series[str] = pa.Field(nullable=True, isin=SCAN_STATUSES)
    n_new_lesions: Series[int] = pa.Field(nullable=False, ge=0)
    second_rait_given: Series[bool] = pa.Field(nullable=False)
    second_rait_in_month: Series[bool] = pa.Field(nullable=False)
    pfs_event_in_month: Series[bool] = pa.Field(nullable=False)
    is_last_month: Series[bool] = pa.Field(nullable=False)

    class Config:
        name = "marts.strategy_evidence_monthly"
        strict = True
        coerce = True


MART_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "patients": PatientsMart,
    "rait_cycles": RaitCyclesMart,
    "pfs": PfsMart,
    "analysis_cohort": AnalysisCohortMart,
    "cohort_attrition": CohortAttritionMart,
    "strategy_evidence_monthly": StrategyEvidenceMonthlyMart,
}
