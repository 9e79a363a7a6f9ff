"""Inverse probability of treatment weighting (results.json ``sensitivity.iptw``), with the robust
sandwich SE of R ``coxph(robust = TRUE)``.

The propensity model (logistic regression of o-RAIT on baseline covariates, as the matching)
gives weights for the ATE (default, stabilised) or the ATT; a weighted Cox model (lifelines)
gives the HR of m-RAIT vs o-RAIT with the robust SE of `cox_robust_covariance` (Efron score
residuals, which lifelines' ``robust=True`` gets wrong at tied times), and weighted
Kaplan-Meier curves the PFS at the horizon.

References
----------
Austin PC, Stuart EA (2015). Moving towards best practice when using inverse probability of
treatment weighting (IPTW) using the propensity score to estimate causal treatment effects in
observational studies. *Stat Med* 34:3661-3679.
Xu S, et al. (2010). Use of stabilized inverse propensity scores as weights to directly estimate
relative risk and its confidence intervals. *Value Health* 13:273-277.
Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards model. *JASA*
84:1074-1078.
Therneau TM, Grambsch PM (2000). *Modeling Survival Data: Extending the Cox Model*. Springer,
sections 3.3 (Efron approximation) and 7.2 (score residuals, robust variance).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import StatisticalWarning
from statsmodels.stats.weightstats import DescrStatsW

from rait_registry.contract import M_RAIT, O_RAIT
from rait_registry.exceptions import AnalysisError, MatchingError, StatisticsWarning

from ..config import DEFAULTS
from ..cox import CoxData, fit_cox, robust_covariance, score_residuals, wald_term
from ..matching import PropensityMatcher
from .data import covariate_matrix
from .options import ESTIMANDS
from .results import HazardRatioEstimate, SectionResult

__all__ = ["cox_robust_covariance", "efron_score_residuals", "iptw_analysis", "iptw_weights"]


#: The weighted groups are the final ones (by the number of cycles received): immortal time.
IPTW_BIASES: tuple[str, ...] = ("immortal_time",)


def efron_score_residuals(
    X: np.ndarray, durations: np.ndarray, events: np.ndarray, weights: np.ndarray, params: np.ndarray
) -> np.ndarray:
    """Weighted score residuals of a right-censored Cox model with Efron ties (R ``coxph``).

    `rait_registry.analysis.cox.score_residuals` (kept under this name).
    """
    return score_residuals(X, durations, events, weights, params)


def cox_robust_covariance(
    fitter: CoxPHFitter, df: pd.DataFrame, duration: str, event: str, weights: str | None = None
) -> pd.DataFrame:
    """Robust (sandwich) covariance of a fitted ``CoxPHFitter``, as R ``coxph(robust = TRUE)``.

    `rait_registry.analysis.cox.robust_covariance` on the rows ``df`` (one cluster per row).
    lifelines' own ``robust=True`` is not used because its score residuals ignore tied times
    (see `rait_registry.analysis.cox.score_residuals`); on the frozen demo cohort (two event
    times shared with a censoring) it was 2e-4 off R.
    """
    data = CoxData(df, duration, event, tuple(fitter.params_.index), weights_col=weights)
    return robust_covariance(fitter, data=data)


def iptw_weights(
    propensity: np.ndarray, focal: np.ndarray, estimand: str = "ATE", stabilized: bool = True
) -> np.ndarray:
    """Inverse-probability-of-treatment weights, o-RAIT the focal group (``e = P(o-RAIT)``).

    ATE: ``1/e`` (focal), ``1/(1-e)`` (control), times the marginal proportion of the group
    when ``stabilized`` (Xu et al. 2010). ATT: ``1`` (focal), ``e/(1-e)`` (control).
    """
    e = np.asarray(propensity, dtype=float)
    f = np.asarray(focal, dtype=bool)
    if estimand not in ESTIMANDS:
        raise AnalysisError(f"estimand must be one of {ESTIMANDS}, got {estimand!r}")
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


def kish_ess(w: np.ndarray) -> float:
    """Kish's effective sample size of weights: ``(sum w)^2 / sum w^2``."""
    return float(w.sum() ** 2 / (w**2).sum()) if w.size else 0.0


def weighted_smd(x: np.ndarray, focal: np.ndarray, w: np.ndarray) -> float | None:
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


