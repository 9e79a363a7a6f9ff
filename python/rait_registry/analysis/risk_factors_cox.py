"""Table 3's time-to-event counterpart: Cox models of progression-free survival on the same characteristics.

The paper's Table 3 (`rait_registry.analysis.logistic.LogisticAnalysis`) models *whether* a
patient progressed, whatever the follow-up: a patient followed 13 months without progression
counts as a non-event exactly like one followed 250 months. With follow-up that differs this much
between patients (and between o-RAIT and m-RAIT), the odds ratio mixes the risk of progression
with the time each patient was watched. :class:`CoxRiskFactorAnalysis` fits the same
characteristics (same terms, reference levels, age cut and complete cases) as Cox models of
``pfs_months`` / ``pfs_event``, with the same selection rule: a characteristic whose univariable
p is below ``threshold`` enters the multivariable model (one coding of RAIT exposure at most).
Censoring uses each patient's own follow-up, so this is the analysis that accounts for unequal
follow-up. Neither model removes the immortal time of the RAIT-exposure terms (a patient has to
stay progression-free to receive more cycles); the landmark and time-varying analyses do
(`rait_registry.analysis.sensitivity`).

Estimates: Efron ties, Wald 95% CIs and p-values, as R ``coxph`` (fitted by
`rait_registry.analysis.cox.fit_cox`, within ~1e-11 of R). A categorical level without events
makes the partial likelihood monotone: the hazard ratio does not exist (no Firth-type Cox
fallback is implemented: R ``coxphf``), so the model's rows are null with the reason, and a
univariable model that cannot be estimated cannot select its characteristic.

References
----------
Cox DR. Regression models and life-tables. *J R Stat Soc B* 1972;34:187-220.
Heinze G, Schemper M. A solution to the problem of monotone likelihood in Cox regression.
*Biometrics* 2001;57:114-119.
Annesi I, Moreau T, Lellouch J. Efficiency of the logistic regression and Cox proportional
hazards models in longitudinal studies. *Stat Med* 1989;8:1515-1521.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import pandas as pd

from rait_registry.exceptions import AnalysisError, InsufficientDataError, StatisticsWarning

from .config import DEFAULTS
from .cox import fit_cox, wald_term
from .logistic import DEFAULT_TERMS, Term, configure_term, design_matrix, select_terms
from .missing import as_missing, dropped_message, missing_code_counts
from .skips import skipped
from .tables import records

__all__ = ["COX_RESULT_COLUMNS", "CoxRiskFactorAnalysis"]

COX_RESULT_COLUMNS = [
    "variable",
    "term",
    "level",
    "reference",
    "hr",
    "ci_low",
    "ci_high",
    "p_value",
    "coef",
    "se",
    "n_obs",
    "n_events",
    "note",
]

#: Which of the two Table 3 models accounts for unequal follow-up, in one sentence.
FOLLOW_UP_SENTENCE = (
    "The logistic model (the paper's Table 3) counts progression as yes or no whatever each patient's "
    "follow-up ({follow_up}); the Cox model uses the time to progression and censors each patient at the end "
    "of their own follow-up, so the Cox model is the one that accounts for unequal follow-up. Neither removes "
    "the immortal time of the RAIT-exposure terms (see the landmark and time-varying analyses)."
)


class CoxRiskFactorAnalysis:
    """Univariable and multivariable Cox regression of progression-free survival (Table 3, time to event).

    Parameters
    ----------
    threshold : float
        Univariable p below which a characteristic enters the multivariable model (declared
        ``selection_threshold``, as the logistic Table 3).
    age_cut : float
        Age at diagnosis is dichotomised at ``>= age_cut`` (declared ``age_cut_years``).
    terms : iterable of Term
        Characteristics (default: Table 3's, `rait_registry.analysis.logistic.DEFAULT_TERMS`).
    reference_levels : dict, optional
        ``{variable: level}`` overriding the paper's reference levels.
    alpha : float
        1 - confidence level.
    min_epv : float
        Warn below this many events per estimated coefficient.

    Attributes
    ----------
    univariable_, multivariable_ : DataFrame
        One row per estimated term: ``variable, term, level, reference, hr, ci_low, ci_high,
        p_value, coef, se, n_obs, n_events, note`` (estimates null and ``note`` set when the
        model has no finite estimate).
    selected_ : list of str
        Variables of the multivariable model.
    multivariable_note_ : str or None
        Why there is no multivariable model (nothing selected, or no finite estimate).
    warnings_ : list of str
    n_obs_, n_events_ : int
    follow_up_months_ : tuple of float
        Shortest and longest follow-up (``follow_up_months`` when given, else the PFS time).

    Examples
    --------
    >>> from rait_registry.analysis import CoxRiskFactorAnalysis
    >>> cox = CoxRiskFactorAnalysis(threshold=0.1).fit(cohort, duration_col="pfs_months", event_col="pfs_event")
    >>> cox.selected_
    ['age_at_diagnosis', 'max_tumor_size_cm', 'local_disease_status', 'metastasis_timing']
    >>> cox.multivariable_[["term", "hr", "ci_low", "ci_high"]].round(2)
                                        term    hr  ci_low  ci_high
    0                  age_at_diagnosis=>=45  3.75    1.49     9.40
    1                      max_tumor_size_cm  1.25    0.99     1.58
    2  local_disease_status=local_recurrence  0.25    0.03     2.20
    3  local_disease_status=local_persistent  4.03    1.50    10.83
    4          metastasis_timing=synchronous  0.20    0.06     0.68
    """

    def __init__(
        self,
        threshold: float = DEFAULTS.selection_threshold,
        age_cut: float = DEFAULTS.age_cut_years,
        *,
        terms: Iterable[Term] = DEFAULT_TERMS,
        reference_levels: dict[str, str] | None = None,
        alpha: float = DEFAULTS.alpha,
        min_epv: float = 10.0,
    ) -> None:
        self.threshold = threshold
        self.age_cut = age_cut
        self.terms = tuple(terms)
        self.reference_levels = dict(reference_levels or {})
        self.alpha = alpha
        self.min_epv = min_epv

    def fit(
        self, cohort: pd.DataFrame, duration_col: str = "pfs_months", event_col: str = "pfs_event"
    ) -> CoxRiskFactorAnalysis:
        """Fit every univariable model, select, fit the multivariable model; returns self.

        Raises
        ------
        AnalysisError
            A missing column, or durations / events that are not a valid PFS.
        InsufficientDataError
            No progression event in the cohort.
        """
        self.duration_col, self.event_col = duration_col, event_col
        terms = [configure_term(t, self.age_cut, self.reference_levels) for t in self.terms]
        needed = {t.column for t in terms} | {duration_col, event_col}
        missing = sorted(needed - set(cohort.columns))
        if missing:
            raise AnalysisError(f"analysis_cohort lacks column(s) {missing}; pass marts.analysis_cohort.")
        T = pd.to_numeric(cohort[duration_col], errors="coerce")
        E = pd.to_numeric(cohort[event_col], errors="coerce")
        if T.isna().any() or (T < 0).any() or E.isna().any() or not E.isin([0, 1]).all():
            raise AnalysisError(
                f"{duration_col} must be >= 0 and {event_col} 1/0 for every patient; rebuild the marts."
            )
        if int(E.sum()) == 0:
            raise InsufficientDataError(f"{event_col} is never 1 in this cohort: a Cox model needs events.")
        self.n_obs_, self.n_events_ = len(cohort), int(E.sum())
        follow = pd.to_numeric(cohort["follow_up_months"], errors="coerce") if "follow_up_months" in cohort else T
        self.follow_up_months_ = (float(follow.min()), float(follow.max()))
        self.warnings_: list[str] = []
        columns = sorted({t.column for t in terms})
        for column, n in missing_code_counts(cohort, columns).items():
            self.warnings_.append(
                dropped_message(column, n, "the Cox models that use it (complete cases; n_obs gives each size)")
            )
        cohort = as_missing(cohort, columns)

        uni_parts = []
        for t in terms:
            rows, note = self._fit_model(cohort, [t], f"univariable {t.variable}")
            if note:
                self.warnings_.append(f"univariable {t.variable}: {note}; it cannot enter the multivariable model.")
            # typed before concatenation: an all-missing column of a not-estimable row then cannot
            # change the result's dtypes (pandas warns about exactly that)
            if rows is not None and not rows.empty:
                uni_parts.append(_frame(rows))
        self.univariable_ = _frame(pd.concat(uni_parts, ignore_index=True) if uni_parts else None)
        self.selected_ = select_terms(self.univariable_, terms, self.threshold, self.warnings_)
        self.multivariable_note_: str | None = None
        self.multivariable_ = _frame(None)
        if not self.selected_:
            self.multivariable_note_ = f"no characteristic reached p < {self.threshold:g} in univariable Cox models"
        else:
            chosen = [t for t in terms if t.variable in self.selected_]
            rows, note = self._fit_model(cohort, chosen, "multivariable Cox model")
            if note:
                self.multivariable_note_ = note
                self.warnings_.append(f"multivariable Cox model: {note}.")
            else:
                self.multivariable_ = rows
        for msg in self.warnings_:
            warnings.warn(msg, StatisticsWarning, stacklevel=2)
        return self

    # ------------------------------------------------------------------ results
    @property
    def summary(self) -> pd.DataFrame:
        """Univariable and multivariable hazard ratios side by side, one row per term."""
        self._check_fitted()
        keep = ["hr", "ci_low", "ci_high", "p_value"]
        u = self.univariable_.set_index("term")[["variable", "level", "reference"] + keep]
        m = self.multivariable_.set_index("term")[keep]
        return u.join(m, rsuffix="_multi", how="left").reset_index()

    def interpretation(self) -> str:
        """Which model accounts for unequal follow-up (one sentence), with this cohort's follow-up range."""
        self._check_fitted()
        lo, hi = self.follow_up_months_
        return FOLLOW_UP_SENTENCE.format(follow_up=f"here {lo:.1f} to {hi:.1f} months")

    def to_dict(self) -> dict[str, Any]:
        """results.json ``cox_risk_factors`` (JSON-ready). ``multivariable`` is the rows, or
        ``{"skipped": true, "reason": ...}`` when no multivariable model could be fitted."""
        self._check_fitted()
        multivariable: Any = (
            records(self.multivariable_) if self.multivariable_note_ is None else skipped(self.multivariable_note_)
        )
        return {
            "outcome": {"duration": self.duration_col, "event": self.event_col},
            "method": "Cox proportional hazards, Efron ties, Wald 95% CI and p (R coxph)",
            "n_obs": self.n_obs_,
            "n_events": self.n_events_,
            "univariable": records(self.univariable_),
            "multivariable": multivariable,
            "selection_threshold": self.threshold,
            "selected_variables": list(self.selected_),
            "age_cut": self.age_cut,
            "warnings": list(self.warnings_),
            "interpretation": self.interpretation(),
        }

    # ------------------------------------------------------------------ internals
    def _check_fitted(self) -> None:
        if not hasattr(self, "univariable_"):
            raise AnalysisError("Call CoxRiskFactorAnalysis.fit(cohort) before reading its results.")

    def _fit_model(self, cohort: pd.DataFrame, terms: list[Term], label: str) -> tuple[pd.DataFrame, str | None]:
        """The rows of one model and, when it has no finite estimate, why (rows then null)."""
        d = design_matrix(cohort, terms, [self.duration_col, self.event_col], self.warnings_, label)
        events = d.data[self.event_col].astype(float).to_numpy()
        n, n_ev = len(events), int(events.sum())
        note = None
        if d.X.shape[1] == 0:
            note = "fewer than two observed levels: not estimable"
        for variable, x in d.levels.items():
            empty = [str(lv) for lv in x.cat.categories if events[(x == lv).to_numpy()].sum() == 0]
            if empty and note is None:
                note = (
                    f"{variable} level(s) {', '.join(empty)} have no events: the partial likelihood has no finite "
                    "maximum, so the hazard ratio does not exist"
                )
        if note is None and n_ev / max(d.X.shape[1], 1) < self.min_epv:
            self.warnings_.append(
                f"{label}: {n_ev / d.X.shape[1]:.1f} events per variable (< {self.min_epv:g}); "
                "estimates may be biased and unstable."
            )
        fitter = None
        if note is None:
            frame = d.X.assign(_duration=d.data[self.duration_col].astype(float), _event=events)
            fitter, note = fit_cox(frame, "_duration", "_event", alpha=self.alpha)
        rows = []
        for m in d.meta:
            est = wald_term(fitter, m["term"], self.alpha) if fitter is not None else None
            rows.append(
                {
                    **m,
                    "hr": est["hr"] if est else None,
                    "ci_low": est["ci_low"] if est else None,
                    "ci_high": est["ci_high"] if est else None,
                    "p_value": est["p"] if est else None,
                    "coef": est["log_hr"] if est else None,
                    "se": est["se_log_hr"] if est else None,
                    "n_obs": n,
                    "n_events": n_ev,
                    "note": note,
                }
            )
        return _frame(pd.DataFrame(rows, columns=COX_RESULT_COLUMNS)), note


def _frame(df: pd.DataFrame | None) -> pd.DataFrame:
    if df is None or df.empty:
        return pd.DataFrame(columns=COX_RESULT_COLUMNS)
    out = df[COX_RESULT_COLUMNS].copy()
    for c in ("hr", "ci_low", "ci_high", "p_value", "coef", "se"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    return out.reset_index(drop=True)
