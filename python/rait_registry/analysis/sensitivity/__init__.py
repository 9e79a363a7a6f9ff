"""Sensitivity analyses: what the study's known weaknesses do to its conclusion (results.json
``landmark``, ``time_varying_cox``, ``non_inferiority``, ``sensitivity``, ``dose_response``).

The study compares patients who received one RAIT (o-RAIT) with those who received several
(m-RAIT) and concludes "non-inferior PFS" from a non-significant log-rank test in a
propensity-matched cohort. Its known traps, and what this package offers instead, one module
each:

=====================  =========================================================================
module                 analysis (results.json section)
=====================  =========================================================================
``data``               the data: cycles on the PFS time scale (`cycle_months`), the patients at a
                       landmark (`landmark_cohort`), counting-process rows with the exposure lag
                       (`counting_process`, `exposure_lag_days`), baseline covariate matrices
                       (`covariate_matrix`)
``landmark``           immortal time, remedy 1: a landmark analysis (``landmark``)
``time_varying``       immortal time, remedy 2: m-RAIT status as a time-varying covariate from
                       the second cycle's post-therapy scan on (``time_varying_cox``), beside the
                       unlagged model and the fixed-group HR
``non_inferiority``    non-inferiority stated as the evidence allows, for the HR and the 5-year
                       PFS difference with a margin derived from the HR margin (``non_inferiority``)
``matching_variants``  the matched result under other matching specifications
                       (``sensitivity.matching``)
``weighting``          inverse probability of treatment weighting with a robust SE
                       (``sensitivity.iptw``)
``evalues``            E-values of the hazard ratios (``sensitivity.e_values``)
``dose_response``      cumulative activity as a spline, time-fixed and time-varying
                       (``dose_response``)
``sentences``          the sentences, through the wording rules of `rait_registry.analysis.wording`
``options``            the options read (fields of `AnalysisConfig`) and the matching variants
``analyses``           `SensitivityAnalyses`: all of them in one fit, as ``analyze`` runs them
=====================  =========================================================================

Each analysis is a function that takes the data and the results it builds on as arguments and
returns a `SectionResult` (section, tidy tables, fitted models, the hazard ratios it
contributes as `HazardRatioEstimate`); no analysis reads another's stored state. Each section
has an ``interpretation`` sentence built from its numbers. Numbers are numbers; an undefined
value is ``null`` with a reason in ``notes``. Small data never raise: missing columns or bad
options do (`AnalysisError`).

Time is in months (``days / 30.4375``, docs/specification.md section 2) from the first RAIT, like
``pfs_months``. Hazard ratios are m-RAIT vs o-RAIT (reference o-RAIT) except in
``non_inferiority``, which states the claim as o-RAIT vs m-RAIT.
"""

from __future__ import annotations

from .analyses import SECTIONS, SensitivityAnalyses
from .data import (
    DEFAULT_EXPOSURE_LAG_DAYS,
    counting_process,
    covariate_matrix,
    cycle_months,
    exposure_lag_days,
    landmark_cohort,
    on_day_grid,
)
from .dose_response import dose_response_analysis, spline_basis, spline_knots
from .evalues import e_value, e_value_rr, e_values_table, hr_to_rr_common, outcome_is_rare
from .landmark import adjusted_cox, landmark_analysis
from .matching_variants import matched_biases, matching_sensitivity
from .non_inferiority import derived_pfs_margin, km_at, non_inferiority_analysis, non_inferiority_hr, pfs_difference
from .options import OPTION_NAMES, MatchingVariant, default_matching_variants
from .results import HazardRatioEstimate, SectionResult
from .sentences import hr_sentence, ni_hr_sentence, ni_pfs_sentence
from .time_varying import fixed_group_estimate, time_varying_analysis, time_varying_cox
from .weighting import cox_robust_covariance, efron_score_residuals, iptw_analysis, iptw_weights

__all__ = [
    "DEFAULT_EXPOSURE_LAG_DAYS",
    "OPTION_NAMES",
    "SECTIONS",
    "HazardRatioEstimate",
    "MatchingVariant",
    "SectionResult",
    "SensitivityAnalyses",
    "adjusted_cox",
    "counting_process",
    "covariate_matrix",
    "cox_robust_covariance",
    "cycle_months",
    "default_matching_variants",
    "derived_pfs_margin",
    "dose_response_analysis",
    "e_value",
    "e_value_rr",
    "e_values_table",
    "efron_score_residuals",
    "exposure_lag_days",
    "fixed_group_estimate",
    "hr_sentence",
    "hr_to_rr_common",
    "iptw_analysis",
    "iptw_weights",
    "km_at",
    "landmark_analysis",
    "landmark_cohort",
    "matched_biases",
    "matching_sensitivity",
    "ni_hr_sentence",
    "ni_pfs_sentence",
    "non_inferiority_analysis",
    "non_inferiority_hr",
    "on_day_grid",
    "outcome_is_rare",
    "pfs_difference",
    "spline_basis",
    "spline_knots",
    "time_varying_analysis",
    "time_varying_cox",
]
