"""The study's statistics, as a library: the analyses ``rait-registry analyze`` runs, one by one.

Every analysis is a class in the lifelines style: settings in ``__init__``, ``fit(df, ...)`` with
the column names as arguments (defaults: the mart names), results in ``*_`` attributes, a
``summary`` DataFrame and ``to_dict()`` (its results.json section, JSON-ready). Their defaults
are the declared study parameters (`rait_registry.params`), held once in `AnalysisConfig`.

>>> from rait_registry.analysis import AnalysisConfig, LogisticAnalysis, PropensityMatcher, SurvivalComparison
>>> matcher = PropensityMatcher().fit(cohort)
>>> SurvivalComparison(["o-RAIT", "m-RAIT"]).fit(
...     matcher.matched_cohort_, duration_col="pfs_months", event_col="pfs_event", group_col="rait_group"
... ).summary["n"].tolist()
[35, 35]

==========================  =================================================================
analysis                    results.json section
==========================  =================================================================
`Table1`, `Table2`          ``table1``, ``table2`` (characteristics, RAIT and response)
`LogisticAnalysis`          ``logistic`` (Table 3, with `FirthLogisticRegression` under separation)
`CoxRiskFactorAnalysis`     ``cox_risk_factors`` (Table 3's time-to-event counterpart: Cox models of PFS)
`PropensityMatcher`         ``matching`` (1:1 greedy caliper matching, as MatchIt; with
                            `baseline_balance`: every Table 1 characteristic before/after)
`SurvivalComparison`        one Kaplan-Meier / log-rank / Cox comparison of groups
`SurvivalAnalysis`          ``survival`` (eligible, matched with pair-robust SE and a
                            pair-stratified model, Fig. 4 subgroups with interaction tests)
`ProportionalHazardsTest`   ``proportional_hazards`` (R ``cox.zph`` of every reported Cox model)
`MaxstatCutpoint`,          ``cutpoints`` (maximally selected log-rank statistics)
`CutpointScan`
`NonInferiorityTrialDesign` ``trial_design`` (events and patients of the prospective trial)
`SensitivityAnalyses`       ``landmark``, ``time_varying_cox``, ``non_inferiority``,
                            ``sensitivity``, ``dose_response`` (`rait_registry.analysis.sensitivity`)
`analyze`                   all of them on the marts (DataFrames); `analyze_warehouse` reads a
                            published warehouse first (`read_published`) and writes the results
==========================  =================================================================
"""

from __future__ import annotations

from ..warehouse import PublishedMarts, read_published
from .centres import CentreAnalysis
from .config import DEFAULTS, AnalysisConfig
from .cox import COX_FIT_OPTIONS, fit_cox, fit_cox_stratified, fit_cox_time_varying, robust_covariance
from .cutpoints import CutpointScan, MaxstatCutpoint
from .formatting import format_p
from .logistic import FirthLogisticRegression, LogisticAnalysis, Term
from .matching import (
    PropensityMatcher,
    baseline_balance,
    greedy_nearest_neighbor_match,
    standardized_mean_difference,
)
from .proportional_hazards import ProportionalHazardsTest, proportional_hazards_section
from .risk_factors_cox import CoxRiskFactorAnalysis
from .run import AnalysisResult, analyze, analyze_warehouse, validate_results, warehouse_meta, write_results
from .sensitivity import (
    HazardRatioEstimate,
    MatchingVariant,
    SectionResult,
    SensitivityAnalyses,
    counting_process,
    cox_robust_covariance,
    e_value,
    iptw_weights,
    landmark_cohort,
    non_inferiority_hr,
)
from .survival import (
    SurvivalAnalysis,
    SurvivalComparison,
    hazard_ratio,
    interaction_test,
    stratified_hazard_ratio,
    subgroup_specs,
)
from .tables import Characteristic, Table1, Table2, cohort_section, response_shift_table
from .trial_design import NonInferiorityTrialDesign

__all__ = [
    "COX_FIT_OPTIONS",
    "DEFAULTS",
    "AnalysisConfig",
    "AnalysisResult",
    "CentreAnalysis",
    "Characteristic",
    "CoxRiskFactorAnalysis",
    "CutpointScan",
    "FirthLogisticRegression",
    "HazardRatioEstimate",
    "LogisticAnalysis",
    "MatchingVariant",
    "MaxstatCutpoint",
    "NonInferiorityTrialDesign",
    "PropensityMatcher",
    "ProportionalHazardsTest",
    "PublishedMarts",
    "SectionResult",
    "SensitivityAnalyses",
    "SurvivalAnalysis",
    "SurvivalComparison",
    "Table1",
    "Table2",
    "Term",
    "analyze",
    "analyze_warehouse",
    "baseline_balance",
    "cohort_section",
    "counting_process",
    "cox_robust_covariance",
    "e_value",
    "fit_cox",
    "fit_cox_stratified",
    "fit_cox_time_varying",
    "format_p",
    "greedy_nearest_neighbor_match",
    "hazard_ratio",
    "interaction_test",
    "iptw_weights",
    "landmark_cohort",
    "non_inferiority_hr",
    "proportional_hazards_section",
    "read_published",
    "response_shift_table",
    "robust_covariance",
    "standardized_mean_difference",
    "stratified_hazard_ratio",
    "subgroup_specs",
    "validate_results",
    "warehouse_meta",
    "write_results",
]
