"""E-values of the hazard ratios (results.json ``sensitivity.e_values``): how strong an unmeasured
confounder would have to be to explain an estimate away.

Hand-written: neither statsmodels, scipy nor lifelines computes E-values (R: ``EValue``).

References
----------
VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational research: introducing the
E-value. *Ann Intern Med* 167:268-274.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from lifelines import KaplanMeierFitter

from rait_registry.exceptions import AnalysisError

from .results import HazardRatioEstimate, is_set

__all__ = ["e_value", "e_value_rr", "e_values_table", "hr_to_rr_common", "outcome_is_rare"]

#: A cumulative incidence at the end of follow-up below this makes the outcome rare.
RARE_OUTCOME_INCIDENCE = 0.15


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


def outcome_is_rare(
    data: pd.DataFrame | None,
    time_col: str = "pfs_months",
    event_col: str = "pfs_event",
    rare: bool | None = None,
) -> tuple[bool, float | None]:
    """Whether the outcome is rare: the Kaplan-Meier cumulative incidence at the end of follow-up
    below 15% (``rare`` given: that answer, incidence None).

    Returns
    -------
    rare : bool
    incidence : float or None
    """
    if rare is not None:
        return bool(rare), None
    if data is None or len(data) == 0:
        return False, None
    kmf = KaplanMeierFitter().fit(data[time_col].to_numpy(dtype=float), data[event_col].to_numpy(dtype=float))
    inc = 1.0 - float(kmf.survival_function_.iloc[-1, 0])
    return inc < RARE_OUTCOME_INCIDENCE, inc


def e_values_table(
    estimates: Mapping[str, HazardRatioEstimate],
    sources: Mapping[str, tuple[pd.DataFrame, str]],
    rare: bool | None = None,
) -> list[dict[str, Any]]:
    """One E-value row per analysis of ``sources`` that has an estimate.

    Parameters
    ----------
    estimates : mapping of str -> HazardRatioEstimate
        The hazard ratios by analysis name.
    sources : mapping of str -> (DataFrame, time column)
        For each analysis, in row order, the data whose Kaplan-Meier cumulative incidence
        decides whether the outcome is rare (`outcome_is_rare`).
    rare : bool or None
        Set the rare-outcome answer for every row instead.
    """
    rows = []
    for name, (data, time_col) in sources.items():
        est = estimates.get(name)
        if est is None:
            continue
        is_rare, inc = outcome_is_rare(data, time_col, rare=rare)
        row: dict[str, Any] = {
            "analysis": name,
            "biases": list(est.biases),
            "hr": est.hr,
            "ci_low": est.ci_low,
            "ci_high": est.ci_high,
            "cumulative_incidence_end": inc,
            "outcome_rare": is_rare,
            "rule": "rare when the Kaplan-Meier cumulative incidence at the end of follow-up is below 15%"
            if rare is None
            else "set by option",
            "e_value_estimate": None,
            "e_value_ci": None,
            "transformation": None,
            "notes": [],
        }
        if not is_set(est.hr):
            row["notes"].append("no hazard ratio")
        else:
            ev = e_value(est.hr, est.ci_low, est.ci_high, measure="HR", rare=is_rare)
            row.update(
                e_value_estimate=ev["e_value_estimate"],
                e_value_ci=ev["e_value_ci"],
                transformation=ev["transformation"],
            )
        rows.append(row)
    return rows
