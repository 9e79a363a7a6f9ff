"""Analyses that answer the study's known weaknesses (results.json ``landmark``,
``time_varying_cox``, ``non_inferiority``, ``sensitivity``, ``dose_response``).

The study (``shared/paper/less-is-more-rait.txt``) compares patients who received one RAIT
(o-RAIT) with those who received several (m-RAIT) and concludes "non-inferior PFS" from a
non-significant log-rank test in a propensity-matched cohort. Its known traps, and what this
module offers instead:

* **Immortal time.** The group (number of cycles) is only known after follow-up: a patient
  must stay progression-free long enough to *receive* a second cycle to be m-RAIT. Two
  remedies:

  - `landmark_cohort` / ``landmark``: a landmark analysis. At ``L`` months after the first
    RAIT (default 12), patients still progression-free *and* still under follow-up
    (``pfs_months > L``) are grouped by the cycles received by then (``admin_date <=
    first RAIT + L``, i.e. ``days since first RAIT <= L * 30.4375``): one cycle -> o-RAIT,
    two or more -> m-RAIT. PFS is counted from the landmark. Kaplan-Meier, log-rank and Cox
    come from `survival.SurvivalComparison` (R-verified settings); an adjusted Cox HR and
    the HR at a few other landmarks are added.
  - `counting_process` / ``time_varying_cox``: a Cox model with m-RAIT status (and, as a
    second model, the number of cycles received) as a time-varying covariate, on
    counting-process data: a patient is o-RAIT from the first RAIT until the day of the
    second administration and m-RAIT from that day on (R ``tmerge(..., tdc(t2))``).
    lifelines ``CoxTimeVaryingFitter`` (Efron ties) with tight Newton-Raphson options;
    agreement with R ``coxph`` on ``tmerge`` data is tested to 1e-6.

* **Non-inferiority stated properly** (``non_inferiority``). The claim "o-RAIT is not worse"
  is about the hazard ratio of **o-RAIT versus m-RAIT (reference m-RAIT)**, HR > 1 meaning
  faster progression with one RAIT. Non-inferiority at margin M (default 1.5) is shown when
  the upper limit of the two-sided ``1 - 2 alpha`` CI (95% for the default one-sided
  ``alpha = 0.025``) lies below M; the one-sided p-value tests H0: HR >= M (Wald, log
  scale). The same for the difference of 5-year PFS, o-RAIT minus m-RAIT, with margin
  -10 percentage points: the SE of each Kaplan-Meier estimate is Greenwood's (linear scale,
  statsmodels ``SurvfuncRight.surv_prob_se``), the two are combined as independent and the
  Wald interval is on the linear scale. A non-significant log-rank test is never read as
  non-inferiority.

* **Sensitivity of the matched result** (``sensitivity``): matching with and without
  follow-up time (follow-up is not a baseline variable), with the study's caliper (0.05 on
  the propensity) and with 0.2 SD of the logit of the propensity (Austin 2011); inverse
  probability of treatment weighting (default the **ATE** with stabilised weights; ATT
  optional) with a weighted Cox model (lifelines) and the robust sandwich SE of R
  ``coxph(robust = TRUE)`` (`cox_robust_covariance`: Efron score residuals, which lifelines'
  ``robust=True`` gets wrong at tied times) and weighted Kaplan-Meier; E-values for the hazard
  ratios (VanderWeele & Ding 2017).

* **Cumulative activity** (``dose_response``): Cox models of PFS on cumulative GBq as a
  natural cubic spline (formulaic ``cr``, knots at quantiles, linear beyond the boundary
  knots; the same function space as R ``ns``), reported as the HR curve relative to a
  reference dose with a likelihood-ratio test of non-linearity. The mart's
  ``cumulative_gbq`` is the total over *all* cycles, which is only known at the end of
  follow-up (immortal time again, and some cycles follow progression), so a time-varying
  version uses the cumulative dose received up to each time.

Time is in months (``days / 30.4375``, contract section 2) from the first RAIT, like
``pfs_months``. A cycle whose time is within half a day of the end of a patient's PFS
follow-up counts as given on that day (``pfs_months`` may be rounded).

Usage: ``beyond_sections(cohort, cycles, matcher, BeyondOptions(landmark_months=12,
ni_hr_margin=1.5))`` returns the five sections; `fit_beyond` returns the fitted
`BeyondAnalyses` (KM tables, fitters, tidy ``tables_``) for the report.

Each section has an ``interpretation`` sentence built from its numbers. Numbers are numbers;
an undefined value is ``null`` with a reason in ``notes``. Small data never raise: missing
columns or bad options do (`AnalysisError`).

References
----------
Anderson JR, Cain KC, Gelber RD (1983). Analysis of survival by tumor response. *J Clin Oncol*
1:710-719 (landmark method).
Suissa S (2008). Immortal time bias in pharmacoepidemiology. *Am J Epidemiol* 167:492-499.
Therneau TM, Crowson C, Atkinson E (2023). Using time dependent covariates and time dependent
coefficients in the Cox model. R survival vignette (``tmerge``).
Piaggio G, et al. (2012). Reporting of noninferiority and equivalence randomized trials:
extension of the CONSORT 2010 statement. *JAMA* 308:2594-2604.
Klein JP, Logan B, Harhoff M, Andersen PK (2007). Analyzing survival curves at a fixed point in
time. *Stat Med* 26:4505-4519.
Austin PC (2011). Optimal caliper widths for propensity-score matching when estimating
differences in means and differences in proportions in observational studies. *Pharm Stat*
10:150-161.
Austin PC, Stuart EA (2015). Moving towards best practice when using inverse probability of
treatment weighting (IPTW) using the propensity score to estimate causal treatment effects in
observational studies. *Stat Med* 34:3661-3679.
Xu S, et al. (2010). Use of stabilized inverse propensity scores as weights to directly estimate
relative risk and its confidence intervals. *Value Health* 13:273-277.
Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards model. *JASA*
84:1074-1078.
Therneau TM, Grambsch PM (2000). *Modeling Survival Data: Extending the Cox Model*. Springer,
sections 3.3 (Efron approximation) and 7.2 (score residuals, robust variance).
VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational research: introducing the
E-value. *Ann Intern Med* 167:268-274.
Durrleman S, Simon R (1989). Flexible regression models with cubic splines. *Stat Med* 8:551-561.
Wood SN (2017). *Generalized Additive Models*, 2nd ed. (cubic regression splines, ``cr``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic.transforms.cubic_spline import cubic_spline
from lifelines import CoxPHFitter, CoxTimeVaryingFitter, KaplanMeierFitter
from lifelines.exceptions import StatisticalWarning
from scipy.stats import chi2, norm
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.weightstats import DescrStatsW

from rait_registry.exceptions import AnalysisError, MatchingError, StatisticsWarning

from . import survival
from .cox import fit_cox, fit_cox_time_varying, wald_term
from .jsonutil import jsonable as _jsonable
from .matching import DEFAULT_COVARIATES, DERIVED_COVARIATES, PropensityMatcher, _covariate_columns

FOCAL_GROUP = survival.FOCAL_GROUP  # o-RAIT
CONTROL_GROUP = survival.CONTROL_GROUP  # m-RAIT
#: Contract section 2: months = days / 30.4375.
DAYS_PER_MONTH = 30.4375
#: A cycle this close (in months) to the end of PFS follow-up counts as given on that day.
SAME_DAY_MONTHS = 0.5 / DAYS_PER_MONTH
#: A pfs_months this close (in days) to a whole number of days is put exactly on the day grid.
DAY_GRID_TOLERANCE_DAYS = 0.01
_EPS_MONTHS = 1e-9
_COHORT_COLUMNS = ("patient_id", "rait_group", "pfs_months", "pfs_event")
_CYCLE_COLUMNS = ("patient_id", "cycle_number", "admin_date", "activity_gbq", "cumulative_gbq")
_ESTIMANDS = ("ATE", "ATT")


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchingVariant:
    """One propensity-score matching specification of the sensitivity analysis.

    ``caliper_scale`` is that of `PropensityMatcher`: ``"propensity"`` (caliper in propensity
    units, the study's 0.05) or ``"logit_sd"`` (in SDs of the logit of the propensity).
    """

    label: str
    covariates: tuple[str, ...]
    caliper: float | None
    caliper_scale: str = "propensity"


def default_matching_variants(covariates: Sequence[str] = DEFAULT_COVARIATES) -> tuple[MatchingVariant, ...]:
    """With and without follow-up time x caliper 0.05 (propensity) and 0.2 SD (logit propensity)."""
    given = tuple(covariates)
    without_fu = tuple(c for c in given if c != "follow_up_months")
    specs = [(given, "with follow-up")] if without_fu != given else []
    specs.append((without_fu, "without follow-up"))
    out = []
    for covs, tag in specs:
        out.append(MatchingVariant(f"caliper 0.05 (propensity), {tag}", covs, 0.05, "propensity"))
        out.append(MatchingVariant(f"caliper 0.2 SD (logit propensity), {tag}", covs, 0.2, "logit_sd"))
    return tuple(out)


@dataclass
class BeyondOptions:
    """Options of the analyses beyond the study (defaults in brackets).

    Attributes
    ----------
    landmark_months : float [12]
        Landmark after the first RAIT.
    landmark_sensitivity_months : tuple of float [(6, 18, 24)]
        Further landmarks for a short table of HRs.
    horizon_months : float [60]
        Time of the PFS comparison (5-year PFS); for the landmark analysis the KM is read at
        ``horizon_months - landmark_months`` after the landmark.
    alpha : float [0.05]
        1 - confidence level of the reported CIs (two-sided).
    adjust_covariates : tuple of str [age, local persistent disease]
        Baseline covariates of the adjusted Cox models (landmark, time-varying, dose). Names
        as `PropensityMatcher` covariates; patients with a missing value are left out of the
        adjusted models only. Empty: no adjusted models.
    ni_hr_margin : float [1.5]
        Non-inferiority margin for the HR of o-RAIT versus m-RAIT (must exceed 1).
    ni_pfs_margin : float [0.10]
        Non-inferiority margin for the 5-year PFS difference, o-RAIT minus m-RAIT (0..1).
    ni_alpha : float [0.025]
        One-sided significance level of the non-inferiority tests.
    matching_variants : tuple of MatchingVariant or None
        Matching specifications of the sensitivity analysis; None: `default_matching_variants`
        of the primary matcher's covariates.
    iptw_estimand : {"ATE", "ATT"} ["ATE"]
        ATE: weights 1/e (o-RAIT), 1/(1-e) (m-RAIT), e = P(o-RAIT | covariates); ATT (o-RAIT
        as target population, as the matching): 1 and e/(1-e).
    iptw_covariates : tuple of str [age, local persistent disease]
        Propensity-model covariates of the weighting (baseline only: follow-up time is not).
    iptw_stabilized : bool [True]
        Multiply ATE weights by the marginal group proportion (ignored for the ATT).
    evalue_rare_outcome : bool or None [None]
        Treat the HR as a risk ratio (rare outcome) or use VanderWeele's square-root
        transformation (common outcome). None: decide per analysis by the 15% rule on the
        Kaplan-Meier cumulative incidence at the end of follow-up.
    dose_reference_gbq : float [5.55]
        Reference cumulative activity of the HR curve (one standard activity).
    dose_spline_df : int [3]
        Degrees of freedom of the natural spline (interior knots at the quantiles
        k / df of the patients' cumulative activity); 1 means linear only.
    dose_grid_points : int [25]
        Points of the HR curve between the 5th and 95th percentile of cumulative activity
        (the reference is added).
    """

    landmark_months: float = 12.0
    landmark_sensitivity_months: tuple[float, ...] = (6.0, 18.0, 24.0)
    horizon_months: float = 60.0
    alpha: float = 0.05
    adjust_covariates: tuple[str, ...] = ("age_at_diagnosis_years", "local_persistent_disease")
    ni_hr_margin: float = 1.5
    ni_pfs_margin: float = 0.10
    ni_alpha: float = 0.025
    matching_variants: tuple[MatchingVariant, ...] | None = None
    iptw_estimand: str = "ATE"
    iptw_covariates: tuple[str, ...] = ("age_at_diagnosis_years", "local_persistent_disease")
    iptw_stabilized: bool = True
    evalue_rare_outcome: bool | None = None
    dose_reference_gbq: float = 5.55
    dose_spline_df: int = 3
    dose_grid_points: int = 25

    def validate(self) -> None:
        """Raise `AnalysisError` for options that cannot work."""
        if not (0 < self.landmark_months < self.horizon_months):
            raise AnalysisError(
                f"landmark_months must lie between 0 and horizon_months ({self.horizon_months:g}), "
                f"got {self.landmark_months!r}"
            )
        if not (0 < self.alpha < 1):
            raise AnalysisError(f"alpha must lie in (0, 1), got {self.alpha!r}")
        if not (0 < self.ni_alpha < 0.5):
            raise AnalysisError(f"ni_alpha (one-sided) must lie in (0, 0.5), got {self.ni_alpha!r}")
        if not (self.ni_hr_margin > 1 and math.isfinite(self.ni_hr_margin)):
            raise AnalysisError(
                f"ni_hr_margin is a margin for the HR of o-RAIT vs m-RAIT and must exceed 1, got {self.ni_hr_margin!r}"
            )
        if not (0 < self.ni_pfs_margin < 1):
            raise AnalysisError(f"ni_pfs_margin is a difference of proportions in (0, 1), got {self.ni_pfs_margin!r}")
        if self.iptw_estimand not in _ESTIMANDS:
            raise AnalysisError(f"iptw_estimand must be one of {_ESTIMANDS}, got {self.iptw_estimand!r}")
        if not (isinstance(self.dose_spline_df, int) and self.dose_spline_df >= 1):
            raise AnalysisError(f"dose_spline_df must be an integer >= 1, got {self.dose_spline_df!r}")
        if not self.dose_reference_gbq > 0:
            raise AnalysisError(f"dose_reference_gbq must be positive, got {self.dose_reference_gbq!r}")
        if not self.dose_grid_points >= 2:
            raise AnalysisError(f"dose_grid_points must be >= 2, got {self.dose_grid_points!r}")


# ---------------------------------------------------------------------------------------------
# Data shaping (stateless)
# ---------------------------------------------------------------------------------------------


def _require(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
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
    _require(cohort, ("patient_id",), "the cohort")
    _require(cycles, _CYCLE_COLUMNS, "rait_cycles")
    ids = cohort["patient_id"].astype(str)
    cyc = cycles.loc[cycles["patient_id"].astype(str).isin(set(ids)), list(_CYCLE_COLUMNS)].copy()
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


def landmark_cohort(cohort: pd.DataFrame, cycles: pd.DataFrame, landmark_months: float) -> tuple[pd.DataFrame, dict]:
    """The patients at risk at a landmark, grouped by the cycles received by then.

    Parameters
    ----------
    cohort, cycles : DataFrame
        The marts (see `cycle_months`).
    landmark_months : float
        Landmark after the first RAIT, in months.

    Returns
    -------
    data : DataFrame
        The cohort rows of patients with ``pfs_months > landmark`` (progression-free and under
        follow-up at the landmark) plus ``cycles_by_landmark`` (cycles with ``days since the
        first RAIT <= landmark * 30.4375``, i.e. ``admin_date <= first RAIT + landmark``),
        ``landmark_group`` (o-RAIT for one cycle, m-RAIT for two or more) and
        ``months_from_landmark`` (``pfs_months - landmark``).
    counts : dict
        ``n_cohort``, ``n_event_before``, ``n_censored_before`` (left out), ``n_at_landmark``,
        ``groups`` (n per landmark group) and ``reclassified`` (final m-RAIT patients who
        are o-RAIT at the landmark, and the reverse, which cannot happen).
    """
    _require(cohort, _COHORT_COLUMNS, "the cohort")
    L = float(landmark_months)
    cyc = cycle_months(cohort, cycles)
    limit_days = L * DAYS_PER_MONTH + 1e-9
    by_lm = cyc.loc[cyc["days"] <= limit_days].groupby("patient_id").size()
    c = cohort.copy()
    pid = c["patient_id"].astype(str)
    c["cycles_by_landmark"] = pid.map(by_lm).fillna(0).astype(np.int64).to_numpy()
    T = c["pfs_months"].to_numpy(dtype=float)
    E = c["pfs_event"].to_numpy(dtype=float)
    at_risk = (T - L) > _EPS_MONTHS
    c["landmark_group"] = np.where(c["cycles_by_landmark"] >= 2, CONTROL_GROUP, FOCAL_GROUP)
    c["months_from_landmark"] = T - L
    data = c.loc[at_risk].reset_index(drop=True)
    final = data["rait_group"].astype(str)
    counts = {
        "n_cohort": len(c),
        "n_event_before": int(((~at_risk) & (E == 1)).sum()),
        "n_censored_before": int(((~at_risk) & (E != 1)).sum()),
        "n_at_landmark": int(at_risk.sum()),
        "groups": {g: int((data["landmark_group"] == g).sum()) for g in (FOCAL_GROUP, CONTROL_GROUP)},
        "reclassified": {
            f"{CONTROL_GROUP} at the end, {FOCAL_GROUP} at the landmark": int(
                ((final == CONTROL_GROUP) & (data["landmark_group"] == FOCAL_GROUP)).sum()
            ),
            f"{FOCAL_GROUP} at the end, {CONTROL_GROUP} at the landmark": int(
                ((final == FOCAL_GROUP) & (data["landmark_group"] == CONTROL_GROUP)).sum()
            ),
        },
    }
    return data, counts


def on_day_grid(months: Any) -> np.ndarray:
    """Put month values that are a whole number of days (up to rounding) exactly on the day grid.

    Contract section 2 derives ``pfs_months`` as calendar days / 30.4375. A value within
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


def counting_process(cohort: pd.DataFrame, cycles: pd.DataFrame) -> pd.DataFrame:
    """Counting-process (start, stop] rows with the treatment history as time-varying covariates.

    A patient's follow-up ``(0, pfs_months]`` is split at every administration after the first
    that happens before the end of follow-up. On each interval the covariates are those after
    every cycle given at or before its start, as R ``tmerge(..., tdc(time))`` /
    ``cumtdc(time, value)`` define them: a change at time t applies to intervals starting at
    t; a cycle on the day follow-up ends (within half a day, `SAME_DAY_MONTHS`) or later
    changes nothing. A second cycle on the day of the first makes the patient m-RAIT from
    time 0. ``pfs_months`` is first put on the day grid (`on_day_grid`).

    Returns
    -------
    DataFrame
        ``patient_id``, ``start``, ``stop`` (months), ``event`` (1 only on a patient's last
        row, when ``pfs_event`` is 1), ``n_cycles`` (cycles received so far), ``m_rait``
        (1 once the second cycle is given), ``cumulative_gbq`` (activity received so far).
        Patients with ``pfs_months <= 0`` have no rows (no time at risk).
    """
    _require(cohort, _COHORT_COLUMNS, "the cohort")
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
    t = cyc["months"].to_numpy(dtype=float)
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
        X, _ = _covariate_columns(cohort.loc[complete], list(covariates))
    except MatchingError as exc:
        raise AnalysisError(str(exc)) from exc
    return X.astype(float), complete


# ---------------------------------------------------------------------------------------------
# Statistics that the libraries lack (stateless)
# ---------------------------------------------------------------------------------------------


def hr_to_rr_common(hr: float) -> float:
    """VanderWeele's approximate risk ratio for a hazard ratio when the outcome is common.

    ``RR = (1 - 0.5**sqrt(HR)) / (1 - 0.5**sqrt(1/HR))`` (VanderWeele & Ding 2017, eq. for
    outcomes with a cumulative incidence above 15% at the end of follow-up).
    """
    hr = float(hr)
    if not hr > 0:
        raise AnalysisError(f"a hazard ratio must be positive, got {hr!r}")
    return (1.0 - 0.5 ** math.sqrt(hr)) / (1.0 - 0.5 ** math.sqrt(1.0 / hr))


def e_value_rr(rr: float) -> float:
    """E-value of a risk ratio: ``RR + sqrt(RR (RR - 1))`` with RR < 1 inverted (VanderWeele & Ding 2017)."""
    rr = float(rr)
    if not rr > 0:
        raise AnalysisError(f"a risk ratio must be positive, got {rr!r}")
    if rr < 1:
        rr = 1.0 / rr
    return rr + math.sqrt(rr * (rr - 1.0))


def e_value(
    estimate: float,
    ci_low: float | None = None,
    ci_high: float | None = None,
    *,
    measure: str = "HR",
    rare: bool = True,
) -> dict[str, Any]:
    """E-values for a ratio estimate and the CI limit closer to the null.

    Parameters
    ----------
    estimate, ci_low, ci_high : float
        The ratio and its CI (the CI may be omitted).
    measure : {"HR", "RR"}
        A hazard ratio is converted to the risk-ratio scale: unchanged when ``rare`` (outcome
        below 15% at the end of follow-up), else by `hr_to_rr_common`.
    rare : bool
        See ``measure``.

    Returns
    -------
    dict
        ``rr``, ``rr_ci_low``, ``rr_ci_high`` (risk-ratio scale), ``e_value_estimate``,
        ``e_value_ci`` (1 when the CI includes the null), ``transformation``.

    Notes
    -----
    Hand-written: neither statsmodels, scipy nor lifelines computes E-values (R: ``EValue``).
    """
    if measure not in ("HR", "RR"):
        raise AnalysisError(f"measure must be 'HR' or 'RR', got {measure!r}")
    if measure == "HR" and not rare:
        conv, how = hr_to_rr_common, "square-root transformation of the HR for a common outcome (VanderWeele 2017)"
    else:
        conv, how = (
            (lambda v: float(v)),
            ("HR taken as the risk ratio (rare outcome)" if measure == "HR" else "risk ratio"),
        )
    rr = conv(estimate)
    lo = None if ci_low is None else conv(ci_low)
    hi = None if ci_high is None else conv(ci_high)
    out: dict[str, Any] = {
        "rr": rr,
        "rr_ci_low": lo,
        "rr_ci_high": hi,
        "e_value_estimate": e_value_rr(rr),
        "e_value_ci": None,
        "transformation": how,
    }
    if lo is not None and hi is not None:
        if lo <= 1.0 <= hi:
            out["e_value_ci"] = 1.0
        elif rr > 1:
            out["e_value_ci"] = e_value_rr(lo)
        else:
            out["e_value_ci"] = e_value_rr(hi)
    return out


def non_inferiority_hr(log_hr_o_vs_m: float, se: float, margin: float = 1.5, alpha: float = 0.025) -> dict[str, Any]:
    """One-sided Wald test of H0: HR(o-RAIT vs m-RAIT) >= margin on the log scale.

    Returns
    -------
    dict
        ``hr``, ``ci_low``, ``ci_high`` (two-sided ``1 - 2 alpha``), ``z``,
        ``p_one_sided`` (``Phi((log HR - log margin) / se)``), ``non_inferior``
        (``ci_high < margin``; equivalent to ``p_one_sided < alpha``).
    """
    zc = norm.ppf(1.0 - alpha)
    z = (log_hr_o_vs_m - math.log(margin)) / se
    hi = math.exp(log_hr_o_vs_m + zc * se)
    return {
        "hr": math.exp(log_hr_o_vs_m),
        "ci_low": math.exp(log_hr_o_vs_m - zc * se),
        "ci_high": hi,
        "z": z,
        "p_one_sided": float(norm.cdf(z)),
        "non_inferior": bool(hi < margin),
    }


def km_at(durations: np.ndarray, events: np.ndarray, horizon: float) -> tuple[float | None, float | None, str | None]:
    """Kaplan-Meier survival at ``horizon`` (step value at or before it) and its Greenwood SE.

    Uses statsmodels ``SurvfuncRight`` (``surv_prob``, ``surv_prob_se``: Greenwood's formula on
    the linear scale). Missing with a reason when nobody is followed up to the horizon.
    """
    T = np.asarray(durations, dtype=float)
    E = np.asarray(events, dtype=float)
    if T.size == 0:
        return None, None, "no patients"
    if T.max() < horizon:
        return None, None, f"follow-up ends at {T.max():.1f} months, before {horizon:g} months"
    if E.sum() == 0 or T[E == 1].min() > horizon:
        return 1.0, 0.0, None
    sf = SurvfuncRight(T, E)
    idx = int(np.searchsorted(sf.surv_times, horizon, side="right")) - 1
    return float(sf.surv_prob[idx]), float(sf.surv_prob_se[idx]), None


def iptw_weights(
    propensity: np.ndarray, focal: np.ndarray, estimand: str = "ATE", stabilized: bool = True
) -> np.ndarray:
    """Inverse-probability-of-treatment weights, o-RAIT the focal group (``e = P(o-RAIT)``).

    ATE: ``1/e`` (focal), ``1/(1-e)`` (control), times the marginal proportion of the group
    when ``stabilized`` (Xu et al. 2010). ATT: ``1`` (focal), ``e/(1-e)`` (control).
    """
    e = np.asarray(propensity, dtype=float)
    f = np.asarray(focal, dtype=bool)
    if estimand not in _ESTIMANDS:
        raise AnalysisError(f"estimand must be one of {_ESTIMANDS}, got {estimand!r}")
    if np.any((e <= 0) | (e >= 1)):
        raise AnalysisError("propensity scores of 0 or 1 (separation): weights are infinite; choose other covariates")
    if estimand == "ATE":
        w = np.where(f, 1.0 / e, 1.0 / (1.0 - e))
        if stabilized:
            p1 = f.mean()
            w = w * np.where(f, p1, 1.0 - p1)
    else:
        w = np.where(f, 1.0, e / (1.0 - e))
    return w


def _kish_ess(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / (w**2).sum()) if w.size else 0.0


def _weighted_smd(x: np.ndarray, focal: np.ndarray, w: np.ndarray) -> float | None:
    """(weighted mean o - m) / sqrt((var_o + var_m) / 2), weighted variances (Austin & Stuart 2015)."""
    if focal.sum() < 2 or (~focal).sum() < 2:
        return None
    d1 = DescrStatsW(x[focal], weights=w[focal], ddof=0)
    d0 = DescrStatsW(x[~focal], weights=w[~focal], ddof=0)
    sd = math.sqrt((d1.var + d0.var) / 2.0)
    diff = float(d1.mean - d0.mean)
    if sd < 1e-12:
        return diff if abs(diff) < 1e-12 else None
    return diff / sd


# ---------------------------------------------------------------------------------------------
# Model fitting helpers
# ---------------------------------------------------------------------------------------------


def efron_score_residuals(
    X: np.ndarray, durations: np.ndarray, events: np.ndarray, weights: np.ndarray, params: np.ndarray
) -> np.ndarray:
    """Weighted score residuals of a right-censored Cox model with Efron ties (R ``coxph``).

    Equal to R ``residuals(fit, type = "score", weighted = TRUE)`` for
    ``coxph(Surv(durations, events) ~ X, weights = weights, ties = "efron")``. Written here
    because neither library provides it: lifelines' ``CoxPHFitter._compute_score`` takes the
    risk set in row order ("doesn't handle ties": a patient censored at an event time can drop
    out of that event's risk set, and tied events are not Efron-weighted), and statsmodels'
    ``PHReg.score_residuals`` is Breslow-only without case weights.

    For each event time ``t`` with ``d`` events (set ``D``), risk set ``R = {T >= t}``, risk
    scores ``r = exp(x beta)``, ``S0 = sum_R w r``, ``S1 = sum_R w r x`` (``S0d``, ``S1d`` over
    ``D``) and ``wbar = sum_D w / d``, Efron's k-th step (``f = k / d``, k = 0..d-1) has mean
    ``xbar_k = (S1 - f S1d) / (S0 - f S0d)`` and hazard ``h_k = wbar / (S0 - f S0d)``; each
    patient's residual gains ``(x - xbar_k) (1{D} / d - r (1 - f 1{D}) h_k)`` (Therneau &
    Grambsch 2000, sections 3.3 and 7.2). The unweighted residuals are multiplied by ``w``.

    Parameters
    ----------
    X : (n, p) array of covariates.
    durations, events, weights : (n,) arrays (events 0/1, weights > 0).
    params : (p,) coefficients at which to evaluate (the fitted ones).

    Returns
    -------
    (n, p) array of weighted score residuals (they sum to the score, 0 at the MLE).
    """
    X = np.asarray(X, dtype=float).reshape(len(durations), -1)
    T = np.asarray(durations, dtype=float)
    E = np.asarray(events).astype(bool)
    w = np.asarray(weights, dtype=float)
    eta = X @ np.asarray(params, dtype=float)
    r = np.exp(eta - eta.max())  # a common factor cancels in r / (S0 - f S0d)
    wr = w * r
    U = np.zeros_like(X)
    for t in np.unique(T[E]):
        at_risk = t <= T
        dead = at_risk & E & (t == T)
        alive = at_risk & ~dead
        d = int(dead.sum())
        s0, s1 = wr[at_risk].sum(), wr[at_risk] @ X[at_risk]
        s0d, s1d = wr[dead].sum(), wr[dead] @ X[dead]
        wbar = w[dead].sum() / d
        for k in range(d):
            f = k / d
            den = s0 - f * s0d
            xbar = (s1 - f * s1d) / den
            h = wbar / den
            U[alive] -= (r[alive] * h)[:, None] * (X[alive] - xbar)
            U[dead] += (1.0 / d - r[dead] * (1.0 - f) * h)[:, None] * (X[dead] - xbar)
    return U * w[:, None]


def cox_robust_covariance(
    fitter: CoxPHFitter, df: pd.DataFrame, duration: str, event: str, weights: str | None = None
) -> pd.DataFrame:
    """Robust (sandwich) covariance of a fitted ``CoxPHFitter``, as R ``coxph(robust = TRUE)``.

    ``D' D`` with ``D = U V`` the dfbeta residuals: `efron_score_residuals` ``U`` (weighted)
    times the model-based covariance ``V`` (``fitter.variance_matrix_``, the inverse weighted
    information); one cluster per row (Lin & Wei 1989). lifelines' own ``robust=True`` is not
    used because its score residuals ignore tied times (see `efron_score_residuals`); on the
    frozen demo cohort (two event times shared with a censoring) it was 2e-4 off R.
    """
    cols = list(fitter.params_.index)
    w = df[weights].to_numpy(dtype=float) if weights else np.ones(len(df))
    U = efron_score_residuals(
        df[cols].to_numpy(dtype=float),
        df[duration].to_numpy(dtype=float),
        df[event].to_numpy(dtype=float),
        w,
        fitter.params_.to_numpy(dtype=float),
    )
    D = U @ fitter.variance_matrix_.loc[cols, cols].to_numpy(dtype=float)
    return pd.DataFrame(D.T @ D, index=cols, columns=cols)


def _null_term() -> dict[str, Any]:
    return {"hr": None, "ci_low": None, "ci_high": None, "p": None, "log_hr": None, "se_log_hr": None}


def _is_set(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


# ---------------------------------------------------------------------------------------------
# Sentences (no overclaiming)
# ---------------------------------------------------------------------------------------------


def _f(x: float) -> str:
    if x is None:
        return "n/a"
    ax = abs(x)
    return f"{x:.2f}" if ax >= 0.1 or ax == 0 else f"{x:.3g}"


def _fp(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


def hr_sentence(
    what: str,
    hr: float | None,
    lo: float | None,
    hi: float | None,
    alpha: float = 0.05,
    contrast: str = "m-RAIT vs o-RAIT",
    reason: str | None = None,
) -> str:
    """One sentence on an HR and its CI that never reads 'not significant' as 'no difference'."""
    if not (_is_set(hr) and _is_set(lo) and _is_set(hi)):
        return f"{what}: the hazard ratio could not be estimated" + (f" ({reason})." if reason else ".")
    head = f"{what}: HR ({contrast}) {_f(hr)} ({_level(alpha)} CI {_f(lo)} to {_f(hi)})"
    if lo <= 1.0 <= hi:
        return head + "; the interval includes both lower and higher hazards, so neither benefit nor harm is shown."
    side = "lower" if hi < 1.0 else "higher"
    first = contrast.split(" vs ")[0]
    return (
        head
        + f"; the interval excludes 1 ({side} hazard of progression with {first} in this observational comparison)."
    )


def ni_sentence(what: str, res: dict[str, Any], margin: float, alpha: float) -> str:
    if not _is_set(res.get("hr")):
        return f"{what}: non-inferiority cannot be assessed (no hazard ratio)."
    head = (
        f"{what}: HR (o-RAIT vs m-RAIT) {_f(res['hr'])}, {_level(2 * alpha)} CI {_f(res['ci_low'])} to "
        f"{_f(res['ci_high'])}"
    )
    if res["non_inferior"]:
        return head + (
            f"; the upper limit is below the margin {margin:g} (one-sided p = {_fp(res['p_one_sided'])}), "
            "so non-inferiority of o-RAIT is shown in this analysis, subject to its biases."
        )
    return head + (
        f"; the upper limit is at or above the margin {margin:g} (one-sided p = {_fp(res['p_one_sided'])}), "
        "so non-inferiority of o-RAIT is not shown."
    )


def time_varying_cox(
    cohort: pd.DataFrame,
    cp: pd.DataFrame,
    *,
    adjust_covariates: Sequence[str] = (),
    alpha: float = 0.05,
) -> tuple[list[dict[str, Any]], dict[str, CoxTimeVaryingFitter | None]]:
    """Cox models with the treatment history as a time-varying covariate.

    Parameters
    ----------
    cohort : DataFrame
        The cohort (for the adjustment covariates).
    cp : DataFrame
        Its `counting_process` rows.
    adjust_covariates : sequence of str
        Baseline covariates of a third, adjusted model (none: two models).
    alpha : float
        1 - confidence level.

    Returns
    -------
    models : list of dict
        ``m_rait_status`` (HR of m-RAIT vs o-RAIT status), ``cycles_received`` (HR per
        additional cycle received) and, with covariates, ``m_rait_status_adjusted``: each
        ``{name, term, description, adjusted_for, hr, ci_low, ci_high, p, log_hr, se_log_hr,
        n_patients, n_intervals, events, notes}``.
    fitters : dict of str -> CoxTimeVaryingFitter or None
    """
    specs = [
        ("m_rait_status", "m_rait", [], "m-RAIT status (0 until the day of the second cycle, 1 from then on)"),
        ("cycles_received", "n_cycles", [], "number of cycles received so far (HR per additional cycle)"),
    ]
    if adjust_covariates:
        specs.append(
            (
                "m_rait_status_adjusted",
                "m_rait",
                list(adjust_covariates),
                "m-RAIT status, adjusted for " + ", ".join(adjust_covariates),
            )
        )
    models: list[dict[str, Any]] = []
    fitters: dict[str, CoxTimeVaryingFitter | None] = {}
    for name, term, adj, desc in specs:
        entry: dict[str, Any] = {
            "name": name,
            "term": term,
            "description": desc,
            "adjusted_for": adj,
            **_null_term(),
            "n_patients": None,
            "n_intervals": None,
            "events": None,
            "notes": [],
        }
        df = cp[["patient_id", "start", "stop", "event", term]].copy()
        if adj:
            X, complete = covariate_matrix(cohort, adj)
            X = X.assign(patient_id=cohort.loc[complete, "patient_id"].astype(str).to_numpy())
            if (~complete).any():
                entry["notes"].append(f"{int((~complete).sum())} patient(s) with a missing covariate left out")
            df = df.merge(X, on="patient_id", how="inner")
        entry.update(n_patients=int(df["patient_id"].nunique()), n_intervals=len(df), events=int(df["event"].sum()))
        fitters[name] = None
        if df[term].nunique() < 2:
            entry["notes"].append(f"{term} does not vary: no hazard ratio")
            models.append(entry)
            continue
        ctv, note = fit_cox_time_varying(df, alpha=alpha)
        fitters[name] = ctv
        if ctv is None:
            entry["notes"].append(note)
        else:
            entry.update(wald_term(ctv, term, alpha))
        models.append(entry)
    return models, fitters


# ---------------------------------------------------------------------------------------------
# The analyses (lifelines style)
# ---------------------------------------------------------------------------------------------


class BeyondAnalyses:
    """Landmark, time-varying Cox, non-inferiority, sensitivity and dose-response analyses.

    Parameters
    ----------
    options : BeyondOptions, optional
        See `BeyondOptions`; defaults when None.

    Attributes
    ----------
    sections_ : dict
        The five results.json sections (JSON-ready): ``landmark``, ``time_varying_cox``,
        ``non_inferiority``, ``sensitivity``, ``dose_response``.
    landmark_ : SurvivalComparison or None
        The landmark comparison (KM per group from the landmark; ``km_tables_`` for figures).
    landmark_data_ : DataFrame
        The patients at the landmark (`landmark_cohort`).
    counting_process_ : DataFrame
        The counting-process rows (`counting_process`).
    time_varying_ : dict of str -> CoxTimeVaryingFitter or None
    primary_matcher_ : PropensityMatcher
        The matcher of the primary matched analysis (the one given, or the study's default).
    matching_variants_ : list of (MatchingVariant, PropensityMatcher or None, SurvivalComparison or None)
    iptw_ : dict
        ``weights`` (Series by patient_id), ``cox`` (CoxPHFitter or None), ``kmf`` (dict of
        weighted KaplanMeierFitter per group), ``propensity`` (Series).
    dose_models_ : dict
        Fitted dose-response models by name.
    tables_ : dict of str -> DataFrame
        Tidy tables for the report: ``landmark_km_<group>``, ``landmark_hr_by_time``,
        ``time_varying_cox``, ``non_inferiority_hr``, ``non_inferiority_pfs``,
        ``sensitivity_matching``, ``iptw_balance``, ``e_values``, ``dose_response_curve``.
    estimates_ : dict of str -> dict
        Every HR of m-RAIT vs o-RAIT with its SE (log scale), by analysis name.
    """

    def __init__(self, options: BeyondOptions | None = None) -> None:
        self.options = options or BeyondOptions()
        self.options.validate()

    # -- fitting -----------------------------------------------------------------------------

    def fit(
        self, cohort: pd.DataFrame, cycles: pd.DataFrame, matcher: PropensityMatcher | None = None
    ) -> BeyondAnalyses:
        """Run every analysis.

        Parameters
        ----------
        cohort : DataFrame
            ``marts.analysis_cohort`` (eligible patients).
        cycles : DataFrame
            ``marts.rait_cycles`` (at least the cohort's patients).
        matcher : PropensityMatcher, optional
            The fitted matcher of the main analysis; when None the study's matching
            (`PropensityMatcher` defaults) is fitted here.

        Returns
        -------
        self
        """
        _require(cohort, _COHORT_COLUMNS, "the cohort")
        opts = self.options
        cohort = cohort.reset_index(drop=True)
        bad = ~cohort["rait_group"].isin([FOCAL_GROUP, CONTROL_GROUP])
        if bad.any():
            raise AnalysisError(
                f"{int(bad.sum())} cohort row(s) have a rait_group other than o-RAIT/m-RAIT "
                f"(first patient_id {cohort.loc[bad, 'patient_id'].iloc[0]!r}); pass marts.analysis_cohort"
            )
        self.tables_: dict[str, pd.DataFrame] = {}
        self.estimates_: dict[str, dict[str, Any]] = {}
        self.cycle_months_ = cycle_months(cohort, cycles)

        naive, note, naive_fit = survival.hazard_ratio(
            cohort["pfs_months"],
            cohort["pfs_event"],
            cohort["rait_group"],
            FOCAL_GROUP,
            CONTROL_GROUP,
            alpha=opts.alpha,
        )
        self._add_estimate(
            "eligible_fixed_groups",
            naive,
            naive_fit,
            cohort,
            note,
            "eligible cohort, groups by the final number of cycles (immortal-time bias)",
        )

        landmark = self._landmark(cohort, cycles)
        tv = self._time_varying(cohort, cycles)
        sens = self._sensitivity(cohort, matcher)
        ni = self._non_inferiority(cohort)
        sens["e_values"] = self._e_values(cohort)
        self.tables_["e_values"] = pd.DataFrame(sens["e_values"])
        sens["interpretation"] = self._sensitivity_sentence(sens)
        dose = self._dose_response(cohort)
        self.sections_ = {
            "landmark": landmark,
            "time_varying_cox": tv,
            "non_inferiority": ni,
            "sensitivity": sens,
            "dose_response": dose,
        }
        return self

    def _add_estimate(
        self,
        name: str,
        res: dict,
        fitter: Any,
        data: pd.DataFrame | None,
        note: str | None,
        description: str,
        **extra: Any,
    ) -> None:
        est = {
            "analysis": name,
            "description": description,
            "hr": res.get("hr"),
            "ci_low": res.get("ci_low"),
            "ci_high": res.get("ci_high"),
            "p": res.get("p"),
            "log_hr": None,
            "se_log_hr": None,
            "n": None if data is None else len(data),
            "events": None,
            "notes": [note] if note else [],
        }
        if "se_log_hr" in res and res.get("se_log_hr") is not None:
            est["log_hr"], est["se_log_hr"] = res["log_hr"], res["se_log_hr"]
        elif fitter is not None and "x" in getattr(fitter, "params_", {}):
            est["log_hr"] = float(fitter.params_["x"])
            est["se_log_hr"] = float(fitter.standard_errors_["x"])
        if data is not None:
            ev = "pfs_event" if "pfs_event" in data.columns else "event"
            est["events"] = int(data[ev].sum())
        est.update(extra)
        self.estimates_[name] = est

    # -- landmark ----------------------------------------------------------------------------

    def _landmark(self, cohort: pd.DataFrame, cycles: pd.DataFrame) -> dict[str, Any]:
        opts = self.options
        L = float(opts.landmark_months)
        data, counts = landmark_cohort(cohort, cycles, L)
        self.landmark_data_ = data
        horizon = opts.horizon_months - L
        comp = survival.compare_groups(
            data,
            "landmark_group",
            [FOCAL_GROUP, CONTROL_GROUP],
            time_col="months_from_landmark",
            horizon=horizon,
            alpha=opts.alpha,
        )
        self.landmark_ = comp
        for g, tab in comp.km_tables_.items():
            self.tables_[f"landmark_km_{g}"] = tab.assign(months_since_first_rait=tab["time"] + L)
        analysis = comp.to_dict()
        hr_res = {
            "hr": analysis["hr"],
            "ci_low": analysis["hr_ci_low"],
            "ci_high": analysis["hr_ci_high"],
            "p": analysis["hr_p"],
        }
        self._add_estimate(
            "landmark",
            hr_res,
            comp.cox_,
            data.rename(columns={"months_from_landmark": "_t"}),
            None,
            f"landmark at {L:g} months: groups by cycles received by then, PFS from the landmark",
        )
        adjusted = self._adjusted_cox(
            data, "months_from_landmark", "pfs_event", (data["landmark_group"] == CONTROL_GROUP).to_numpy(dtype=float)
        )
        rows = []
        for Lk in sorted({float(x) for x in opts.landmark_sensitivity_months} | {L}):
            if not (0 < Lk < opts.horizon_months):
                continue
            d, cts = landmark_cohort(cohort, cycles, Lk)
            res, note, _ = survival.hazard_ratio(
                d["months_from_landmark"],
                d["pfs_event"],
                d["landmark_group"],
                FOCAL_GROUP,
                CONTROL_GROUP,
                alpha=opts.alpha,
            )
            lr = survival.compare_groups(
                d,
                "landmark_group",
                [FOCAL_GROUP, CONTROL_GROUP],
                time_col="months_from_landmark",
                horizon=opts.horizon_months - Lk,
                alpha=opts.alpha,
                cox=False,
            ).logrank_
            rows.append(
                {
                    "landmark_months": Lk,
                    "n_at_landmark": cts["n_at_landmark"],
                    "n_o_rait": cts["groups"][FOCAL_GROUP],
                    "n_m_rait": cts["groups"][CONTROL_GROUP],
                    "events": int(d["pfs_event"].sum()),
                    "hr": res["hr"],
                    "hr_ci_low": res["ci_low"],
                    "hr_ci_high": res["ci_high"],
                    "hr_p": res["p"],
                    "logrank_p": lr["p"],
                    "notes": [note] if note else [],
                }
            )
        self.tables_["landmark_hr_by_time"] = pd.DataFrame(rows)
        interp = hr_sentence(
            f"Among the {counts['n_at_landmark']} patients progression-free and followed at {L:g} months "
            f"({counts['groups'][FOCAL_GROUP]} with one cycle, {counts['groups'][CONTROL_GROUP]} with two or more by then)",
            analysis["hr"],
            analysis["hr_ci_low"],
            analysis["hr_ci_high"],
            opts.alpha,
            reason=analysis["notes"][-1] if analysis["notes"] else None,
        )
        if analysis["logrank_p"] is not None:
            interp += f" Log-rank p = {_fp(analysis['logrank_p'])}" + (
                "; a large p-value is not evidence of equivalence." if analysis["logrank_p"] >= 0.05 else "."
            )
        return {
            "landmark_months": L,
            "definition": (
                f"patients with pfs_months > {L:g} (progression-free and under follow-up at the landmark), "
                f"grouped by cycles with admin_date <= first RAIT + {L:g} months ({L * DAYS_PER_MONTH:g} days): "
                "1 -> o-RAIT, >= 2 -> m-RAIT; PFS counted from the landmark; HR m-RAIT vs o-RAIT (reference o-RAIT)"
            ),
            "horizon_months_from_first_rait": opts.horizon_months,
            "horizon_months_from_landmark": horizon,
            **counts,
            "analysis": analysis,
            "hr_adjusted": adjusted,
            "by_landmark": rows,
            "interpretation": interp,
        }

    def _adjusted_cox(self, data: pd.DataFrame, time_col: str, event_col: str, x: np.ndarray) -> dict[str, Any]:
        opts = self.options
        out: dict[str, Any] = {
            "covariates": list(opts.adjust_covariates),
            **_null_term(),
            "n": None,
            "events": None,
            "notes": [],
        }
        if not opts.adjust_covariates:
            out["notes"].append("no adjustment covariates configured")
            return out
        X, complete = covariate_matrix(data, opts.adjust_covariates)
        df = X.copy()
        df.insert(0, "m_rait", x[complete])
        df["T"] = data.loc[complete, time_col].to_numpy(dtype=float)
        df["E"] = data.loc[complete, event_col].to_numpy(dtype=float)
        out["n"], out["events"] = len(df), int(df["E"].sum())
        if (~complete).any():
            out["notes"].append(f"{int((~complete).sum())} patient(s) with a missing covariate left out")
        if df["m_rait"].nunique() < 2:
            out["notes"].append("only one group: no hazard ratio")
            return out
        cph, note = fit_cox(df, "T", "E", alpha=opts.alpha)
        if cph is None:
            out["notes"].append(note)
            return out
        out.update(wald_term(cph, "m_rait", opts.alpha))
        if out["events"] < 10 * len(cph.params_):
            out["notes"].append(
                f"{out['events']} events for {len(cph.params_)} parameters (fewer than 10 per parameter)"
            )
        return out

    # -- time-varying Cox --------------------------------------------------------------------

    def _time_varying(self, cohort: pd.DataFrame, cycles: pd.DataFrame) -> dict[str, Any]:
        opts = self.options
        cp = counting_process(cohort, cycles)
        self.counting_process_ = cp
        n_dropped = int((cohort["pfs_months"] <= 0).sum())
        models, self.time_varying_ = time_varying_cox(
            cohort, cp, adjust_covariates=opts.adjust_covariates, alpha=opts.alpha
        )
        self.tables_["time_varying_cox"] = pd.DataFrame(models).drop(columns=["notes"])
        main = models[0]
        self._add_estimate(
            "time_varying",
            main,
            None,
            cp,
            None,
            "m-RAIT status as a time-varying covariate (counting process)",
        )
        self.estimates_["time_varying"]["n"] = main["n_patients"]
        naive = self.estimates_["eligible_fixed_groups"]
        switched = int(cp.groupby("patient_id")["m_rait"].max().sum())
        interp = hr_sentence(
            "Time-varying Cox model",
            main["hr"],
            main["ci_low"],
            main["ci_high"],
            opts.alpha,
            reason=main["notes"][-1] if main["notes"] else None,
        )
        if _is_set(naive["hr"]):
            interp += (
                f" The fixed-group HR that ignores when the second cycle was given is {_f(naive['hr'])} "
                f"({_f(naive['ci_low'])} to {_f(naive['ci_high'])}); a gap between the two is what immortal-time bias produces."
            )
        notes = []
        if n_dropped:
            notes.append(f"{n_dropped} patient(s) with pfs_months <= 0 have no time at risk and are left out")
        return {
            "definition": (
                "counting-process data (start, stop]: a patient is o-RAIT from the first RAIT until the day of the "
                "second administration and m-RAIT from then on (R tmerge tdc); cycles on or after the end of PFS "
                "follow-up change nothing. Cox model, Efron ties; HR m-RAIT vs o-RAIT (reference o-RAIT)."
            ),
            "n_patients": int(cp["patient_id"].nunique()),
            "n_intervals": len(cp),
            "events": int(cp["event"].sum()),
            "n_switched_before_end": switched,
            "models": models,
            "fixed_group_hr": {k: naive[k] for k in ("hr", "ci_low", "ci_high", "p")},
            "notes": notes,
            "interpretation": interp,
        }

    # -- sensitivity -------------------------------------------------------------------------

    def _matched_comparison(self, matched: pd.DataFrame) -> survival.SurvivalComparison:
        return survival.compare_groups(
            matched,
            "rait_group",
            [FOCAL_GROUP, CONTROL_GROUP],
            horizon=self.options.horizon_months,
            alpha=self.options.alpha,
        )

    def _sensitivity(self, cohort: pd.DataFrame, matcher: PropensityMatcher | None) -> dict[str, Any]:
        opts = self.options
        notes: list[str] = []
        if matcher is None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", StatisticsWarning)
                matcher = PropensityMatcher().fit(cohort)
            notes += [f"primary matching: {w.message}" for w in caught if issubclass(w.category, StatisticsWarning)]
        self.primary_matcher_ = matcher
        comp = self._matched_comparison(matcher.matched_cohort_)
        self.primary_matched_ = comp
        d = comp.to_dict()
        self._add_estimate(
            "matched",
            {"hr": d["hr"], "ci_low": d["hr_ci_low"], "ci_high": d["hr_ci_high"], "p": d["hr_p"]},
            comp.cox_,
            matcher.matched_cohort_,
            None,
            f"propensity-matched cohort ({', '.join(matcher.covariates)}; caliper {matcher.caliper} "
            f"on the {matcher.caliper_scale} scale), as the study",
        )
        primary = self._matching_row("primary (the main analysis's matching)", matcher, comp)
        variants = opts.matching_variants
        if variants is None:
            variants = default_matching_variants(matcher.covariates)
        rows = [primary]
        self.matching_variants_ = []
        same = (tuple(matcher.covariates), matcher.caliper, matcher.caliper_scale)
        for v in variants:
            if (tuple(v.covariates), v.caliper, v.caliper_scale) == same and matcher.order == "largest":
                primary["label"] += f"; = {v.label}"
                continue
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", StatisticsWarning)
                    m = PropensityMatcher(
                        covariates=list(v.covariates), caliper=v.caliper, caliper_scale=v.caliper_scale
                    ).fit(cohort)
            except MatchingError as exc:
                rows.append(
                    {
                        "label": v.label,
                        "covariates": list(v.covariates),
                        "caliper": v.caliper,
                        "caliper_scale": v.caliper_scale,
                        "n_pairs": None,
                        "notes": [str(exc)],
                    }
                )
                self.matching_variants_.append((v, None, None))
                continue
            c = self._matched_comparison(m.matched_cohort_)
            row = self._matching_row(v.label, m, c)
            row["notes"] += [str(w.message) for w in caught if issubclass(w.category, StatisticsWarning)]
            rows.append(row)
            self.matching_variants_.append((v, m, c))
        self.tables_["sensitivity_matching"] = pd.DataFrame(rows).drop(columns=["notes"], errors="ignore")
        iptw = self._iptw(cohort)
        return {"notes": notes, "matching": rows, "iptw": iptw}

    def _matching_row(self, label: str, m: PropensityMatcher, comp: survival.SurvivalComparison) -> dict[str, Any]:
        d = comp.to_dict()
        smd = [abs(x) for x in m.balance_["smd_after"].tolist() if _is_set(x)]
        return {
            "label": label,
            "covariates": list(m.covariates),
            "caliper": m.caliper,
            "caliper_scale": m.caliper_scale,
            "caliper_width": m.caliper_width_,
            "n_pairs": len(m.pairs_),
            "max_abs_smd_after": max(smd) if smd else None,
            "events": d["events"],
            "hr": d["hr"],
            "hr_ci_low": d["hr_ci_low"],
            "hr_ci_high": d["hr_ci_high"],
            "hr_p": d["hr_p"],
            "logrank_p": d["logrank_p"],
            "pfs_5y_o_rait": d["groups"][FOCAL_GROUP]["pfs_5y"],
            "pfs_5y_m_rait": d["groups"][CONTROL_GROUP]["pfs_5y"],
            "notes": list(d["notes"]),
        }

    def _iptw(self, cohort: pd.DataFrame) -> dict[str, Any]:
        opts = self.options
        out: dict[str, Any] = {
            "estimand": opts.iptw_estimand,
            "stabilized": bool(opts.iptw_stabilized and opts.iptw_estimand == "ATE"),
            "covariates": list(opts.iptw_covariates),
            "propensity_model": "logistic regression of o-RAIT on the covariates (statsmodels Logit, via PropensityMatcher)",
            "weights_formula": (
                "ATE: 1/e for o-RAIT, 1/(1-e) for m-RAIT"
                + (", times the group's marginal proportion (stabilised)" if opts.iptw_stabilized else "")
                if opts.iptw_estimand == "ATE"
                else "ATT (o-RAIT as target population): 1 for o-RAIT, e/(1-e) for m-RAIT"
            ),
            "se_method": "robust sandwich (Lin & Wei 1989) from Efron score residuals, as R coxph(robust = TRUE)",
            "n": None,
            "events": None,
            "weights": None,
            "balance": [],
            **dict.fromkeys(("hr", "hr_ci_low", "hr_ci_high", "hr_p", "log_hr", "se_log_hr")),
            "pfs_5y_weighted": {FOCAL_GROUP: None, CONTROL_GROUP: None},
            "notes": [
                "weighted Kaplan-Meier: point estimates only (lifelines' Greenwood CI ignores the weighting)",
            ],
        }
        self.iptw_: dict[str, Any] = {
            "weights": None,
            "cox": None,
            "robust_covariance": None,
            "kmf": {},
            "propensity": None,
        }
        X, complete = covariate_matrix(cohort, opts.iptw_covariates) if opts.iptw_covariates else (None, None)
        if X is None:
            out["notes"].append("no propensity covariates configured")
            return out
        data = cohort.loc[complete].reset_index(drop=True)
        if (~complete).any():
            out["notes"].append(f"{int((~complete).sum())} patient(s) with a missing covariate left out")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", StatisticsWarning)
                pm = PropensityMatcher(covariates=list(opts.iptw_covariates), caliper=None).fit(data)
            for w in caught:
                if issubclass(w.category, StatisticsWarning) and "converge" in str(w.message):
                    out["notes"].append(str(w.message))
        except MatchingError as exc:
            out["notes"].append(f"propensity model: {exc}")
            return out
        ps = pm.propensity_.reindex(data["patient_id"].astype(str)).to_numpy(dtype=float)
        focal = (data["rait_group"] == FOCAL_GROUP).to_numpy()
        try:
            w = iptw_weights(ps, focal, opts.iptw_estimand, opts.iptw_stabilized)
        except AnalysisError as exc:
            out["notes"].append(str(exc))
            return out
        ids = pd.Index(data["patient_id"].astype(str), name="patient_id")
        self.iptw_["weights"] = pd.Series(w, index=ids, name="weight")
        self.iptw_["propensity"] = pd.Series(ps, index=ids, name="propensity_score")
        out["n"], out["events"] = len(data), int(data["pfs_event"].sum())
        out["weights"] = {
            g: {
                "sum": float(w[m].sum()),
                "min": float(w[m].min()),
                "max": float(w[m].max()),
                "effective_n": _kish_ess(w[m]),
                "n": int(m.sum()),
            }
            for g, m in ((FOCAL_GROUP, focal), (CONTROL_GROUP, ~focal))
            if m.any()
        }
        Xd, _ = covariate_matrix(data, opts.iptw_covariates)
        bal = []
        for col in Xd.columns:
            x = Xd[col].to_numpy(dtype=float)
            bal.append(
                {
                    "covariate": col,
                    "smd_unweighted": _weighted_smd(x, focal, np.ones_like(x)),
                    "smd_weighted": _weighted_smd(x, focal, w),
                }
            )
        out["balance"] = bal
        self.tables_["iptw_balance"] = pd.DataFrame(bal)
        df = pd.DataFrame(
            {
                "m_rait": (~focal).astype(float),
                "T": data["pfs_months"].to_numpy(dtype=float),
                "E": data["pfs_event"].to_numpy(dtype=float),
                "w": w,
            }
        )
        if focal.all() or (~focal).all():
            out["notes"].append("only one group: no hazard ratio")
        else:
            cph, note = fit_cox(df, "T", "E", alpha=opts.alpha, weights_col="w")
            self.iptw_["cox"] = cph  # its standard_errors_ are model-based; the robust ones are below
            if cph is None:
                out["notes"].append(note)
            else:
                cov = cox_robust_covariance(cph, df, "T", "E", "w")
                self.iptw_["robust_covariance"] = cov
                t = wald_term(cph, "m_rait", opts.alpha, se=math.sqrt(cov.loc["m_rait", "m_rait"]))
                out.update(
                    hr=t["hr"],
                    hr_ci_low=t["ci_low"],
                    hr_ci_high=t["ci_high"],
                    hr_p=t["p"],
                    log_hr=t["log_hr"],
                    se_log_hr=t["se_log_hr"],
                )
        for g, m in ((FOCAL_GROUP, focal), (CONTROL_GROUP, ~focal)):
            if not m.any():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                kmf = KaplanMeierFitter(label=g).fit(df["T"][m], df["E"][m], weights=df["w"][m])
            self.iptw_["kmf"][g] = kmf
            if df["T"][m].max() >= opts.horizon_months:
                out["pfs_5y_weighted"][g] = float(kmf.survival_function_at_times(opts.horizon_months).iloc[0])
        self._add_estimate(
            "iptw",
            {
                "hr": out["hr"],
                "ci_low": out["hr_ci_low"],
                "ci_high": out["hr_ci_high"],
                "p": out["hr_p"],
                "log_hr": out["log_hr"],
                "se_log_hr": out["se_log_hr"],
            },
            None,
            data,
            None,
            f"inverse probability of treatment weighting ({opts.iptw_estimand}), robust SE",
        )
        return out

    def _rare(
        self, data: pd.DataFrame | None, time_col: str = "pfs_months", event_col: str = "pfs_event"
    ) -> tuple[bool, float | None]:
        """Rare outcome: KM cumulative incidence at the end of follow-up below 15%."""
        if self.options.evalue_rare_outcome is not None:
            return bool(self.options.evalue_rare_outcome), None
        if data is None or len(data) == 0:
            return False, None
        kmf = KaplanMeierFitter().fit(data[time_col].to_numpy(dtype=float), data[event_col].to_numpy(dtype=float))
        inc = 1.0 - float(kmf.survival_function_.iloc[-1, 0])
        return inc < 0.15, inc

    def _e_values(self, cohort: pd.DataFrame) -> list[dict[str, Any]]:
        rows = []
        sources = {
            "matched": self.primary_matcher_.matched_cohort_,
            "iptw": cohort,
            "time_varying": cohort,
            "landmark": self.landmark_data_.assign(_t=self.landmark_data_["months_from_landmark"]),
        }
        for name, data in sources.items():
            est = self.estimates_.get(name)
            if est is None:
                continue
            tcol = "_t" if name == "landmark" else "pfs_months"
            rare, inc = self._rare(data, tcol)
            row: dict[str, Any] = {
                "analysis": name,
                "hr": est["hr"],
                "ci_low": est["ci_low"],
                "ci_high": est["ci_high"],
                "cumulative_incidence_end": inc,
                "outcome_rare": rare,
                "rule": "rare when the Kaplan-Meier cumulative incidence at the end of follow-up is below 15%"
                if self.options.evalue_rare_outcome is None
                else "set by option",
                "e_value_estimate": None,
                "e_value_ci": None,
                "transformation": None,
                "notes": [],
            }
            if not _is_set(est["hr"]):
                row["notes"].append("no hazard ratio")
            else:
                ev = e_value(est["hr"], est["ci_low"], est["ci_high"], measure="HR", rare=rare)
                row.update(
                    e_value_estimate=ev["e_value_estimate"],
                    e_value_ci=ev["e_value_ci"],
                    transformation=ev["transformation"],
                )
            rows.append(row)
        return rows

    def _sensitivity_sentence(self, sens: dict[str, Any]) -> str:
        hrs = [(r["label"], r.get("hr"), r.get("hr_ci_low"), r.get("hr_ci_high")) for r in sens["matching"]]
        ok = [h for h in hrs if _is_set(h[1])]
        parts = []
        if ok:
            lo = min(h[1] for h in ok)
            hi = max(h[1] for h in ok)
            all_span = all(h[2] <= 1 <= h[3] for h in ok)
            parts.append(
                f"Across {len(ok)} matching specifications the HR (m-RAIT vs o-RAIT) ranges from {_f(lo)} to {_f(hi)}"
                + ("; every CI includes 1." if all_span else "; not every CI includes 1.")
            )
        iptw = sens["iptw"]
        if _is_set(iptw.get("hr")):
            parts.append(
                hr_sentence(
                    f"IPTW ({iptw['estimand']})", iptw["hr"], iptw["hr_ci_low"], iptw["hr_ci_high"], self.options.alpha
                )
            )
        ev = next(
            (r for r in sens.get("e_values", []) if r["analysis"] == "matched" and _is_set(r["e_value_estimate"])), None
        )
        if ev is not None:
            parts.append(
                f"E-value of the matched HR: {_f(ev['e_value_estimate'])} for the estimate and {_f(ev['e_value_ci'])} "
                "for the CI (an unmeasured confounder associated with both group and progression by a risk ratio "
                "of that size could explain the estimate away; 1 means the CI already includes the null)."
            )
        return " ".join(parts) if parts else "No sensitivity analysis could be estimated."

    # -- non-inferiority ---------------------------------------------------------------------

    def _non_inferiority(self, cohort: pd.DataFrame) -> dict[str, Any]:
        opts = self.options
        M, a = opts.ni_hr_margin, opts.ni_alpha
        caveats = {
            "eligible_fixed_groups": "biased by immortal time (groups defined by the future)",
            "matched": "as the study; matching on follow-up time conditions on a post-baseline variable",
            "landmark": "groups fixed at the landmark; patients who progressed before it are excluded",
            "time_varying": "handles immortal time; confounding by indication remains",
            "iptw": "baseline confounders only; robust SE",
        }
        hr_rows = []
        for name in ("matched", "landmark", "time_varying", "iptw", "eligible_fixed_groups"):
            est = self.estimates_.get(name)
            if est is None:
                continue
            row: dict[str, Any] = {
                "analysis": name,
                "description": est["description"],
                "caveat": caveats.get(name),
                "hr_o_vs_m": None,
                "ci_low": None,
                "ci_high": None,
                "z": None,
                "p_one_sided": None,
                "non_inferior": None,
                "notes": list(est["notes"]),
            }
            if _is_set(est.get("se_log_hr")) and est["se_log_hr"] > 0:
                res = non_inferiority_hr(-est["log_hr"], est["se_log_hr"], M, a)
                row.update(
                    hr_o_vs_m=res["hr"],
                    ci_low=res["ci_low"],
                    ci_high=res["ci_high"],
                    z=res["z"],
                    p_one_sided=res["p_one_sided"],
                    non_inferior=res["non_inferior"],
                )
            else:
                row["notes"].append("no hazard ratio: non-inferiority cannot be assessed")
            hr_rows.append(row)
        self.tables_["non_inferiority_hr"] = pd.DataFrame(hr_rows).drop(columns=["notes"])

        pfs_rows = []
        L = opts.landmark_months
        pfs_sources = [
            ("matched", self.primary_matcher_.matched_cohort_, "pfs_months", "rait_group", opts.horizon_months),
            ("landmark", self.landmark_data_, "months_from_landmark", "landmark_group", opts.horizon_months - L),
            ("eligible_fixed_groups", cohort, "pfs_months", "rait_group", opts.horizon_months),
        ]
        for name, data, tcol, gcol, h in pfs_sources:
            pfs_rows.append(self._pfs_difference(name, data, tcol, gcol, h))
        self.tables_["non_inferiority_pfs"] = pd.DataFrame(pfs_rows).drop(columns=["notes"])

        matched_lr = self.primary_matched_.logrank_["p"]
        first = next((r for r in hr_rows if r["analysis"] == "matched"), None)
        parts = []
        if first is not None:
            parts.append(
                ni_sentence(
                    "Matched cohort (the study's analysis)",
                    {
                        "hr": first["hr_o_vs_m"],
                        "ci_low": first["ci_low"],
                        "ci_high": first["ci_high"],
                        "p_one_sided": first["p_one_sided"],
                        "non_inferior": first["non_inferior"],
                    },
                    M,
                    a,
                )
            )
        tv = next((r for r in hr_rows if r["analysis"] == "time_varying"), None)
        if tv is not None:
            parts.append(
                ni_sentence(
                    "Time-varying Cox",
                    {
                        "hr": tv["hr_o_vs_m"],
                        "ci_low": tv["ci_low"],
                        "ci_high": tv["ci_high"],
                        "p_one_sided": tv["p_one_sided"],
                        "non_inferior": tv["non_inferior"],
                    },
                    M,
                    a,
                )
            )
        pm = pfs_rows[0]
        if _is_set(pm["difference"]) and _is_set(pm["ci_low"]):
            verdict = "shown" if pm["non_inferior"] else "not shown"
            parts.append(
                f"5-year PFS difference (o-RAIT minus m-RAIT, matched) {_f(100 * pm['difference'])} percentage points, "
                f"{_level(2 * a)} CI {_f(100 * pm['ci_low'])} to {_f(100 * pm['ci_high'])}: non-inferiority at "
                f"-{100 * opts.ni_pfs_margin:g} points is {verdict}."
            )
        if matched_lr is not None:
            parts.append(f"The matched log-rank p = {_fp(matched_lr)} tests equality, not non-inferiority.")
        return {
            "claim": "o-RAIT is non-inferior to m-RAIT for PFS",
            "direction": (
                "hazard ratio of o-RAIT versus m-RAIT (reference m-RAIT; the inverse of the HR reported elsewhere); "
                "HR > 1 means faster progression with one RAIT. Non-inferiority: the upper CI limit is below the margin."
            ),
            "hr_margin": M,
            "pfs_margin": opts.ni_pfs_margin,
            "pfs_horizon_months": opts.horizon_months,
            "alpha_one_sided": a,
            "ci_level": 1 - 2 * a,
            "test": "one-sided Wald test of H0: HR(o vs m) >= margin on the log-HR scale (Cox SE; robust SE for IPTW)",
            "pfs_se_method": (
                "Greenwood SE of each Kaplan-Meier estimate on the linear scale (statsmodels SurvfuncRight), "
                "combined as independent groups; Wald interval on the linear scale; one-sided test of "
                "H0: difference <= -margin. Pairing in the matched cohort is ignored."
            ),
            "hr": hr_rows,
            "pfs_difference": pfs_rows,
            "matched_logrank_p": matched_lr,
            "interpretation": " ".join(parts) if parts else "Non-inferiority could not be assessed.",
        }

    def _pfs_difference(self, name: str, data: pd.DataFrame, tcol: str, gcol: str, horizon: float) -> dict[str, Any]:
        opts = self.options
        row: dict[str, Any] = {
            "analysis": name,
            "horizon_months": horizon,
            "time_origin": "landmark" if name == "landmark" else "first RAIT",
            "pfs_o_rait": None,
            "se_o_rait": None,
            "pfs_m_rait": None,
            "se_m_rait": None,
            "difference": None,
            "se": None,
            "ci_low": None,
            "ci_high": None,
            "p_one_sided": None,
            "non_inferior": None,
            "notes": [],
        }
        vals = {}
        for g in (FOCAL_GROUP, CONTROL_GROUP):
            m = (data[gcol] == g).to_numpy()
            s, se, why = km_at(
                data.loc[m, tcol].to_numpy(dtype=float), data.loc[m, "pfs_event"].to_numpy(dtype=float), horizon
            )
            vals[g] = (s, se)
            if why:
                row["notes"].append(f"{g}: {why}")
        (s1, se1), (s0, se0) = vals[FOCAL_GROUP], vals[CONTROL_GROUP]
        row.update(pfs_o_rait=s1, se_o_rait=se1, pfs_m_rait=s0, se_m_rait=se0)
        if s1 is None or s0 is None:
            return row
        diff = s1 - s0
        se = math.sqrt(se1**2 + se0**2)
        row["difference"] = diff
        for g, sg in ((FOCAL_GROUP, se1), (CONTROL_GROUP, se0)):
            if sg == 0:
                row["notes"].append(f"{g}: no events by the horizon, Greenwood SE 0 (understates uncertainty)")
        if se == 0:
            row["notes"].append("both Greenwood SEs are 0: no interval")
            return row
        zc = norm.ppf(1 - opts.ni_alpha)
        z = (diff + opts.ni_pfs_margin) / se
        row.update(
            se=se,
            ci_low=diff - zc * se,
            ci_high=diff + zc * se,
            p_one_sided=float(norm.sf(z)),
            non_inferior=bool(diff - zc * se > -opts.ni_pfs_margin),
        )
        return row

    # -- dose response -----------------------------------------------------------------------

    def _dose_response(self, cohort: pd.DataFrame) -> dict[str, Any]:
        opts = self.options
        ref = float(opts.dose_reference_gbq)
        notes: list[str] = []
        adj = list(opts.adjust_covariates)
        X, complete = covariate_matrix(cohort, adj)
        keep = complete & cohort["cumulative_gbq"].notna().to_numpy()
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} patient(s) with a missing covariate or cumulative_gbq left out")
        data = cohort.loc[keep].reset_index(drop=True)
        Xk = X.loc[cohort.index[keep]].reset_index(drop=True) if len(X.columns) else pd.DataFrame(index=data.index)
        cp = self.counting_process_
        cp = cp.loc[cp["patient_id"].isin(set(data["patient_id"].astype(str)))]
        dose = data["cumulative_gbq"].to_numpy(dtype=float)
        knots, df_eff, knot_note = spline_knots(
            dose, np.concatenate([dose, cp["cumulative_gbq"].to_numpy(dtype=float)]), opts.dose_spline_df
        )
        if knot_note:
            notes.append(knot_note)
        grid = (
            np.unique(np.concatenate([np.linspace(*np.quantile(dose, [0.05, 0.95]), opts.dose_grid_points), [ref]]))
            if dose.size
            else np.array([ref])
        )
        self.dose_models_: dict[str, Any] = {}
        curves = []
        tf = self._dose_model(
            "time_fixed",
            data.assign(**{c: Xk[c].to_numpy() for c in Xk.columns}),
            None,
            list(Xk.columns),
            knots,
            df_eff,
            ref,
            grid,
            curves,
        )
        Xtv = Xk.assign(patient_id=data["patient_id"].astype(str).to_numpy())
        tvd = cp.merge(Xtv, on="patient_id", how="inner")
        tv = self._dose_model("time_varying", None, tvd, list(Xk.columns), knots, df_eff, ref, grid, curves)
        self.tables_["dose_response_curve"] = pd.DataFrame(curves)
        parts = []
        for label, res in (("Time-fixed total activity", tf), ("Time-varying cumulative activity", tv)):
            nl = res["nonlinearity"]
            lin = res["linear"]
            if _is_set(lin.get("hr_per_gbq")):
                s = (
                    f"{label}: HR per GBq {_f(lin['hr_per_gbq'])} ({_level(opts.alpha)} CI {_f(lin['ci_low'])} to "
                    f"{_f(lin['ci_high'])}; "
                    + ("includes 1" if lin["ci_low"] <= 1 <= lin["ci_high"] else "excludes 1")
                    + ")"
                )
                if _is_set(nl.get("p")):
                    s += f", non-linearity p = {_fp(nl['p'])}"
                parts.append(s + ".")
        if not parts:
            parts.append("No dose-response model could be estimated (see notes).")
        parts.append(
            "The total activity is known only at the end of follow-up and partly follows progression, so the "
            "time-fixed curve carries immortal-time bias; the time-varying model uses the dose received so far. "
            "Both are associations confounded by indication (more cycles for persistent disease)."
        )
        return {
            "exposure": "cumulative administered activity (GBq)",
            "reference_gbq": ref,
            "spline": {
                "type": "natural cubic regression spline (formulaic cr; same function space as R splines::ns)",
                "df": df_eff,
                "interior_knots": knots["interior"],
                "boundary_knots": knots["boundary"],
                "knot_rule": "interior knots at the quantiles k/df of the patients' total cumulative activity; "
                "boundary knots at the range of all activity values used",
            },
            "adjusted_for": adj,
            "time_fixed": tf,
            "time_varying": tv,
            "notes": notes,
            "interpretation": " ".join(parts),
        }

    def _dose_model(
        self,
        name: str,
        fixed: pd.DataFrame | None,
        tv: pd.DataFrame | None,
        adj_cols: list[str],
        knots: dict,
        df_eff: int,
        ref: float,
        grid: np.ndarray,
        curves: list,
    ) -> dict[str, Any]:
        opts = self.options
        out: dict[str, Any] = {
            "n": None,
            "events": None,
            "linear": {"hr_per_gbq": None, "ci_low": None, "ci_high": None, "p": None},
            "nonlinearity": {"chi2": None, "df": None, "p": None, "test": "likelihood ratio, spline vs linear"},
            "overall": {"chi2": None, "df": None, "p": None, "test": "likelihood ratio, spline vs no dose term"},
            "curve": [],
            "notes": [],
        }
        if fixed is not None:
            base = pd.DataFrame(
                {"T": fixed["pfs_months"].to_numpy(dtype=float), "E": fixed["pfs_event"].to_numpy(dtype=float)}
            )
            x = fixed["cumulative_gbq"].to_numpy(dtype=float)
            for c in adj_cols:
                base[c] = fixed[c].to_numpy(dtype=float)
            out["n"], out["events"] = len(base), int(base["E"].sum())

            def fit(cols: pd.DataFrame) -> tuple[Any, str | None]:
                return fit_cox(pd.concat([base, cols], axis=1), "T", "E", alpha=opts.alpha)
        else:
            base = tv[["patient_id", "start", "stop", "event", *adj_cols]].reset_index(drop=True)
            x = tv["cumulative_gbq"].to_numpy(dtype=float)
            out["n"], out["events"] = int(base["patient_id"].nunique()), int(base["event"].sum())

            def fit(cols: pd.DataFrame) -> tuple[Any, str | None]:
                return fit_cox_time_varying(pd.concat([base, cols.reset_index(drop=True)], axis=1), alpha=opts.alpha)

        if out["events"] == 0 or np.unique(x).size < 2:
            out["notes"].append("no events or no variation in dose: no model")
            return out
        lin, note = fit(pd.DataFrame({"gbq": x}))
        self.dose_models_[f"{name}_linear"] = lin
        if lin is None:
            out["notes"].append(f"linear model: {note}")
        else:
            t = wald_term(lin, "gbq", opts.alpha)
            out["linear"] = {"hr_per_gbq": t["hr"], "ci_low": t["ci_low"], "ci_high": t["ci_high"], "p": t["p"]}
        sp = None
        if df_eff < 2:
            out["notes"].append("spline df < 2: linear model only")
        else:
            B = spline_basis(x, knots, ref)
            sp, note = fit(B)
            self.dose_models_[f"{name}_spline"] = sp
            if sp is None:
                out["notes"].append(f"spline model: {note}")
        full = sp if sp is not None else lin
        if full is None:
            return out
        ll0 = self._null_ll(base, adj_cols, fit, full)
        if ll0 is not None:
            stat = 2 * (full.log_likelihood_ - ll0)
            k = df_eff if sp is not None else 1
            out["overall"].update(chi2=stat, df=k, p=float(chi2.sf(max(stat, 0.0), k)))
        if sp is None:
            return out
        if lin is not None:
            stat = 2 * (sp.log_likelihood_ - lin.log_likelihood_)
            out["nonlinearity"].update(chi2=stat, df=df_eff - 1, p=float(chi2.sf(max(stat, 0.0), df_eff - 1)))
        cols = list(B.columns)
        beta = sp.params_[cols].to_numpy(dtype=float)
        pos = [list(sp.params_.index).index(c) for c in cols]
        V = np.asarray(sp.variance_matrix_, dtype=float)[np.ix_(pos, pos)]
        D = spline_basis(grid, knots, ref).to_numpy(dtype=float) - spline_basis(np.array([ref]), knots, ref).to_numpy(
            dtype=float
        )
        lp = D @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", D, V, D))
        z = norm.ppf(1 - opts.alpha / 2)
        for g, lin, s in zip(grid, lp, se, strict=True):
            pt = {
                "gbq": float(g),
                "hr": math.exp(lin),
                "ci_low": math.exp(lin - z * s),
                "ci_high": math.exp(lin + z * s),
            }
            out["curve"].append(pt)
            curves.append({"model": name, **pt})
        k = len(sp.params_)
        if out["events"] < 10 * k:
            out["notes"].append(
                f"{out['events']} events for {k} parameters (fewer than 10 per parameter): the curve is imprecise"
            )
        return out

    @staticmethod
    def _null_ll(base: pd.DataFrame, adj_cols: list[str], fit: Any, model: Any) -> float | None:
        """Partial log-likelihood without the dose term: the adjustment-only model, or (no
        adjustment) the likelihood at beta = 0 that lifelines' likelihood-ratio test uses."""
        if adj_cols:
            m, _ = fit(pd.DataFrame(index=base.index))
            return None if m is None else float(m.log_likelihood_)
        test = model.log_likelihood_ratio_test()
        return float(model.log_likelihood_ - test.test_statistic / 2.0)

    # -- results -----------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "sections_"):
            raise AnalysisError("call fit(cohort, cycles) before asking for results")

    def to_dict(self) -> dict[str, Any]:
        """The five results.json sections (JSON-ready; NaN -> None)."""
        self._check_fitted()
        return _jsonable({**self.sections_, "_options": asdict(self.options)})


def spline_knots(values: np.ndarray, all_values: np.ndarray, df: int) -> tuple[dict, int, str | None]:
    """Knots of the natural spline: interior at the quantiles k/df of ``values`` (type 7, as R),
    boundary at the range of ``all_values``. Duplicate interior knots (heaped doses) are dropped."""
    v = np.asarray(values, dtype=float)
    a = np.asarray(all_values, dtype=float)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (math.nan, math.nan)
    note = None
    if df < 2 or v.size == 0:
        return {"interior": [], "boundary": [lo, hi]}, max(1, min(df, 1)), None
    q = np.quantile(v, np.arange(1, df) / df)
    inner = sorted({float(k) for k in q if lo < k < hi})
    if len(inner) < df - 1:
        note = f"only {len(inner)} distinct interior knot(s) inside the dose range (heaped values): spline df {len(inner) + 1}"
    return {"interior": inner, "boundary": [lo, hi]}, len(inner) + 1, note


def spline_basis(x: np.ndarray, knots: dict, ref: float) -> pd.DataFrame:
    """Natural cubic regression spline basis (formulaic ``cr``), constrained to 0 at ``ref``.

    The constraint ``f(ref) = 0`` removes the constant (a Cox model has none) without depending
    on the data, so the HR at dose d relative to ``ref`` is ``exp(B(d) beta)``. Linear beyond
    the boundary knots.
    """
    kw = {"knots": knots["interior"], "lower_bound": knots["boundary"][0], "upper_bound": knots["boundary"][1]}
    at_ref = cubic_spline(np.array([float(ref)]), constraints=None, _state={}, **kw)
    C = np.column_stack([np.asarray(v, dtype=float) for v in at_ref.values()])
    vals = cubic_spline(np.asarray(x, dtype=float), constraints=C, _state={}, **kw)
    return pd.DataFrame({f"gbq_s{i}": np.asarray(v, dtype=float) for i, v in enumerate(vals.values(), start=1)})


# ---------------------------------------------------------------------------------------------
# Entry points for ``analyze``
# ---------------------------------------------------------------------------------------------


def fit_beyond(
    cohort: pd.DataFrame,
    cycles: pd.DataFrame,
    matcher: PropensityMatcher | None = None,
    config: BeyondOptions | None = None,
) -> BeyondAnalyses:
    """Fit every analysis and keep the fitted objects and tidy tables (``.tables_``) for the report."""
    return BeyondAnalyses(config).fit(cohort, cycles, matcher)


def beyond_sections(
    cohort: pd.DataFrame,
    cycles: pd.DataFrame,
    matcher: PropensityMatcher | None = None,
    config: BeyondOptions | None = None,
) -> dict[str, Any]:
    """The results.json sections ``landmark``, ``time_varying_cox``, ``non_inferiority``,
    ``sensitivity`` and ``dose_response`` (JSON-ready).

    Parameters
    ----------
    cohort : DataFrame
        ``marts.analysis_cohort``.
    cycles : DataFrame
        ``marts.rait_cycles``.
    matcher : PropensityMatcher, optional
        The fitted matcher of the main analysis (None: the study's matching is fitted).
    config : BeyondOptions, optional

    Returns
    -------
    dict
        The five sections; use `fit_beyond` to keep the fitted objects as well.
    """
    sections = fit_beyond(cohort, cycles, matcher, config).to_dict()
    sections.pop("_options", None)
    return sections
