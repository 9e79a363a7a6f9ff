"""Landmark analysis of immortal time (results.json ``landmark``).

The group (number of cycles) is only known after follow-up: a patient must stay
progression-free long enough to *receive* a second cycle to be m-RAIT. At ``L`` months after
the first RAIT (default 12), patients still progression-free *and* still under follow-up
(``pfs_months > L``) are grouped by the cycles received by then (`landmark_cohort`): one cycle
-> o-RAIT, two or more -> m-RAIT. A cycle after the first counts from the exposure lag after it
is given (``rxwbs_window_days``, as in the time-varying models: its post-therapy scan can show a
progression it did not cause), so both analyses classify a patient the same way. PFS is counted from the landmark. Kaplan-Meier, log-rank
and Cox come from `survival.SurvivalComparison` (R-verified settings); a Cox HR adjusted for
baseline covariates and the HR at a few other landmarks are added.

References
----------
Anderson JR, Cain KC, Gelber RD (1983). Analysis of survival by tumor response. *J Clin Oncol*
1:710-719 (landmark method).
Suissa S (2008). Immortal time bias in pharmacoepidemiology. *Am J Epidemiol* 167:492-499.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from rait_registry.contract import DAYS_PER_MONTH, M_RAIT, O_RAIT, RAIT_GROUPS

from .. import survival
from ..config import DEFAULTS
from ..cox import fit_cox, wald_term
from .data import covariate_matrix, landmark_cohort
from .results import HazardRatioEstimate, SectionResult, null_term
from .sentences import fmt_p, hr_sentence

__all__ = ["adjusted_cox", "landmark_analysis"]


def adjusted_cox(
    data: pd.DataFrame,
    time_col: str,
    event_col: str,
    m_rait: np.ndarray,
    covariates: Sequence[str],
    alpha: float = DEFAULTS.alpha,
    models: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Cox HR of m-RAIT vs o-RAIT (``m_rait`` 0/1 per row of ``data``) adjusted for baseline ``covariates``.

    Patients with a missing covariate are left out (with a note). Returns ``{covariates, hr,
    ci_low, ci_high, p, log_hr, se_log_hr, n, events, notes}``; null estimates with a reason
    when there are no covariates, one group only, or no finite estimate. The fitted model is
    put in ``models["adjusted"]`` when ``models`` is given.
    """
    out: dict[str, Any] = {
        "covariates": list(covariates),
        **null_term(),
        "n": None,
        "events": None,
        "notes": [],
    }
    if not covariates:
        out["notes"].append("no adjustment covariates configured")
        return out
    X, complete = covariate_matrix(data, covariates)
    df = X.copy()
    df.insert(0, "m_rait", m_rait[complete])
    df["T"] = data.loc[complete, time_col].to_numpy(dtype=float)
    df["E"] = data.loc[complete, event_col].to_numpy(dtype=float)
    out["n"], out["events"] = len(df), int(df["E"].sum())
    if (~complete).any():
        out["notes"].append(f"{int((~complete).sum())} patient(s) with a missing covariate left out")
    if df["m_rait"].nunique() < 2:
        out["notes"].append("only one group: no hazard ratio")
        return out
    cph, note = fit_cox(df, "T", "E", alpha=alpha)
    if models is not None:
        models["adjusted"] = cph
    if cph is None:
        out["notes"].append(note)
        return out
    out.update(wald_term(cph, "m_rait", alpha))
    if out["events"] < 10 * len(cph.params_):
        out["notes"].append(f"{out['events']} events for {len(cph.params_)} parameters (fewer than 10 per parameter)")
    return out


def _hr_by_landmark(
    cohort: pd.DataFrame,
    cycles: pd.DataFrame,
    landmarks: Sequence[float],
    horizon_months: float,
    alpha: float,
    models: dict[float, Any],
    lag_days: int,
) -> list[dict[str, Any]]:
    rows = []
    for Lk in landmarks:
        d, cts = landmark_cohort(cohort, cycles, Lk, lag_days)
        res, note, models[Lk] = survival.hazard_ratio(
            d["months_from_landmark"], d["pfs_event"], d["landmark_group"], O_RAIT, M_RAIT, alpha=alpha
        )
        lr = (
            survival.SurvivalComparison(list(RAIT_GROUPS), horizon=horizon_months - Lk, alpha=alpha, cox=False)
            .fit(d, duration_col="months_from_landmark", group_col="landmark_group")
            .logrank_
        )
        rows.append(
            {
                "landmark_months": Lk,
                "n_at_landmark": cts["n_at_landmark"],
                "n_o_rait": cts["groups"][O_RAIT],
                "n_m_rait": cts["groups"][M_RAIT],
                "events": int(d["pfs_event"].sum()),
                "hr": res["hr"],
                "hr_ci_low": res["ci_low"],
                "hr_ci_high": res["ci_high"],
                "hr_p": res["p"],
                "logrank_p": lr["p"],
                "notes": [note] if note else [],
            }
        )
    return rows


