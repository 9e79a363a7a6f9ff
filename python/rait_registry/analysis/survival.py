"""Progression-free survival: Kaplan-Meier, log-rank, Cox (docs/specification.md section 4, ``survival``).

For a cohort and a grouping, `SurvivalComparison` fits per group

* the Kaplan-Meier estimate with a pointwise 95% log-log CI (lifelines' default, R
  ``survfit(conf.type = "log-log")``). Where S = 1 or S = 0 the log-log CI is undefined; it is
  reported as missing with a reason, as R does (not as (1, 1));
* PFS at the horizon (default 60 months, the 5-year PFS) as the step value *at or before* the
  horizon (events at the horizon count), never an interpolation; missing with a reason when
  the group's follow-up ends before the horizon;
* the median PFS with R's ``quantile.survfit`` rule (the first time S <= 0.5; where S equals
  0.5 over an interval, the midpoint of that interval); missing when not reached. lifelines
  takes the first time S <= 0.5 even on such a plateau, so the R rule is written here;
* numbers at risk (durations >= t) at t = 0, 12, 24, ... months;

and across groups

* the log-rank test (k groups, k - 1 df; statsmodels ``survdiff``, which equals lifelines'
  ``multivariate_logrank_test`` and R's ``survdiff`` and is about 4x faster on a million rows);
* for two groups, the Cox hazard ratio of the second group against the first (the reference:
  o-RAIT for the study groups) with its Wald 95% CI, Efron ties, from lifelines
  ``CoxPHFitter`` with a tight convergence criterion (the default can leave the HR 1e-4 away
  from R ``coxph``). Null for more than two groups, or when a group has no events (the
  partial likelihood has no finite maximum).

An analysis that cannot be done (a group without patients, no events) returns nulls with a
reason in ``notes``; it never raises for small data.

`SurvivalAnalysis` runs the study's analyses: the whole eligible cohort, the matched cohort,
and the Fig. 4 subgroups (age, tumour size, local disease status, and o- vs m-RAIT inside the
high-risk subgroups).

References
----------
Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete observations. *JASA* 53:457-481.
Kalbfleisch JD, Prentice RL (2002). *The Statistical Analysis of Failure Time Data*, 2nd ed.
(log-log confidence intervals).
Efron B (1977). The efficiency of Cox's likelihood function for censored data. *JASA* 72:557-565.
Therneau TM (2023). *A Package for Survival Analysis in R* (survival), ``quantile.survfit``.
Davidson-Pilon C (2019). lifelines: survival analysis in Python. *JOSS* 4(40):1317.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from scipy.stats import chi2
from statsmodels.duration.survfunc import survdiff as sm_survdiff

from rait_registry.contract import RAIT_GROUPS
from rait_registry.exceptions import AnalysisError

from .config import DEFAULTS
from .cox import COX_FIT_OPTIONS, fit_cox, fit_cox_stratified, robust_covariance, wald_term
from .proportional_hazards import ph_test, skipped

_TOL = math.sqrt(np.finfo(float).eps)

#: The levels of ``local_disease_status`` the subgroups use; anything else (``unknown``) is missing.
LOCAL_LEVELS: tuple[str, ...] = ("neither", "local_recurrence", "local_persistent")


def _codes(labels: np.ndarray, levels: Sequence[str]) -> np.ndarray:
    """Integer codes of ``labels`` in ``levels`` (fast on millions of rows)."""
    codes = np.full(labels.shape[0], -1, dtype=np.int64)
    for i, lv in enumerate(levels):
        codes[labels == lv] = i
    return codes


def _fmt_num(v: float) -> str:
    """A cut value as it appears in a label: 45 -> '45', 4.5 -> '4.5'."""
    return f"{v:g}"


def _month_key(t: float) -> str:
    return str(int(t)) if float(t).is_integer() else _fmt_num(t)


def r_quantile_time(timeline: np.ndarray, survival: np.ndarray, p: float = 0.5, tol: float = _TOL) -> float | None:
    """Time at which the survival curve reaches ``1 - p``, by R ``quantile.survfit``'s rule.

    Parameters
    ----------
    timeline : ndarray
        Increasing times of the step function (every distinct observed time).
    survival : ndarray
        Survival just after each time.
    p : float
        0.5 for the median.
    tol : float
        R's ``sqrt(.Machine$double.eps)`` tolerance on the curve level.

    Returns
    -------
    float or None
        The first time where ``S <= 1 - p``; the midpoint between that time and the next drop
        when S equals ``1 - p`` over an interval (the last observed time if it never drops
        again); None when the curve never gets down to ``1 - p`` (median not reached).
    """
    x = np.concatenate([[0.0], np.asarray(timeline, dtype=float)])
    y = np.concatenate([[0.0], 1.0 - np.asarray(survival, dtype=float)])
    if y.max() < p:
        return None
    xmax = x[-1]
    keep = np.concatenate([[True], y[1:] != y[:-1]])
    x, y = x[keep], y[keep]
    n = y.size
    i1 = int(np.searchsorted(y + tol, p, side="left"))
    i2 = int(np.searchsorted(y - tol, p, side="left"))
    quant = (x[i1] + x[i2]) / 2.0 if (i1 < n and i2 < n) else math.nan
    if abs(p - y[-1]) < tol and i1 < n:
        quant = (x[i1] + xmax) / 2.0
    return None if math.isnan(quant) else float(quant)


class SurvivalComparison:
    """Kaplan-Meier per group, log-rank test and (two groups) Cox hazard ratio.

    Parameters
    ----------
    group_order : sequence of str, optional
        Groups in display order; the first is the Cox reference. Default: sorted labels.
        Listed groups without patients are reported with n = 0.
    horizon : float, default 60 (the declared ``horizon_months``)
        Time of the landmark survival (60 months = 5-year PFS).
    at_risk_every : float, default 12
        Spacing of the numbers-at-risk times (0, 12, 24, ...).
    alpha : float, default 0.05 (the declared ``alpha``)
        1 - confidence level.
    cox_fit_options : dict, optional
        Passed to ``CoxPHFitter.fit(fit_options=...)``; default `COX_FIT_OPTIONS`.
    cox : bool, default True
        Fit the Cox model for two groups (False skips it, e.g. for very large data).
    stratified : bool, default True
        With ``cluster_col``: also fit the Cox model stratified by cluster (statsmodels; about
        0.5 ms per informative pair, so it can be switched off where it is not reported).
    min_group_n, min_events : int, optional
        Report no hazard ratio (with the reason) when a group has fewer patients than
        ``min_group_n`` or the comparison fewer events than ``min_events``; the Kaplan-Meier
        curves and the log-rank test are still given. Default: no minimum (the Fig. 4 panels
        use the declared ``subgroup_min_patients`` and ``subgroup_min_events``).

    Attributes
    ----------
    groups_ : list of str
    kmf_ : dict of str -> KaplanMeierFitter or None
    km_tables_ : dict of str -> DataFrame
        Per group: ``time``, ``n_at_risk``, ``n_events``, ``n_censored``, ``survival``,
        ``ci_low``, ``ci_high`` (NaN where the log-log CI is undefined), from time 0. For figures.
    group_results_ : dict of str -> dict
        The contract's per-group object.
    logrank_ : dict
        ``chi2``, ``df``, ``p`` (None when not computable).
    cox_ : CoxPHFitter or None
    hr_ : dict
        ``hr``, ``ci_low``, ``ci_high``, ``p``, ``log_hr``, ``se_log_hr``, ``reference``,
        ``comparison``, ``se_method`` and ``reason`` (why there is no HR, else None).
    stratified_ : StratifiedCoxFit or None
        With ``cluster_col``: the Cox model stratified by cluster (the matched pair).
    stratified_hr_ : dict or None
        Its HR (`stratified_hazard_ratio`), or ``{"skipped": True, "reason": ...}``; None without
        ``cluster_col``.
    ph_tests_ : dict of str -> dict
        R ``cox.zph`` test (`rait_registry.analysis.proportional_hazards.ph_test`) of the Cox
        model (``"cox"``) and, with ``cluster_col``, of the stratified model (``"stratified"``).
    notes_ : list of str
        Why a statistic is missing.

    Examples
    --------
    >>> from rait_registry.analysis import SurvivalComparison
    >>> comp = SurvivalComparison(group_order=["o-RAIT", "m-RAIT"]).fit(
    ...     cohort, duration_col="pfs_months", event_col="pfs_event", group_col="rait_group"
    ... )
    >>> comp.summary[["n", "events", "pfs_5y"]].round(3)
             n  events  pfs_5y
    group
    o-RAIT  38       4   0.888
    m-RAIT  79      20   0.735
    >>> round(comp.to_dict()["hr"], 2), round(comp.to_dict()["logrank_p"], 3)
    (2.24, 0.131)
    """

    def __init__(
        self,
        group_order: Sequence[str] | None = None,
        horizon: float = DEFAULTS.horizon_months,
        at_risk_every: float = 12.0,
        alpha: float = DEFAULTS.alpha,
        cox_fit_options: dict[str, float] | None = None,
        cox: bool = True,
        stratified: bool = True,
        min_group_n: int | None = None,
        min_events: int | None = None,
    ) -> None:
        if not (0 < alpha < 1):
            raise AnalysisError(f"alpha must lie in (0, 1), got {alpha!r}")
        if not horizon > 0:
            raise AnalysisError(f"horizon must be positive, got {horizon!r}")
        if not at_risk_every > 0:
            raise AnalysisError(f"at_risk_every must be positive, got {at_risk_every!r}")
        self.group_order = None if group_order is None else [str(g) for g in group_order]
        self.horizon = float(horizon)
        self.at_risk_every = float(at_risk_every)
        self.alpha = alpha
        self.cox_fit_options = dict(COX_FIT_OPTIONS if cox_fit_options is None else cox_fit_options)
        self.cox = cox
        self.stratified = stratified
        self.min_group_n = min_group_n
        self.min_events = min_events

    def fit(
        self,
        df: pd.DataFrame,
        duration_col: str = "pfs_months",
        event_col: str = "pfs_event",
        group_col: str = "rait_group",
        cluster_col: str | None = None,
    ) -> SurvivalComparison:
        """Fit the Kaplan-Meier curves, the log-rank test and the Cox model.

        Parameters
        ----------
        df : DataFrame
            One row per patient; rows with a missing group are left out.
        duration_col : str
            Time to progression or censoring (>= 0).
        event_col : str
            1 = progression or death, 0 = censored.
        group_col : str
            Group label of each patient.
        cluster_col : str, optional
            Matched set of each patient (``pair_id`` of a matched cohort). The HR is then the
            marginal Cox HR with the cluster-robust SE (R ``coxph(..., cluster = pair)``; Austin
            2014), and a Cox model stratified by cluster is added (``stratified_hr_``).

        Returns
        -------
        self

        Raises
        ------
        AnalysisError
            A missing column, negative or missing durations, or events other than 0/1.
        """
        missing = [c for c in (duration_col, event_col, group_col, cluster_col) if c and c not in df.columns]
        if missing:
            raise AnalysisError(
                f"survival analysis: the cohort lacks column(s) {missing}; pass the analysis_cohort mart"
            )
        self.duration_col, self.event_col, self.group_col = duration_col, event_col, group_col
        self.cluster_col = cluster_col
        data = df.loc[df[group_col].notna()]
        T = data[duration_col].to_numpy(dtype=float)
        E = data[event_col].to_numpy()
        G = data[group_col].astype(str).to_numpy()
        if T.size and (np.isnan(T).any() or (T < 0).any() or np.isinf(T).any()):
            raise AnalysisError(f"survival times must be finite and >= 0; check {duration_col} in the cohort")
        try:
            Ef = E.astype(float)
        except (TypeError, ValueError) as exc:
            raise AnalysisError(f"events must be 0/1 ({event_col})") from exc
        if Ef.size and not np.isin(Ef, (0.0, 1.0)).all():
            raise AnalysisError(f"events must be 0/1 ({event_col})")
        E = Ef.astype(np.int64)

        present = sorted(set(G.tolist()))
        if self.group_order is None:
            order = present
        else:
            extra = [g for g in present if g not in self.group_order]
            if extra:
                raise AnalysisError(f"group(s) {extra} are not in group_order {self.group_order}")
            order = list(self.group_order)
        self.groups_ = order
        self.notes_: list[str] = []
        self.n_ = int(T.size)
        self.events_ = int(E.sum())

        at_risk_times = self._at_risk_times(T)
        self.kmf_: dict[str, KaplanMeierFitter | None] = {}
        self.km_tables_: dict[str, pd.DataFrame] = {}
        self.group_results_: dict[str, dict[str, Any]] = {}
        codes = _codes(G, order)
        for i, g in enumerate(order):
            m = codes == i
            self._fit_group(g, T[m], E[m], at_risk_times)

        nonempty = [i for i, g in enumerate(order) if self.group_results_[g]["n"] > 0]
        for g in order:
            if self.group_results_[g]["n"] == 0:
                self.notes_.append(f"group {g!r} has no patients")
        self.logrank_ = self._logrank(T, E, codes, nonempty)
        self.cox_ = None
        self.stratified_ = None
        self.stratified_hr_: dict[str, Any] | None = None
        clusters = None if cluster_col is None else data[cluster_col].to_numpy(dtype=object)
        if clusters is not None and pd.isna(clusters).any():
            raise AnalysisError(f"{cluster_col} is missing for some patients; every patient needs a cluster")
        self.hr_ = self._cox(T, E, G, order, clusters)
        self.ph_tests_ = {"cox": ph_test(self.cox_, reason=self.hr_["reason"] or "no Cox model")}
        if self.stratified_hr_ is not None:
            self.ph_tests_["stratified"] = ph_test(
                self.stratified_, reason=self.stratified_hr_.get("reason") or "no stratified model"
            )
        return self

    # -- pieces ----------------------------------------------------------------------------

    def _at_risk_times(self, T: np.ndarray) -> np.ndarray:
        if T.size == 0:
            return np.array([0.0])
        k = math.floor(float(T.max()) / self.at_risk_every + 1e-9)
        return np.arange(k + 1, dtype=float) * self.at_risk_every

    def _fit_group(self, g: str, T: np.ndarray, E: np.ndarray, at_risk_times: np.ndarray) -> None:
        notes: list[str] = []
        res: dict[str, Any] = {
            "n": int(T.size),
            "events": int(E.sum()),
            "median_months": None,
            "pfs_5y": None,
            "pfs_5y_ci_low": None,
            "pfs_5y_ci_high": None,
            "at_risk": {_month_key(t): int((t <= T).sum()) for t in at_risk_times},
        }
        if T.size == 0:
            notes.append("no patients in this group")
            self.kmf_[g] = None
            self.km_tables_[g] = pd.DataFrame(
                columns=["time", "n_at_risk", "n_events", "n_censored", "survival", "ci_low", "ci_high"]
            )
            res["notes"] = notes
            self.group_results_[g] = res
            return
        kmf = KaplanMeierFitter(alpha=self.alpha).fit(T, E, label=g)
        self.kmf_[g] = kmf
        sf = kmf.survival_function_[g].to_numpy()
        timeline = kmf.survival_function_.index.to_numpy(dtype=float)
        ci = kmf.confidence_interval_survival_function_.to_numpy()
        lo, hi = ci[:, 0].copy(), ci[:, 1].copy()
        undefined = (sf >= 1.0) | (sf <= 0.0)
        lo[undefined] = np.nan
        hi[undefined] = np.nan
        et = kmf.event_table
        if not np.array_equal(et.index.to_numpy(dtype=float), timeline):
            et = et.reindex(timeline)
        self.km_tables_[g] = pd.DataFrame(
            {
                "time": timeline,
                "n_at_risk": et["at_risk"].to_numpy(dtype=np.int64),
                "n_events": et["observed"].to_numpy(dtype=np.int64),
                "n_censored": et["censored"].to_numpy(dtype=np.int64),
                "survival": sf,
                "ci_low": lo,
                "ci_high": hi,
            }
        )

        # landmark survival: the step value at or before the horizon
        h = self.horizon
        idx = int(np.searchsorted(timeline, h, side="right")) - 1
        s_h = float(sf[idx])
        if float(T.max()) < h and s_h > 0.0:
            notes.append(
                f"follow-up ends at {_fmt_num(round(float(T.max()), 2))} months, before {_fmt_num(h)}: "
                f"survival at {_fmt_num(h)} months is not estimable"
            )
        else:
            res["pfs_5y"] = s_h
            if s_h >= 1.0:
                notes.append(f"no events by {_fmt_num(h)} months (S = 1): the log-log CI is undefined")
            elif s_h <= 0.0:
                notes.append(f"S = 0 at {_fmt_num(h)} months: the log-log CI is undefined")
            else:
                res["pfs_5y_ci_low"] = float(lo[idx])
                res["pfs_5y_ci_high"] = float(hi[idx])

        # median: R's rule on the event-time steps
        med = r_quantile_time(timeline, sf, 0.5)
        res["median_months"] = med
        if med is None:
            notes.append("median not reached")
        res["notes"] = notes
        self.group_results_[g] = res

    def _logrank(self, T: np.ndarray, E: np.ndarray, codes: np.ndarray, nonempty: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = {"chi2": None, "df": None, "p": None}
        if len(nonempty) < 2:
            self.notes_.append("log-rank test needs at least two groups with patients")
            return out
        if E.sum() == 0:
            self.notes_.append("no events: the log-rank test is undefined")
            return out
        # statsmodels' survdiff on integer group codes: the same statistic as lifelines'
        # multivariate_logrank_test and R's survdiff, about 4x faster on a million rows.
        # Empty groups have no rows, so every row belongs to a non-empty group.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                stat, _ = sm_survdiff(T, E, codes)
            except np.linalg.LinAlgError:
                # a group whose patients are never at risk at an event time: the variance
                # matrix of (O - E) is singular (a tiny cohort); the test does not exist
                self.notes_.append("the log-rank variance matrix is singular: the test is undefined")
                return out
        stat = float(stat)
        if not math.isfinite(stat):
            self.notes_.append("the log-rank variance is zero: the test is undefined")
            return out
        df = len(nonempty) - 1
        out.update(chi2=stat, df=df, p=float(chi2.sf(stat, df)))
        if len(nonempty) < len(self.groups_):
            self.notes_.append(f"log-rank test over the {len(nonempty)} groups with patients")
        return out

    def _too_few(self, T: np.ndarray, E: np.ndarray, G: np.ndarray, order: list[str]) -> str | None:
        """Why this comparison is too small to carry a hazard ratio (the minimums), or None."""
        if self.min_group_n is not None:
            sizes_by_group = {g: int(np.count_nonzero(g == G)) for g in order}
            small = {g: n for g, n in sizes_by_group.items() if n < self.min_group_n}
            if small:
                sizes = ", ".join(f"{g}: {n}" for g, n in small.items())
                return f"an arm has fewer than {self.min_group_n} patients ({sizes}): too few to carry a hazard ratio"
        if self.min_events is not None and E.sum() < self.min_events:
            return f"{int(E.sum())} events, fewer than {self.min_events}: too few to carry a hazard ratio"
        return None

    def _cox(
        self, T: np.ndarray, E: np.ndarray, G: np.ndarray, order: list[str], clusters: np.ndarray | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            **dict.fromkeys(("hr", "ci_low", "ci_high", "p", "log_hr", "se_log_hr")),
            "reference": None,
            "comparison": None,
            "se_method": None,
            "reason": None,
        }
        if len(order) != 2:
            if len(order) > 2:
                out["reason"] = f"no single hazard ratio for {len(order)} groups"
                self.notes_.append(out["reason"])
            return out
        ref, cmp_ = order
        out.update(reference=ref, comparison=cmp_)
        if not self.cox:
            out["reason"] = "the Cox model was not requested"
            return out
        too_few = self._too_few(T, E, G, order)
        if too_few:
            out["reason"] = too_few
            self.notes_.append(too_few)
            if clusters is not None and self.stratified:
                self.stratified_hr_ = skipped(too_few)
            return out
        res, note, cph = hazard_ratio(
            T, E, G, ref, cmp_, alpha=self.alpha, fit_options=self.cox_fit_options, clusters=clusters
        )
        out.update(res)
        self.cox_ = cph
        if cph is not None:
            out["se_method"] = (
                "model-based (inverse information)"
                if clusters is None
                else f"cluster-robust sandwich, clusters = {self.cluster_col} (R coxph cluster =)"
            )
        if note:
            out["reason"] = note
            self.notes_.append(note)
        if clusters is not None and self.stratified:
            sres, snote, sfit = stratified_hazard_ratio(T, E, G, clusters, ref, cmp_, alpha=self.alpha)
            self.stratified_ = sfit
            self.stratified_hr_ = (
                skipped(snote)
                if snote
                else {
                    **sres,
                    "strata": self.cluster_col,
                    "se_method": "model-based (inverse information)",
                    "events": int(E.sum()),
                }
            )
        return out

    # -- results ---------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "group_results_"):
            raise AnalysisError("call fit(df, duration_col, event_col, group_col) before asking for results")

    @property
    def summary(self) -> pd.DataFrame:
        """One row per group: n, events, median, landmark survival with CI."""
        self._check_fitted()
        rows = []
        for g in self.groups_:
            r = self.group_results_[g]
            rows.append({"group": g, **{k: v for k, v in r.items() if k not in ("at_risk", "notes")}})
        return pd.DataFrame(rows).set_index("group")

    def to_dict(self) -> dict[str, Any]:
        """The contract's analysis object (JSON-ready).

        ``{logrank_chi2, logrank_df, logrank_p, hr, hr_ci_low, hr_ci_high, hr_p, hr_log,
        hr_se_log, hr_se_method, hr_reason, hr_reference, hr_comparison, n, events,
        horizon_months, groups: {name: {n, events, median_months, pfs_5y, pfs_5y_ci_low,
        pfs_5y_ci_high, at_risk: {month: n}, notes}}, notes}``, plus ``hr_stratified`` (the
        model stratified by cluster, or ``{skipped, reason}``) when fitted with ``cluster_col``.
        ``at_risk`` keys are month strings ("0", "12", ...), as JSON object keys must be.
        """
        self._check_fitted()
        out = {
            "logrank_chi2": self.logrank_["chi2"],
            "logrank_df": self.logrank_["df"],
            "logrank_p": self.logrank_["p"],
            "hr": self.hr_["hr"],
            "hr_ci_low": self.hr_["ci_low"],
            "hr_ci_high": self.hr_["ci_high"],
            "hr_p": self.hr_["p"],
            "hr_log": self.hr_["log_hr"],
            "hr_se_log": self.hr_["se_log_hr"],
            "hr_se_method": self.hr_["se_method"],
            "hr_reason": self.hr_["reason"],
            "hr_reference": self.hr_["reference"],
            "hr_comparison": self.hr_["comparison"],
            "n": self.n_,
            "events": self.events_,
            "horizon_months": self.horizon,
            "groups": {g: dict(self.group_results_[g]) for g in self.groups_},
            "notes": list(self.notes_),
        }
        if self.stratified_hr_ is not None:
            out["hr_stratified"] = dict(self.stratified_hr_)
        return out


def hazard_ratio(
    durations: Any,
    events: Any,
    groups: Any,
    reference: str,
    comparison: str,
    *,
    alpha: float = DEFAULTS.alpha,
    fit_options: dict[str, float] | None = None,
    clusters: Any = None,
) -> tuple[dict[str, Any], str | None, CoxPHFitter | None]:
    """Cox hazard ratio of ``comparison`` vs ``reference`` (Efron ties, Wald CI) with lifelines.

    Parameters
    ----------
    durations, events, groups : array-like
    reference, comparison : str
        Group labels; the HR is ``comparison`` against ``reference``.
    alpha : float
    fit_options : dict, optional
    clusters : array-like, optional
        Cluster label of each row (the matched pair): the SE is then the cluster-robust sandwich
        of R ``coxph(..., cluster = pair)`` (`rait_registry.analysis.cox.robust_covariance`;
        Austin 2014) and the CI and p-value use it.

    Returns
    -------
    result : dict
        ``hr``, ``ci_low``, ``ci_high``, ``p``, ``log_hr``, ``se_log_hr`` (None when not estimable).
    note : str or None
        Why the hazard ratio is missing.
    fitter : CoxPHFitter or None
    """
    T = np.asarray(durations, dtype=float)
    E = np.asarray(events, dtype=float)
    G = np.asarray(groups, dtype=object)
    out: dict[str, Any] = dict.fromkeys(("hr", "ci_low", "ci_high", "p", "log_hr", "se_log_hr"))
    in_ref, in_cmp = reference == G, comparison == G
    if not in_ref.any() or not in_cmp.any():
        return out, "hazard ratio needs patients in both groups", None
    for g, m in ((reference, in_ref), (comparison, in_cmp)):
        if E[m].sum() == 0:
            return (
                out,
                (
                    f"no events in group {g!r}: the Cox partial likelihood has no finite maximum, "
                    "so the hazard ratio is not estimable"
                ),
                None,
            )
    keep = in_ref | in_cmp
    df = pd.DataFrame({"T": T[keep], "E": E[keep], "x": in_cmp[keep].astype(float)})
    cph, note = fit_cox(df, "T", "E", alpha=alpha, fit_options=fit_options)
    if cph is None:
        return out, note, None
    se = None
    if clusters is not None:
        cov = robust_covariance(cph, cluster=np.asarray(clusters, dtype=object)[keep])
        se = math.sqrt(float(cov.loc["x", "x"]))
    out.update(wald_term(cph, "x", alpha, se=se))
    return out, None, cph


def stratified_hazard_ratio(
    durations: Any,
    events: Any,
    groups: Any,
    strata: Any,
    reference: str,
    comparison: str,
    *,
    alpha: float = DEFAULTS.alpha,
) -> tuple[dict[str, Any], str | None, Any]:
    """Cox hazard ratio of ``comparison`` vs ``reference`` stratified by ``strata`` (the matched pair).

    R ``coxph(Surv(t, e) ~ group + strata(pair))`` (Efron ties; model-based SE): each pair is
    its own baseline hazard, so only pairs whose first time is a progression with the partner
    still at risk ("informative" pairs) carry information. When every informative progression
    falls in one group the likelihood is monotone: no finite estimate, and the reason says so.

    Returns
    -------
    result : dict
        ``hr``, ``ci_low``, ``ci_high``, ``p``, ``log_hr``, ``se_log_hr``, ``n_strata``,
        ``n_informative_strata`` and, per group, ``informative_events`` (progressions with a
        patient of the other group at risk in the same stratum).
    note : str or None
    fit : `rait_registry.analysis.cox.StratifiedCoxFit` or None
    """
    T = np.asarray(durations, dtype=float)
    E = np.asarray(events, dtype=float)
    G = np.asarray(groups, dtype=object)
    S = pd.factorize(np.asarray(strata, dtype=object), sort=False)[0]
    keep = (reference == G) | (comparison == G)
    T, E, G, S = T[keep], E[keep], G[keep], S[keep]
    x = (comparison == G).astype(float)
    out: dict[str, Any] = dict.fromkeys(("hr", "ci_low", "ci_high", "p", "log_hr", "se_log_hr"))
    n_strata = int(np.unique(S).size)
    # latest time of each group in each stratum: an event is informative if the other group is still at risk
    latest = np.full((n_strata, 2), -np.inf)
    np.maximum.at(latest, (S, x.astype(np.int64)), T)
    ev = E == 1
    other_at_risk = latest[S[ev], 1 - x[ev].astype(np.int64)] >= T[ev]
    inf_x = x[ev][other_at_risk]
    counts = {reference: int((inf_x == 0).sum()), comparison: int((inf_x == 1).sum())}
    out.update(
        n_strata=n_strata,
        n_informative_strata=int(np.unique(S[ev][other_at_risk]).size),
        informative_events=counts,
    )
    if min(counts.values()) == 0:
        who = comparison if counts[reference] == 0 else reference
        reason = (
            "no stratum has a progression with the other group at risk"
            if not sum(counts.values())
            else f"every informative progression ({sum(counts.values())}) is in group {who!r}: the stratified "
            "partial likelihood has no finite maximum, so the hazard ratio is not estimable"
        )
        return out, reason, None
    df = pd.DataFrame({"T": T, "E": E, "x": x, "stratum": S})
    fit, note = fit_cox_stratified(df, "T", "E", "stratum")
    if fit is None:
        return out, note, None
    out.update(wald_term(fit, "x", alpha))
    return out, None, fit


# ---------------------------------------------------------------------------------------------
# Study analyses
# ---------------------------------------------------------------------------------------------


def interaction_test(
    df: pd.DataFrame,
    factor: pd.Series,
    levels: Sequence[str],
    *,
    reference: str,
    comparison: str,
    duration_col: str = "pfs_months",
    event_col: str = "pfs_event",
    group_col: str = "rait_group",
    label: str = "subgroup",
) -> dict[str, Any]:
    """Likelihood-ratio test of the group x subgroup-factor interaction in a Cox model.

    ``Surv ~ group * factor`` against ``Surv ~ group + factor`` (R ``anova(coxph(...))``; Efron
    ties), on the patients of ``df`` in the two groups with a known factor level: does the HR of
    ``comparison`` vs ``reference`` differ between the levels? ``k`` levels with patients give
    ``k - 1`` degrees of freedom.

    Parameters
    ----------
    df : DataFrame
        The cohort of the panel (before any subset).
    factor : Series
        The subgroup level of each row of ``df`` (NaN = unknown: left out).
    levels : sequence of str
        Factor levels; the first present is the reference.

    Returns
    -------
    dict
        ``{test, factor, levels, n, events, chi2, df, p}``, or ``{"skipped": True, "reason": ...}``
        when a model has no finite estimate (e.g. no events in a group-by-level cell) or fewer
        than two levels have patients.
    """
    g = df[group_col].astype(object)
    keep = g.isin([reference, comparison]).to_numpy() & factor.notna().to_numpy()
    data = df.loc[keep]
    lv = factor[keep].astype(str).to_numpy()
    present = [x for x in levels if (lv == x).any()]
    if len(present) < 2:
        return skipped(f"fewer than two levels of the {label} have patients: no interaction to test")
    base = pd.DataFrame(
        {
            "T": data[duration_col].to_numpy(dtype=float),
            "E": data[event_col].to_numpy(dtype=float),
            "group": (data[group_col] == comparison).to_numpy(dtype=float),
        }
    )
    for grp in (reference, comparison):
        for x in present:
            cell = (data[group_col] == grp).to_numpy() & (lv == x)
            if base["E"].to_numpy()[cell].sum() == 0:
                return skipped(
                    f"no events among {grp} patients with {label} {x}: the interaction model has no finite "
                    "estimate, so the interaction is not testable"
                )
    dummies = {f"level_{i}": (lv == x).astype(float) for i, x in enumerate(present[1:], start=1)}
    main = base.assign(**dummies)
    full = main.assign(**{f"group_x_{k}": main["group"].to_numpy() * v for k, v in dummies.items()})
    fits = []
    for what, frame in (("main-effects", main), ("interaction", full)):
        cph, note = fit_cox(frame, "T", "E")
        if cph is None:
            return skipped(f"the {what} model of group x {label} has no finite estimate ({note})")
        fits.append(cph)
    stat = 2.0 * (fits[1].log_likelihood_ - fits[0].log_likelihood_)
    dof = len(present) - 1
    return {
        "test": f"likelihood ratio, Cox group * {label} vs group + {label} (Efron ties)",
        "factor": label,
        "levels": present,
        "n": len(base),
        "events": int(base["E"].sum()),
        "chi2": stat,
        "df": dof,
        "p": float(chi2.sf(max(stat, 0.0), dof)),
    }


def subgroup_specs(
    age_cut: float = DEFAULTS.age_cut_years, size_cut: float = DEFAULTS.size_cut_cm, group_col: str = "rait_group"
) -> list[dict[str, Any]]:
    """The Fig. 4 subgroup analyses: name, figure panel, how to group and which patients to keep.

    Each spec has ``name``, ``figure``, ``description``, ``groups`` (display order, first =
    hazard-ratio reference), ``group_of`` (cohort -> Series of labels, NaN = excluded),
    ``subset`` (cohort -> boolean mask, or None) and ``interaction``: the subgroup factor whose
    interaction with the RAIT group the panel's `interaction_test` examines (``label``,
    ``levels``, ``factor_of``: cohort -> Series of levels, NaN = unknown). Panels A and D share
    the age factor, B and E tumour size; C uses the three local-disease levels, F local
    persistent disease yes/no. A local disease status outside the three levels (``unknown``)
    counts as missing.
    """
    a, s = _fmt_num(age_cut), _fmt_num(size_cut)
    age_lo, age_hi = f"age < {a}", f"age >= {a}"
    size_lo, size_hi = f"tumour <= {s} cm", f"tumour > {s} cm"

    def by_age(c: pd.DataFrame) -> pd.Series:
        x = c["age_at_diagnosis_years"]
        return pd.Series(np.where(x.isna(), None, np.where(x >= age_cut, age_hi, age_lo)), index=c.index)

    def by_size(c: pd.DataFrame) -> pd.Series:
        x = c["max_tumor_size_cm"]
        return pd.Series(np.where(x.isna(), None, np.where(x > size_cut, size_hi, size_lo)), index=c.index)

    def by_local(c: pd.DataFrame) -> pd.Series:
        x = c["local_disease_status"]
        return x.where(x.isin(LOCAL_LEVELS), None)

    def local_persistent(c: pd.DataFrame) -> pd.Series:
        x = by_local(c)
        return pd.Series(
            np.where(x.isna(), None, np.where(x == "local_persistent", "local_persistent", "not local_persistent")),
            index=c.index,
        )

    age = {"label": "age group", "levels": [age_lo, age_hi], "factor_of": by_age}
    size = {"label": "tumour size group", "levels": [size_lo, size_hi], "factor_of": by_size}

    def by_group(c: pd.DataFrame) -> pd.Series:
        return c[group_col]

    rait = list(RAIT_GROUPS)
    return [
        {
            "name": "age",
            "figure": "4A",
            "description": f"age at diagnosis >= {a} vs < {a} years",
            "groups": [age_lo, age_hi],
            "group_of": by_age,
            "subset": None,
            "interaction": age,
        },
        {
            "name": "tumour_size",
            "figure": "4B",
            "description": f"maximum tumour size > {s} cm vs <= {s} cm",
            "groups": [size_lo, size_hi],
            "group_of": by_size,
            "subset": None,
            "interaction": size,
        },
        {
            "name": "local_disease_status",
            "figure": "4C",
            "description": "local disease before RAIT: neither vs local recurrence vs local persistent",
            "groups": list(LOCAL_LEVELS),
            "group_of": by_local,
            "subset": None,
            "interaction": {"label": "local disease status", "levels": list(LOCAL_LEVELS), "factor_of": by_local},
        },
        {
            "name": f"rait_group_in_age_ge_{a}",
            "figure": "4D",
            "description": f"o-RAIT vs m-RAIT, age at diagnosis >= {a} years",
            "groups": rait,
            "group_of": by_group,
            "subset": lambda c: c["age_at_diagnosis_years"] >= age_cut,
            "interaction": age,
        },
        {
            "name": f"rait_group_in_tumour_gt_{s}cm",
            "figure": "4E",
            "description": f"o-RAIT vs m-RAIT, maximum tumour size > {s} cm",
            "groups": rait,
            "group_of": by_group,
            "subset": lambda c: c["max_tumor_size_cm"] > size_cut,
            "interaction": size,
        },
        {
            "name": "rait_group_in_local_persistent",
            "figure": "4F",
            "description": "o-RAIT vs m-RAIT, local persistent disease before RAIT",
            "groups": rait,
            "group_of": by_group,
            "subset": lambda c: c["local_disease_status"] == "local_persistent",
            "interaction": {
                "label": "local persistent disease",
                "levels": ["not local_persistent", "local_persistent"],
                "factor_of": local_persistent,
            },
        },
    ]


class SurvivalAnalysis:
    """The study's progression-free survival analyses (docs/specification.md section 4 ``survival``).

    `SurvivalComparison` of o-RAIT and m-RAIT in the eligible cohort and in the matched cohort,
    and the Fig. 4 subgroup analyses (`subgroup_specs`: age, tumour size, local disease status,
    and o- vs m-RAIT inside the high-risk subgroups).

    Parameters
    ----------
    age_cut_years, size_cut_cm : float
        Subgroup cuts: age >= ``age_cut_years``, tumour > ``size_cut_cm`` (declared defaults 45, 4).
    subgroup_cohort : {"matched", "eligible"}
        Which cohort the Fig. 4 subgroups use. The study reports them "for the matched cohort".
    subgroup_min_patients, subgroup_min_events : int
        A Fig. 4 panel reports no hazard ratio when an arm has fewer patients, or the panel fewer
        events (declared defaults 5 and 5); its curves and log-rank test are still given.
    horizon, at_risk_every, alpha
        See `SurvivalComparison`.

    Notes
    -----
    The matched comparison uses the pairs: its HR is the marginal Cox HR with the
    cluster-robust (by pair) SE, and a pair-stratified Cox model is added as a sensitivity
    analysis (`SurvivalComparison` with ``cluster_col="pair_id"``; Austin 2014). The Fig. 4
    panels are descriptive: their HRs have the model-based SE, on purpose. A panel holds few
    pairs and events, and a sandwich variance from few clusters is anti-conservative: on the
    frozen matched cohort R's ``coxph(..., cluster = pair)`` gives the local-persistent panel an
    SE of 0.41 against the model-based 1.47 (checked 2026-12-05, survival 3.5.3). Each panel carries the
    likelihood-ratio test of the RAIT group x subgroup-factor interaction (`interaction_test`),
    the test of whether the effect differs between subgroups.

    Attributes
    ----------
    overall_ : SurvivalComparison
    matched_ : SurvivalComparison or None
        None when no matched cohort was given.
    baseline_eligible_ : SurvivalComparison or None
        The sensitivity analysis on the patients eligible at baseline (criteria judged at the first
        RAIT, ``marts.patients.is_eligible_at_baseline``); None when no baseline cohort was given
        or it lacks a group (``baseline_eligible_reason_`` says why).
    subgroups_ : list of (dict, SurvivalComparison or None, dict)
        Per subgroup analysis: its spec (`subgroup_specs`), its comparison (None when the
        matched cohort is needed and missing) and ``info`` (cohort, patients left out, the
        ``interaction`` test).

    Examples
    --------
    >>> from rait_registry.analysis import PropensityMatcher, SurvivalAnalysis
    >>> matched = PropensityMatcher().fit(cohort).matched_cohort_
    >>> fitted = SurvivalAnalysis(age_cut_years=45, size_cut_cm=4).fit(cohort, matched)
    >>> fitted.summary.loc[["overall", "matched", "age"], ["n", "events", "logrank_p"]].round(3)
                n  events  logrank_p
    analysis
    overall   117      24      0.131
    matched    70       8      0.599
    age        70       8      0.000
    """

    def __init__(
        self,
        age_cut_years: float = DEFAULTS.age_cut_years,
        size_cut_cm: float = DEFAULTS.size_cut_cm,
        subgroup_cohort: str = DEFAULTS.subgroup_cohort,
        horizon: float = DEFAULTS.horizon_months,
        at_risk_every: float = 12.0,
        alpha: float = DEFAULTS.alpha,
        subgroup_min_patients: int = DEFAULTS.subgroup_min_patients,
        subgroup_min_events: int = DEFAULTS.subgroup_min_events,
    ) -> None:
        if subgroup_cohort not in ("matched", "eligible"):
            raise AnalysisError(f"subgroup_cohort must be 'matched' or 'eligible', got {subgroup_cohort!r}")
        self.age_cut_years = age_cut_years
        self.size_cut_cm = size_cut_cm
        self.subgroup_cohort = subgroup_cohort
        self.subgroup_min_patients = subgroup_min_patients
        self.subgroup_min_events = subgroup_min_events
        self.horizon = horizon
        self.at_risk_every = at_risk_every
        self.alpha = alpha

    def fit(
        self,
        cohort: pd.DataFrame,
        matched_cohort: pd.DataFrame | None = None,
        duration_col: str = "pfs_months",
        event_col: str = "pfs_event",
        group_col: str = "rait_group",
        baseline_cohort: pd.DataFrame | None = None,
    ) -> SurvivalAnalysis:
        """Fit every survival analysis of the study.

        Parameters
        ----------
        cohort : DataFrame
            The eligible cohort (``marts.analysis_cohort``).
        matched_cohort : DataFrame, optional
            The matched cohort (`PropensityMatcher.matched_cohort_`); None when matching was not run.
        baseline_cohort : DataFrame, optional
            The patients eligible at baseline (`rait_registry.warehouse.read_baseline_eligible_cohort`),
            compared as a sensitivity analysis; None: that analysis is reported as skipped.
        duration_col, event_col, group_col : str
            Columns of both cohorts.

        Returns
        -------
        self
        """
        cols = {"duration_col": duration_col, "event_col": event_col}

        def compare(data: pd.DataFrame, by: str, groups: Sequence[str], **kw: Any) -> SurvivalComparison:
            minimums = kw.pop("minimums", {})
            return SurvivalComparison(
                group_order=groups, horizon=self.horizon, at_risk_every=self.at_risk_every, alpha=self.alpha, **minimums
            ).fit(data, group_col=by, **cols, **kw)

        rait = list(RAIT_GROUPS)
        self.overall_ = compare(cohort, group_col, rait)
        self.baseline_eligible_, self.baseline_eligible_reason_ = None, None
        self._baseline_ids = None
        if baseline_cohort is None:
            self.baseline_eligible_reason_ = (
                "the warehouse publishes no marts.patients.is_eligible_at_baseline (refreshed by an older version): "
                "refresh it to compare the patients eligible at baseline"
            )
        else:
            counts = baseline_cohort[group_col].value_counts()
            if any(int(counts.get(g, 0)) == 0 for g in rait):
                self.baseline_eligible_reason_ = (
                    "the comparison needs patients eligible at baseline in both groups; there are "
                    + " and ".join(f"{int(counts.get(g, 0))} {g}" for g in rait)
                )
            else:
                self.baseline_eligible_ = compare(baseline_cohort, group_col, rait)
            self._baseline_ids = (set(cohort["patient_id"]), set(baseline_cohort["patient_id"]))
        self.matched_ = None
        if matched_cohort is not None:
            pairs = "pair_id" if "pair_id" in matched_cohort.columns else None
            self.matched_ = compare(matched_cohort, group_col, rait, cluster_col=pairs)
        minimums = {"min_group_n": self.subgroup_min_patients, "min_events": self.subgroup_min_events}
        source = matched_cohort if self.subgroup_cohort == "matched" else cohort
        self.subgroups_: list[tuple[dict[str, Any], SurvivalComparison | None, dict[str, Any]]] = []
        for spec in subgroup_specs(self.age_cut_years, self.size_cut_cm, group_col):
            info: dict[str, Any] = {"cohort": self.subgroup_cohort}
            if source is None:
                info["notes"] = ["matching was not run, so the matched-cohort subgroups are not available"]
                info["interaction"] = skipped(info["notes"][0])
                self.subgroups_.append((spec, None, info))
                continue
            data = source
            if spec["subset"] is not None:
                mask = spec["subset"](data).fillna(False).astype(bool)
                info["n_outside_subset"] = int((~mask).sum())
                data = data.loc[mask]
            labels = spec["group_of"](data)
            info["n_excluded_missing"] = int(labels.isna().sum())
            data = data.assign(_subgroup=labels).loc[labels.notna()]
            inter = spec["interaction"]
            info["interaction"] = interaction_test(
                source,
                inter["factor_of"](source),
                inter["levels"],
                reference=rait[0],
                comparison=rait[1],
                group_col=group_col,
                label=inter["label"],
                **cols,
            )
            self.subgroups_.append((spec, compare(data, "_subgroup", spec["groups"], minimums=minimums), info))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "overall_"):
            raise AnalysisError("call fit(cohort, matched_cohort) before asking for results")

    @property
    def summary(self) -> pd.DataFrame:
        """One row per analysis (``overall``, ``matched``, the subgroups): n, events, log-rank, HR."""
        self._check_fitted()
        keys = ("n", "events", "logrank_chi2", "logrank_df", "logrank_p", "hr", "hr_ci_low", "hr_ci_high", "hr_p")
        analyses = [("overall", "", self.overall_), ("matched", "3", self.matched_)]
        if self.baseline_eligible_ is not None:
            analyses.append(("baseline_eligible", "", self.baseline_eligible_))
        analyses += [(spec["name"], spec["figure"], comp) for spec, comp, _ in self.subgroups_]
        rows = []
        for name, figure, comp in analyses:
            d = comp.to_dict() if comp is not None else {}
            rows.append({"analysis": name, "figure": figure, **{k: d.get(k) for k in keys}})
        return pd.DataFrame(rows).set_index("analysis")

    def to_dict(self) -> dict[str, Any]:
        """The contract ``survival`` object ``{overall, matched, subgroups: [{name, ...}]}`` (JSON-ready).

        Each subgroup entry adds ``name``, ``figure``, ``description``, ``cohort``, the numbers
        of patients left out (outside the subset, missing grouping value) and ``interaction``
        (`interaction_test`) to the analysis object. ``interpretation`` holds one sentence each
        on the matched comparison (`matched_sentence`) and the subgroups (`subgroups_sentence`).
        """
        self._check_fitted()
        subs = []
        for spec, comp, info in self.subgroups_:
            entry: dict[str, Any] = {"name": spec["name"], "figure": spec["figure"], "description": spec["description"]}
            entry.update({k: v for k, v in info.items() if k != "notes"})
            if comp is None:
                entry.update(_empty_analysis(spec["groups"], info.get("notes", [])))
            else:
                entry.update(comp.to_dict())
            subs.append(entry)
        matched = None if self.matched_ is None else self.matched_.to_dict()
        baseline = self._baseline_eligible_dict()
        return {
            "overall": self.overall_.to_dict(),
            "matched": matched,
            "subgroups": subs,
            "baseline_eligible": baseline,
            "interpretation": {
                "matched": None if matched is None else matched_sentence(matched, self.alpha),
                "subgroups": subgroups_sentence(subs, self.alpha),
                "baseline_eligible": baseline_eligible_sentence(baseline, self.alpha),
            },
        }

    def _baseline_eligible_dict(self) -> dict[str, Any]:
        """results.json ``survival.baseline_eligible``: the analysis object plus how the two cohorts differ."""
        if self.baseline_eligible_ is None:
            return skipped(str(self.baseline_eligible_reason_))
        eligible, at_baseline = self._baseline_ids
        return {
            "description": BASELINE_ELIGIBLE_DESCRIPTION,
            "n_not_eligible_under_contract": len(at_baseline - eligible),
            "n_eligible_not_at_baseline": len(eligible - at_baseline),
            **self.baseline_eligible_.to_dict(),
        }


def _empty_analysis(groups: Sequence[str], notes: list[str]) -> dict[str, Any]:
    return {
        "logrank_chi2": None,
        "logrank_df": None,
        "logrank_p": None,
        "hr": None,
        "hr_ci_low": None,
        "hr_ci_high": None,
        "hr_reason": notes[0] if notes else None,
        "groups": {},
        "notes": list(notes),
    }


#: What ``survival.baseline_eligible`` is (results.json, the report).
BASELINE_ELIGIBLE_DESCRIPTION = (
    "PFS of o-RAIT vs m-RAIT in the patients eligible at baseline (marts.patients.is_eligible_at_baseline): "
    "the eligibility criteria judged with what is known at the first RAIT + rxwbs_window_days (avidity on the "
    "first post-therapy scan, early progression within early_pd_exclusion_days of the first RAIT only), so that "
    "later cycles cannot exclude a patient; a sensitivity analysis beside the contract's cohort."
)


def baseline_eligible_sentence(entry: dict[str, Any], alpha: float = DEFAULTS.alpha) -> str:
    """One line for a clinician on the baseline-eligible sensitivity analysis (HR, 5-year PFS, cohort change)."""
    from .sensitivity.sentences import hr_sentence

    if entry.get("skipped"):
        return f"PFS in the patients eligible at baseline was not compared: {entry['reason']}."
    groups = entry.get("groups") or {}
    pfs = [
        f"{g} {100 * groups[g]['pfs_5y']:.1f}%"
        for g in RAIT_GROUPS
        if g in groups and groups[g].get("pfs_5y") is not None and math.isfinite(groups[g]["pfs_5y"])
    ]
    text = hr_sentence(
        f"Patients eligible at baseline ({entry['n']}; criteria judged at the first RAIT, so later cycles exclude "
        f"no one; {entry['n_not_eligible_under_contract']} of them outside the primary cohort, and "
        f"{entry['n_eligible_not_at_baseline']} of the primary cohort not eligible at baseline)",
        entry.get("hr"),
        entry.get("hr_ci_low"),
        entry.get("hr_ci_high"),
        alpha,
        reason=entry.get("hr_reason"),
        biases=("immortal_time",),
    )
    return text + (f" 5-year PFS {' vs '.join(pfs)}." if pfs else "")


def matched_sentence(matched: dict[str, Any], alpha: float = DEFAULTS.alpha) -> str:
    """One line for a clinician on the matched comparison: the pair-robust HR, then the pair-stratified one."""
    from .sensitivity.sentences import fmt, hr_sentence, level

    strat = matched.get("hr_stratified")
    pairs = "" if not strat or strat.get("skipped") else f" in {strat['n_strata']} pairs"
    text = hr_sentence(
        f"Matched cohort ({matched['n']} patients{pairs}; SE robust to the pairing)",
        matched.get("hr"),
        matched.get("hr_ci_low"),
        matched.get("hr_ci_high"),
        alpha,
        reason=matched.get("hr_reason"),
    )
    if strat is None:
        return text
    if strat.get("skipped"):
        return (
            text
            + f" Comparing patients only within their pair (pair-stratified Cox model) is not possible: {strat['reason']}."
        )
    return text + (
        f" Comparing patients only within their pair (pair-stratified Cox model, {strat['n_informative_strata']} pairs "
        f"with an informative progression): HR {fmt(strat['hr'])} ({level(alpha)} CI {fmt(strat['ci_low'])} to "
        f"{fmt(strat['ci_high'])})."
    )


def subgroups_sentence(subgroups: Sequence[dict[str, Any]], alpha: float = DEFAULTS.alpha) -> str:
    """One line for a clinician on the Fig. 4 panels: the interaction tests, and the panels too small for an HR."""
    from .sensitivity.sentences import fmt_p

    tests: dict[str, dict[str, Any]] = {}
    untestable: list[str] = []
    for sub in subgroups:
        inter = sub.get("interaction") or {}
        if inter.get("skipped"):
            untestable.append(f"Fig. {sub.get('figure')}")
        elif inter:
            tests.setdefault(inter["factor"], inter)
    parts = []
    if tests:
        listed = ", ".join(f"{name} p = {fmt_p(t['p'])}" for name, t in tests.items())
        low = [name for name, t in tests.items() if t["p"] < alpha]
        parts.append(
            "Fig. 4: does the o- vs m-RAIT difference depend on the subgroup? Interaction tests: "
            + listed
            + "; "
            + (
                f"p < {alpha:g} for {', '.join(low)}: consistent with an effect that differs between those subgroups"
                " (one of several tests; confirm before acting on it)."
                if low
                else f"none below {alpha:g}: no evidence that the effect differs between subgroups (these tests have "
                "little power; the panel HRs are exploratory)."
            )
        )
    if untestable:
        parts.append(f"Interaction not testable in {', '.join(untestable)} (no events in a group-by-subgroup cell).")
    small = [
        f"Fig. {s.get('figure')}" for s in subgroups if s.get("hr") is None and "too few" in str(s.get("hr_reason"))
    ]
    if small:
        parts.append(f"{', '.join(small)}: too few patients or events for a hazard ratio; only the curves are drawn.")
    return " ".join(parts) if parts else "No subgroup analysis could be run."
