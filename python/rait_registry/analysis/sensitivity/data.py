"""The data the sensitivity analyses are fitted on: cycles on the PFS time scale, the patients at a
landmark, counting-process rows with the treatment history, and baseline covariate matrices.

Time is in months (``days / 30.4375``, `rait_registry.contract.DAYS_PER_MONTH`) from the first
RAIT, like ``pfs_months``. A cycle whose time is within half a day of the end of a patient's PFS
follow-up counts as given on that day (``pfs_months`` may be rounded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rait_registry import params
from rait_registry.contract import DAYS_PER_MONTH, M_RAIT, O_RAIT, RAIT_GROUPS
from rait_registry.exceptions import AnalysisError, MatchingError

from ..matching import DERIVED_COVARIATES, covariate_columns

__all__ = [
    "COHORT_COLUMNS",
    "CYCLE_COLUMNS",
    "DEFAULT_EXPOSURE_LAG_DAYS",
    "checked_cohort",
    "counting_process",
    "covariate_matrix",
    "cycle_months",
    "exposure_lag_days",
    "landmark_cohort",
    "on_day_grid",
]

#: A cycle this close (in months) to the end of PFS follow-up counts as given on that day.
SAME_DAY_MONTHS = 0.5 / DAYS_PER_MONTH
#: A pfs_months this close (in days) to a whole number of days is put exactly on the day grid.
DAY_GRID_TOLERANCE_DAYS = 0.01
_EPS_MONTHS = 1e-9
#: Days from an administration after the first to its exposure change when the refresh recorded
#: none: the declared default of ``rxwbs_window_days``.
DEFAULT_EXPOSURE_LAG_DAYS: int = params.get("rxwbs_window_days").default
COHORT_COLUMNS = ("patient_id", "rait_group", "pfs_months", "pfs_event")
CYCLE_COLUMNS = ("patient_id", "cycle_number", "admin_date", "activity_gbq", "cumulative_gbq")


def require(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise AnalysisError(f"{what} lacks column(s) {missing}; pass the marts analysis_cohort and rait_cycles")


def cycle_months(cohort: pd.DataFrame, cycles: pd.DataFrame) -> pd.DataFrame:
    """Each cohort patient's cycles on the PFS time scale.

    Parameters
    ----------
    cohort : DataFrame
        ``marts.analysis_cohort`` (``patient_id``, ``pfs_months``, ``pfs_event``, ...).
    cycles : DataFrame
        ``marts.rait_cycles`` (``patient_id``, ``cycle_number``, ``admin_date``,
        ``activity_gbq``, ``cumulative_gbq``); rows of other patients are ignored.

    Returns
    -------
    DataFrame
        ``patient_id``, ``cycle_number``, ``days`` (since the first RAIT, an integer),
        ``months`` (``days / 30.4375``), ``activity_gbq``, ``cumulative_gbq``, sorted by
        patient and cycle.

    Raises
    ------
    AnalysisError
        Missing columns, a cohort patient without cycles, or a missing admin_date.
    """
    require(cohort, ("patient_id",), "the cohort")
    require(cycles, CYCLE_COLUMNS, "rait_cycles")
    ids = cohort["patient_id"].astype(str)
    cyc = cycles.loc[cycles["patient_id"].astype(str).isin(set(ids)), list(CYCLE_COLUMNS)].copy()
    cyc["patient_id"] = cyc["patient_id"].astype(str)
    cyc["admin_date"] = pd.to_datetime(cyc["admin_date"])
    if cyc["admin_date"].isna().any():
        bad = cyc.loc[cyc["admin_date"].isna(), "patient_id"].iloc[0]
        raise AnalysisError(f"rait_cycles: admin_date is missing for patient_id {bad!r}; rebuild the marts")
    without = sorted(set(ids) - set(cyc["patient_id"]))
    if without:
        raise AnalysisError(
            f"{len(without)} cohort patient(s) have no rows in rait_cycles (first patient_id {without[0]!r}); "
            "pass the rait_cycles mart of the same warehouse"
        )
    cyc = cyc.sort_values(["patient_id", "cycle_number"], kind="stable").reset_index(drop=True)
    first = cyc.groupby("patient_id")["admin_date"].transform("min")
    cyc["days"] = (cyc["admin_date"] - first).dt.days.astype(np.int64)
    cyc["months"] = cyc["days"] / DAYS_PER_MONTH
    return cyc[["patient_id", "cycle_number", "days", "months", "activity_gbq", "cumulative_gbq"]]


def exposure_days(cyc: pd.DataFrame, lag_days: int) -> np.ndarray:
    """Day (since the first RAIT) from which each cycle of `cycle_months` counts: its
    administration, plus ``lag_days`` for every cycle after the first (the exposure lag)."""
    lag = params.get("rxwbs_window_days").check(lag_days)
    return cyc["days"].to_numpy(dtype=np.int64) + np.where(cyc["cycle_number"].to_numpy() > 1, lag, 0)


def landmark_cohort(
    cohort: pd.DataFrame, cycles: pd.DataFrame, landmark_months: float, lag_days: int = 0
) -> tuple[pd.DataFrame, dict]:
    """The patients at risk at a landmark, grouped by the cycles received by then.

    Parameters
    ----------
    cohort, cycles : DataFrame
        The marts (see `cycle_months`).
    landmark_months : float
        Landmark after the first RAIT, in months.
    lag_days : int, default 0
        A cycle after the first counts from ``lag_days`` after its administration, as in the
        time-varying models (`counting_process`): its post-therapy scan, within
        ``rxwbs_window_days``, can show progression that the cycle did not cause. The
        sensitivity analyses pass the refresh's ``rxwbs_window_days``; 0 counts a cycle from the
        day it is given.

    Returns
    -------
    data : DataFrame
        The cohort rows of patients with ``pfs_months > landmark`` (progression-free and under
        follow-up at the landmark) plus ``cycles_by_landmark`` (cycles with ``days since the
        first RAIT (+ lag_days after the first cycle) <= landmark * 30.4375``),
        ``landmark_group`` (o-RAIT for one cycle, m-RAIT for two or more) and
        ``months_from_landmark`` (``pfs_months - landmark``).
    counts : dict
        ``n_cohort``, ``n_event_before``, ``n_censored_before`` (left out), ``n_at_landmark``,
        ``groups`` (n per landmark group) and ``reclassified`` (final m-RAIT patients who
        are o-RAIT at the landmark, and the reverse, which cannot happen).
    """
    require(cohort, COHORT_COLUMNS, "the cohort")
    L = float(landmark_months)
    cyc = cycle_months(cohort, cycles)
    limit_days = L * DAYS_PER_MONTH + 1e-9
    by_lm = cyc.loc[exposure_days(cyc, lag_days) <= limit_days].groupby("patient_id").size()
    c = cohort.copy()
    pid = c["patient_id"].astype(str)
    c["cycles_by_landmark"] = pid.map(by_lm).fillna(0).astype(np.int64).to_numpy()
    T = c["pfs_months"].to_numpy(dtype=float)
    E = c["pfs_event"].to_numpy(dtype=float)
    at_risk = (T - L) > _EPS_MONTHS
    c["landmark_group"] = np.where(c["cycles_by_landmark"] >= 2, M_RAIT, O_RAIT)
    c["months_from_landmark"] = T - L
    data = c.loc[at_risk].reset_index(drop=True)
    final = data["rait_group"].astype(str)
    counts = {
        "n_cohort": len(c),
        "n_event_before": int(((~at_risk) & (E == 1)).sum()),
        "n_censored_before": int(((~at_risk) & (E != 1)).sum()),
        "n_at_landmark": int(at_risk.sum()),
        "groups": {g: int((data["landmark_group"] == g).sum()) for g in (O_RAIT, M_RAIT)},
        "reclassified": {
            f"{M_RAIT} at the end, {O_RAIT} at the landmark": int(
                ((final == M_RAIT) & (data["landmark_group"] == O_RAIT)).sum()
            ),
            f"{O_RAIT} at the end, {M_RAIT} at the landmark": int(
                ((final == O_RAIT) & (data["landmark_group"] == M_RAIT)).sum()
            ),
        },
    }
    return data, counts


def exposure_lag_days(meta: Mapping[str, Any] | None = None) -> tuple[int, str]:
    """The exposure lag of the time-varying models: ``rxwbs_window_days`` as the refresh used it.

    Parameters
    ----------
    meta : mapping, optional
        Provenance of the refresh the marts come from (results.json ``meta``:
        `rait_registry.analysis.run.warehouse_meta`, whose ``dbt_vars`` are the overrides the
        latest ``history.refresh_runs`` row recorded).

    Returns
    -------
    lag_days : int
        The refresh's override of ``rxwbs_window_days``, else its declared default
        (`rait_registry.params`; a refresh without an override used it too).
    source : str
        Where the value comes from, in words (results.json ``time_varying_cox.exposure_lag_source``).

    Raises
    ------
    UsageError
        The recorded value is not a valid ``rxwbs_window_days``.

    Examples
    --------
    >>> exposure_lag_days({"run_id": "r1", "dbt_vars": {"rxwbs_window_days": 21}})
    (21, 'rxwbs_window_days recorded by refresh r1 (history.refresh_runs dbt_vars)')
    >>> exposure_lag_days(None)[0]
    14
    """
    meta = meta or {}
    recorded = (meta.get("dbt_vars") or {}).get("rxwbs_window_days")
    run = meta.get("run_id")
    if recorded is not None:
        value = params.get("rxwbs_window_days").check(recorded)
        return int(value), f"rxwbs_window_days recorded by refresh {run} (history.refresh_runs dbt_vars)"
    if run:
        return DEFAULT_EXPOSURE_LAG_DAYS, f"declared default of rxwbs_window_days, in force in refresh {run}"
    return DEFAULT_EXPOSURE_LAG_DAYS, "declared default of rxwbs_window_days (no refresh provenance given)"


def on_day_grid(months: Any) -> np.ndarray:
    """Put month values that are a whole number of days (up to rounding) exactly on the day grid.

    docs/specification.md section 2 derives ``pfs_months`` as calendar days / 30.4375. A value within
    `DAY_GRID_TOLERANCE_DAYS` of a whole number of days (the mart's own value, or one rounded
    to 4 decimals in an export) becomes ``round(days) / 30.4375``, the same float as a cycle
    date's ``days / 30.4375``; other values are left alone. Without this, the end of one
    patient's follow-up and another's cycle on the same day differ in the 8th digit: lifelines
    would treat them as distinct times while R ``coxph`` (``timefix``) ties them.
    """
    m = np.asarray(months, dtype=float)
    d = m * DAYS_PER_MONTH
    r = np.round(d)
    return np.where(np.abs(d - r) < DAY_GRID_TOLERANCE_DAYS, r / DAYS_PER_MONTH, m)


def counting_process(
    cohort: pd.DataFrame, cycles: pd.DataFrame, lag_days: int = DEFAULT_EXPOSURE_LAG_DAYS
) -> pd.DataFrame:
    """Counting-process (start, stop] rows with the treatment history as time-varying covariates.

    Every administration after the first changes the exposure ``lag_days`` after it is given:
    the post-therapy scan of cycle k+1 (within ``rxwbs_window_days`` of the administration,
    docs/specification.md section 2) evaluates cycle k, so what it finds belongs to the exposure
    before cycle k+1. The first cycle is the time origin. A patient's follow-up
    ``(0, pfs_months]`` is split at each such exposure change before the end of follow-up. On
    each interval the covariates are those after every change at or before its start, as R
    ``tmerge(..., tdc(time))`` / ``cumtdc(time, value)`` define them: a change at time t applies
    to intervals starting at t, so an event on exactly the day of the change (administration +
    lag) stays with the exposure before it; a change on the day follow-up ends (within half a
    day, `SAME_DAY_MONTHS`) or later changes nothing. ``pfs_months`` is first put on the day
    grid (`on_day_grid`).

    Parameters
    ----------
    cohort, cycles : DataFrame
        The marts (see `cycle_months`).
    lag_days : int
        Days from an administration after the first to its exposure change: the refresh's
        ``rxwbs_window_days`` (`exposure_lag_days`); 0 switches on the day of the
        administration (the unlagged sensitivity analysis), so that a second cycle on the day of
        the first makes the patient m-RAIT from time 0.

    Returns
    -------
    DataFrame
        ``patient_id``, ``start``, ``stop`` (months), ``event`` (1 only on a patient's last
        row, when ``pfs_event`` is 1), ``n_cycles`` (cycles counted so far), ``m_rait``
        (1 from the second cycle's exposure change), ``cumulative_gbq`` (activity counted so
        far). Patients with ``pfs_months <= 0`` have no rows (no time at risk).
    """
    lag = params.get("rxwbs_window_days").check(lag_days)
    require(cohort, COHORT_COLUMNS, "the cohort")
    cyc = cycle_months(cohort, cycles)
    base = pd.DataFrame(
        {
            "patient_id": cohort["patient_id"].astype(str).to_numpy(),
            "T": on_day_grid(cohort["pfs_months"]),
            "E": cohort["pfs_event"].to_numpy(dtype=float),
        }
    )
    base = base.loc[base["T"] > 0]
    cyc = cyc.merge(base, on="patient_id", how="inner")
    t = exposure_days(cyc, lag) / DAYS_PER_MONTH
    T = cyc["T"].to_numpy(dtype=float)
    t = np.where(np.abs(t - T) < SAME_DAY_MONTHS, T, t)
    t = np.where(t < 0, 0.0, t)
    cyc = cyc.assign(t=t).loc[t < T]
    # one interval start per distinct cycle time (several cycles on one day merge)
    grp = (
        cyc.groupby(["patient_id", "t"], sort=True)
        .agg(k=("cycle_number", "size"), cumulative_gbq=("cumulative_gbq", "last"), T=("T", "first"), E=("E", "first"))
        .reset_index()
    )
    grp["n_cycles"] = grp.groupby("patient_id")["k"].cumsum().astype(np.int64)
    nxt = grp.groupby("patient_id")["t"].shift(-1)
    last = nxt.isna()
    out = pd.DataFrame(
        {
            "patient_id": grp["patient_id"],
            "start": grp["t"].to_numpy(dtype=float),
            "stop": np.where(last, grp["T"], nxt).astype(float),
            "event": np.where(last, grp["E"], 0.0).astype(np.int64),
            "n_cycles": grp["n_cycles"],
            "m_rait": (grp["n_cycles"] >= 2).astype(np.int64),
            "cumulative_gbq": grp["cumulative_gbq"].astype(float),
        }
    )
    return out.reset_index(drop=True)


def _covariate_spec_columns(covariates: Sequence[str]) -> list[str]:
    cols = []
    for spec in covariates:
        expr = DERIVED_COVARIATES.get(spec, spec)
        cols.append(expr.split("==", 1)[0].strip())
    return cols


def covariate_matrix(cohort: pd.DataFrame, covariates: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric model columns of baseline covariates, complete cases only.

    ``covariates`` are specifications as for `PropensityMatcher` (a column, a derived name such
    as ``local_persistent_disease``, or ``"column==value"``).

    Returns
    -------
    X : DataFrame
        Model columns (categorical columns as treatment contrasts) of the complete cases,
        indexed like ``cohort``.
    complete : ndarray of bool
        Which cohort rows have every covariate.
    """
    if not covariates:
        return pd.DataFrame(index=cohort.index), np.ones(len(cohort), dtype=bool)
    cols = _covariate_spec_columns(covariates)
    missing = [c for c in cols if c not in cohort.columns]
    if missing:
        raise AnalysisError(f"covariate column(s) {missing} are not in the cohort; choose covariates among its columns")
    complete = cohort[cols].notna().all(axis=1).to_numpy()
    try:
        X, _ = covariate_columns(cohort.loc[complete], list(covariates))
    except MatchingError as exc:
        raise AnalysisError(str(exc)) from exc
    return X.astype(float), complete


def checked_cohort(cohort: pd.DataFrame) -> pd.DataFrame:
    """The cohort with a fresh index, refused (`AnalysisError`) when a column or a group is wrong."""
    require(cohort, COHORT_COLUMNS, "the cohort")
    cohort = cohort.reset_index(drop=True)
    bad = ~cohort["rait_group"].isin(RAIT_GROUPS)
    if bad.any():
        raise AnalysisError(
            f"{int(bad.sum())} cohort row(s) have a rait_group other than o-RAIT/m-RAIT "
            f"(first patient_id {cohort.loc[bad, 'patient_id'].iloc[0]!r}); pass marts.analysis_cohort"
        )
    return cohort
