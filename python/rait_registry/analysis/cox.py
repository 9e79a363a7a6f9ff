"""Cox proportional-hazards fits that never raise for small data (lifelines, R-agreement settings).

Every Cox model of the analysis layer is fitted here: the hazard ratios of the survival
comparisons (`rait_registry.analysis.survival`) and the landmark, adjusted, weighted,
time-varying and dose-response models of the sensitivity analyses
(`rait_registry.analysis.sensitivity`). A fit that cannot give a finite estimate returns
``(None, reason)`` instead of a fitter:

* no events, or a 0/1 covariate whose events all fall in one level (monotone likelihood:
  the partial likelihood has no finite maximum, and lifelines would return a huge, meaningless
  estimate) - checked before fitting;
* the fit itself failing: lifelines' ``ConvergenceError`` (singular Hessian, NaN step) and
  ``ConvergenceWarning`` (Newton-Raphson not converged, suspected separation), scipy's
  ``LinAlgWarning`` (ill-conditioned Hessian) and numpy's ``LinAlgError``, and the
  ``ValueError`` lifelines re-raises from its Newton step. The warnings are turned into errors
  for the duration of the fit, so a model that "converged" with a warning is not reported.

The Newton-Raphson options `COX_FIT_OPTIONS` bring the estimates within ~1e-11 of R ``coxph``
(Efron ties); the R-reference tests depend on them.

References
----------
Therneau TM, Grambsch PM (2000). *Modeling Survival Data: Extending the Cox Model*. Springer.
Heinze G, Schemper M (2001). A solution to the problem of monotone likelihood in Cox
regression. *Biometrics* 57:114-119.
Davidson-Pilon C (2019). lifelines: survival analysis in Python. *JOSS* 4(40):1317.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning, StatisticalWarning
from scipy.linalg import LinAlgWarning
from scipy.stats import norm

from ..exceptions import InsufficientDataError
from .config import DEFAULTS

__all__ = [
    "COX_FIT_OPTIONS",
    "FIT_FAILURES",
    "fit_cox",
    "fit_cox_time_varying",
    "separation_note",
    "wald_term",
]

#: lifelines Newton-Raphson options that bring the Cox estimate within ~1e-11 of R coxph.
#: lifelines stops when the Newton decrement falls below ``precision`` or the relative change
#: of the log-likelihood below ``r_precision``; with its damped steps either can stop ~1e-7 from
#: the optimum (an HR 1e-7 off). A tiny ``precision`` and ``r_precision = 0`` (that test never
#: passes) let it iterate until the Newton step itself is at rounding level.
COX_FIT_OPTIONS: dict[str, float] = {"precision": 1e-20, "r_precision": 0.0, "step_size": 0.95, "max_steps": 500}

#: What a failed fit raises (the two warnings are raised as errors during the fit).
FIT_FAILURES: tuple[type[BaseException], ...] = (
    ConvergenceError,
    ConvergenceWarning,
    LinAlgWarning,
    np.linalg.LinAlgError,
    ValueError,
)

NO_EVENTS = "no events: the Cox partial likelihood has no finite maximum"


def separation_note(df: pd.DataFrame, event_col: str, skip: Sequence[str | None] = ()) -> str | None:
    """Why a Cox model of ``df`` has no finite estimate, or None.

    A 0/1 covariate (any column not in ``skip``) whose events all fall in one level makes the
    partial likelihood monotone: it has no finite maximum.
    """
    ev = df[event_col].to_numpy(dtype=float) == 1
    for col in df.columns:
        if col in skip or col == event_col:
            continue
        v = df[col].to_numpy(dtype=float)
        levels = np.unique(v)
        if levels.size == 2 and np.isin(levels, (0.0, 1.0)).all():
            for lv in (0.0, 1.0):
                if not (ev & (v == lv)).any():
                    return (
                        f"no events with {col} = {lv:g}: the Cox partial likelihood has no finite maximum, "
                        "so the hazard ratio is not estimable"
                    )
    return None


@contextmanager
def _failures_as_errors(weighted: bool = False) -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", LinAlgWarning)
        if weighted:  # lifelines' note on non-integer weights: the callers use a robust SE
            warnings.simplefilter("ignore", StatisticalWarning)
        yield


def _not_converged(what: str, exc: BaseException) -> str:
    return f"{what} did not converge ({type(exc).__name__}); hazard ratio not reported"


def fit_cox(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    *,
    alpha: float = DEFAULTS.alpha,
    weights_col: str | None = None,
    fit_options: Mapping[str, float] | None = None,
) -> tuple[CoxPHFitter | None, str | None]:
    """Fit ``CoxPHFitter`` on every other column of ``df`` (Efron ties), or say why not.

    Parameters
    ----------
    df : DataFrame
        Duration, event, optional weights and the numeric covariates (nothing else).
    duration_col, event_col : str
    alpha : float
        1 - confidence level of the fitter's intervals.
    weights_col : str, optional
        Case weights (e.g. inverse-probability weights); lifelines' model-based SE then
        ignores the weighting: use `rait_registry.analysis.sensitivity.cox_robust_covariance`.
    fit_options : dict, optional
        lifelines Newton-Raphson options; default `COX_FIT_OPTIONS`.

    Returns
    -------
    fitter : CoxPHFitter or None
    note : str or None
        Why there is no fitter (no events, separation, a failed fit).
    """
    if df[event_col].sum() == 0:
        return None, NO_EVENTS
    note = separation_note(df, event_col, (duration_col, weights_col))
    if note:
        return None, note
    try:
        with _failures_as_errors(weighted=weights_col is not None):
            cph = CoxPHFitter(alpha=alpha).fit(
                df,
                duration_col,
                event_col,
                weights_col=weights_col,
                fit_options=dict(COX_FIT_OPTIONS if fit_options is None else fit_options),
            )
    except FIT_FAILURES as exc:
        return None, _not_converged("the Cox model", exc)
    return cph, None


def fit_cox_time_varying(
    df: pd.DataFrame,
    *,
    id_col: str = "patient_id",
    start_col: str = "start",
    stop_col: str = "stop",
    event_col: str = "event",
    alpha: float = DEFAULTS.alpha,
    fit_options: Mapping[str, float] | None = None,
) -> tuple[CoxTimeVaryingFitter | None, str | None]:
    """Fit ``CoxTimeVaryingFitter`` on counting-process rows (R ``coxph(Surv(start, stop, event) ~ .)``).

    Every column other than the id, start, stop and event columns is a covariate. Returns
    ``(fitter, None)`` or ``(None, reason)`` like `fit_cox`.
    """
    if df[event_col].sum() == 0:
        return None, NO_EVENTS
    note = separation_note(df, event_col, (id_col, start_col, stop_col))
    if note:
        return None, note
    try:
        with _failures_as_errors():
            ctv = CoxTimeVaryingFitter(alpha=alpha).fit(
                df,
                event_col=event_col,
                start_col=start_col,
                stop_col=stop_col,
                id_col=id_col,
                fit_options=dict(COX_FIT_OPTIONS if fit_options is None else fit_options),
            )
    except FIT_FAILURES as exc:
        return None, _not_converged("the time-varying Cox model", exc)
    return ctv, None


#: A log hazard ratio (or CI limit) beyond this is a diverging estimate, not a number to report.
_MAX_LOG_HR = 700.0


def wald_term(fitter: Any, term: str, alpha: float, se: float | None = None) -> dict[str, Any]:
    """Wald summary of one coefficient: ``hr``, ``ci_low``, ``ci_high``, ``p``, ``log_hr``, ``se_log_hr``.

    ``se`` replaces the fitter's standard error (a robust one); the p-value then uses it too.
    """
    beta = float(fitter.params_[term])
    p = float(fitter.summary.loc[term, "p"]) if se is None else float(2 * norm.sf(abs(beta / se)))
    se = float(fitter.standard_errors_[term]) if se is None else float(se)
    z = norm.ppf(1 - alpha / 2)
    if not (math.isfinite(beta) and math.isfinite(se)) or abs(beta) + z * se > _MAX_LOG_HR:
        # monotone likelihood (a term that separates events from non-events): the fit "converges"
        # to an ever larger coefficient and its hazard ratio does not exist
        raise InsufficientDataError(
            f"the hazard ratio of {term} is not estimable: its estimate diverges (monotone likelihood, e.g. no "
            "event in one level); the cohort has too few events for this model"
        )
    return {
        "hr": math.exp(beta),
        "ci_low": math.exp(beta - z * se),
        "ci_high": math.exp(beta + z * se),
        "p": p,
        "log_hr": beta,
        "se_log_hr": se,
    }
