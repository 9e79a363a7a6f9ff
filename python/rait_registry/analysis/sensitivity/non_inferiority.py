"""Non-inferiority stated as the evidence allows (results.json ``non_inferiority``).

The hypothesis "o-RAIT is not worse" is about the hazard ratio of **o-RAIT versus m-RAIT
(reference m-RAIT)**, HR > 1 meaning faster progression with one RAIT. The HR margin M (default
1.5) is the primary margin. The two-sided ``1 - 2 alpha`` CI (95% for the default one-sided
``alpha = 0.025``) is read against it by `rait_registry.analysis.wording.ni_verdict`: below M,
*consistent with* non-inferiority at the margin; at or above M as a whole, *not consistent*;
across M, *inconclusive*. The one-sided p-value tests H0: HR >= M (Wald, log scale).

The 5-year PFS difference, o-RAIT minus m-RAIT, is tested against the margin the HR margin
implies under proportional hazards: with S_m the m-RAIT PFS at the horizon in the same analysis,
an HR of M gives o-RAIT a PFS of S_m^M, so the margin is ``S_m^M - S_m`` (about -8 points at
S_m = 0.8 and M = 1.5; a fixed -10 points would be looser than the HR margin). The derived
margin is treated as fixed (its sampling error is ignored). A margin given by the user
(``ni_pfs_margin``) replaces it and is reported beside the derived one. The SE of each
Kaplan-Meier estimate is Greenwood's (linear scale, statsmodels
``SurvfuncRight.surv_prob_se``), the two are combined as independent and the Wald interval is
on the linear scale.

Margins are "not prespecified" in every sentence unless the user declares them prespecified
(``ni_margins_prespecified``). An analysis with a known bias (groups defined by the number of
RAITs received, matching on follow-up time) names it in its sentence. A non-significant
log-rank test is never read as non-inferiority.

References
----------
Piaggio G, et al. (2012). Reporting of noninferiority and equivalence randomized trials:
extension of the CONSORT 2010 statement. *JAMA* 308:2594-2604.
Klein JP, Logan B, Harhoff M, Andersen PK (2007). Analyzing survival curves at a fixed point in
time. *Stat Med* 26:4505-4519.
Uno H, Wittes J, Fu H, et al. (2015). Alternatives to hazard ratios for comparing the efficacy
or safety of therapies in noninferiority studies. *Ann Intern Med* 163:127-134.
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

from .. import wording
from ..config import DEFAULTS
from .results import HazardRatioEstimate, SectionResult, is_set
from .sentences import fmt_p, level, ni_hr_sentence, ni_pfs_sentence

__all__ = ["derived_pfs_margin", "km_at", "non_inferiority_analysis", "non_inferiority_hr", "pfs_difference"]

#: What else limits each hazard ratio as a test of the hypothesis (its biases are in ``biases``).
CAVEATS = {
    "eligible_fixed_groups": "no adjustment; groups by the final number of cycles",
    "matched": "the study's analysis",
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
        ``p_one_sided`` (``Phi((log HR - log margin) / se)``), ``verdict`` (`wording.ni_verdict`
        of the interval: `wording.VERDICT_CONSISTENT` exactly when ``p_one_sided < alpha``).
    """
    zc = norm.ppf(1.0 - alpha)
    z = (log_hr_o_vs_m - math.log(margin)) / se
    lo, hi = math.exp(log_hr_o_vs_m - zc * se), math.exp(log_hr_o_vs_m + zc * se)
    return {
        "hr": math.exp(log_hr_o_vs_m),
        "ci_low": lo,
        "ci_high": hi,
        "z": z,
        "p_one_sided": float(norm.cdf(z)),
        "verdict": wording.ni_verdict(lo, hi, margin, worse="higher"),
    }


