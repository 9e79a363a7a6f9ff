"""The proportional-hazards test of R survival's ``cox.zph`` (survival >= 3), for every Cox model reported.

A Cox hazard ratio summarises the effect over the whole follow-up only if the hazards are
proportional. `ProportionalHazardsTest` is the test R users know, ``cox.zph(fit, transform =
"km", terms = TRUE)`` of survival 3.x: a score test of adding ``x * g(t)`` to the model for each
term, with ``g(t) = 1 - S(t-)`` the left-continuous Kaplan-Meier estimate of all rows (the "km"
transform), centred at its mean over the events. For a term with columns ``J`` (a factor or a
spline is one term) the statistic is ``u' I^-1 u`` over the model's columns plus ``J``, where
``u`` is the score of the time-interaction columns at ``(beta_hat, 0)`` (the model's own score
is taken as 0) and ``I`` the information matrix of the augmented model, with ``|J|`` degrees of
freedom; the global test uses every column. lifelines' ``proportional_hazard_test`` is a
different statistic (Grambsch & Therneau's 1994 approximation with a separate time transform),
so R's is written here. How it is computed (from R survival's ``cox.zph`` and the C routines
``zph1``/``zph2`` it calls; the test itself, not the scaled residuals of the plot):

* at each event time ``t`` of a stratum, with risk set ``R`` (``start < t <= stop`` for
  counting-process rows), deaths ``D`` (``d`` of them), risk ``w exp(x beta)`` and the Efron
  steps ``c = 1/d, 2/d, ..., 1`` (the deaths' share in the sums): mean ``xbar_c`` and covariance
  ``V_c`` of ``x`` over the risk set; ``u += g(t) (sum_D w x - wbar sum_c xbar_c)`` and
  ``I += wbar sum_c V_c [[1, g], [g, g^2]]`` with ``wbar`` the mean case weight of the deaths;
* **weights**: case weights enter the risk sums, the deaths' score and ``wbar``, as in R; the
  Kaplan-Meier transform is *unweighted* (R calls ``survfitKM`` without the weights), and so is
  the mean of ``g`` over the events;
* **robust or clustered variance**: survival 3's ``cox.zph`` does not use the fit's variance
  (robust or model-based) in the test: it is built from the weighted information matrix above,
  recomputed at the estimate. So a model fitted with a cluster-robust SE (the matched HR) gets
  the same test as its model-based twin, and a weighted model the test with the weights in the
  score and in that (model-based, weighted) information. This is what is matched, and what the
  R references (``coxph(..., cluster = pair)``, ``coxph(..., weights = w, robust = TRUE)``) give;
* **strata**: risk sets within a stratum; the Kaplan-Meier transform pools all strata, as R;
* ``transform`` may also be ``"identity"``, ``"rank"`` (average ranks of all times) or ``"log"``.

The sums are formed with one sort and suffix sums within strata (O(n log n) in the rows), never
per event time over all rows, so the test is cheap beside the fit at a million patients.
Agreement with R ``cox.zph`` (survival 3.5) is tested on the frozen demo cohort and lifelines'
rossi data for fixed, clustered, weighted, stratified, spline and counting-process models.

References
----------
Grambsch PM, Therneau TM (1994). Proportional hazards tests and diagnostics based on weighted
residuals. *Biometrika* 81:515-526.
Therneau TM, Grambsch PM (2000). *Modeling Survival Data: Extending the Cox Model*. Springer,
chapter 6.
Therneau TM (2023). survival: a package for survival analysis in R, ``cox.zph`` (version 3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2, rankdata

from rait_registry.exceptions import AnalysisError

from .config import DEFAULTS
from .cox import CoxData

__all__ = ["TRANSFORMS", "ProportionalHazardsTest", "ph_test", "proportional_hazards_section", "skipped"]

#: The time transforms of ``cox.zph``.
TRANSFORMS = ("km", "identity", "rank", "log")

METHOD = (
    'R survival >= 3 cox.zph(fit, transform = "km", terms = TRUE): score test of x * g(t) per term and '
    "globally, g = 1 - left-continuous Kaplan-Meier of all rows, centred over the events"
)


def skipped(reason: str) -> dict[str, Any]:
    """The one shape of an analysis that could not run: ``{"skipped": True, "reason": reason}``."""
    return {"skipped": True, "reason": reason}


def _time_transform(transform: str, start: np.ndarray | None, stop: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``g`` at each row's stop time, before centring."""
    if transform == "identity":
        return stop.copy()
    if transform == "rank":
        return rankdata(stop, method="average")
    if transform == "log":
        return np.log(stop)
    # left-continuous Kaplan-Meier of all rows (unweighted, strata pooled), as survfitKM
    times, deaths = np.unique(stop[event], return_counts=True)
    stops = np.sort(stop)
    at_risk = stop.size - np.searchsorted(stops, times, side="left")
    if start is not None:
        starts = np.sort(start)
        at_risk = at_risk - (start.size - np.searchsorted(starts, times, side="left"))
    surv = np.cumprod(1.0 - deaths / at_risk)
    before = np.searchsorted(times, stop, side="left")  # event times strictly before each stop
    return 1.0 - np.concatenate([[1.0], surv])[before]


