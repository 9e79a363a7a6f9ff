"""Cox models with the treatment history as a time-varying covariate (results.json ``time_varying_cox``).

On counting-process data (`counting_process`) a patient is o-RAIT from the first RAIT until
the day of the second administration and m-RAIT from that day on (R ``tmerge(..., tdc(t2))``).
Models: m-RAIT status, the number of cycles received, and m-RAIT status adjusted for baseline
covariates; lifelines ``CoxTimeVaryingFitter`` (Efron ties) with the tight Newton-Raphson
options of `rait_registry.analysis.cox`; agreement with R ``coxph`` on ``tmerge`` data is
tested to 1e-6. The fixed-group HR (groups by the final number of cycles, which ignores
immortal time) is reported beside it: a gap between the two is what immortal-time bias produces.

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

from .. import survival
from ..config import DEFAULTS
from ..cox import fit_cox_time_varying, wald_term
from .data import covariate_matrix
from .results import HazardRatioEstimate, SectionResult, is_set, null_term
from .sentences import fmt, hr_sentence

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


def time_varying_analysis(
    cohort: pd.DataFrame,
    cp: pd.DataFrame,
    fixed_group: HazardRatioEstimate,
    *,
    adjust_covariates: Sequence[str] = (),
    alpha: float = DEFAULTS.alpha,
) -> SectionResult:
    """The results.json ``time_varying_cox`` section.

    Parameters
    ----------
    cohort : DataFrame
        The cohort (adjustment covariates, patients without time at risk).
    cp : DataFrame
        Its `counting_process` rows.
    fixed_group : HazardRatioEstimate
        The fixed-group HR (`fixed_group_estimate`) the section compares with.
    adjust_covariates : sequence of str
    alpha : float

    Returns
    -------
    SectionResult
        Table ``time_varying_cox`` (one row per model); estimate ``time_varying`` (m-RAIT
        status); fitted ``models`` (name -> ``CoxTimeVaryingFitter`` or None).
    """
    n_dropped = int((cohort["pfs_months"] <= 0).sum())
    models, fitters = time_varying_cox(cohort, cp, adjust_covariates=adjust_covariates, alpha=alpha)
    main = models[0]
    estimate = HazardRatioEstimate.from_fit(
        "time_varying",
        "m-RAIT status as a time-varying covariate (counting process)",
        main,
        data=cp,
        n=main["n_patients"],
    )
    switched = int(cp.groupby("patient_id")["m_rait"].max().sum())
    interp = hr_sentence(
        "Time-varying Cox model",
        main["hr"],
        main["ci_low"],
        main["ci_high"],
        alpha,
        reason=main["notes"][-1] if main["notes"] else None,
    )
    if is_set(fixed_group.hr):
        interp += (
            f" The fixed-group HR that ignores when the second cycle was given is {fmt(fixed_group.hr)} "
            f"({fmt(fixed_group.ci_low)} to {fmt(fixed_group.ci_high)}); a gap between the two is what "
            "immortal-time bias produces."
        )
    notes = []
    if n_dropped:
        notes.append(f"{n_dropped} patient(s) with pfs_months <= 0 have no time at risk and are left out")
    section = {
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
        "fixed_group_hr": {
            "hr": fixed_group.hr,
            "ci_low": fixed_group.ci_low,
            "ci_high": fixed_group.ci_high,
            "p": fixed_group.p,
        },
        "notes": notes,
        "interpretation": interp,
    }
    return SectionResult(
        "time_varying_cox",
        section,
        {"time_varying_cox": pd.DataFrame(models).drop(columns=["notes"])},
        {"time_varying": estimate},
        {"models": fitters},
        main_table="time_varying_cox",
    )
