"""Multi-centre registries: PFS stratified by centre, per-centre hazard ratios and their heterogeneity.

A registry that pools centres compares o-RAIT with m-RAIT inside centres that differ in case-mix,
RAIT practice and outcome. `CentreAnalysis` answers, on ``marts.analysis_cohort`` (its
``center_id``; a patient without a centre is the stratum ``unknown``, docs/specification.md
section 2):

* the **log-rank test stratified by centre** (R ``survdiff(Surv(pfs_months, pfs_event) ~
  rait_group + strata(center_id))``; statsmodels ``survdiff(..., strata=)``): the observed minus
  expected events are summed over the centres, each with its own risk sets;
* the **Cox model stratified by centre** (R ``coxph(Surv ~ rait_group + strata(center_id))``,
  Efron ties): one hazard ratio of m-RAIT vs o-RAIT, each centre with its own baseline hazard
  (`rait_registry.analysis.survival.stratified_hazard_ratio`);
* the **per-centre hazard ratios** (a Cox model in each centre; not estimable in a centre where
  a group has no patients or no events) and, when at least two centres have an estimable one,
  their **heterogeneity**: Cochran's Q, I-squared (Higgins & Thompson 2002) and the
  DerSimonian-Laird between-centre variance tau-squared, with the fixed- and random-effects
  pooled hazard ratios (statsmodels ``combine_effects(method_re="dl")``, from each centre's
  log-HR and its model-based SE);
* **Table 1 by centre**: the baseline characteristics of Table 1 in each centre (descriptive).

A cohort from one centre has nothing to stratify: the analysis raises `AnalysisError` with the
reason "one centre: stratified analyses not applicable", which ``analyze`` records as the
section's skipped shape. `matching_options` turns the ``centre_in_matching`` option into the
arguments of `rait_registry.analysis.matching.PropensityMatcher` (the centre as a term of the
propensity model, or pairs only within a centre).

Every hazard ratio compares groups defined by the number of RAITs received during follow-up, so
each sentence carries the immortal-time caveat (`rait_registry.analysis.wording`); Q has little
power with few centres, so a small I-squared is never read as "no heterogeneity".

References
----------
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. *Control Clin Trials* 7:177-188.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. *Stat Med* 21:1539-1558.
Glidden DV, Vittinghoff E (2004). Modelling clustered survival data from multicentre clinical
trials. *Stat Med* 23:369-388.
Therneau TM, Grambsch PM (2000). *Modeling Survival Data: Extending the Cox Model*, ch. 3 (strata).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2
from statsmodels.duration.survfunc import survdiff as sm_survdiff
from statsmodels.stats.meta_analysis import combine_effects

from rait_registry.contract import M_RAIT, O_RAIT

from ..exceptions import AnalysisError
from .config import DEFAULTS, AnalysisConfig
from .formatting import format_p
from .skips import skipped
from .survival import hazard_ratio, stratified_hazard_ratio
from .tables import TABLE1_CHARACTERISTICS
from .wording import bias_clause, interval_reading

__all__ = [
    "CENTRE_COLUMN",
    "ONE_CENTRE",
    "UNKNOWN_CENTRE",
    "CentreAnalysis",
    "heterogeneity",
    "matching_options",
    "table1_by_centre",
]

#: The cohort column of the centre (marts.analysis_cohort.center_id).
CENTRE_COLUMN = "center_id"
#: The stratum of the patients whose extract gives no centre (int_patients__centre).
UNKNOWN_CENTRE = "unknown"
#: The reason of a cohort from one centre.
ONE_CENTRE = "one centre: stratified analyses not applicable"
#: Fewer centres with an estimable hazard ratio than this: no heterogeneity display.
MIN_CENTRES = 2
#: The reading of the heterogeneity: I-squared from which it is called substantial (Higgins et al.
#: 2003: 25% low, 50% moderate, 75% high), and the conventional level of Cochran's Q, whose power is low.
HIGH_I2 = 0.5
HETEROGENEITY_ALPHA = 0.10

_BIASES = ("immortal_time",)


def matching_options(config: AnalysisConfig = DEFAULTS) -> dict[str, Any]:
    """``covariates`` and ``exact`` of `PropensityMatcher` for the ``centre_in_matching`` option.

    ``"no"``: the configured covariates; ``"propensity"``: the centre as one more (categorical)
    term of the propensity model; ``"within_centre"``: the configured covariates, pairs formed
    only inside a centre (MatchIt ``exact = ~center_id``).

    Examples
    --------
    >>> matching_options(DEFAULTS.replace(centre_in_matching="propensity"))["covariates"][-1]
    'center_id'
    >>> matching_options(DEFAULTS.replace(centre_in_matching="within_centre"))["exact"]
    'center_id'
    """
    covariates = tuple(config.matching_covariates)
    if config.centre_in_matching == "propensity" and CENTRE_COLUMN not in covariates:
        covariates += (CENTRE_COLUMN,)
    exact = CENTRE_COLUMN if config.centre_in_matching == "within_centre" else None
    return {"covariates": covariates, "exact": exact}


def _centre_labels(cohort: pd.DataFrame, centre_col: str) -> pd.Series:
    if centre_col not in cohort.columns:
        raise AnalysisError(
            f"the cohort has no {centre_col} column (a warehouse published before it reached the marts); "
            "refresh the warehouse with this version to analyse by centre"
        )
    return cohort[centre_col].astype(object).where(cohort[centre_col].notna(), UNKNOWN_CENTRE).astype(str)


def table1_by_centre(cohort: pd.DataFrame, centre_col: str = CENTRE_COLUMN) -> pd.DataFrame:
    """Table 1's baseline characteristics in each centre (descriptive, no test).

    One row per continuous characteristic (``median (p25, p75)``) and per level of a categorical
    one (``n (%)`` among the centre's patients with a known value), plus the patients, the
    groups and the progression events; one column per centre (byte order) and ``overall``.
    Quartiles as in Table 1 (R ``quantile(type = 6)``).
    """
    labels = _centre_labels(cohort, centre_col)
    centres = sorted(labels.unique())
    parts = {"overall": cohort, **{c: cohort.loc[labels == c] for c in centres}}
    rows: list[dict[str, Any]] = []

    def add(variable: str, label: str, level: str | None, statistic: str, cell) -> None:
        rows.append(
            {"variable": variable, "label": label, "level": level, "statistic": statistic}
            | {name: cell(part) for name, part in parts.items()}
        )

    add("n", "Patients", None, "n", lambda d: str(len(d)))
    for group in (O_RAIT, M_RAIT):
        add("rait_group", "Group", group, "n_pct", lambda d, g=group: _n_pct(d["rait_group"], g))
    add("pfs_event", "Progression events", None, "n", lambda d: str(int(pd.to_numeric(d["pfs_event"]).sum())))
    for char in TABLE1_CHARACTERISTICS:
        if char.variable not in cohort.columns:
            continue
        if char.kind == "continuous":
            add(char.variable, char.label, None, "median_iqr", lambda d, v=char.variable: _median_iqr(d[v]))
            continue
        for level in char.levels:
            add(
                char.variable,
                char.label,
                level,
                "n_pct",
                lambda d, v=char.variable, lv=level, m=char.missing: _n_pct(d[v].where(~d[v].isin(m)), lv),
            )
    return pd.DataFrame(rows)


def _n_pct(values: pd.Series, level: str) -> str:
    known = values.dropna()
    n = int((known == level).sum())
    return f"{n} ({100 * n / len(known):.1f})" if len(known) else "0"


def _median_iqr(values: pd.Series) -> str:
    x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if not x.size:
        return ""
    p25, med, p75 = np.quantile(x, [0.25, 0.5, 0.75], method="weibull")
    return f"{med:.1f} ({p25:.1f}, {p75:.1f})"


def heterogeneity(
    log_hr: np.ndarray, se_log_hr: np.ndarray, centres: list[str], *, alpha: float = DEFAULTS.alpha
) -> dict[str, Any]:
    """Cochran's Q, I-squared, DerSimonian-Laird tau-squared and the pooled HRs of per-centre log HRs.

    statsmodels ``combine_effects(method_re="dl")`` (R metafor ``rma(method = "DL")`` and
    ``rma(method = "FE")``). Higgins & Thompson's I-squared and DerSimonian & Laird's tau-squared
    are truncated at 0, as metafor does; statsmodels' one-step estimate is not, and with Q < df
    would weight the centres by ``1 / (v - |tau2|)``: with tau-squared 0 the random-effects
    estimate is the fixed-effect one.

    Examples
    --------
    >>> het = heterogeneity(np.array([0.9, -0.6, 0.3, 1.4]), np.array([0.3, 0.35, 0.5, 0.4]), list("ABCD"))
    >>> round(het["q"], 2), round(het["i2"], 3), round(het["tau2"], 3)
    (16.87, 0.822, 0.654)
    """
    res = combine_effects(log_hr, se_log_hr**2, method_re="dl", row_names=list(centres), alpha=alpha)
    frame = res.summary_frame()
    homogeneity = res.test_homogeneity()

    def pooled(row: str) -> dict[str, float]:
        eff, se, lo, hi = (float(frame.loc[row, c]) for c in ("eff", "sd_eff", "ci_low", "ci_upp"))
        return {"hr": math.exp(eff), "ci_low": math.exp(lo), "ci_high": math.exp(hi), "log_hr": eff, "se_log_hr": se}

    return {
        "n_centres": len(centres),
        "centres": list(centres),
        "q": float(homogeneity.statistic),
        "df": int(homogeneity.df),
        "p": float(homogeneity.pvalue),
        "i2": max(0.0, float(res.i2)),
        "tau2": max(0.0, float(res.tau2)),
        "fixed": pooled("fixed effect"),
        "random": pooled("random effect" if res.tau2 > 0 else "fixed effect"),
        "method": "inverse-variance pooling of the per-centre log hazard ratios; Cochran's Q, I-squared, "
        "DerSimonian-Laird tau-squared (statsmodels combine_effects)",
    }


class CentreAnalysis:
    """PFS of m-RAIT vs o-RAIT stratified by centre, per-centre HRs and their heterogeneity.

    Parameters
    ----------
    alpha : float, default 0.05 (the declared ``alpha``)
        1 - confidence level of the intervals.
    reference, comparison : str
        The groups; the hazard ratios are ``comparison`` vs ``reference`` (m-RAIT vs o-RAIT).

    Attributes
    ----------
    centres_ : DataFrame
        One row per centre (byte order): ``center_id``, ``n``, ``n_<group>``, ``events``,
        ``hr``, ``ci_low``, ``ci_high``, ``p``, ``log_hr``, ``se_log_hr`` and ``reason`` (why
        the centre has no estimable HR).
    logrank_ : dict
        The stratified log-rank test: ``chi2``, ``df``, ``p`` (None with ``reason`` when undefined).
    cox_ : dict
        The Cox model stratified by centre: ``hr``, ``ci_low``, ``ci_high``, ``p``, ``log_hr``,
        ``se_log_hr``, ``n_strata``, ``n_informative_strata``, ``informative_events``, or
        ``{"skipped": true, "reason": ...}``.
    heterogeneity_ : dict
        ``n_centres``, ``q``, ``df``, ``p``, ``i2``, ``tau2``, ``fixed`` and ``random`` (pooled
        HR with CI), or ``{"skipped": true, "reason": ...}`` with fewer than two centres with an
        estimable HR.
    table1_ : DataFrame
        `table1_by_centre`.
    n_unknown_ : int
        Patients in the stratum ``unknown`` (no centre in the extract).

    Examples
    --------
    >>> two = cohort.assign(center_id=(cohort["patient_id"] < "P000080").map({True: "A", False: "B"}))
    >>> ca = CentreAnalysis().fit(two)
    >>> ca.summary[["n", "events", "hr", "ci_low", "ci_high"]].round(2)
                  n  events    hr  ci_low  ci_high
    center_id
    A            57      12  0.95    0.28     3.16
    B            60      12   NaN     NaN      NaN
    stratified  117      24  2.24    0.76     6.58
    >>> ca.heterogeneity_["reason"]
    '1 centre(s) with an estimable hazard ratio (events in both groups): the heterogeneity across centres needs at least 2'
    >>> CentreAnalysis().fit(cohort.assign(center_id="C01"))
    Traceback (most recent call last):
    ...
    rait_registry.exceptions.AnalysisError: one centre: stratified analyses not applicable
    """

    def __init__(self, alpha: float = DEFAULTS.alpha, reference: str = O_RAIT, comparison: str = M_RAIT) -> None:
        self.alpha = alpha
        self.reference = reference
        self.comparison = comparison

    def fit(
        self,
        cohort: pd.DataFrame,
        centre_col: str = CENTRE_COLUMN,
        duration_col: str = "pfs_months",
        event_col: str = "pfs_event",
        group_col: str = "rait_group",
    ) -> CentreAnalysis:
        """Fit the stratified tests and models on ``cohort`` (one row per eligible patient).

        Raises
        ------
        AnalysisError
            The cohort has no centre column, or all its patients are in one centre.
        """
        labels = _centre_labels(cohort, centre_col)
        centres = sorted(labels.unique())
        if len(centres) < 2:
            raise AnalysisError(ONE_CENTRE)
        self.centre_col = centre_col
        keep = cohort[group_col].isin([self.reference, self.comparison]).to_numpy()
        T = pd.to_numeric(cohort[duration_col]).to_numpy(dtype=float)[keep]
        E = pd.to_numeric(cohort[event_col]).to_numpy(dtype=float)[keep]
        G = cohort[group_col].to_numpy(dtype=object)[keep]
        S = labels.to_numpy(dtype=object)[keep]
        self.n_, self.events_, self.n_unknown_ = int(keep.sum()), int(E.sum()), int((S == UNKNOWN_CENTRE).sum())
        self.centres_ = self._per_centre(T, E, G, S, centres)
        self.logrank_ = self._logrank(T, E, G, S)
        res, note, self.stratified_fit_ = stratified_hazard_ratio(
            T, E, G, S, self.reference, self.comparison, alpha=self.alpha
        )
        self.cox_ = skipped(note) if note else {**res, "strata": centre_col, "events": self.events_}
        self.heterogeneity_ = self._heterogeneity()
        self.table1_ = table1_by_centre(cohort, centre_col)
        return self

    def _per_centre(self, T, E, G, S, centres) -> pd.DataFrame:
        rows = []
        for centre in centres:
            m = centre == S
            row: dict[str, Any] = {
                "center_id": centre,
                "n": int(m.sum()),
                f"n_{_slug(self.reference)}": int((m & (self.reference == G)).sum()),
                f"n_{_slug(self.comparison)}": int((m & (self.comparison == G)).sum()),
                "events": int(E[m].sum()),
            }
            res, note, _ = hazard_ratio(T[m], E[m], G[m], self.reference, self.comparison, alpha=self.alpha)
            row.update(res)
            row["reason"] = note
            rows.append(row)
        return pd.DataFrame(rows)

    def _logrank(self, T, E, G, S) -> dict[str, Any]:
        out: dict[str, Any] = {"chi2": None, "df": None, "p": None, "reason": None}
        if E.sum() == 0:
            out["reason"] = "no events: the log-rank test is undefined"
            return out
        codes = (self.comparison == G).astype(np.int64)
        strata = pd.factorize(S, sort=True)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                stat, _ = sm_survdiff(T, E, codes, strata=strata)
            except np.linalg.LinAlgError:
                stat = math.nan
        stat = float(stat)
        if not math.isfinite(stat):
            out["reason"] = "the stratified log-rank variance is zero: no centre has both groups at risk at an event"
            return out
        out.update(chi2=stat, df=1, p=float(chi2.sf(stat, 1)))
        return out

    def _heterogeneity(self) -> dict[str, Any]:
        with_events = self.centres_.loc[self.centres_["events"] > 0]
        estimable = self.centres_.loc[self.centres_["log_hr"].notna()]
        if len(with_events) < MIN_CENTRES:
            return skipped(
                f"{len(with_events)} centre(s) with progression events: the heterogeneity across centres needs at "
                f"least {MIN_CENTRES}"
            )
        if len(estimable) < MIN_CENTRES:
            return skipped(
                f"{len(estimable)} centre(s) with an estimable hazard ratio (events in both groups): the "
                f"heterogeneity across centres needs at least {MIN_CENTRES}"
            )
        return heterogeneity(
            estimable["log_hr"].to_numpy(dtype=float),
            estimable["se_log_hr"].to_numpy(dtype=float),
            list(estimable["center_id"]),
            alpha=self.alpha,
        )

    # -- results ---------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "centres_"):
            raise AnalysisError("call fit(cohort) before asking for results")

    @property
    def summary(self) -> pd.DataFrame:
        """One row per centre and one ``stratified`` row (the Cox model stratified by centre):
        ``n``, ``events``, ``hr``, ``ci_low``, ``ci_high``, ``p``, ``reason``."""
        self._check_fitted()
        cols = ["n", "events", "hr", "ci_low", "ci_high", "p", "reason"]
        rows = self.centres_.set_index("center_id")[cols]
        cox = self.cox_
        strat = pd.DataFrame(
            [{"n": self.n_, "events": self.events_, **{c: cox.get(c) for c in cols[2:]}}],
            index=pd.Index(["stratified"]),
        )
        return pd.concat([rows, strat[cols]]).rename_axis("center_id")

    def sentences(self) -> dict[str, str]:
        """The generated readings: ``stratified`` (log-rank and Cox) and ``heterogeneity``."""
        self._check_fitted()
        k = len(self.centres_)
        unknown = (
            f" ({self.n_unknown_} patient(s) without a centre form the stratum '{UNKNOWN_CENTRE}')"
            if self.n_unknown_
            else ""
        )
        cox = self.cox_
        if cox.get("hr") is None:
            est = f"the Cox model stratified by centre has no hazard ratio ({cox.get('reason')})"
        else:
            est = (
                f"the Cox model stratified by centre gives a hazard of progression with {self.comparison} vs "
                f"{self.reference} of HR {cox['hr']:.2f} (95% CI {cox['ci_low']:.2f}-{cox['ci_high']:.2f}, "
                f"p = {_p(cox['p'])}); "
                + interval_reading(
                    cox["ci_low"], cox["ci_high"], quantity=f"hazard of progression with {self.comparison}"
                )
            )
        lr = self.logrank_
        logrank = (
            f"the log-rank test stratified by centre gives p = {_p(lr['p'])}"
            if lr["p"] is not None
            else f"the stratified log-rank test is undefined ({lr['reason']})"
        )
        stratified = f"Across {k} centres{unknown}, {logrank}; {est}" + bias_clause(_BIASES) + "."
        het = self.heterogeneity_
        if het.get("skipped"):
            heterogeneity = f"Heterogeneity across centres not assessed: {het['reason']}."
        else:
            heterogeneity = (
                (
                    f"Across the {het['n_centres']} centres with an estimable hazard ratio, I-squared is "
                    f"{100 * het['i2']:.0f}% (Cochran's Q = {het['q']:.2f} on {het['df']} df, p = {_p(het['p'])}; "
                    f"DerSimonian-Laird tau-squared {het['tau2']:.3f}); "
                    + (
                        "the centres' hazard ratios vary more than chance alone readily explains, so the stratified "
                        "and pooled estimates average over centres whose effects may differ"
                        if het["i2"] >= HIGH_I2 or het["p"] < HETEROGENEITY_ALPHA
                        else "Q has little power with few centres, so a small I-squared does not rule out differences "
                        "between centres"
                    )
                )
                + bias_clause(_BIASES)
                + "."
            )
        return {"stratified": stratified, "heterogeneity": heterogeneity}

    def to_dict(self) -> dict[str, Any]:
        """results.json ``centres`` (JSON-ready).

        ``{n, events, n_centres, n_unknown, centres: [{center_id, n, n_o_rait, n_m_rait, events,
        hr, ci_low, ci_high, p, log_hr, se_log_hr, reason}], logrank_stratified: {chi2, df, p,
        reason}, cox_stratified: {hr, ci_low, ci_high, p, ...} or skipped, heterogeneity: {...} or
        skipped, biases, sentences}``.
        """
        self._check_fitted()
        centres = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in self.centres_.to_dict(orient="records")
        ]
        return {
            "centre_column": self.centre_col,
            "n": self.n_,
            "events": self.events_,
            "n_centres": len(self.centres_),
            "n_unknown": self.n_unknown_,
            "hr_reference": self.reference,
            "hr_comparison": self.comparison,
            "centres": centres,
            "logrank_stratified": dict(self.logrank_),
            "cox_stratified": dict(self.cox_),
            "heterogeneity": dict(self.heterogeneity_),
            "biases": list(_BIASES),
            "sentences": self.sentences(),
        }

    @property
    def tables_(self) -> dict[str, pd.DataFrame]:
        """The CSV tables: ``centres_hazard_ratios`` (per centre + stratified) and ``centres_table1``."""
        self._check_fitted()
        hr = self.summary.reset_index()
        return {"centres_hazard_ratios": hr, "centres_table1": self.table1_}


def _p(p: float | None) -> str:
    return format_p(p, style="sentence")


def _slug(group: str) -> str:
    return group.lower().replace("-", "_")