def derived_pfs_margin(pfs_m_rait: float | None, hr_margin: float) -> float | None:
    """The PFS-difference margin (o-RAIT minus m-RAIT) that the HR margin implies: ``S_m^M - S_m``.

    Under proportional hazards an HR of M (o-RAIT vs m-RAIT) turns the m-RAIT PFS S_m into
    S_m^M for o-RAIT. None when S_m is unknown.

    Examples
    --------
    >>> round(derived_pfs_margin(0.8, 1.5), 4)
    -0.0845
    """
    if not is_set(pfs_m_rait):
        return None
    return float(pfs_m_rait**hr_margin - pfs_m_rait)


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
    hr_margin: float,
    alpha: float,
    given_margin: float | None = None,
    biases: Sequence[str] = (),
) -> dict[str, Any]:
    """PFS at ``horizon``, o-RAIT minus m-RAIT, with its one-sided non-inferiority test.

    The margin is `derived_pfs_margin` of the m-RAIT PFS and ``hr_margin``, or ``-given_margin``
    when a margin is given (``ni_pfs_margin``, a positive fraction). ``alpha`` is one-sided; the
    interval is two-sided ``1 - 2 alpha``; the test is of H0: difference <= margin. Undefined
    values are None with a reason in ``notes`` (follow-up ending before the horizon, a Greenwood
    SE of 0); the verdict is then `wording.VERDICT_INCONCLUSIVE`.
    """
    row: dict[str, Any] = {
        "analysis": name,
        "horizon_months": horizon,
        "time_origin": "landmark" if name == "landmark" else "first RAIT",
        "biases": list(biases),
        "pfs_o_rait": None,
        "se_o_rait": None,
        "pfs_m_rait": None,
        "se_m_rait": None,
        "difference": None,
        "se": None,
        "ci_low": None,
        "ci_high": None,
        "margin_derived": None,
        "margin": None if given_margin is None else -float(given_margin),
        "margin_source": "derived" if given_margin is None else "given",
        "p_one_sided": None,
        "verdict": wording.VERDICT_INCONCLUSIVE,
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
    row["margin_derived"] = derived_pfs_margin(s0, hr_margin)
    if given_margin is None:
        row["margin"] = row["margin_derived"]
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
    lo, hi = diff - zc * se, diff + zc * se
    row.update(se=se, ci_low=lo, ci_high=hi, verdict=wording.ni_verdict(lo, hi, row["margin"], worse="lower"))
    if is_set(row["margin"]):
        row["p_one_sided"] = float(norm.sf((diff - row["margin"]) / se))
    return row


def _hr_row(est: HazardRatioEstimate, margin: float, alpha: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "analysis": est.analysis,
        "description": est.description,
        "biases": list(est.biases),
        "caveat": CAVEATS.get(est.analysis),
        "hr_o_vs_m": None,
        "ci_low": None,
        "ci_high": None,
        "z": None,
        "p_one_sided": None,
        "margin": margin,
        "verdict": wording.VERDICT_INCONCLUSIVE,
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
            verdict=res["verdict"],
        )
    else:
        row["notes"].append("no hazard ratio: non-inferiority cannot be assessed")
    return row


def _csv(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A table of rows for the CSV: the bias keys spelled out, notes left to results.json."""
    frame = pd.DataFrame(rows).drop(columns=["notes"])
    frame["biases"] = [wording.bias_reasons(r["biases"]) for r in rows]
    return frame


def non_inferiority_analysis(
    estimates: Mapping[str, HazardRatioEstimate],
    pfs_sources: Sequence[tuple[str, pd.DataFrame, str, str, float]],
    matched_logrank_p: float | None,
    *,
    hr_margin: float,
    alpha: float,
    horizon_months: float,
    pfs_margin: float | None = None,
    prespecified: bool = False,
    matched_hr: HazardRatioEstimate | None = None,
) -> SectionResult:
    """The results.json ``non_inferiority`` section.

    Parameters
    ----------
    estimates : mapping of str -> HazardRatioEstimate
        Hazard ratios of m-RAIT vs o-RAIT by analysis (those of `HR_ANALYSES` present are
        tested), each with its SE and its known biases.
    pfs_sources : sequence of (analysis, data, time column, group column, horizon)
        The PFS differences to test, in table order; the biases of each are those of the
        estimate of the same name.
    matched_logrank_p : float or None
        The matched cohort's log-rank p, quoted as what it is (a test of equality).
    hr_margin : float
        The HR margin (o-RAIT vs m-RAIT), the primary margin.
    alpha : float
        One-sided significance level.
    horizon_months : float
        The PFS horizon from the first RAIT (reported).
    pfs_margin : float, optional
        A PFS-difference margin (positive fraction) given instead of the one derived from
        ``hr_margin`` (`derived_pfs_margin`); both are reported.
    prespecified : bool
        Whether the margins were fixed before the data were seen (every sentence says which).
    matched_hr : HazardRatioEstimate, optional
        The HR (m-RAIT vs o-RAIT) and SE of the matched cohort to test, replacing
        ``estimates["matched"]``: pass the pair-aware (cluster-robust) HR of the matched
        analysis, which accounts for the matching, when there is one.

    Returns
    -------
    SectionResult
        Tables ``non_inferiority_hr`` and ``non_inferiority_pfs``.
    """
    M, a = hr_margin, alpha
    estimates = dict(estimates)
    if matched_hr is not None:
        estimates["matched"] = matched_hr
    hr_rows = [_hr_row(estimates[name], M, a) for name in HR_ANALYSES if name in estimates]
    pfs_rows = [
        pfs_difference(
            name,
            data,
            tcol,
            gcol,
            h,
            hr_margin=M,
            alpha=a,
            given_margin=pfs_margin,
            biases=estimates[name].biases if name in estimates else (),
        )
        for name, data, tcol, gcol, h in pfs_sources
    ]
    tables = {"non_inferiority_hr": _csv(hr_rows), "non_inferiority_pfs": _csv(pfs_rows)}
    by_name = {r["analysis"]: r for r in hr_rows}
    pfs_by_name = {r["analysis"]: r for r in pfs_rows}
    status = wording.margin_status(prespecified)
    parts = []
    reading = []
    for name, what in (("matched", "Matched cohort (the study's analysis)"), ("time_varying", "Time-varying Cox")):
        if name in by_name:
            parts.append(ni_hr_sentence(what, by_name[name], margin=M, prespecified=prespecified, alpha=a))
    if "matched" in pfs_by_name:
        row = pfs_by_name["matched"]
        parts.append(ni_pfs_sentence("Matched cohort", row, hr_margin=M, prespecified=prespecified, alpha=a))
        loose = (
            row["margin_source"] == "given" and is_set(row["margin_derived"]) and row["margin"] < row["margin_derived"]
        )
        if loose:
            parts.append(
                f"The given PFS margin ({100 * row['margin']:+.1f} points) is looser than the "
                f"{100 * row['margin_derived']:+.1f} points the HR margin {M:g} implies at the matched m-RAIT "
                "PFS, so the two margins do not state the same hypothesis."
            )
    if matched_logrank_p is not None:
        parts.append(f"The matched log-rank p = {fmt_p(matched_logrank_p)} tests equality, not non-inferiority.")
    for name, what in (("time_varying", "the time-varying analysis"), ("matched", "the study's matched analysis")):
        if name in by_name:
            row = by_name[name]
            reading.append(f"{row['verdict']} in {what}{wording.bias_clause(row['biases'], short=True)}")
    section = {
        "hypothesis": "non-inferiority of o-RAIT to m-RAIT for PFS (the study's claim, tested here)",
        "direction": (
            "hazard ratio of o-RAIT versus m-RAIT (reference m-RAIT; the inverse of the HR reported elsewhere); "
            "HR > 1 means faster progression with one RAIT."
        ),
        "verdict_rule": (
            f"the two-sided {level(2 * a)} CI against the margin: wholly on the favourable side, "
            f"'{wording.VERDICT_CONSISTENT}'; wholly on the other side, '{wording.VERDICT_NOT_CONSISTENT}'; "
            f"across the margin or undefined, '{wording.VERDICT_INCONCLUSIVE}'."
        ),
        "verdicts": list(wording.VERDICTS),
        "margins_prespecified": bool(prespecified),
        "margin_status": status,
        "hr_margin": M,
        "pfs_margin_rule": (
            "derived from the HR margin: S_m^M - S_m, with S_m the m-RAIT PFS at the horizon in the same "
            "analysis and M the HR margin (proportional hazards); treated as fixed"
            if pfs_margin is None
            else "given (ni_pfs_margin); the margin derived from the HR margin (S_m^M - S_m) is reported beside it"
        ),
        "pfs_margin_given": pfs_margin,
        "pfs_horizon_months": horizon_months,
        "alpha_one_sided": a,
        "ci_level": 1 - 2 * a,
        "test": "one-sided Wald test of H0: HR(o vs m) >= margin on the log-HR scale (the SE of each analysis' HR)",
        "pfs_se_method": (
            "Greenwood SE of each Kaplan-Meier estimate on the linear scale (statsmodels SurvfuncRight), "
            "combined as independent groups; Wald interval on the linear scale; one-sided test of "
            "H0: difference <= margin. Pairing in the matched cohort is ignored."
        ),
        "matched_hr": None
        if "matched" not in estimates
        else {"description": estimates["matched"].description, "notes": list(estimates["matched"].notes)},
        "hr": hr_rows,
        "pfs_difference": pfs_rows,
        "matched_logrank_p": matched_logrank_p,
        "reading": (
            f"o-RAIT vs m-RAIT at the HR margin {M:g} ({status}): " + "; ".join(reading) + "."
            if reading
            else "Non-inferiority of o-RAIT could not be assessed (no hazard ratio)."
        ),
        "interpretation": " ".join(parts) if parts else "Non-inferiority could not be assessed.",
    }
    return SectionResult("non_inferiority", section, tables, main_table="non_inferiority_hr")