def landmark_analysis(
    cohort: pd.DataFrame,
    cycles: pd.DataFrame,
    *,
    landmark_months: float,
    sensitivity_months: Sequence[float] = (),
    horizon_months: float,
    alpha: float = DEFAULTS.alpha,
    adjust_covariates: Sequence[str] = (),
    lag_days: int = 0,
) -> SectionResult:
    """The landmark analysis at ``landmark_months`` (results.json ``landmark``).

    Parameters
    ----------
    cohort, cycles : DataFrame
        ``marts.analysis_cohort`` and ``marts.rait_cycles``.
    landmark_months : float
        The landmark after the first RAIT.
    sensitivity_months : sequence of float
        Further landmarks of the ``by_landmark`` table (those outside (0, horizon) are skipped).
    horizon_months : float
        PFS is read at ``horizon_months - landmark_months`` after the landmark.
    alpha : float
    adjust_covariates : sequence of str
        Baseline covariates of the adjusted Cox model (none: no adjusted model).
    lag_days : int, default 0
        A cycle after the first counts toward the landmark group from ``lag_days`` after it is
        given (`landmark_cohort`; the sensitivity analyses pass the time-varying models' lag).

    Returns
    -------
    SectionResult
        Tables ``landmark_km_<group>`` (from the landmark, with months since the first RAIT)
        and ``landmark_hr_by_time``; estimate ``landmark``; fitted ``comparison``
        (`SurvivalComparison`), ``data`` (the patients at the landmark, `landmark_cohort`),
        ``adjusted`` (the adjusted Cox model or None) and ``by_landmark`` (landmark -> Cox
        model or None).
    """
    L = float(landmark_months)
    data, counts = landmark_cohort(cohort, cycles, L, lag_days)
    horizon = horizon_months - L
    comp = survival.SurvivalComparison(list(RAIT_GROUPS), horizon=horizon, alpha=alpha).fit(
        data, duration_col="months_from_landmark", group_col="landmark_group"
    )
    tables = {
        f"landmark_km_{g}": tab.assign(months_since_first_rait=tab["time"] + L) for g, tab in comp.km_tables_.items()
    }
    analysis = comp.to_dict()
    estimate = HazardRatioEstimate.from_fit(
        "landmark",
        f"landmark at {L:g} months: groups by cycles received by then, PFS from the landmark",
        {
            "hr": analysis["hr"],
            "ci_low": analysis["hr_ci_low"],
            "ci_high": analysis["hr_ci_high"],
            "p": analysis["hr_p"],
        },
        comp.cox_,
        data,
    )
    models: dict[str, Any] = {}
    adjusted = adjusted_cox(
        data,
        "months_from_landmark",
        "pfs_event",
        (data["landmark_group"] == M_RAIT).to_numpy(dtype=float),
        adjust_covariates,
        alpha,
        models,
    )
    landmarks = [Lk for Lk in sorted({float(x) for x in sensitivity_months} | {L}) if 0 < Lk < horizon_months]
    by_landmark: dict[float, Any] = {}
    rows = _hr_by_landmark(cohort, cycles, landmarks, horizon_months, alpha, by_landmark, lag_days)
    tables["landmark_hr_by_time"] = pd.DataFrame(rows)
    interp = hr_sentence(
        f"Among the {counts['n_at_landmark']} patients progression-free and followed at {L:g} months "
        f"({counts['groups'][O_RAIT]} with one cycle, {counts['groups'][M_RAIT]} with two or more by then)",
        analysis["hr"],
        analysis["hr_ci_low"],
        analysis["hr_ci_high"],
        alpha,
        reason=analysis["notes"][-1] if analysis["notes"] else None,
    )
    if analysis["logrank_p"] is not None:
        interp += f" Log-rank p = {fmt_p(analysis['logrank_p'])}" + (
            "; a large p-value is not evidence of equivalence." if analysis["logrank_p"] >= 0.05 else "."
        )
    section = {
        "landmark_months": L,
        "definition": (
            f"patients with pfs_months > {L:g} (progression-free and under follow-up at the landmark), "
            f"grouped by cycles with admin_date <= first RAIT + {L:g} months ({L * DAYS_PER_MONTH:g} days)"
            + (
                f", a cycle after the first counting from {lag_days} days after it is given (the exposure lag of "
                "the time-varying models)"
                if lag_days
                else ""
            )
            + ": 1 -> o-RAIT, >= 2 -> m-RAIT; PFS counted from the landmark; HR m-RAIT vs o-RAIT (reference o-RAIT)"
        ),
        "exposure_lag_days": int(lag_days),
        "horizon_months_from_first_rait": horizon_months,
        "horizon_months_from_landmark": horizon,
        **counts,
        "analysis": analysis,
        "hr_adjusted": adjusted,
        "by_landmark": rows,
        "interpretation": interp,
    }
    return SectionResult(
        "landmark",
        section,
        tables,
        {"landmark": estimate},
        {"comparison": comp, "data": data, "adjusted": models.get("adjusted"), "by_landmark": by_landmark},
        main_table="landmark_hr_by_time",
    )
