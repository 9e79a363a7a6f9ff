"""Data-driven cut-points: maximally selected log-rank statistics (docs/specification.md section 4, ``cutpoints``).

The study took its age and tumour-size cut-offs from X-tile. The project reports instead the
maximally selected log-rank statistic with the Lausen-Schumacher corrected p-value, exactly as
R's maxstat computes

.. code-block:: r

    maxstat.test(Surv(pfs_months, pfs_event) ~ x, data = cohort,
                 smethod = "LogRank", pmethod = "Lau94", minprop = 0.1, maxprop = 0.9)

Neither scipy, statsmodels nor lifelines offers it (scanning cut-points with a two-sample
log-rank test would be a different statistic and would have no multiplicity correction), so it
is written here. The algorithm:

1. **Log-rank scores** (exactRankTests ``cscores(type = "LogRank")``), from the survival data
   only: with the times ranked so that ties get the *largest* rank ``r_i`` and ``N`` patients,
   ``a_i = delta_i - sum_{j: r_j <= r_i} delta_j / (N - r_j + 1)``.
2. **Standardised statistics over cut-points.** Patients sorted by x (stable); a candidate cut
   after the m-th patient exists where x changes, ``m = #{x < x_(k)}`` for each distinct value,
   kept when ``max(1, floor(N minprop)) <= m <= floor(N maxprop)`` (cuts between the 10th and
   90th percentiles). With ``S = sum a``, the permutation (conditional) mean and variance of the
   sum of scores in the lower group are ``E_m = m S / N`` and
   ``V_m = m (N - m) / (N^2 (N - 1)) (N sum a^2 - S^2)``, and
   ``T_m = |sum_{i <= m} a_(i) - E_m| / sqrt(V_m)``. The statistic is ``M = max_m T_m``; the
   estimated cut-point is the largest x of the lower group at the first maximising m, so the
   groups are ``x <= cutpoint`` and ``x > cutpoint``.
3. **Lau94 p-value** (Lausen, Sauerbrei & Schumacher 1994, improved Bonferroni bound):
   ``p = 1 - (Phi(M) - Phi(-M)) + sum_k (1/pi) exp(-M^2/2) (t_k - (M^2/4 - 1) t_k^3 / 6)``,
   ``t_k = sqrt(1 - m_k (N - m_{k+1}) / ((N - m_k) m_{k+1}))`` over consecutive candidate cuts.
   It is an upper bound and can exceed 1; like R it is **not** capped.

Patients with a missing x are left out (R's default ``na.omit``), so N counts the others.

References
----------
Lausen B, Schumacher M (1992). Maximally selected rank statistics. *Biometrics* 48:73-85.
Lausen B, Sauerbrei W, Schumacher M (1994). Classification and regression trees (CART) used
for the exploration of prognostic factors measured on different scales. In: Dirschedl P,
Ostermann R (eds), *Computational Statistics*, Physica-Verlag, 483-496.
Hothorn T, Lausen B (2003). On the exact distribution of maximally selected rank statistics.
*Comput Stat Data Anal* 43:121-137. (R package maxstat.)
Camp RL, Dolled-Filhart M, Rimm DL (2004). X-tile: a new bio-informatics tool for biomarker
assessment and outcome-based cut-point optimization. *Clin Cancer Res* 10:7252-7259.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from rait_registry.exceptions import AnalysisError, InsufficientDataError

from .jsonutil import jsonable

#: Cohort columns scanned for cut-points by default.
DEFAULT_VARIABLES: tuple[str, ...] = ("age_at_diagnosis_years", "max_tumor_size_cm")


def logrank_scores(durations: Any, events: Any) -> np.ndarray:
    """Log-rank scores of survival data, as exactRankTests ``cscores(Surv(t, d), "LogRank")``.

    Parameters
    ----------
    durations : array-like of float
    events : array-like of {0, 1}

    Returns
    -------
    ndarray
        ``a_i = delta_i - sum_{j: r_j <= r_i} delta_j / (N - r_j + 1)`` with ``r`` the ranks of
        the times, ties given the largest rank (so tied event times share one cumulative sum).
    """
    t = np.asarray(durations, dtype=float)
    d = np.asarray(events, dtype=float)
    n = t.size
    if n == 0:
        return np.empty(0)
    rt = rankdata(t, method="max").astype(np.int64)
    fact = d / (n - rt + 1)
    ot = np.argsort(t, kind="stable")
    csum = np.cumsum(fact[ot])
    return d - csum[rt - 1]


def p_lausen94(b: float, n: int, m: np.ndarray) -> float:
    """Lausen-Sauerbrei-Schumacher (1994) p-value bound of a maximally selected statistic.

    Parameters
    ----------
    b : float
        The observed maximum ``M``.
    n : int
        Number of observations.
    m : ndarray of int
        The candidate cuts (sizes of the lower group), increasing.

    Returns
    -------
    float
        ``1 - (Phi(b) - Phi(-b)) + D``; may exceed 1 (not capped, as in R maxstat).
    """
    m = np.asarray(m, dtype=float)
    if m.size <= 1:
        d = 0.0
    else:
        m1, m2 = m[:-1], m[1:]
        t = np.sqrt(1.0 - m1 * (n - m2) / ((n - m1) * m2))
        d = float(np.sum(1.0 / math.pi * math.exp(-(b**2) / 2.0) * (t - (b**2 / 4.0 - 1.0) * t**3 / 6.0)))
    return float(1.0 - (norm.cdf(b) - norm.cdf(-b)) + d)


class MaxstatCutpoint:
    """Maximally selected log-rank statistic over the cut-points of one covariate.

    Parameters
    ----------
    minprop, maxprop : float, default 0.1, 0.9
        Cut-points leave at least ``floor(N minprop)`` patients below and at most
        ``floor(N maxprop)`` (R maxstat's defaults).

    Attributes
    ----------
    statistic_ : float
        The maximum standardised statistic ``M``.
    cutpoint_ : float
        Estimated cut-point: the groups are ``x <= cutpoint_`` and ``x > cutpoint_``.
    p_value_ : float
        Lau94 p-value (may exceed 1).
    n_ : int
        Patients used (non-missing x).
    cuts_ : DataFrame
        Every candidate: ``cutpoint``, ``n_below`` (m), ``statistic``.
    scores_ : ndarray
        Log-rank scores in the input order (missing x removed).

    Examples
    --------
    >>> from rait_registry.analysis import MaxstatCutpoint
    >>> est = MaxstatCutpoint().fit(cohort["pfs_months"], cohort["pfs_event"], cohort["age_at_diagnosis_years"])
    >>> round(est.cutpoint_, 2), round(est.statistic_, 3), round(est.p_value_, 3), est.n_
    (44.56, 3.434, 0.018, 117)
    >>> est.summary.sort_values("statistic").tail(1).round(3)
        cutpoint  n_below  statistic
    ...   44.564      ...      3.434
    """

    method_name = "maxstat LogRank, Lau94"

    def __init__(self, minprop: float = 0.1, maxprop: float = 0.9) -> None:
        if not (0 <= minprop < maxprop <= 1):
            raise AnalysisError(f"need 0 <= minprop < maxprop <= 1, got {minprop}, {maxprop}")
        self.minprop = minprop
        self.maxprop = maxprop

    def fit(self, durations: Any, events: Any, x: Any) -> MaxstatCutpoint:
        """Scan the cut-points of ``x``.

        Raises
        ------
        InsufficientDataError
            No candidate cut-point between ``minprop`` and ``maxprop`` (too few patients or
            distinct values), or a score variance of zero (no events).
        """
        t = np.asarray(durations, dtype=float)
        d = np.asarray(events, dtype=float)
        xv = np.asarray(x, dtype=float)
        if not (t.shape == d.shape == xv.shape):
            raise AnalysisError("durations, events and x must have equal length")
        keep = ~(np.isnan(xv) | np.isnan(t) | np.isnan(d))
        t, d, xv = t[keep], d[keep], xv[keep]
        n = int(t.size)
        self.n_ = n
        if n < 2:
            raise InsufficientDataError(f"{n} patient(s) with a value: a cut-point scan needs more")
        scores = logrank_scores(t, d)
        self.scores_ = scores
        order = np.argsort(xv, kind="stable")
        y = scores[order]
        xs = xv[order]
        first_of_value = np.concatenate([[True], xs[1:] != xs[:-1]])
        m = np.flatnonzero(first_of_value)  # = number of x strictly below each distinct value
        if self.minprop == 0 and self.maxprop == 1:
            m = m[1:-1] if m.size > 1 else m[:0]
        else:
            lo = max(1, math.floor(n * self.minprop))
            hi = math.floor(n * self.maxprop)
            m = m[(m >= lo) & (m <= hi)]
        if m.size < 1:
            raise InsufficientDataError(
                f"no cut-point leaves between {self.minprop:g} and {self.maxprop:g} of the {n} patients "
                "on each side (too few distinct values)"
            )
        ss = float(y.sum())
        e = m / n * ss
        v = m * (n - m) / (n**2 * (n - 1)) * (n * float(np.sum(y**2)) - ss**2)
        if not np.all(v > 0):
            raise InsufficientDataError("the log-rank scores do not vary (no events): no cut-point statistic")
        csum = np.cumsum(y)
        stats = np.abs((csum[m - 1] - e) / np.sqrt(v))
        best = int(np.argmax(stats))
        self.statistic_ = float(stats[best])
        self.cutpoint_ = float(xs[m[best] - 1])
        self.m_ = m
        self.p_value_ = p_lausen94(self.statistic_, n, m)
        self.cuts_ = pd.DataFrame({"cutpoint": xs[m - 1], "n_below": m, "statistic": stats})
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Every candidate cut-point with its standardised statistic (`cuts_`)."""
        if not hasattr(self, "cuts_"):
            raise AnalysisError("call MaxstatCutpoint().fit(durations, events, x) before reading its results")
        return self.cuts_

    def to_dict(self, variable: str) -> dict[str, Any]:
        """A contract ``cutpoints`` row: ``{variable, cutpoint, statistic, p_value, method, ...}``."""
        return {
            "variable": variable,
            "cutpoint": self.cutpoint_,
            "statistic": self.statistic_,
            "p_value": self.p_value_,
            "method": self.method_name,
            "groups": "x <= cutpoint vs x > cutpoint",
            "minprop": self.minprop,
            "maxprop": self.maxprop,
            "n": self.n_,
        }


class CutpointScan:
    """Maximally selected log-rank cut-points of several covariates (docs/specification.md section 4 ``cutpoints``).

    Fits `MaxstatCutpoint` per variable. A variable that cannot be scanned (too few patients or
    distinct values, no events) gives a row with null ``cutpoint``, ``statistic`` and
    ``p_value`` and a ``reason``.

    Parameters
    ----------
    variables : sequence of str
        Cohort columns to scan (default: age at diagnosis, maximum tumour size).
    minprop, maxprop : float
        See `MaxstatCutpoint`.

    Attributes
    ----------
    rows_ : list of dict
        One contract row per variable.
    estimators_ : dict of str -> MaxstatCutpoint or None
        The fitted scans (None where the scan was not possible).

    Examples
    --------
    >>> from rait_registry.analysis import CutpointScan
    >>> scan = CutpointScan().fit(cohort, duration_col="pfs_months", event_col="pfs_event")
    >>> scan.summary[["cutpoint", "statistic", "p_value"]].round(3)
                            cutpoint  statistic  p_value
    variable
    age_at_diagnosis_years    44.564      3.434    0.018
    max_tumor_size_cm          3.800      2.020    0.525
    """

    def __init__(
        self, variables: Sequence[str] = DEFAULT_VARIABLES, minprop: float = 0.1, maxprop: float = 0.9
    ) -> None:
        self.variables = tuple(variables)
        self.minprop = minprop
        self.maxprop = maxprop

    def fit(self, cohort: pd.DataFrame, duration_col: str = "pfs_months", event_col: str = "pfs_event") -> CutpointScan:
        """Scan every variable; returns self.

        Raises
        ------
        AnalysisError
            A column is missing.
        """
        for col in (duration_col, event_col, *self.variables):
            if col not in cohort.columns:
                raise AnalysisError(f"cut-point scan: the cohort lacks column {col!r}")
        self.rows_: list[dict[str, Any]] = []
        self.estimators_: dict[str, MaxstatCutpoint | None] = {}
        for var in self.variables:
            est = MaxstatCutpoint(minprop=self.minprop, maxprop=self.maxprop)
            try:
                est.fit(
                    cohort[duration_col].to_numpy(dtype=float),
                    cohort[event_col].to_numpy(dtype=float),
                    pd.to_numeric(cohort[var]).to_numpy(dtype=float),
                )
            except InsufficientDataError as exc:
                self.estimators_[var] = None
                self.rows_.append(
                    {
                        "variable": var,
                        "cutpoint": None,
                        "statistic": None,
                        "p_value": None,
                        "method": MaxstatCutpoint.method_name,
                        "minprop": self.minprop,
                        "maxprop": self.maxprop,
                        "reason": str(exc),
                    }
                )
                continue
            self.estimators_[var] = est
            self.rows_.append(est.to_dict(var))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "rows_"):
            raise AnalysisError("call CutpointScan().fit(cohort) before reading its results")

    @property
    def summary(self) -> pd.DataFrame:
        """One row per variable (index ``variable``)."""
        self._check_fitted()
        return pd.DataFrame(self.rows_).set_index("variable")

    def to_dict(self) -> list[dict[str, Any]]:
        """The contract ``cutpoints`` rows (a list of JSON-ready dicts)."""
        self._check_fitted()
        return jsonable(self.rows_)
