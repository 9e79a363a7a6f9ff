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

Beside the fits: `fit_cox_stratified` (R ``strata()``, e.g. the matched pair; statsmodels
``PHReg`` on the strata that carry information), `score_residuals` (Efron score residuals with
case weights, O(n log n)) and `robust_covariance` (the sandwich of R ``coxph(robust = TRUE)``,
with ``cluster`` that of ``coxph(..., cluster = pair)``, Lin & Wei 1989). Every model returned
carries the rows it was fitted on (`CoxData`, ``fit_data_``), which the proportional-hazards
test (`rait_registry.analysis.proportional_hazards`) and the robust variance read.

References
----------
Therneau TM, Grambsch PM (2000). *Modeling Survival Data: Extending the Cox Model*. Springer.
Heinze G, Schemper M (2001). A solution to the problem of monotone likelihood in Cox
regression. *Biometrics* 57:114-119.
Davidson-Pilon C (2019). lifelines: survival analysis in Python. *JOSS* 4(40):1317.
Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards model. *JASA*
84:1074-1078.
Austin PC (2014). The use of propensity score methods with survival or time-to-event outcomes:
reporting measures of effect similar to those used in randomized experiments. *Stat Med*
33:1242-1258.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning, StatisticalWarning
from scipy.linalg import LinAlgWarning
from scipy.stats import norm
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergenceWarning
from statsmodels.tools.sm_exceptions import HessianInversionWarning

from ..exceptions import InsufficientDataError
from .config import DEFAULTS

__all__ = [
    "COX_FIT_OPTIONS",
    "FIT_FAILURES",
    "CoxData",
    "StratifiedCoxFit",
    "contributing_strata",
    "fit_cox",
    "fit_cox_stratified",
    "fit_cox_time_varying",
    "robust_covariance",
    "score_residuals",
    "separation_note",
    "wald_term",
]

#: lifelines Newton-Raphson options that bring the Cox estimate within ~1e-11 of R coxph.
#: lifelines stops when the Newton decrement falls below ``precision`` or the relative change
#: of the log-likelihood below ``r_precision``; with its damped steps either can stop ~1e-7 from
#: the optimum (an HR 1e-7 off). A tiny ``precision`` and ``r_precision = 0`` (that test never
#: passes) let it iterate until the Newton step itself is at rounding level.
COX_FIT_OPTIONS: dict[str, float] = {"precision": 1e-20, "r_precision": 0.0, "step_size": 0.95, "max_steps": 500}