def iptw_analysis(
    cohort: pd.DataFrame,
    *,
    covariates: Sequence[str],
    estimand: str = "ATE",
    stabilized: bool = True,
    horizon_months: float,
    alpha: float = DEFAULTS.alpha,
) -> SectionResult:
    """The weighted comparison of o-RAIT and m-RAIT (results.json ``sensitivity.iptw``).

    Parameters
    ----------
    cohort : DataFrame
        The eligible cohort; patients with a missing covariate are left out (with a note).
    covariates : sequence of str
        Propensity-model covariates (`PropensityMatcher` specifications; baseline only).
    estimand : {"ATE", "ATT"}
    stabilized : bool
        Stabilised ATE weights (ignored for the ATT).
    horizon_months, alpha : float

    Returns
    -------
    SectionResult
        ``section`` ``{"iptw": {...}}``; table ``sensitivity_iptw_balance``; estimate ``iptw``
        (absent when no weights could be formed); fitted ``weights`` and ``propensity``
        (Series by patient_id), ``cox`` (the weighted ``CoxPHFitter``, model-based SE),
        ``robust_covariance`` and ``kmf`` (weighted ``KaplanMeierFitter`` per group).
    """
    out: dict[str, Any] = {
        "estimand": estimand,
        "stabilized": bool(stabilized and estimand == "ATE"),
        "covariates": list(covariates),
        "propensity_model": "logistic regression of o-RAIT on the covariates (statsmodels Logit, via PropensityMatcher)",
        "weights_formula": (
            "ATE: 1/e for o-RAIT, 1/(1-e) for m-RAIT"
            + (", times the group's marginal proportion (stabilised)" if stabilized else "")
            if estimand == "ATE"
            else "ATT (o-RAIT as target population): 1 for o-RAIT, e/(1-e) for m-RAIT"
        ),
        "se_method": "robust sandwich (Lin & Wei 1989) from Efron score residuals, as R coxph(robust = TRUE)",
        "biases": list(IPTW_BIASES),
        "n": None,
        "events": None,
        "weights": None,
        "balance": [],
        **dict.fromkeys(("hr", "hr_ci_low", "hr_ci_high", "hr_p", "log_hr", "se_log_hr")),
        "pfs_5y_weighted": {O_RAIT: None, M_RAIT: None},
        "notes": [
            "weighted Kaplan-Meier: point estimates only (lifelines' Greenwood CI ignores the weighting)",
        ],
    }
    fitted: dict[str, Any] = {
        "weights": None,
        "cox": None,
        "robust_covariance": None,
        "kmf": {},
        "propensity": None,
    }
    tables: dict[str, pd.DataFrame] = {}
    X, complete = covariate_matrix(cohort, covariates) if covariates else (None, None)
    if X is None:
        out["notes"].append("no propensity covariates configured")
        return SectionResult("sensitivity", {"iptw": out}, tables, {}, fitted)
    data = cohort.loc[complete].reset_index(drop=True)
    if (~complete).any():
        out["notes"].append(f"{int((~complete).sum())} patient(s) with a missing covariate left out")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StatisticsWarning)
            pm = PropensityMatcher(covariates=list(covariates), caliper=None).fit(data)
        for w in caught:
            if issubclass(w.category, StatisticsWarning) and "converge" in str(w.message):
                out["notes"].append(str(w.message))
    except MatchingError as exc:
        out["notes"].append(f"propensity model: {exc}")
        return SectionResult("sensitivity", {"iptw": out}, tables, {}, fitted)
    ps = pm.propensity_.reindex(data["patient_id"].astype(str)).to_numpy(dtype=float)
    focal = (data["rait_group"] == O_RAIT).to_numpy()
    try:
        w = iptw_weights(ps, focal, estimand, stabilized)
    except AnalysisError as exc:
        out["notes"].append(str(exc))
        return SectionResult("sensitivity", {"iptw": out}, tables, {}, fitted)
    ids = pd.Index(data["patient_id"].astype(str), name="patient_id")
    fitted["weights"] = pd.Series(w, index=ids, name="weight")
    fitted["propensity"] = pd.Series(ps, index=ids, name="propensity_score")
    out["n"], out["events"] = len(data), int(data["pfs_event"].sum())
    out["weights"] = {
        g: {
            "sum": float(w[m].sum()),
            "min": float(w[m].min()),
            "max": float(w[m].max()),
            "effective_n": kish_ess(w[m]),
            "n": int(m.sum()),
        }
        for g, m in ((O_RAIT, focal), (M_RAIT, ~focal))
        if m.any()
    }
    Xd, _ = covariate_matrix(data, covariates)
    bal = []
    for col in Xd.columns:
        x = Xd[col].to_numpy(dtype=float)
        bal.append(
            {
                "covariate": col,
                "smd_unweighted": weighted_smd(x, focal, np.ones_like(x)),
                "smd_weighted": weighted_smd(x, focal, w),
            }
        )
    out["balance"] = bal
    tables["sensitivity_iptw_balance"] = pd.DataFrame(bal)
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
        cph, note = fit_cox(df, "T", "E", alpha=alpha, weights_col="w")
        fitted["cox"] = cph  # its standard_errors_ are model-based; the robust ones are below
        if cph is None:
            out["notes"].append(note)
        else:
            cov = cox_robust_covariance(cph, df, "T", "E", "w")
            fitted["robust_covariance"] = cov
            t = wald_term(cph, "m_rait", alpha, se=math.sqrt(cov.loc["m_rait", "m_rait"]))
            out.update(
                hr=t["hr"],
                hr_ci_low=t["ci_low"],
                hr_ci_high=t["ci_high"],
                hr_p=t["p"],
                log_hr=t["log_hr"],
                se_log_hr=t["se_log_hr"],
            )
    for g, m in ((O_RAIT, focal), (M_RAIT, ~focal)):
        if not m.any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            kmf = KaplanMeierFitter(label=g).fit(df["T"][m], df["E"][m], weights=df["w"][m])
        fitted["kmf"][g] = kmf
        if df["T"][m].max() >= horizon_months:
            out["pfs_5y_weighted"][g] = float(kmf.survival_function_at_times(horizon_months).iloc[0])
    estimate = HazardRatioEstimate.from_fit(
        "iptw",
        f"inverse probability of treatment weighting ({estimand}), robust SE",
        {
            "hr": out["hr"],
            "ci_low": out["hr_ci_low"],
            "ci_high": out["hr_ci_high"],
            "p": out["hr_p"],
            "log_hr": out["log_hr"],
            "se_log_hr": out["se_log_hr"],
        },
        data=data,
        biases=IPTW_BIASES,
    )
    return SectionResult(
        "sensitivity", {"iptw": out}, tables, {"iptw": estimate}, fitted, main_table="sensitivity_iptw_balance"
    )
