"""Non-inferiority stated properly (results.json ``non_inferiority``).

The claim "o-RAIT is not worse" is about the hazard ratio of **o-RAIT versus m-RAIT (reference
m-RAIT)**, HR > 1 meaning faster progression with one RAIT. Non-inferiority at margin M (default
1.5) is shown when the upper limit of the two-sided ``1 - 2 alpha`` CI (95% for the default
one-sided ``alpha = 0.025``) lies below M; the one-sided p-value tests H0: HR >= M (Wald, log
scale). The same for the difference of 5-year PFS, o-RAIT minus m-RAIT, with margin -10
percentage points: the SE of each Kaplan-Meier estimate is Greenwood's (linear scale,
statsmodels ``SurvfuncRight.surv_prob_se``), the two are combined as independent and the Wald
interval is on the linear scale. A non-significant log-rank test is never read as
non-inferiority.

References
----------
Piaggio G, et al. (2012). Reporting of noninferiority and equivalence randomized trials:
extension of the CONSORT 2010 statement. *JAMA* 308:2594-2604.
Klein JP, Logan B, Harhoff M, Andersen PK (2007). Analyzing survival curves at a fixed point in
time. *Stat Med* 26:4505-4519.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.duration.survfunc import SurvfuncRight

from rait_registry.contract import M_RAIT, O_RAIT

from ..config import DEFAULTS
from .results import HazardRatioEstimate, SectionResult, is_set
from .sentences import fmt, fmt_p, level, ni_sentence

__all__ = ["km_at", "non_inferiority_analysis", "non_inferiority_hr", "pfs_difference"]

#: Why each hazard ratio is, or is not, a fair test of the claim.
CAVEATS = {
    "eligible_fixed_groups": "biased by immortal time (groups defined by the future)",
    "matched": "as the study; matching on follow-up time conditions on a post-baseline variable",
    "landmark": "groups fixed at the landmark; patients who progressed before it are excluded",
    "time_varying": "handles immortal time; confounding by indication remains",
    "iptw": "baseline confounders only; robust SE",
}
#: The hazard ratios tested, in table order.
HR_ANALYSES = ("matched", "landmark", "time_varying", "iptw", "eligible_fixed_groups")


def non_inferiority_hr(
    log_hr_o_vs_m: float, se: float, margin: float = DEFAULTS.ni_hr_margin, alpha: float = DEFAULTS.ni_alpha
) -> dict[str, Any]:
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


def pfs_difference(
    name: str,
    data: pd.DataFrame,
    time_col: str,
    group_col: str,
    horizon: float,
    *,
    margin: float,
    alpha: float,
) -> dict[str, Any]:
    """PFS at ``horizon``, o-RAIT minus m-RAIT, with its one-sided non-inferiority test at ``-margin``.

    ``alpha`` is one-sided; the interval is two-sided ``1 - 2 alpha``. Undefined values are None
    with a reason in ``notes`` (follow-up ending before the horizon, a Greenwood SE of 0).
    """
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
    for g in (O_RAIT, M_RAIT):
        m = (data[group_col] == g).to_numpy()
        s, se, why = km_at(
            data.loc[m, time_col].to_numpy(dtype=float), data.loc[m, "pfs_event"].to_numpy(dtype=float), horizon
        )
        vals[g] = (s, se)
        if why:
            row["notes"].append(f"{g}: {why}")
    (s1, se1), (s0, se0) = vals[O_RAIT], vals[M_RAIT]
    row.update(pfs_o_rait=s1, se_o_rait=se1, pfs_m_rait=s0, se_m_rait=se0)
    if s1 is None or s0 is None:
        return row
    diff = s1 - s0
    se = math.sqrt(se1**2 + se0**2)
    row["difference"] = diff
    for g, sg in ((O_RAIT, se1), (M_RAIT, se0)):
        if sg == 0:
            row["notes"].append(f"{g}: no events by the horizon, Greenwood SE 0 (understates uncertainty)")
    if se == 0:
        row["notes"].append("both Greenwood SEs are 0: no interval")
        return row
    zc = norm.ppf(1 - alpha)
    z = (diff + margin) / se
    row.update(
        se=se,
        ci_low=diff - zc * se,
        ci_high=diff + zc * se,
        p_one_sided=float(norm.sf(z)),
        non_inferior=bool(diff - zc * se > -margin),
    )
    return row


def _hr_row(est: HazardRatioEstimate, margin: float, alpha: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "analysis": est.analysis,
        "description": est.description,
        "caveat": CAVEATS.get(est.analysis),
        "hr_o_vs_m": None,
        "ci_low": None,
        "ci_high": None,
        "z": None,
        "p_one_sided": None,
        "non_inferior": None,
        "notes": list(est.notes),
    }
    if is_set(est.se_log_hr) and est.se_log_hr > 0:
        res = non_inferiority_hr(-est.log_hr, est.se_log_hr, margin, alpha)
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
    return row


def _verdict(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "hr": row["hr_o_vs_m"],
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "p_one_sided": row["p_one_sided"],
        "non_inferior": row["non_inferior"],
    }


def non_inferiority_analysis(
    estimates: Mapping[str, HazardRatioEstimate],
    pfs_sources: Sequence[tuple[str, pd.DataFrame, str, str, float]],
    matched_logrank_p: float | None,
    *,
    hr_margin: float,
    pfs_margin: float,
    alpha: float,
    horizon_months: float,
) -> SectionResult:
    """The results.json ``non_inferiority`` section.

    Parameters
    ----------
    estimates : mapping of str -> HazardRatioEstimate
        Hazard ratios of m-RAIT vs o-RAIT by analysis (those of `HR_ANALYSES` present are tested).
    pfs_sources : sequence of (analysis, data, time column, group column, horizon)
        The PFS differences to test, in table order.
    matched_logrank_p : float or None
        The matched cohort's log-rank p, quoted as what it is (a test of equality).
    hr_margin, pfs_margin : float
    alpha : float
        One-sided significance level.
    horizon_months : float
        The PFS horizon from the first RAIT (reported).

    Returns
    -------
    SectionResult
        Tables ``non_inferiority_hr`` and ``non_inferiority_pfs``.
    """
    M, a = hr_margin, alpha
    hr_rows = [_hr_row(estimates[name], M, a) for name in HR_ANALYSES if name in estimates]
    pfs_rows = [
        pfs_difference(name, data, tcol, gcol, h, margin=pfs_margin, alpha=a)
        for name, data, tcol, gcol, h in pfs_sources
    ]
    tables = {
        "non_inferiority_hr": pd.DataFrame(hr_rows).drop(columns=["notes"]),
        "non_inferiority_pfs": pd.DataFrame(pfs_rows).drop(columns=["notes"]),
    }
    by_name = {r["analysis"]: r for r in hr_rows}
    parts = []
    if "matched" in by_name:
        parts.append(ni_sentence("Matched cohort (the study's analysis)", _verdict(by_name["matched"]), M, a))
    if "time_varying" in by_name:
        parts.append(ni_sentence("Time-varying Cox", _verdict(by_name["time_varying"]), M, a))
    pm = next((r for r in pfs_rows if r["analysis"] == "matched"), None)
    if pm is not None and is_set(pm["difference"]) and is_set(pm["ci_low"]):
        verdict = "shown" if pm["non_inferior"] else "not shown"
        parts.append(
            f"5-year PFS difference (o-RAIT minus m-RAIT, matched) {fmt(100 * pm['difference'])} percentage points, "
            f"{level(2 * a)} CI {fmt(100 * pm['ci_low'])} to {fmt(100 * pm['ci_high'])}: non-inferiority at "
            f"-{100 * pfs_margin:g} points is {verdict}."
        )
    if matched_logrank_p is not None:
        parts.append(f"The matched log-rank p = {fmt_p(matched_logrank_p)} tests equality, not non-inferiority.")
    section = {
        "claim": "o-RAIT is non-inferior to m-RAIT for PFS",
        "direction": (
            "hazard ratio of o-RAIT versus m-RAIT (reference m-RAIT; the inverse of the HR reported elsewhere); "
            "HR > 1 means faster progression with one RAIT. Non-inferiority: the upper CI limit is below the margin."
        ),
        "hr_margin": M,
        "pfs_margin": pfs_margin,
        "pfs_horizon_months": horizon_months,
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
        "matched_logrank_p": matched_logrank_p,
        "interpretation": " ".join(parts) if parts else "Non-inferiority could not be assessed.",
    }
    return SectionResult("non_inferiority", section, tables, main_table="non_inferiority_hr")
