"""Table 3: logistic regression of progression on patient characteristics, with Firth fallback.

:class:`LogisticAnalysis` fits, for the outcome ``pfs_event`` (progression or death after
the first RAIT, 1/0), one univariable model per characteristic and then a multivariable
model of the characteristics with a univariable p-value below ``threshold`` (0.1 as in the
paper; a categorical characteristic enters when any of its levels does; of the three
codings of RAIT exposure -- group, number of cycles, cumulative activity -- only the first
that passes enters, since they measure the same thing and are collinear). Estimates are
maximum likelihood (statsmodels ``GLM``, binomial/logit, IRLS iterated to 1e-12 on the
coefficients), odds ratios with Wald 95% CIs and Wald p-values, as R ``glm`` with
``confint.default`` and as SPSS, which the paper used.

Separation and sparse data are checked for every model and reported in ``warnings_``:

* quasi-complete separation -- a level of a categorical term (reference included) whose
  patients all progressed or none did, a continuous term that splits the outcome, IRLS
  not converging, or an estimate beyond ``max_abs_coef`` / a standard error beyond
  ``max_se`` on the log-odds scale. The maximum likelihood OR does not exist; with
  ``firth="auto"`` (default) the model is refitted with :class:`FirthLogisticRegression`
  and its rows say ``method = "firth"``.
* fewer than ``min_epv`` (10) events per variable: ``min(events, non-events)`` divided by
  the number of estimated coefficients (intercept excluded).

Reference levels are the paper's (Table 3): age < cut (``< 45 years``), sex ``M`` (Male),
histology ``PTC``, T ``T1+T2``, N ``N0``, local disease ``neither``, metastasis
``metachronous`` (so the paper's OR 0.741 for synchronous metastases is directly comparable),
group ``o-RAIT`` (ORs compare m-RAIT to o-RAIT). Continuous
terms are per unit: tumour size per cm, RAIT cycles per cycle, cumulative activity per
GBq, and, in the ``sensitivity`` model, age per year. Override with ``reference_levels``.
A missing value drops the patient from the models that use that characteristic
(complete cases), and the number used is given in ``n_obs``. A missing-data code (local disease
``unknown``, `rait_registry.analysis.missing`) is a missing value, never a level or a reference;
``warnings_`` says how many patients it drops.

References
----------
Firth D. Bias reduction of maximum likelihood estimates. *Biometrika* 1993;80:27-38.
Heinze G, Schemper M. A solution to the problem of separation in logistic regression.
*Stat Med* 2002;21:2409-2419.
Heinze G, Ploner M, Jiricka L, Steiner G. logistf: Firth's bias-reduced logistic
regression (R package), the reference for the profile penalised-likelihood intervals
and penalised likelihood-ratio tests implemented here.
Peduzzi P, et al. A simulation study of the number of events per variable in logistic
regression analysis. *J Clin Epidemiol* 1996;49:1373-1379.
Albert A, Anderson JA. On the existence of maximum likelihood estimates in logistic
regression models. *Biometrika* 1984;71:1-10.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from rait_registry.contract import O_RAIT, RAIT_GROUPS
from rait_registry.exceptions import AnalysisError, InsufficientDataError, StatisticsWarning

from .config import DEFAULTS
from .missing import as_missing, dropped_message, missing_code_counts
from .tables import records

__all__ = [
    "DEFAULT_TERMS",
    "Design",
    "FirthLogisticRegression",
    "LogisticAnalysis",
    "Term",
    "configure_term",
    "design_matrix",
    "select_terms",
]

RESULT_COLUMNS = [
    "variable",
    "term",
    "level",
    "reference",
    "or",
    "ci_low",
    "ci_high",
    "p_value",
    "coef",
    "se",
    "method",
    "n_obs",
    "n_events",
]


# =========================================================================== Firth


class FirthLogisticRegression:
    """Firth's penalised-likelihood logistic regression (the method of R ``logistf``).

    Maximises ``l*(b) = l(b) + 0.5 log det I(b)``, with ``I(b) = X' W X`` the Fisher
    information; the estimates are finite even under (quasi-)complete separation.
    Written here because neither statsmodels, scipy nor lifelines provides it and no
    maintained Python package does.

    Inference follows ``logistf``: standard errors from ``I(b)^{-1}``; p-values from the
    penalised likelihood-ratio test ``2 [l*(b) - l*(b | b_j = 0)]`` against chi-square(1),
    the restricted fit keeping the penalty of the full design; confidence intervals by
    profile penalised likelihood (``ci_method="profile"``, default: the b_j where the
    restricted statistic equals the chi-square(1) quantile) or Wald (``"wald"``).

    Parameters
    ----------
    alpha : float
        1 - confidence level of the intervals.
    ci_method : {"profile", "wald"}
    fit_intercept : bool
        Prepend a column of ones named ``Intercept``.
    max_iter : int
        Newton iterations per fit.
    tol : float
        Convergence: largest absolute Newton step below ``tol`` with every score component
        below 1e-8 (or the score below 1e-8 for four iterations: its numerical floor when
        fitted probabilities are within rounding of 0 or 1).
    max_step : float
        Largest change of any coefficient in one step (logistf's ``maxstep``, 5).

    Attributes
    ----------
    params_, bse_, pvalues_ : Series
    confidence_intervals_ : DataFrame with columns ``lower``, ``upper``
    loglik_ : float
        Penalised log-likelihood at the estimate.
    n_iter_ : int
    converged_ : bool

    Examples
    --------
    >>> from rait_registry.analysis import FirthLogisticRegression
    >>> X = cohort[["max_tumor_size_cm"]].fillna(cohort["max_tumor_size_cm"].median())
    >>> firth = FirthLogisticRegression().fit(X, cohort["pfs_event"])
    >>> firth.summary.loc["max_tumor_size_cm", ["or", "or_lower", "or_upper", "p_value"]].round(3).tolist()
    [1.26, 0.969, 1.648, 0.083]
    """

    def __init__(
        self,
        alpha: float = DEFAULTS.alpha,
        ci_method: str = "profile",
        fit_intercept: bool = True,
        max_iter: int = 200,
        tol: float = 1e-10,
        max_step: float = 5.0,
    ):
        if ci_method not in ("profile", "wald"):
            raise ValueError(f"ci_method must be 'profile' or 'wald', not {ci_method!r}")
        self.alpha = alpha
        self.ci_method = ci_method
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.max_step = max_step

    # ------------------------------------------------------------------ public
    def fit(self, X: pd.DataFrame | np.ndarray, y: Sequence[float]) -> FirthLogisticRegression:
        """Fit the model; ``X`` without intercept column when ``fit_intercept`` is true."""
        Xd = pd.DataFrame(X).copy()
        Xd.columns = [str(c) for c in Xd.columns]
        if self.fit_intercept:
            Xd.insert(0, "Intercept", 1.0)
        self._X = Xd.to_numpy(dtype=float)
        self._y = np.asarray(y, dtype=float)
        names = list(Xd.columns)
        if self._X.shape[0] != len(self._y):
            raise AnalysisError(f"X has {self._X.shape[0]} rows but y has {len(self._y)}.")
        if not np.isin(self._y, (0.0, 1.0)).all():
            raise AnalysisError("The outcome of a logistic regression must be coded 0/1 without missing values.")
        if np.linalg.matrix_rank(self._X) < self._X.shape[1]:
            raise AnalysisError("The design matrix is rank-deficient (a term is constant or collinear); drop it.")
        p = self._X.shape[1]
        beta, ll, it, conv = self._maximise(np.zeros(p), np.ones(p, dtype=bool))
        self.n_iter_, self.converged_ = it, conv
        if not conv:
            warnings.warn(
                "Firth logistic regression did not converge; raise max_iter.", StatisticsWarning, stacklevel=2
            )
        info = self._info(beta)
        cov = np.linalg.inv(info)
        self.params_ = pd.Series(beta, index=names, name="coef")
        self.bse_ = pd.Series(np.sqrt(np.diag(cov)), index=names, name="se")
        self.loglik_ = ll
        self._beta_hat = beta
        pvals, lower, upper = [], [], []
        q = stats.chi2.ppf(1 - self.alpha, 1)
        for j in range(p):
            lr = 2.0 * (ll - self._restricted_loglik(j, 0.0))
            pvals.append(float(stats.chi2.sf(max(lr, 0.0), 1)))
            if self.ci_method == "wald":
                z = stats.norm.ppf(1 - self.alpha / 2)
                lower.append(beta[j] - z * self.bse_.iloc[j])
                upper.append(beta[j] + z * self.bse_.iloc[j])
            else:
                lower.append(self._profile_limit(j, -1, q))
                upper.append(self._profile_limit(j, +1, q))
        self.pvalues_ = pd.Series(pvals, index=names, name="p_value")
        self.confidence_intervals_ = pd.DataFrame({"lower": lower, "upper": upper}, index=names)
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Coefficients, SEs, CIs, odds ratios and penalised-LR p-values, one row per term."""
        ci = self.confidence_intervals_
        return pd.DataFrame(
            {
                "coef": self.params_,
                "se": self.bse_,
                "coef_lower": ci["lower"],
                "coef_upper": ci["upper"],
                "or": np.exp(self.params_),
                "or_lower": np.exp(ci["lower"]),
                "or_upper": np.exp(ci["upper"]),
                "p_value": self.pvalues_,
            }
        )

    # ------------------------------------------------------------------ internals
    def _pen_loglik(self, beta: np.ndarray) -> float:
        eta = self._X @ beta
        ll = float(np.sum(self._y * eta - np.logaddexp(0.0, eta)))
        sign, logdet = np.linalg.slogdet(self._info(beta))
        return ll + 0.5 * logdet if sign > 0 else -np.inf

    def _info(self, beta: np.ndarray) -> np.ndarray:
        pi = _expit(self._X @ beta)
        w = pi * (1.0 - pi)
        return (self._X * w[:, None]).T @ self._X

    def _score(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Firth's modified score (the gradient of l*) and the Fisher information."""
        pi = _expit(self._X @ beta)
        w = pi * (1.0 - pi)
        info = (self._X * w[:, None]).T @ self._X
        xs = self._X * np.sqrt(w)[:, None]
        h = np.einsum("ij,ij->i", xs @ np.linalg.inv(info), xs)  # hat-matrix diagonal
        u = self._X.T @ (self._y - pi + h * (0.5 - pi))
        return u, info

    def _maximise(self, beta: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, float, int, bool]:
        """Newton-Raphson on l* over the ``free`` coefficients, the others held fixed."""
        beta = beta.copy()
        ll = self._pen_loglik(beta)
        small_score = 0  # iterations with |score| < 1e-8: at the numerical floor after a few
        for it in range(1, self.max_iter + 1):
            u, info = self._score(beta)
            step = np.zeros_like(beta)
            step[free] = np.linalg.solve(info[np.ix_(free, free)], u[free])
            biggest = np.max(np.abs(step)) if free.any() else 0.0
            if biggest > self.max_step:
                step *= self.max_step / biggest
            t = 1.0
            for _ in range(60):  # step halving keeps l* from decreasing
                cand = beta + t * step
                ll_new = self._pen_loglik(cand)
                if ll_new >= ll - 1e-12 * max(1.0, abs(ll)):
                    break
                t /= 2.0
            beta, ll = cand, ll_new
            score_max = np.max(np.abs(u[free]), initial=0.0)
            small_score = small_score + 1 if score_max < 1e-8 else 0
            if (biggest * t < self.tol and score_max < 1e-8) or small_score >= 4:
                return beta, ll, it, True
        return beta, ll, self.max_iter, False

    def _restricted_loglik(self, j: int, value: float, start: np.ndarray | None = None) -> float:
        beta = (self._beta_hat if start is None else start).copy()
        beta[j] = value
        free = np.ones(len(beta), dtype=bool)
        free[j] = False
        _, ll, _, conv = self._maximise(beta, free)
        if not conv:
            warnings.warn(
                f"A restricted Firth fit ({self.params_.index[j]} fixed) did not converge; "
                "its p-value or interval may be inaccurate: raise max_iter.",
                StatisticsWarning,
                stacklevel=3,
            )
        return ll

    def _profile_limit(self, j: int, direction: int, q: float) -> float:
        """The b_j on one side of the estimate where 2 [l* - l*(b_j)] equals ``q``."""
        b0 = self._beta_hat[j]
        se = max(float(self.bse_.iloc[j]), 1e-3)

        def g(b: float) -> float:
            return 2.0 * (self.loglik_ - self._restricted_loglik(j, b)) - q

        inner, outer = b0, b0 + direction * se * 2.0
        for _ in range(60):
            if g(outer) > 0:
                break
            inner, outer = outer, b0 + direction * (abs(outer - b0) * 2.0)
        else:  # pragma: no cover - the penalised likelihood always falls off eventually
            return float(direction * np.inf)
        lo, hi = sorted((inner, outer))
        return float(optimize.brentq(g, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=200))


def _expit(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# =========================================================================== Table 3


@dataclass(frozen=True)
class Term:
    """One characteristic of Table 3.

    Parameters
    ----------
    variable : str
        Name used in the output (``variable`` column) and in ``reference_levels``.
    column : str
        Cohort column it comes from.
    kind : {"categorical", "continuous", "cut"}
        ``cut``: ``column >= cut`` versus below (age >= 45).
    reference : str, optional
        Reference level of a categorical term.
    levels : tuple of str
        Vocabulary of a categorical term (display order).
    cut : float, optional
    label : str
    unit : str
        Unit of a continuous term (its OR is per unit).
    family : str, optional
        Terms of one family are alternative codings of the same exposure (RAIT group,
        number of cycles, cumulative activity); at most one enters the multivariable
        model: the first, in term order, that passes the threshold.

    Examples
    --------
    >>> from rait_registry.analysis import LogisticAnalysis, Term
    >>> sex = Term("sex", "sex", "categorical", reference="M", levels=("F", "M"), label="Sex")
    >>> LogisticAnalysis(terms=[sex], sensitivity=False).fit(cohort).univariable_[["term", "or", "p_value"]].round(3)
        term     or  p_value
    0  sex=F  2.167    0.134
    """

    variable: str
    column: str
    kind: str
    reference: str | None = None
    levels: tuple[str, ...] = ()
    cut: float | None = None
    label: str = ""
    unit: str = ""
    family: str | None = None


DEFAULT_TERMS: tuple[Term, ...] = (
    Term("age_at_diagnosis", "age_at_diagnosis_years", "cut", cut=DEFAULTS.age_cut_years, label="Age at diagnosis"),
    Term("sex", "sex", "categorical", "M", ("F", "M"), label="Sex"),
    Term("histology", "histology", "categorical", "PTC", ("PTC", "FTC", "other"), label="Pathological type"),
    Term("max_tumor_size_cm", "max_tumor_size_cm", "continuous", label="Maximum primary tumour size", unit="cm"),
    Term("t_stage_group", "t_stage_group", "categorical", "T1+T2", ("T1+T2", "T3+T4"), label="AJCC T stage"),
    Term("n_stage_max", "n_stage_max", "categorical", "N0", ("N0", "N1a", "N1b"), label="AJCC N stage"),
    Term(
        "local_disease_status",
        "local_disease_status",
        "categorical",
        "neither",
        ("neither", "local_recurrence", "local_persistent"),
        label="Local recurrence/persistent disease",
    ),
    Term(
        "metastasis_timing",
        "metastasis_timing",
        "categorical",
        "metachronous",
        ("synchronous", "metachronous"),
        label="Distant metastasis timing",
    ),
    Term(
        "rait_group",
        "rait_group",
        "categorical",
        O_RAIT,
        RAIT_GROUPS,
        label="Multiple RAITs or not",
        family="rait_exposure",
    ),
    Term(
        "n_rait_cycles",
        "n_rait_cycles",
        "continuous",
        label="Number of RAIT cycles",
        unit="cycle",
        family="rait_exposure",
    ),
    Term(
        "cumulative_gbq",
        "cumulative_gbq",
        "continuous",
        label="Cumulative RAI activity",
        unit="GBq",
        family="rait_exposure",
    ),
)


def configure_term(t: Term, age_cut: float, reference_levels: dict[str, str]) -> Term:
    """``t`` with the age cut in force and a reference level overridden by ``reference_levels``."""
    if t.kind == "cut":
        t = replace(t, cut=age_cut if t.column == "age_at_diagnosis_years" else t.cut)
    if t.variable in reference_levels:
        ref = reference_levels[t.variable]
        if ref not in t.levels:
            raise AnalysisError(f"Reference level {ref!r} of {t.variable} is not one of {list(t.levels)}.")
        t = replace(t, reference=ref)
    return t


@dataclass
class Design:
    """The model matrix of some Table 3 terms on the complete cases (`design_matrix`).

    Attributes
    ----------
    X : DataFrame
        Model columns without intercept: a continuous term as is, a categorical or cut term as
        0/1 indicators of its observed levels other than the reference (``variable=level``).
    data : DataFrame
        The complete cases: the terms' columns and the outcome columns.
    meta : list of dict
        Per model column: ``variable``, ``term``, ``level``, ``reference``.
    levels : dict of str -> Series
        Per categorical or cut term: each complete case's level, categorical with the observed
        levels in vocabulary order (for separation checks).
    """

    X: pd.DataFrame
    data: pd.DataFrame
    meta: list[dict]
    levels: dict[str, pd.Series]


def design_matrix(
    cohort: pd.DataFrame, terms: Sequence[Term], outcome_cols: Sequence[str], warn: list[str], label: str
) -> Design:
    """The model matrix of ``terms`` on the patients with every term and outcome column known.

    A reference level without patients is replaced by the commonest observed level, with a
    warning appended to ``warn`` (prefixed ``label``). Values outside a term's levels raise
    `AnalysisError` (missing-data codes must be nulls by now: `rait_registry.analysis.missing`).
    """
    cols = list(dict.fromkeys([t.column for t in terms] + list(outcome_cols)))
    data = cohort[cols]
    data = data[data.notna().all(axis=1)]
    X = pd.DataFrame(index=data.index)
    meta: list[dict] = []
    levels_of: dict[str, pd.Series] = {}
    for t in terms:
        x = data[t.column]
        if t.kind == "continuous":
            X[t.variable] = pd.to_numeric(x, errors="coerce").astype(float)
            meta.append(
                dict(variable=t.variable, term=t.variable, level=f"per {t.unit}" if t.unit else None, reference=None)
            )
            continue
        if t.kind == "cut":
            lv = np.where(pd.to_numeric(x).astype(float) >= t.cut, f">={t.cut:g}", f"<{t.cut:g}")
            x = pd.Series(lv, index=x.index)
            levels, ref = [f"<{t.cut:g}", f">={t.cut:g}"], f"<{t.cut:g}"
        else:
            levels, ref = list(t.levels), t.reference
            bad = sorted(set(x.astype(str)) - set(levels))
            if bad:
                raise AnalysisError(f"{t.column} holds values outside {levels}: {bad}; rebuild the marts.")
        present = [lv for lv in levels if (x == lv).any()]
        if ref not in present:
            new_ref = max(present, key=lambda lv: int((x == lv).sum())) if present else None
            warn.append(f"{label}: reference level {ref!r} of {t.variable} has no patient; using {new_ref!r} instead.")
            ref = new_ref
        levels_of[t.variable] = pd.Series(pd.Categorical(x, categories=present), index=x.index)
        for lv in present:
            if lv == ref:
                continue
            X[f"{t.variable}={lv}"] = (x == lv).astype(float)
            meta.append(dict(variable=t.variable, term=f"{t.variable}={lv}", level=lv, reference=ref))
    return Design(X, data, meta, levels_of)


def select_terms(univariable: pd.DataFrame, terms: Sequence[Term], threshold: float, warn: list[str]) -> list[str]:
    """The variables of the multivariable model: univariable p below ``threshold`` (any level of a
    categorical term), at most one term per exposure family (the first that passes). Appends to
    ``warn`` what was left out and why, or that nothing was selected."""
    sel: list[str] = []
    families: dict[str, str] = {}
    for t in terms:
        if not (univariable.loc[univariable["variable"] == t.variable, "p_value"] < threshold).any():
            continue
        if t.family is not None and t.family in families:
            warn.append(
                f"{t.variable} reached p < {threshold} but codes the same exposure as "
                f"{families[t.family]} ({t.family}); only {families[t.family]} enters the "
                "multivariable model."
            )
            continue
        if t.family is not None:
            families[t.family] = t.variable
        sel.append(t.variable)
    if not sel:
        warn.append(
            f"No characteristic reached p < {threshold} in univariable analysis; no multivariable model was fitted."
        )
    return sel


@dataclass
class _Model:
    rows: pd.DataFrame
    method: str
    warnings: list[str] = field(default_factory=list)


class LogisticAnalysis:
    """Univariable and multivariable logistic regression of progression (the paper's Table 3).

    Parameters
    ----------
    threshold : float
        Univariable p-value below which a characteristic enters the multivariable model
        (declared ``selection_threshold``, 0.1 as in the paper).
    age_cut : float
        Age at diagnosis is dichotomised at ``>= age_cut`` years (declared ``age_cut_years``,
        45 as in the paper).
    terms : iterable of Term
        Characteristics (default :data:`DEFAULT_TERMS`: the paper's Table 3; ATA risk is
        left out as in the paper, whose low/intermediate groups were too small).
    reference_levels : dict, optional
        ``{variable: level}`` overriding the default reference levels.
    firth : {"auto", "always", "never"}
        ``auto``: Firth's penalised likelihood for the models where separation is found.
    firth_ci : {"profile", "wald"}
        Interval type of Firth fits (profile penalised likelihood, as logistf).
    min_epv : float
        Warn below this many events per estimated coefficient.
    max_abs_coef, max_se : float
        A log-odds estimate / standard error beyond these marks separation.
    sensitivity : bool
        Also fit the models with age continuous (per year) instead of dichotomised.
    alpha : float
        1 - confidence level.

    Attributes
    ----------
    univariable_, multivariable_ : DataFrame
        One row per estimated term: ``variable, term, level, reference, or, ci_low,
        ci_high, p_value, coef, se, method, n_obs, n_events``.
    selected_ : list of str
        Variables in the multivariable model.
    warnings_ : list of str
    sensitivity_ : dict or None
        ``{"age", "univariable", "multivariable", "selected_variables", "warnings"}`` of the
        continuous-age analysis (DataFrames for the tables).

    Examples
    --------
    >>> from rait_registry.analysis import LogisticAnalysis
    >>> fitted = LogisticAnalysis(threshold=0.1, age_cut=45).fit(cohort, outcome_col="pfs_event")
    >>> fitted.selected_
    ['age_at_diagnosis', 'max_tumor_size_cm', 'local_disease_status', 'metastasis_timing', 'rait_group']
    >>> fitted.multivariable_[["term", "or", "ci_low", "ci_high"]].round(2)
                                        term     or  ci_low  ci_high
    0                  age_at_diagnosis=>=45  12.71    2.54    63.59
    1                      max_tumor_size_cm   1.39    0.97     1.98
    2  local_disease_status=local_recurrence   0.11    0.00     3.40
    3  local_disease_status=local_persistent   7.22    2.02    25.86
    4          metastasis_timing=synchronous   0.16    0.01     1.88
    5                      rait_group=m-RAIT   1.43    0.33     6.11
    """

    def __init__(
        self,
        threshold: float = DEFAULTS.selection_threshold,
        age_cut: float = DEFAULTS.age_cut_years,
        *,
        terms: Iterable[Term] = DEFAULT_TERMS,
        reference_levels: dict[str, str] | None = None,
        firth: str = "auto",
        firth_ci: str = "profile",
        min_epv: float = 10.0,
        max_abs_coef: float = 10.0,
        max_se: float = 10.0,
        sensitivity: bool = True,
        alpha: float = DEFAULTS.alpha,
    ):
        if firth not in ("auto", "always", "never"):
            raise ValueError(f"firth must be 'auto', 'always' or 'never', not {firth!r}")
        self.threshold = threshold
        self.age_cut = age_cut
        self.terms = tuple(terms)
        self.reference_levels = dict(reference_levels or {})
        self.firth = firth
        self.firth_ci = firth_ci
        self.min_epv = min_epv
        self.max_abs_coef = max_abs_coef
        self.max_se = max_se
        self.sensitivity = sensitivity
        self.alpha = alpha

    # ------------------------------------------------------------------ fit
    def fit(self, cohort: pd.DataFrame, outcome_col: str = "pfs_event") -> LogisticAnalysis:
        """Fit every univariable model, select, fit the multivariable model(s); returns self.

        Parameters
        ----------
        cohort : DataFrame
            One row per patient with the outcome and the term columns (``marts.analysis_cohort``).
        outcome_col : str
            The 0/1 outcome (progression or death after the first RAIT).
        """
        self.outcome = outcome_col
        terms = [self._configure(t) for t in self.terms]
        missing = sorted({t.column for t in terms} - set(cohort.columns) | ({self.outcome} - set(cohort.columns)))
        if missing:
            raise AnalysisError(f"analysis_cohort lacks column(s) {missing}; pass marts.analysis_cohort.")
        y = pd.to_numeric(cohort[self.outcome], errors="coerce")
        if y.isna().any() or not y.isin([0, 1]).all():
            raise AnalysisError(f"{self.outcome} must be 1/0 for every patient; rebuild the marts.")
        n_ev = int(y.sum())
        if n_ev == 0 or n_ev == len(y):
            raise InsufficientDataError(
                f"{self.outcome} is {'never' if n_ev == 0 else 'always'} 1 in this cohort of {len(y)}; "
                "a logistic regression of progression needs both outcomes."
            )
        self.n_obs_, self.n_events_ = len(y), n_ev
        self.warnings_: list[str] = []
        columns = sorted({t.column for t in terms})
        for column, n in missing_code_counts(cohort, columns).items():
            self.warnings_.append(
                dropped_message(column, n, "the logistic models that use it (complete cases; n_obs gives each size)")
            )
        cohort = as_missing(cohort, columns)
        self.univariable_, self.multivariable_, self.selected_ = self._analyse(cohort, terms, self.warnings_)
        self.sensitivity_ = None
        if self.sensitivity:
            sens_terms = [replace(t, kind="continuous", cut=None, unit="year") if t.kind == "cut" else t for t in terms]
            if sens_terms != terms:
                w: list[str] = []
                uni, multi, sel = self._analyse(cohort, sens_terms, w)
                cont_vars = {t.variable for t in sens_terms if t not in terms}
                self.sensitivity_ = {
                    "age": "continuous (per year)",
                    "univariable": uni[uni["variable"].isin(cont_vars)].reset_index(drop=True),
                    "multivariable": multi,
                    "selected_variables": sel,
                    "warnings": w,
                }
        for msg in self.warnings_:
            warnings.warn(msg, StatisticsWarning, stacklevel=2)
        return self

    def to_dict(self) -> dict[str, Any]:
        """docs/specification.md section 4 ``logistic``: JSON-ready (NaN -> None)."""
        self._check_fitted()
        out: dict[str, Any] = {
            "outcome": self.outcome,
            "n_obs": self.n_obs_,
            "n_events": self.n_events_,
            "univariable": records(self.univariable_),
            "multivariable": records(self.multivariable_),
            "selection_threshold": self.threshold,
            "selected_variables": list(self.selected_),
            "age_cut": self.age_cut,
            "warnings": list(self.warnings_),
        }
        if self.sensitivity_ is not None:
            s = self.sensitivity_
            out["sensitivity"] = {
                "age": s["age"],
                "univariable": records(s["univariable"]),
                "multivariable": records(s["multivariable"]),
                "selected_variables": list(s["selected_variables"]),
                "warnings": list(s["warnings"]),
            }
        return out

    @property
    def summary(self) -> pd.DataFrame:
        """Univariable and multivariable results side by side, one row per term."""
        self._check_fitted()
        keep = ["or", "ci_low", "ci_high", "p_value", "method"]
        u = self.univariable_.set_index("term")[["variable", "level", "reference"] + keep]
        m = self.multivariable_.set_index("term")[keep] if len(self.multivariable_) else pd.DataFrame(columns=keep)
        return u.join(m, rsuffix="_multi", how="left").reset_index()

    # ------------------------------------------------------------------ internals
    def _check_fitted(self) -> None:
        if not hasattr(self, "univariable_"):
            raise AnalysisError("Call LogisticAnalysis.fit(cohort) before reading its results.")

    def _configure(self, t: Term) -> Term:
        return configure_term(t, self.age_cut, self.reference_levels)

    def _analyse(self, cohort: pd.DataFrame, terms: list[Term], warn: list[str]):
        uni_parts = []
        for t in terms:
            model = self._fit_model(cohort, [t], warn, label=f"univariable {t.variable}")
            if model is not None:
                uni_parts.append(model.rows)
        uni = pd.concat(uni_parts, ignore_index=True) if uni_parts else _empty()
        sel = select_terms(uni, terms, self.threshold, warn)
        if not sel:
            return uni, _empty(), sel
        chosen = [t for t in terms if t.variable in sel]
        model = self._fit_model(cohort, chosen, warn, label="multivariable model")
        return uni, (model.rows if model is not None else _empty()), sel

    def _design(self, cohort: pd.DataFrame, terms: list[Term], warn: list[str], label: str):
        d = design_matrix(cohort, terms, [self.outcome], warn, label)
        y = d.data[self.outcome].astype(float).to_numpy()
        separated: list[str] = []
        for variable, x in d.levels.items():
            for lv in x.cat.categories:
                ev = y[(x == lv).to_numpy()]
                if ev.sum() == 0 or ev.sum() == len(ev):
                    separated.append(
                        f"{variable} level {lv!r} has {'no' if ev.sum() == 0 else 'only'} "
                        f"events ({int(ev.sum())}/{len(ev)})"
                    )
        return d.X, y, d.meta, separated

    def _fit_model(self, cohort: pd.DataFrame, terms: list[Term], warn: list[str], label: str) -> _Model | None:
        X, y, meta, separated = self._design(cohort, terms, warn, label)
        if X.shape[1] == 0:
            warn.append(f"{label}: fewer than two observed levels; not estimable.")
            return None
        n, n_ev = len(y), int(y.sum())
        if n_ev == 0 or n_ev == n:
            warn.append(f"{label}: all {n} complete cases have the same outcome; not estimable.")
            return None
        epv = min(n_ev, n - n_ev) / X.shape[1]
        if epv < self.min_epv:
            warn.append(
                f"{label}: {epv:.1f} events per variable (< {self.min_epv:g}); estimates may be biased and unstable."
            )
        ml = None
        ml_problem: list[str] = []
        if self.firth != "always":
            ml, ml_problem = self._fit_ml(X, y)
        problems = separated + ml_problem
        use_firth = self.firth == "always" or (bool(problems) and self.firth == "auto")
        if problems:
            what = "; ".join(problems)
            if use_firth:
                warn.append(
                    f"{label}: quasi-complete separation ({what}); the maximum likelihood odds ratio "
                    "does not exist: Firth penalised-likelihood estimates reported (profile "
                    "penalised-likelihood CI, penalised likelihood-ratio p)."
                )
            else:
                warn.append(
                    f"{label}: quasi-complete separation ({what}); the maximum likelihood odds ratio "
                    "does not exist and the reported one is meaningless: use firth='auto'."
                )
        if use_firth:
            fm = FirthLogisticRegression(alpha=self.alpha, ci_method=self.firth_ci).fit(X, y)
            coef, se = fm.params_.drop("Intercept"), fm.bse_.drop("Intercept")
            lo = fm.confidence_intervals_["lower"].drop("Intercept")
            hi = fm.confidence_intervals_["upper"].drop("Intercept")
            p = fm.pvalues_.drop("Intercept")
            method = "firth"
        else:
            z = stats.norm.ppf(1 - self.alpha / 2)
            coef, se = ml.params.drop("Intercept"), ml.bse.drop("Intercept")
            lo, hi, p = coef - z * se, coef + z * se, ml.pvalues.drop("Intercept")
            method = "ml"
        rows = []
        for m in meta:
            k = m["term"]
            rows.append(
                {
                    **m,
                    "or": float(np.exp(coef[k])),
                    "ci_low": float(np.exp(lo[k])),
                    "ci_high": float(np.exp(hi[k])),
                    "p_value": float(p[k]),
                    "coef": float(coef[k]),
                    "se": float(se[k]),
                    "method": method,
                    "n_obs": n,
                    "n_events": n_ev,
                }
            )
        return _Model(pd.DataFrame(rows, columns=RESULT_COLUMNS), method)

    def _fit_ml(self, X: pd.DataFrame, y: np.ndarray):
        import statsmodels.api as sm
        from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

        Xc = X.copy()
        Xc.insert(0, "Intercept", 1.0)
        problems: list[str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = sm.GLM(y, Xc, family=sm.families.Binomial()).fit(maxiter=100, tol=1e-12, tol_criterion="params")
        if any(issubclass(w.category, PerfectSeparationWarning) for w in caught):
            problems.append("fitted probabilities of 0 or 1")
        if not res.converged:
            problems.append("IRLS did not converge")
        params, bse = res.params.drop("Intercept"), res.bse.drop("Intercept")
        big = [
            k
            for k in params.index
            if abs(params[k]) > self.max_abs_coef or not np.isfinite(bse[k]) or bse[k] > self.max_se
        ]
        if big:
            problems.append(f"unbounded estimate for {', '.join(big)}")
        return res, problems


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=RESULT_COLUMNS)
