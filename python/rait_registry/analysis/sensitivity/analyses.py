"""All sensitivity analyses in one fit (what ``analyze`` runs), lifelines style."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd

from rait_registry import params
from rait_registry.exceptions import AnalysisError

from .. import wording
from ..config import DEFAULTS, AnalysisConfig
from ..jsonutil import jsonable
from ..matching import PropensityMatcher
from .data import checked_cohort, counting_process, cycle_months
from .data import exposure_lag_days as default_exposure_lag
from .dose_response import dose_response_analysis
from .evalues import e_values_table
from .landmark import landmark_analysis
from .matching_variants import matching_sensitivity
from .non_inferiority import non_inferiority_analysis
from .options import OPTION_NAMES, MatchingVariant
from .results import HazardRatioEstimate, SectionResult, is_set
from .sentences import fmt, hr_sentence
from .time_varying import fixed_group_estimate, time_varying_analysis
from .weighting import iptw_analysis

__all__ = ["SECTIONS", "SensitivityAnalyses", "sensitivity_sentence"]

#: The results.json sections, in order.
SECTIONS = ("landmark", "time_varying_cox", "non_inferiority", "sensitivity", "dose_response")


def sensitivity_sentence(section: dict[str, Any], alpha: float) -> str:
    """The ``sensitivity`` interpretation: the spread of the matched HRs, the IPTW HR, the matched E-value.

    Each sentence names the biases of the analyses it is about (`wording.bias_clause`).
    """
    rows = [r for r in section["matching"] if is_set(r.get("hr"))]
    parts = []
    if rows:
        lo = min(r["hr"] for r in rows)
        hi = max(r["hr"] for r in rows)
        all_span = all(r["hr_ci_low"] <= 1 <= r["hr_ci_high"] for r in rows)
        keys = list(dict.fromkeys(b for r in rows for b in r.get("biases") or []))
        common = [k for k in keys if all(k in (r.get("biases") or []) for r in rows)]
        some = "".join(
            f"; {sum(k in (r.get('biases') or []) for r in rows)} of them are also biased: {wording.BIASES[k]}"
            for k in keys
            if k not in common
        )
        parts.append(
            f"Across {len(rows)} matching specifications the HR (m-RAIT vs o-RAIT) ranges from {fmt(lo)} to {fmt(hi)}"
            + ("; every CI includes 1" if all_span else "; not every CI includes 1")
            + wording.bias_clause(common)
            + some
            + "."
        )
    iptw = section["iptw"]
    if is_set(iptw.get("hr")):
        parts.append(
            hr_sentence(
                f"IPTW ({iptw['estimand']})",
                iptw["hr"],
                iptw["hr_ci_low"],
                iptw["hr_ci_high"],
                alpha,
                biases=iptw.get("biases") or (),
            )
        )
    ev = next(
        (r for r in section.get("e_values", []) if r["analysis"] == "matched" and is_set(r["e_value_estimate"])), None
    )
    if ev is not None:
        parts.append(
            f"E-value of the matched HR: {fmt(ev['e_value_estimate'])} for the estimate and {fmt(ev['e_value_ci'])} "
            "for the CI (an unmeasured confounder associated with both group and progression by a risk ratio "
            "of that size could explain the estimate away; 1 means the CI already includes the null)"
            + wording.bias_clause(ev.get("biases") or ())
            + "."
        )
    return " ".join(parts) if parts else "No sensitivity analysis could be estimated."


class SensitivityAnalyses:
    """Landmark, time-varying Cox, non-inferiority, sensitivity and dose-response analyses.

    Each analysis is a function of the package (`landmark_analysis`, `time_varying_analysis`,
    `matching_sensitivity`, `iptw_analysis`, `non_inferiority_analysis`, `e_values_table`,
    `dose_response_analysis`) that takes what it needs and returns a `SectionResult`; this class
    runs them in order and hands each the results it needs.

    Parameters
    ----------
    config : AnalysisConfig, optional
        The analysis options (`OPTION_NAMES` are read); default: the declared defaults.
    matching_variants : sequence of MatchingVariant, optional
        Matching specifications of the sensitivity analysis; None: `default_matching_variants`
        of the primary matcher's covariates.
    exposure_lag_days : int, optional
        Days from an administration after the first to its exposure change in the time-varying
        models: the ``rxwbs_window_days`` of the refresh that built the marts (`analyze` reads it
        from the refresh history, `exposure_lag_days`); None: its declared default.
    exposure_lag_source : str, optional
        Where the lag comes from, as results.json reports it.
    **options
        Options that replace those of ``config`` (``landmark_months=6``, ...).

    Attributes
    ----------
    results_ : dict of str -> SectionResult
        By results.json section: ``landmark``, ``time_varying_cox``, ``non_inferiority``,
        ``sensitivity``, ``dose_response``.
    estimates_ : dict of str -> HazardRatioEstimate
        Every HR of m-RAIT vs o-RAIT with its SE (log scale), by analysis name.
    tables_ : dict of str -> DataFrame
        The tidy tables of every analysis, named as the CSV files ``analyze`` writes.
    landmark_ : SurvivalComparison
        The landmark comparison (KM per group from the landmark; ``km_tables_`` for figures).
    landmark_data_ : DataFrame
        The patients at the landmark (`landmark_cohort`).
    cycle_months_ : DataFrame
        The cohort's cycles on the PFS time scale (`cycle_months`).
    counting_process_ : DataFrame
        The counting-process rows (`counting_process`).
    time_varying_ : dict of str -> CoxTimeVaryingFitter or None
    primary_matcher_ : PropensityMatcher
        The matcher of the primary matched analysis (the one given, or the study's default).
    matching_variants_ : list of (MatchingVariant, PropensityMatcher or None, SurvivalComparison or None)
    iptw_ : dict
        ``weights`` (Series by patient_id), ``cox`` (CoxPHFitter or None), ``robust_covariance``,
        ``kmf`` (dict of weighted KaplanMeierFitter per group), ``propensity`` (Series).
    dose_models_ : dict
        Fitted dose-response models by name.

    Examples
    --------
    >>> from rait_registry.analysis import SensitivityAnalyses
    >>> fitted = SensitivityAnalyses(landmark_months=12).fit(cohort, cycles)
    >>> fitted.summary[["n", "events", "hr", "ci_low", "ci_high"]].round(2)
                             n  events    hr  ci_low  ci_high
    analysis
    eligible_fixed_groups  117      24  2.24    0.77     6.56
    landmark               108      15  2.33    0.66     8.26
    time_varying           117      24  0.74    0.32     1.70
    matched                 70       8  1.46    0.42     5.14
    iptw                   117      24  1.69    0.41     6.92
    >>> sorted(fitted.to_dict())
    ['dose_response', 'landmark', 'non_inferiority', 'sensitivity', 'time_varying_cox']
    """

    #: The analyses `fit` runs, one ``on_step`` call each.
    STEPS = 7

    def __init__(
        self,
        config: AnalysisConfig | None = None,
        *,
        matching_variants: Sequence[MatchingVariant] | None = None,
        exposure_lag_days: int | None = None,
        exposure_lag_source: str | None = None,
        **options: Any,
    ) -> None:
        self.config = (config or DEFAULTS).replace(**options)
        self.matching_variants = None if matching_variants is None else tuple(matching_variants)
        if exposure_lag_days is None:
            exposure_lag_days, default_source = default_exposure_lag()
            exposure_lag_source = exposure_lag_source or default_source
        self.exposure_lag_days = int(params.get("rxwbs_window_days").check(exposure_lag_days))
        self.exposure_lag_source = exposure_lag_source or "given"

    def fit(
        self,
        cohort: pd.DataFrame,
        cycles: pd.DataFrame,
        matcher: PropensityMatcher | None = None,
        matched_hr: HazardRatioEstimate | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> SensitivityAnalyses:
        """Run every analysis.

        Parameters
        ----------
        cohort : DataFrame
            ``marts.analysis_cohort`` (eligible patients).
        cycles : DataFrame
            ``marts.rait_cycles`` (at least the cohort's patients).
        matcher : PropensityMatcher, optional
            The fitted matcher of the main analysis; when None the study's matching
            (`PropensityMatcher` defaults) is fitted here.
        matched_hr : HazardRatioEstimate, optional
            The matched cohort's HR (m-RAIT vs o-RAIT) and SE that the non-inferiority test uses:
            the pair-aware (cluster-robust) HR of the matched analysis when there is one; None:
            the Cox HR of the primary matched comparison (model-based SE, pairs ignored).
        on_step : callable, optional
            Called with the name of each of the `STEPS` analyses once it is done (progress).

        Returns
        -------
        self
        """
        opts = self.config
        done = on_step or (lambda step: None)
        cohort = checked_cohort(cohort)
        self.cycle_months_ = cycle_months(cohort, cycles)
        fixed = fixed_group_estimate(cohort, opts.alpha)
        landmark = landmark_analysis(
            cohort,
            cycles,
            landmark_months=opts.landmark_months,
            sensitivity_months=opts.landmark_sensitivity_months,
            horizon_months=opts.horizon_months,
            alpha=opts.alpha,
            adjust_covariates=opts.adjust_covariates,
            lag_days=self.exposure_lag_days,
        )
        done("landmark")
        lag = self.exposure_lag_days
        cp = counting_process(cohort, cycles, lag_days=lag)
        time_varying = time_varying_analysis(
            cohort,
            cp,
            fixed,
            lag_days=lag,
            unlagged=counting_process(cohort, cycles, lag_days=0) if lag else None,
            lag_source=self.exposure_lag_source,
            adjust_covariates=opts.adjust_covariates,
            alpha=opts.alpha,
        )
        done("time-varying Cox")
        matching = matching_sensitivity(
            cohort, matcher, self.matching_variants, horizon_months=opts.horizon_months, alpha=opts.alpha
        )
        done("matching variants")
        iptw = iptw_analysis(
            cohort,
            covariates=opts.iptw_covariates,
            estimand=opts.iptw_estimand,
            stabilized=opts.iptw_stabilized,
            horizon_months=opts.horizon_months,
            alpha=opts.alpha,
        )
        done("IPTW")
        estimates: dict[str, HazardRatioEstimate] = {
            fixed.analysis: fixed,
            **landmark.estimates,
            **time_varying.estimates,
            **matching.estimates,
            **iptw.estimates,
        }
        matched_cohort = matching.fitted["matcher"].matched_cohort_
        landmark_data = landmark.fitted["data"]
        non_inferiority = non_inferiority_analysis(
            estimates,
            [
                ("matched", matched_cohort, "pfs_months", "rait_group", opts.horizon_months),
                (
                    "landmark",
                    landmark_data,
                    "months_from_landmark",
                    "landmark_group",
                    opts.horizon_months - opts.landmark_months,
                ),
                ("eligible_fixed_groups", cohort, "pfs_months", "rait_group", opts.horizon_months),
            ],
            matching.fitted["comparison"].logrank_["p"],
            hr_margin=opts.ni_hr_margin,
            pfs_margin=opts.ni_pfs_margin,
            prespecified=opts.ni_margins_prespecified,
            alpha=opts.ni_alpha,
            horizon_months=opts.horizon_months,
            matched_hr=matched_hr,
        )
        done("non-inferiority")
        e_values = e_values_table(
            estimates,
            {
                "matched": (matched_cohort, "pfs_months"),
                "iptw": (cohort, "pfs_months"),
                "time_varying": (cohort, "pfs_months"),
                "landmark": (landmark_data, "months_from_landmark"),
            },
            rare=opts.evalue_rare_outcome,
        )
        done("E-values")
        section = {**matching.section, **iptw.section, "e_values": e_values}
        section["interpretation"] = sensitivity_sentence(section, opts.alpha)
        sensitivity = SectionResult(
            "sensitivity",
            section,
            {
                **matching.tables,
                **iptw.tables,
                "sensitivity_e_values": pd.DataFrame(e_values),
            },
            {**matching.estimates, **iptw.estimates},
            {**matching.fitted, "iptw": iptw.fitted},
            main_table="sensitivity_matching",
        )
        dose = dose_response_analysis(
            cohort,
            cp,
            exposure_lag_days=lag,
            reference_gbq=opts.dose_reference_gbq,
            spline_df=opts.dose_spline_df,
            grid_points=opts.dose_grid_points,
            adjust_covariates=opts.adjust_covariates,
            alpha=opts.alpha,
        )
        done("dose-response")
        self.results_ = {r.name: r for r in (landmark, time_varying, non_inferiority, sensitivity, dose)}
        self.estimates_ = estimates
        self.tables_ = {name: table for result in self.results_.values() for name, table in result.tables.items()}
        self.counting_process_ = cp
        self.landmark_ = landmark.fitted["comparison"]
        self.landmark_data_ = landmark_data
        self.time_varying_ = time_varying.fitted["models"]
        self.primary_matcher_ = matching.fitted["matcher"]
        self.primary_matched_ = matching.fitted["comparison"]
        self.matching_variants_ = matching.fitted["variants"]
        self.iptw_ = iptw.fitted
        self.dose_models_ = dose.fitted
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "results_"):
            raise AnalysisError("call fit(cohort, cycles) before asking for results")

    @property
    def summary(self) -> pd.DataFrame:
        """Every hazard ratio of m-RAIT vs o-RAIT, one row per analysis (index ``analysis``)."""
        self._check_fitted()
        table = pd.DataFrame([e.to_dict() for e in self.estimates_.values()]).set_index("analysis")
        numbers = dict.fromkeys(("hr", "ci_low", "ci_high", "p", "log_hr", "se_log_hr"), float)
        return table.astype({**numbers, "n": "Int64", "events": "Int64"})

    def to_dict(self) -> dict[str, Any]:
        """The five results.json sections (JSON-ready; NaN -> None)."""
        self._check_fitted()
        return {name: self.results_[name].to_dict() for name in SECTIONS}

    def options_dict(self) -> dict[str, Any]:
        """The options used (results.json ``sensitivity_options``), with the exposure lag read from the refresh."""
        variants = None if self.matching_variants is None else [asdict(v) for v in self.matching_variants]
        values = {**self.config.to_dict(), "matching_variants": variants}
        return jsonable(
            {
                **{name: values[name] for name in OPTION_NAMES},
                "exposure_lag_days": self.exposure_lag_days,
                "exposure_lag_source": self.exposure_lag_source,
            }
        )
