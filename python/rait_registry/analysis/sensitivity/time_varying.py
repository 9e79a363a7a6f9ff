"""Cox models with the treatment history as a time-varying covariate (results.json ``time_varying_cox``).

On counting-process data (`counting_process`) a patient is o-RAIT from the first RAIT until
``lag`` days after the second administration and m-RAIT from then on (R ``tmerge(..., tdc(t2 +
lag))``). The lag is the refresh's ``rxwbs_window_days`` (`exposure_lag_days`; 14 days by
default): findings within that window of an administration belong to its post-therapy scan,
and the post-therapy scan of cycle k+1 evaluates cycle k (docs/specification.md section 2), so a
progression found there belongs to the exposure before cycle k+1. A progression on exactly the
day of the change stays with o-RAIT. Every later cycle counts from its administration + lag in
the same way. Models: m-RAIT status, the number of cycles received, and m-RAIT status adjusted
for baseline covariates; lifelines ``CoxTimeVaryingFitter`` (Efron ties) with the tight
Newton-Raphson options of `rait_registry.analysis.cox`; agreement with R ``coxph`` on ``tmerge``
data is tested to 1e-6.

Beside them: the same m-RAIT status model switched on the day of the administration (the
*unlagged* model, a sensitivity row only: it credits to m-RAIT what the second cycle's
post-therapy scan finds about the first), and the fixed-group HR (groups by the final number of
cycles, which ignores immortal time): a gap between it and the time-varying HR is what
immortal-time bias produces.

References
----------
Therneau TM, Crowson C, Atkinson E (2023). Using time dependent covariates and time dependent
coefficients in the Cox model. R survival vignette (``tmerge``).
Suissa S (2008). Immortal time bias in pharmacoepidemiology. *Am J Epidemiol* 167:492-499.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from lifelines import CoxTimeVaryingFitter

from rait_registry.contract import M_RAIT, O_RAIT

from .. import survival, wording
from ..config import DEFAULTS
from ..cox import fit_cox_time_varying, wald_term
from .data import DEFAULT_EXPOSURE_LAG_DAYS, covariate_matrix
from .results import HazardRatioEstimate, SectionResult, is_set, null_term, skipped
from .sentences import fmt, hr_sentence, level

__all__ = ["fixed_group_estimate", "time_varying_analysis", "time_varying_cox"]


def fixed_group_estimate(cohort: pd.DataFrame, alpha: float = DEFAULTS.alpha) -> HazardRatioEstimate:
    """Cox HR of m-RAIT vs o-RAIT with the groups of the cohort (the final number of cycles).

    Biased by immortal time: the comparator of the landmark and time-varying analyses.
    """
    res, note, fitter = survival.hazard_ratio(
        cohort["pfs_months"], cohort["pfs_event"], cohort["rait_group"], O_RAIT, M_RAIT, alpha=alpha
    )
    return HazardRatioEstimate.from_fit(
        "eligible_fixed_groups",
        "eligible cohort, groups by the final number of cycles (immortal-time bias)",
        res,
        fitter,
        cohort,
        note,
        biases=("immortal_time",),
    )


def time_varying_cox(
    cohort: pd.DataFrame,
    cp: pd.DataFrame,
    *,
    adjust_covariates: Sequence[str] = (),
    alpha: float = DEFAULTS.alpha,
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
        ("m_rait_status", "m_rait", [], "m-RAIT status (0 until the second cycle's exposure change, 1 from then on)"),
        ("cycles_received", "n_cycles", [], "number of cycles counted so far (HR per additional cycle)"),
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
            **null_term(),
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


def _events_by_exposure(cp: pd.DataFrame) -> dict[str, int]:
    """Progression events by the m-RAIT status of the interval they end."""
    ev = cp.loc[cp["event"] == 1, "m_rait"]
    return {O_RAIT: int((ev == 0).sum()), M_RAIT: int((ev == 1).sum())}


def _unlagged_row(
    cohort: pd.DataFrame,
    cp: pd.DataFrame,
    unlagged: pd.DataFrame | None,
    lag_days: int,
    alpha: float,
) -> tuple[dict[str, Any], CoxTimeVaryingFitter | None]:
    """The m-RAIT status model switched on the day of the administration, or ``{skipped, reason}``."""
    if lag_days == 0:
        return skipped(
            "the exposure lag is 0 days (rxwbs_window_days = 0): the primary model already switches on the day "
            "of the administration"
        ), None
    if unlagged is None:
        return skipped("no unlagged counting-process rows were given"), None
    models, fitters = time_varying_cox(cohort, unlagged, alpha=alpha)
    entry = {
        **models[0],
        "name": "m_rait_status_unlagged",
        "description": "m-RAIT status switched on the day of the second administration (no lag)",
        "exposure_lag_days": 0,
        "biases": ["unlagged_exposure"],
    }
    by_exp, by_exp_lagged = _events_by_exposure(unlagged), _events_by_exposure(cp)
    entry["events_by_exposure"] = by_exp
    entry["n_events_credited_to_m_rait"] = by_exp[M_RAIT] - by_exp_lagged[M_RAIT]
    return entry, fitters["m_rait_status"]


def time_varying_analysis(
    cohort: pd.DataFrame,
    cp: pd.DataFrame,
    fixed_group: HazardRatioEstimate,
    *,
    lag_days: int = DEFAULT_EXPOSURE_LAG_DAYS,
    unlagged: pd.DataFrame | None = None,
    lag_source: str | None = None,
    adjust_covariates: Sequence[str] = (),
    alpha: float = DEFAULTS.alpha,
) -> SectionResult:
    """The results.json ``time_varying_cox`` section.

    Parameters
    ----------
    cohort : DataFrame
        The cohort (adjustment covariates, patients without time at risk).
    cp : DataFrame
        Its `counting_process` rows with the exposure lag ``lag_days``.
    fixed_group : HazardRatioEstimate
        The fixed-group HR (`fixed_group_estimate`) the section compares with.
    lag_days : int
        The exposure lag of ``cp`` (days from an administration after the first to its exposure
        change: the refresh's ``rxwbs_window_days``, `exposure_lag_days`).
    unlagged : DataFrame, optional
        The `counting_process` rows without a lag (``lag_days=0``), for the unlagged sensitivity
        row; None (or a lag of 0) gives ``unlagged_sensitivity = {skipped: true, reason}``.
    lag_source : str, optional
        Where the lag comes from (reported).
    adjust_covariates : sequence of str
    alpha : float

    Returns
    -------
    SectionResult
        Table ``time_varying_cox`` (one row per model, then the unlagged sensitivity row);
        estimate ``time_varying`` (m-RAIT status with the lag); fitted ``models`` (name ->
        ``CoxTimeVaryingFitter`` or None; ``m_rait_status_unlagged`` among them).
    """
    n_dropped = int((cohort["pfs_months"] <= 0).sum())
    models, fitters = time_varying_cox(cohort, cp, adjust_covariates=adjust_covariates, alpha=alpha)
    for m in models:
        m.update(exposure_lag_days=int(lag_days), biases=[])
    main = models[0]
    estimate = HazardRatioEstimate.from_fit(
        "time_varying",
        f"m-RAIT status as a time-varying covariate, from {lag_days} days after the second administration",
        main,
        data=cp,
        n=main["n_patients"],
    )
    unl, unl_fitter = _unlagged_row(cohort, cp, unlagged, int(lag_days), alpha)
    if not unl.get("skipped"):
        fitters["m_rait_status_unlagged"] = unl_fitter
    switched = int(cp.groupby("patient_id")["m_rait"].max().sum())
    parts = [
        hr_sentence(
            f"Time-varying Cox model (m-RAIT from {lag_days} days after the second administration)",
            main["hr"],
            main["ci_low"],
            main["ci_high"],
            alpha,
            reason=main["notes"][-1] if main["notes"] else None,
        )
    ]
    if not unl.get("skipped"):
        n_moved = unl["n_events_credited_to_m_rait"]
        parts.append(
            hr_sentence(
                f"Unlagged sensitivity model (m-RAIT from the day of the second administration, which credits "
                f"{n_moved} more progression(s) to m-RAIT)",
                unl["hr"],
                unl["ci_low"],
                unl["ci_high"],
                alpha,
                reason=unl["notes"][-1] if unl["notes"] else None,
                biases=unl["biases"],
            )
        )
    parts.append(
        hr_sentence(
            "Fixed groups by the final number of cycles",
            fixed_group.hr,
            fixed_group.ci_low,
            fixed_group.ci_high,
            alpha,
            reason=fixed_group.notes[-1] if fixed_group.notes else None,
            biases=fixed_group.biases,
        )
    )
    if is_set(main["hr"]) and is_set(fixed_group.hr):
        parts.append("A gap between the fixed-group and the time-varying HR is what immortal-time bias produces.")
    if is_set(main["hr"]) and is_set(main["ci_low"]) and is_set(main["ci_high"]):
        reading = (
            f"Counting m-RAIT from {lag_days} days after the second RAIT (once its post-therapy scan has evaluated the "
            f"first), HR m-RAIT vs o-RAIT {fmt(main['hr'])} ({level(alpha)} CI {fmt(main['ci_low'])} to "
            f"{fmt(main['ci_high'])}): "
            + wording.interval_reading(
                main["ci_low"], main["ci_high"], 1.0, quantity="hazard of progression with m-RAIT"
            )
            + "."
        )
    else:
        reading = "The time-varying hazard ratio could not be estimated on this cohort."
    notes = []
    if n_dropped:
        notes.append(f"{n_dropped} patient(s) with pfs_months <= 0 have no time at risk and are left out")
    section = {
        "definition": (
            f"counting-process data (start, stop]: a patient is o-RAIT from the first RAIT until {lag_days} days after "
            "the second administration (its post-therapy scan evaluates the first cycle) and m-RAIT from then on "
            f"(R tmerge tdc at administration + {lag_days} days); each later cycle counts from its administration + "
            f"{lag_days} days; a progression on the day of a change stays with the exposure before it; changes on or "
            "after the end of PFS follow-up change nothing. Cox model, Efron ties; HR m-RAIT vs o-RAIT "
            "(reference o-RAIT)."
        ),
        "exposure_lag_days": int(lag_days),
        "exposure_lag_source": lag_source or "given",
        "n_patients": int(cp["patient_id"].nunique()),
        "n_intervals": len(cp),
        "events": int(cp["event"].sum()),
        "events_by_exposure": _events_by_exposure(cp),
        "n_switched_before_end": switched,
        "models": models,
        "unlagged_sensitivity": unl,
        "fixed_group_hr": {
            "hr": fixed_group.hr,
            "ci_low": fixed_group.ci_low,
            "ci_high": fixed_group.ci_high,
            "p": fixed_group.p,
            "biases": list(fixed_group.biases),
        },
        "notes": notes,
        "reading": reading,
        "interpretation": " ".join(parts),
    }
    rows = [{**m, "role": "primary"} for m in models]
    if not unl.get("skipped"):
        rows.append({**unl, "role": "sensitivity (unlagged, biased)"})
    table = pd.DataFrame(rows).drop(columns=["notes", "events_by_exposure"], errors="ignore")
    table["adjusted_for"] = ["; ".join(r["adjusted_for"]) for r in rows]
    table["biases"] = [wording.bias_reasons(r["biases"]) for r in rows]
    return SectionResult(
        "time_varying_cox",
        section,
        {"time_varying_cox": table},
        {"time_varying": estimate},
        {"models": fitters},
        main_table="time_varying_cox",
    )