#: What a failed fit raises (the warnings are raised as errors during the fit).
FIT_FAILURES: tuple[type[BaseException], ...] = (
    ConvergenceError,
    ConvergenceWarning,
    SMConvergenceWarning,
    HessianInversionWarning,
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
        warnings.simplefilter("error", SMConvergenceWarning)
        warnings.simplefilter("error", HessianInversionWarning)
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
        ignores the weighting: use `robust_covariance`.
    fit_options : dict, optional
        lifelines Newton-Raphson options; default `COX_FIT_OPTIONS`.

    Returns
    -------
    fitter : CoxPHFitter or None
        With ``fit_data_`` (`CoxData`): the rows fitted.
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
    cph.fit_data_ = CoxData(df, duration_col, event_col, tuple(cph.params_.index), weights_col=weights_col)
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
    ctv.fit_data_ = CoxData(df, stop_col, event_col, tuple(ctv.params_.index), start_col=start_col)
    return ctv, None


@dataclass
class StratifiedCoxFit:
    """A stratified Cox model with the attributes the analyses read from lifelines' fitters.

    Attributes
    ----------
    params_, standard_errors_ : Series
        Coefficients and model-based standard errors, by covariate.
    variance_matrix_ : DataFrame
        Model-based covariance of the coefficients.
    log_likelihood_ : float
        Partial log-likelihood at the estimate.
    summary : DataFrame
        ``coef``, ``se(coef)``, ``z``, ``p`` by covariate.
    fit_data_ : CoxData
        The rows fitted (with ``strata_col``).
    """

    params_: pd.Series
    standard_errors_: pd.Series
    variance_matrix_: pd.DataFrame
    log_likelihood_: float
    summary: pd.DataFrame
    fit_data_: CoxData


def contributing_strata(durations: np.ndarray, events: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Rows whose stratum has an event with at least two of its rows at risk (right-censored data).

    The other strata add exactly nothing to a stratified partial likelihood, its score and its
    information (a risk set of one gives ``x - xbar = 0``), so a fit may leave them out; for
    1:1 matched pairs that is every pair whose first time is a censoring.
    """
    T = np.asarray(durations, dtype=float)
    E = np.asarray(events, dtype=float) == 1
    s = np.asarray(strata, dtype=np.int64)
    times = np.unique(T)
    m = times.size + 1
    key = s * m + np.searchsorted(times, T)
    sorted_keys = np.sort(key)
    at_risk = np.searchsorted(sorted_keys, (s[E] + 1) * m, side="left") - np.searchsorted(
        sorted_keys, key[E], side="left"
    )
    informative = np.zeros(int(s.max()) + 1 if s.size else 0, dtype=bool)
    informative[s[E][at_risk >= 2]] = True
    return informative[s]


def fit_cox_stratified(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    strata_col: str,
) -> tuple[StratifiedCoxFit | None, str | None]:
    """Fit a stratified Cox model (R ``coxph(Surv(t, e) ~ . + strata(s))``, Efron ties), or say why not.

    Every column other than the duration, event and strata columns is a covariate. statsmodels
    ``PHReg(strata=..., ties="efron")`` (Newton-Raphson to 1e-12) is used rather than lifelines'
    ``CoxPHFitter(strata=...)``, which loops over the strata in Python at every step (50 s for
    2,000 matched pairs against 2 s), and only on the strata that carry information
    (`contributing_strata`; the estimate is the same). ``fit_data_`` holds every row given.
    Returns ``(fit, None)`` or ``(None, reason)`` like `fit_cox`.
    """
    if df[event_col].sum() == 0:
        return None, NO_EVENTS
    cols = [c for c in df.columns if c not in (duration_col, event_col, strata_col)]
    strata = pd.factorize(df[strata_col], sort=False)[0]
    keep = contributing_strata(df[duration_col].to_numpy(dtype=float), df[event_col].to_numpy(dtype=float), strata)
    if not keep.any():
        return (
            None,
            "no stratum has an event with two or more patients at risk: the stratified model has no information",
        )
    fitted = df.loc[keep]
    try:
        with _failures_as_errors():
            res = PHReg(
                fitted[duration_col].to_numpy(dtype=float),
                fitted[cols].to_numpy(dtype=float),
                status=fitted[event_col].to_numpy(dtype=float),
                strata=strata[keep],
                ties="efron",
            ).fit(method="newton", maxiter=200, tol=1e-12, disp=False)
        params = np.asarray(res.params, dtype=float)
        cov = np.asarray(res.cov_params(), dtype=float)
        if not (np.all(np.isfinite(params)) and np.all(np.isfinite(cov))):
            raise ValueError("non-finite estimate")
    except FIT_FAILURES as exc:
        return None, _not_converged("the stratified Cox model", exc)
    se = np.sqrt(np.diag(cov))
    z = params / se
    summary = pd.DataFrame(
        {"coef": params, "se(coef)": se, "z": z, "p": 2 * norm.sf(np.abs(z))}, index=pd.Index(cols, name="covariate")
    )
    fit = StratifiedCoxFit(
        params_=pd.Series(params, index=cols, name="coef"),
        standard_errors_=pd.Series(se, index=cols, name="se"),
        variance_matrix_=pd.DataFrame(cov, index=cols, columns=cols),
        log_likelihood_=float(res.llf),
        summary=summary,
        fit_data_=CoxData(df, duration_col, event_col, tuple(cols), strata_col=strata_col),
    )
    return fit, None


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
    if not math.isfinite(beta) or beta > _MAX_LOG_HR or (math.isfinite(se) and beta + z * se > _MAX_LOG_HR):
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


# ---------------------------------------------------------------------------------------------
# What a model was fitted on (for diagnostics), score residuals and the robust variance
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoxData:
    """The rows a Cox model was fitted on and how to read them (a fitter's ``fit_data_``).

    `fit_cox`, `fit_cox_time_varying` and `fit_cox_stratified` attach it to the model they
    return, so that diagnostics (the proportional-hazards test of
    `rait_registry.analysis.proportional_hazards`, robust variances) work from the model alone.

    Attributes
    ----------
    frame : DataFrame
        The rows as fitted (not copied: do not modify).
    duration_col, event_col : str
        Time (the interval's end for counting-process rows) and event (0/1).
    covariates : tuple of str
        The model's columns, in the order of its coefficients.
    start_col, weights_col, strata_col : str or None
        Interval start (counting-process rows), case weights, strata.
    """

    frame: pd.DataFrame
    duration_col: str
    event_col: str
    covariates: tuple[str, ...]
    start_col: str | None = None
    weights_col: str | None = None
    strata_col: str | None = None


def _suffix_sums(values: np.ndarray) -> np.ndarray:
    """Sums from each row to the end (rows along axis 0), without subtraction."""
    return np.cumsum(values[::-1], axis=0)[::-1]


def score_residuals(
    X: np.ndarray,
    durations: np.ndarray,
    events: np.ndarray,
    weights: np.ndarray | None,
    params: np.ndarray,
    entries: np.ndarray | None = None,
) -> np.ndarray:
    """Weighted score residuals of a Cox model with Efron ties (R ``coxph``), right-censored or
    counting-process rows.

    Equal to R ``residuals(fit, type = "score", weighted = TRUE)`` for
    ``coxph(Surv(durations, events) ~ X, weights = weights, ties = "efron")`` (no strata), and with
    ``entries`` for ``coxph(Surv(entries, durations, events) ~ X, ...)``: a row is at risk at the
    event times in (entry, duration].
    Written here because neither library provides them: lifelines' ``CoxPHFitter._compute_score``
    takes the risk set in row order (a patient censored at an event time can drop out of that
    event's risk set, and tied events are not Efron-weighted), and statsmodels'
    ``PHReg.score_residuals`` is Breslow-only without case weights.

    For each event time ``t`` with ``d`` events (set ``D``), risk set ``R = {T >= t}``, risk
    scores ``r = exp(x beta)``, ``S0 = sum_R w r``, ``S1 = sum_R w r x`` (``S0d``, ``S1d`` over
    ``D``) and ``wbar = sum_D w / d``, Efron's k-th step (``f = k / d``, k = 0..d-1) has mean
    ``xbar_k = (S1 - f S1d) / (S0 - f S0d)`` and hazard ``h_k = wbar / (S0 - f S0d)``; each
    patient's residual gains ``(x - xbar_k) (1{D} / d - r (1 - f 1{D}) h_k)`` (Therneau &
    Grambsch 2000, sections 3.3 and 7.2), times ``w``. The sums over event times are cumulated
    once (sorting, suffix and prefix sums): O(n log n), not O(n x event times).

    Parameters
    ----------
    X : (n, p) array of covariates.
    durations, events : (n,) arrays (events 0/1).
    weights : (n,) array of case weights (> 0), or None for 1.
    params : (p,) coefficients at which to evaluate (the fitted ones).
    entries : (n,) array of interval starts (left truncation), or None for 0.

    Returns
    -------
    (n, p) array of weighted score residuals (they sum to the score, 0 at the MLE).
    """
    T = np.asarray(durations, dtype=float)
    n = T.size
    X = np.asarray(X, dtype=float).reshape(n, -1)
    E = np.asarray(events).astype(bool)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    U = np.zeros_like(X)
    if not E.any():
        return U
    X = X - X.mean(axis=0)  # residuals are invariant to centring; it helps the sums
    eta = X @ np.asarray(params, dtype=float)
    r = np.exp(eta - eta.max())  # a common factor cancels in r h
    wr = w * r

    order = np.argsort(T, kind="stable")
    Ts = T[order]
    s0_all = _suffix_sums(wr[order])
    s1_all = _suffix_sums(wr[order, None] * X[order])
    times, inverse = np.unique(T[E], return_inverse=True)
    at = np.searchsorted(Ts, times, side="left")  # first row at risk at each event time
    s0, s1 = s0_all[at], s1_all[at]
    if entries is not None:  # not yet at risk: rows entering at or after t
        S = np.asarray(entries, dtype=float)
        order_in = np.argsort(S, kind="stable")
        later = np.searchsorted(S[order_in], times, side="left")
        s0_in = np.concatenate([_suffix_sums(wr[order_in]), [0.0]])
        s1_in = np.concatenate([_suffix_sums(wr[order_in, None] * X[order_in]), np.zeros((1, X.shape[1]))])
        s0, s1 = s0 - s0_in[later], s1 - s1_in[later]
    d = np.bincount(inverse).astype(float)
    s0d = np.bincount(inverse, weights=wr[E])
    s1d = np.stack([np.bincount(inverse, weights=wr[E] * X[E, j]) for j in range(X.shape[1])], axis=1)
    wbar = np.bincount(inverse, weights=w[E]) / d

    # Efron steps: one per event, k = 0..d-1 within its time
    step_time = np.repeat(np.arange(times.size), d.astype(np.int64))
    first = np.concatenate([[0], np.cumsum(d.astype(np.int64))[:-1]])
    f = (np.arange(step_time.size) - first[step_time]) / d[step_time]
    den = s0[step_time] - f * s0d[step_time]
    xbar = (s1[step_time] - f[:, None] * s1d[step_time]) / den[:, None]
    h = wbar[step_time] / den

    def per_time(v: np.ndarray) -> np.ndarray:
        if v.ndim == 1:
            return np.bincount(step_time, weights=v, minlength=times.size)
        return np.stack([np.bincount(step_time, weights=v[:, j], minlength=times.size) for j in range(v.shape[1])], 1)

    H, G = per_time(h), per_time(h[:, None] * xbar)
    H1, G1 = per_time((1 - f) * h), per_time(((1 - f) * h)[:, None] * xbar)
    A = per_time(xbar) / d[:, None]

    # at risk at every event time <= T_i (and after the entry): cumulated hazards over them
    upto = np.searchsorted(times, T, side="right")  # number of event times <= T_i
    cum_h = np.concatenate([[0.0], np.cumsum(H)])
    cum_g = np.concatenate([np.zeros((1, X.shape[1])), np.cumsum(G, axis=0)])
    CH, CG = cum_h[upto], cum_g[upto]
    if entries is not None:
        before = np.searchsorted(times, S, side="right")  # event times <= the entry
        CH, CG = CH - cum_h[before], CG - cum_g[before]
    U = -r[:, None] * (X * CH[:, None] - CG)
    j = inverse  # the event time of each event
    xe, re = X[E], r[E]
    U[E] += (xe - A[j]) - re[:, None] * (xe * (H1 - H)[j][:, None] - (G1 - G)[j])
    return U * w[:, None]


def robust_covariance(
    fitter: Any,
    cluster: Sequence[Any] | np.ndarray | None = None,
    data: CoxData | None = None,
) -> pd.DataFrame:
    """Robust (sandwich) covariance of a Cox model, as R ``coxph(robust = TRUE)``.

    ``D' D`` with ``D`` the dfbeta residuals ``U V``: the weighted `score_residuals` ``U``
    times the model-based covariance ``V`` (the inverse weighted information). With
    ``cluster`` the rows of ``D`` are first summed within each cluster, as R
    ``coxph(..., cluster = id)`` (Lin & Wei 1989; Austin 2014 for matched pairs); without, one
    cluster per row.

    Parameters
    ----------
    fitter : fitted model (``params_``, ``variance_matrix_``), e.g. of `fit_cox`; counting-process
        rows when its data has a ``start_col``
    cluster : array of labels, one per row of the fitted frame, optional
    data : CoxData, optional
        The rows fitted; default the fitter's ``fit_data_``.

    Returns
    -------
    DataFrame, the covariance of the coefficients (index and columns the covariates).
    """
    data = fitter.fit_data_ if data is None else data
    cols = list(data.covariates)
    frame = data.frame
    U = score_residuals(
        frame[cols].to_numpy(dtype=float),
        frame[data.duration_col].to_numpy(dtype=float),
        frame[data.event_col].to_numpy(dtype=float),
        None if data.weights_col is None else frame[data.weights_col].to_numpy(dtype=float),
        fitter.params_[cols].to_numpy(dtype=float),
        None if data.start_col is None else frame[data.start_col].to_numpy(dtype=float),
    )
    D = U @ np.asarray(fitter.variance_matrix_, dtype=float)
    if cluster is not None:
        codes = pd.factorize(np.asarray(cluster), sort=False)[0]
        if codes.size != D.shape[0] or (codes < 0).any():
            raise ValueError("cluster must give one non-missing label per fitted row")
        D = np.stack([np.bincount(codes, weights=D[:, j]) for j in range(D.shape[1])], axis=1)
    return pd.DataFrame(D.T @ D, index=cols, columns=cols)