def _within_suffix_sums(values: np.ndarray, strata: np.ndarray | None) -> np.ndarray:
    """Sum of ``values`` from each row to the end of its stratum (rows sorted by stratum)."""
    if strata is None:
        return np.cumsum(values[::-1], axis=0)[::-1]
    rev = pd.DataFrame(values[::-1]).groupby(strata[::-1], sort=False).cumsum()
    return rev.to_numpy()[::-1]


def zph_score_information(
    X: np.ndarray,
    stop: np.ndarray,
    event: np.ndarray,
    params: np.ndarray,
    *,
    start: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    transform: str = "km",
) -> tuple[np.ndarray, np.ndarray]:
    """Score ``u`` (2p, the first p zero) and information (2p x 2p) of the model augmented by ``x g(t)``.

    The quantities ``cox.zph`` gets from its C routines ``zph1`` (right-censored) and ``zph2``
    (counting process) with Efron ties, at ``(params, 0)``; see the module notes.
    """
    stop = np.asarray(stop, dtype=float)
    n = stop.size
    X = np.asarray(X, dtype=float).reshape(n, -1)
    p = X.shape[1]
    E = np.asarray(event).astype(bool)
    st = None if start is None else np.asarray(start, dtype=float)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    g = _time_transform(transform, st, stop, E)
    g = g - g[E].mean()

    X = X - X.mean(axis=0)  # as R: less round-off, the test is unchanged
    eta = X @ np.asarray(params, dtype=float)
    wr = w * np.exp(eta - eta.max())
    strata_codes = np.zeros(n, dtype=np.int64) if strata is None else pd.factorize(np.asarray(strata))[0]

    # risk sums of 1, x and the products x_i x_j (i <= j), as columns
    iu, ju = np.triu_indices(p)
    values = np.column_stack([wr, wr[:, None] * X, wr[:, None] * X[:, iu] * X[:, ju]])

    # integer keys (stratum, time rank) so that one sort orders rows within strata by time
    times = np.unique(stop if st is None else np.concatenate([stop, st]))
    m = times.size + 1
    key_stop = strata_codes * m + np.searchsorted(times, stop)
    by_stop = np.argsort(key_stop, kind="stable")
    keys_sorted = key_stop[by_stop]
    grouped = None if strata is None else strata_codes[by_stop]
    suffix = _within_suffix_sums(values[by_stop], grouped)

    event_keys, inverse = np.unique(key_stop[E], return_inverse=True)
    first = np.searchsorted(keys_sorted, event_keys, side="left")
    risk = suffix[first]
    if st is not None:  # rows entering at or after t are not yet at risk
        key_start = strata_codes * m + np.searchsorted(times, st)
        by_start = np.argsort(key_start, kind="stable")
        start_sorted = key_start[by_start]
        suffix_start = _within_suffix_sums(values[by_start], None if strata is None else strata_codes[by_start])
        pos = np.searchsorted(start_sorted, event_keys, side="left")
        inside = pos < n
        same = np.zeros(event_keys.size, dtype=bool)
        same[inside] = (start_sorted[pos[inside]] // m) == (event_keys[inside] // m)
        risk = risk - np.where(same[:, None], suffix_start[np.minimum(pos, n - 1)], 0.0)

    k = event_keys.size
    d = np.bincount(inverse, minlength=k).astype(float)
    dead = np.stack([np.bincount(inverse, weights=values[E, c], minlength=k) for c in range(values.shape[1])], axis=1)
    wbar = np.bincount(inverse, weights=w[E], minlength=k) / d
    g_time = np.bincount(inverse, weights=g[E], minlength=k) / d  # g is a function of time

    # Efron steps c = 1/d, ..., 1 (the deaths' share of the sums)
    step = np.repeat(np.arange(k), d.astype(np.int64))
    offset = np.concatenate([[0], np.cumsum(d.astype(np.int64))[:-1]])
    share = (np.arange(step.size) - offset[step] + 1) / d[step]
    sums = (risk - dead)[step] + share[:, None] * dead[step]
    den = sums[:, 0]
    xbar = sums[:, 1 : 1 + p] / den[:, None]
    second = np.zeros((step.size, p, p))
    second[:, iu, ju] = sums[:, 1 + p :] / den[:, None]
    second[:, ju, iu] = second[:, iu, ju]
    V = second - xbar[:, :, None] * xbar[:, None, :]
    gs, ws = g_time[step], wbar[step]

    u = np.zeros(2 * p)
    u[p:] = (g[E] * w[E]) @ X[E] - (gs * ws) @ xbar
    info = np.zeros((2 * p, 2 * p))
    info[:p, :p] = np.einsum("s,sij->ij", ws, V)
    info[:p, p:] = info[p:, :p] = np.einsum("s,sij->ij", ws * gs, V)
    info[p:, p:] = np.einsum("s,sij->ij", ws * gs * gs, V)
    return u, info


class ProportionalHazardsTest:
    """R's ``cox.zph`` test of proportional hazards for a fitted Cox model.

    Parameters
    ----------
    transform : {"km", "identity", "rank", "log"}, default "km"
        Time transform ``g`` (R's default, and what this project reports).
    alpha : float, default 0.05 (the declared ``ph_test_alpha``)
        A term or the global test with ``p < alpha`` is flagged (``violated_``).

    Attributes
    ----------
    table_ : DataFrame
        ``chisq``, ``df``, ``p`` by term, and a last row ``GLOBAL``.
    violated_ : bool
        Some p-value (a term or the global test) below ``alpha``.
    n_, events_ : int
        Rows and events of the model.

    Examples
    --------
    >>> from rait_registry.analysis import ProportionalHazardsTest, fit_cox
    >>> df = cohort.assign(m_rait=(cohort["rait_group"] == "m-RAIT").astype(float))
    >>> cph, _ = fit_cox(df[["pfs_months", "pfs_event", "m_rait"]], "pfs_months", "pfs_event")
    >>> ProportionalHazardsTest().fit_model(cph).summary.round(3)
            chisq  df      p
    term
    m_rait  1.791   1  0.181
    GLOBAL  1.791   1  0.181
    """

    def __init__(self, transform: str = "km", alpha: float = DEFAULTS.ph_test_alpha) -> None:
        if transform not in TRANSFORMS:
            raise AnalysisError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
        if not 0 < alpha < 1:
            raise AnalysisError(f"alpha must lie in (0, 1), got {alpha!r}")
        self.transform = transform
        self.alpha = alpha

    def fit(
        self,
        df: pd.DataFrame,
        duration_col: str,
        event_col: str,
        params: Mapping[str, float] | pd.Series,
        *,
        start_col: str | None = None,
        weights_col: str | None = None,
        strata_col: str | None = None,
        terms: Mapping[str, Sequence[str]] | None = None,
    ) -> ProportionalHazardsTest:
        """Test the model with coefficients ``params`` (by covariate column of ``df``).

        Parameters
        ----------
        df : DataFrame
            The rows the model was fitted on.
        duration_col, event_col : str
            Time (the interval's end for counting-process rows) and event (0/1).
        params : mapping or Series
            Fitted coefficients by covariate column (their order is the model's).
        start_col, weights_col, strata_col : str, optional
            Interval start (counting-process rows), case weights, strata.
        terms : mapping of str -> list of str, optional
            Terms as groups of columns (a spline or a factor is one term); default one term
            per column. Every column must be in exactly one term.

        Returns
        -------
        self

        Raises
        ------
        AnalysisError
            No events, or the augmented information matrix is singular (a covariate constant
            within every risk set): the test is not defined.
        """
        params = pd.Series(params, dtype=float)
        cols = list(params.index)
        terms = {c: [c] for c in cols} if terms is None else {t: list(c) for t, c in terms.items()}
        listed = [c for cs in terms.values() for c in cs]
        if sorted(listed) != sorted(cols):
            raise AnalysisError(f"terms must partition the model's columns {cols}, got {dict(terms)}")
        events = df[event_col].to_numpy(dtype=float) == 1
        if not events.any():
            raise AnalysisError("no events: the proportional-hazards test is not defined")
        u, info = zph_score_information(
            df[cols].to_numpy(dtype=float),
            df[duration_col].to_numpy(dtype=float),
            events,
            params.to_numpy(dtype=float),
            start=None if start_col is None else df[start_col].to_numpy(dtype=float),
            weights=None if weights_col is None else df[weights_col].to_numpy(dtype=float),
            strata=None if strata_col is None else df[strata_col].to_numpy(),
            transform=self.transform,
        )
        p = len(cols)
        rows = []
        for name, tcols in [*terms.items(), ("GLOBAL", cols)]:
            kk = list(range(p)) + [p + cols.index(c) for c in tcols]
            try:
                stat = float(u[kk] @ np.linalg.solve(info[np.ix_(kk, kk)], u[kk]))
            except np.linalg.LinAlgError as exc:
                raise AnalysisError(
                    f"the proportional-hazards test of {name!r} is not defined: its information matrix is "
                    "singular (a covariate constant within the risk sets)"
                ) from exc
            dof = len(tcols)
            rows.append({"term": name, "chisq": stat, "df": dof, "p": float(chi2.sf(max(stat, 0.0), dof))})
        self.table_ = pd.DataFrame(rows).set_index("term")
        self.n_, self.events_ = len(df), int(events.sum())
        self.violated_ = bool((self.table_["p"] < self.alpha).any())
        return self

    def fit_model(self, fitter: Any, terms: Mapping[str, Sequence[str]] | None = None) -> ProportionalHazardsTest:
        """Test a model of `rait_registry.analysis.cox` (any fit with ``params_`` and ``fit_data_``)."""
        data: CoxData | None = getattr(fitter, "fit_data_", None)
        if data is None:
            raise AnalysisError("the model carries no fit_data_: fit it with rait_registry.analysis.cox")
        return self.fit(
            data.frame,
            data.duration_col,
            data.event_col,
            fitter.params_[list(data.covariates)],
            start_col=data.start_col,
            weights_col=data.weights_col,
            strata_col=data.strata_col,
            terms=terms,
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "table_"):
            raise AnalysisError("call fit(...) or fit_model(fitter) before asking for results")

    @property
    def summary(self) -> pd.DataFrame:
        """``chisq``, ``df``, ``p`` by term and ``GLOBAL``."""
        self._check_fitted()
        return self.table_

    def to_dict(self) -> dict[str, Any]:
        """``{n, events, terms: [{term, chisq, df, p}], global: {chisq, df, p}, violated}``."""
        self._check_fitted()
        rows = [{"term": str(t), **_row(r)} for t, r in self.table_.drop(index="GLOBAL").iterrows()]
        return {
            "n": self.n_,
            "events": self.events_,
            "terms": rows,
            "global": _row(self.table_.loc["GLOBAL"]),
            "violated": self.violated_,
        }


def _row(r: pd.Series) -> dict[str, Any]:
    stat = float(r["chisq"])
    return {"chisq": stat if math.isfinite(stat) else None, "df": int(r["df"]), "p": float(r["p"])}


def ph_test(
    fitter: Any,
    *,
    terms: Mapping[str, Sequence[str]] | None = None,
    alpha: float = DEFAULTS.ph_test_alpha,
    reason: str | None = None,
) -> dict[str, Any]:
    """The results.json object of one model's test, or ``skipped`` with a reason.

    ``fitter`` None (no model) gives ``skipped(reason)``; a test that is not defined gives
    ``skipped`` with its reason.
    """
    if fitter is None:
        return skipped(reason or "no Cox model was fitted")
    try:
        return ProportionalHazardsTest(alpha=alpha).fit_model(fitter, terms).to_dict()
    except AnalysisError as exc:
        return skipped(str(exc))


# ---------------------------------------------------------------------------------------------
# Every reported Cox model (results.json ``proportional_hazards``)
# ---------------------------------------------------------------------------------------------

_GROUP_TERM = "m-RAIT vs o-RAIT"


def _group_terms(comparison: Any) -> dict[str, list[str]]:
    """The one term of a `SurvivalComparison`'s Cox model (column ``x``), named after its groups."""
    hr = comparison.hr_
    return {f"{hr['comparison']} vs {hr['reference']}": ["x"]}


def _spline_terms(fitter: Any) -> dict[str, list[str]]:
    """A dose-response model's terms: the spline columns (``gbq_s1``, ...) as one term."""
    cols = list(fitter.params_.index)
    spline = [c for c in cols if c.startswith("gbq_s")]
    terms: dict[str, list[str]] = {}
    if spline:
        terms[f"cumulative_gbq (natural spline, {len(spline)} df)"] = spline
    terms.update({c: [c] for c in cols if c not in spline})
    return terms


def reported_cox_models(survival: Any, sensitivity: Any = None) -> list[tuple[str, str, Any, str | None, Any]]:
    """Every Cox model whose hazard ratio results.json reports: ``(key, description, model, reason, terms)``.

    ``key`` is where the HR is reported (``survival.matched``, ``landmark.hr_adjusted``, ...);
    ``model`` is None when it could not be fitted (``reason`` then says why, or the analysis'
    notes do); ``terms`` groups columns into terms (None: one per column). The models of a
    `SurvivalAnalysis` and, when given, of `SensitivityAnalyses` (the primary matched
    comparison they repeat and the 3-group panel without an HR are left out).
    """
    out: list[tuple[str, str, Any, str | None, Any]] = []

    def comparison(key: str, description: str, comp: Any) -> None:
        if comp is None or len(comp.groups_) != 2:
            return
        out.append((key, description, comp.cox_, comp.hr_["reason"], _group_terms(comp)))

    comparison("survival.overall", "eligible cohort, groups by the final number of cycles", survival.overall_)
    matched = survival.matched_
    comparison("survival.matched", "matched cohort, marginal Cox model (SE robust to the pairs)", matched)
    if matched is not None and matched.stratified_hr_ is not None:
        out.append(
            (
                "survival.matched.hr_stratified",
                "matched cohort, Cox model stratified by pair",
                matched.stratified_,
                matched.stratified_hr_.get("reason"),
                _group_terms(matched),
            )
        )
    for spec, comp, _ in survival.subgroups_:
        comparison(f"survival.subgroups.{spec['name']}", f"Fig. {spec['figure']}: {spec['description']}", comp)
    comparison(
        "survival.baseline_eligible",
        "patients eligible at baseline (criteria judged at the first RAIT)",
        getattr(survival, "baseline_eligible_", None),
    )
    if sensitivity is None:
        return out
    landmark = sensitivity.results_["landmark"].fitted
    comparison(
        "landmark.analysis", "landmark analysis, groups by the cycles received by the landmark", landmark["comparison"]
    )
    no_fit = "the model could not be fitted (see the analysis' notes)"
    out.append(("landmark.hr_adjusted", "landmark analysis, adjusted", landmark.get("adjusted"), no_fit, None))
    for lm, model in (landmark.get("by_landmark") or {}).items():
        out.append((f"landmark.by_landmark.{lm:g}", f"landmark at {lm:g} months", model, no_fit, {_GROUP_TERM: ["x"]}))
    for name, model in sensitivity.time_varying_.items():
        out.append((f"time_varying_cox.models.{name}", f"time-varying Cox model {name}", model, no_fit, None))
    for variant, _, comp in sensitivity.matching_variants_:
        if comp is not None:
            comparison(f"sensitivity.matching.{variant.label}", f"matching variant: {variant.label}", comp)
    out.append(
        ("sensitivity.iptw", "inverse probability of treatment weighting", sensitivity.iptw_.get("cox"), no_fit, None)
    )
    for name, model in sensitivity.dose_models_.items():
        section, _, kind = name.rpartition("_")
        out.append(
            (
                f"dose_response.{section}.{kind}",
                f"dose-response, {section.replace('_', '-')} cumulative activity, {kind}",
                model,
                no_fit,
                None if model is None else _spline_terms(model),
            )
        )
    return out


def proportional_hazards_section(
    survival: Any, sensitivity: Any = None, *, alpha: float = DEFAULTS.ph_test_alpha
) -> dict[str, Any]:
    """results.json ``proportional_hazards``: R's ``cox.zph`` test of every reported Cox model.

    Parameters
    ----------
    survival : SurvivalAnalysis
    sensitivity : SensitivityAnalyses, optional
    alpha : float, default 0.05 (the declared ``ph_test_alpha``)

    Returns
    -------
    dict
        ``{method, transform, alpha, models: {key: {description, n, events, terms, global,
        violated} or {description, skipped, reason}}, violations: [key, ...], interpretation}``.
    """
    models: dict[str, Any] = {}
    for key, description, model, reason, terms in reported_cox_models(survival, sensitivity):
        models[key] = {"description": description, **ph_test(model, terms=terms, alpha=alpha, reason=reason)}
    tested = [k for k, v in models.items() if not v.get("skipped")]
    violations = [k for k in tested if models[k]["violated"]]
    return {
        "method": METHOD,
        "transform": "km",
        "alpha": alpha,
        "models": models,
        "violations": violations,
        "interpretation": ph_sentence(models, violations, alpha),
    }


def ph_sentence(models: Mapping[str, Any], violations: Sequence[str], alpha: float) -> str:
    """One line for a clinician on the proportional-hazards checks."""
    tested = [k for k, v in models.items() if not v.get("skipped")]
    if not tested:
        return "No Cox model could be checked for proportional hazards."
    head = f"Proportional hazards were checked (R cox.zph) for {len(tested)} Cox model(s)"
    if not violations:
        return (
            head + f"; no test had p < {alpha:g}, consistent with hazard ratios that stay roughly constant over "
            "follow-up (with few events these tests have little power, so this is no proof)."
        )
    named = "; ".join(str(models[k]["description"]) for k in violations)
    return (
        head + f"; p < {alpha:g} for {len(violations)}: {named}. There the hazard ratio averages an effect that "
        "changes over follow-up: read the Kaplan-Meier curves rather than the single number."
    )


def ph_table(section: Mapping[str, Any]) -> pd.DataFrame:
    """The ``proportional_hazards`` section as one row per model and term (``GLOBAL`` last), for the CSV."""
    rows = []
    for key, entry in section["models"].items():
        if entry.get("skipped"):
            rows.append({"model": key, "description": entry["description"], "term": None, "reason": entry["reason"]})
            continue
        for term in [*entry["terms"], {"term": "GLOBAL", **entry["global"]}]:
            rows.append(
                {
                    "model": key,
                    "description": entry["description"],
                    "term": term["term"],
                    "chisq": term["chisq"],
                    "df": term["df"],
                    "p": term["p"],
                    "flagged": term["p"] < section["alpha"],
                    "n": entry["n"],
                    "events": entry["events"],
                }
            )
    return pd.DataFrame(rows)
