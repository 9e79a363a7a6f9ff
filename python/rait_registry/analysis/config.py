"""`AnalysisConfig`: every option of the analysis in one object, with the declared defaults.

The fields, their order and their defaults are those of the analysis parameters of
`rait_registry.params` (``ANALYSIS_PARAMETERS``: type, unit, range, meaning, the analyses each
one drives, its ``analyze`` option); ``tests/test_analyze.py`` fails when the two drift. A value
is checked against the declaration when the config is made (`UsageError`, exit code 2). The
analysis classes take their defaults from `DEFAULTS` (this config with no option set), so no
default is written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from rait_registry import params
from rait_registry.exceptions import UsageError

__all__ = ["DEFAULTS", "AnalysisConfig"]


def _declared(name: str) -> Any:
    return params.get(name).default


@dataclass(frozen=True)
class AnalysisConfig:
    """Options of ``analyze`` (`rait_registry.params`, scope ``analysis``; ``rait-registry params``).

    Attributes
    ----------
    test_rule : {"pearson_yates_fisher", "pearson_fisher"}
        Categorical test of Tables 1-2 when an expected count is below 5 (revision 2's rule, or
        revision 1's exact Fisher for every such table).
    age_cut_years : float
        Age at diagnosis is dichotomised at >= this (Table 3, Fig. 4 subgroups).
    size_cut_cm : float
        Tumour size is dichotomised at > this (Table 3, Fig. 4 subgroups).
    selection_threshold : float
        Univariable p below which a characteristic enters the multivariable logistic model.
    matching_covariates : tuple of str
        Covariates of the matching's propensity model.
    caliper : float or None
        Matching caliper (None: no caliper), on the scale of ``caliper_scale``.
    caliper_scale : {"propensity", "logit_sd"}
    matching_order : {"largest", "random"}
    random_state : int or None
        Seed of the random matching order.
    centre_in_matching : {"no", "propensity", "within_centre"}
        The centre in the matching: ignored, a term of the propensity model, or pairs only
        inside a centre.
    smd_threshold : float
        |SMD| above which a baseline covariate is flagged as imbalanced.
    subgroup_cohort : {"matched", "eligible"}
        Cohort of the Fig. 4 subgroup analyses.
    subgroup_min_patients, subgroup_min_events : int
        A Fig. 4 panel with an arm smaller than this, or fewer events, reports no hazard ratio.
    sensitivity_analyses : bool
        Also run the sensitivity analyses (`rait_registry.analysis.sensitivity`).
    alpha : float
        1 - confidence level of the sensitivity analyses' intervals.
    ph_test_alpha : float
        Level below which a proportional-hazards test is flagged.
    horizon_months : float
        Time of the PFS comparison of the sensitivity analyses.
    landmark_months : float
    landmark_sensitivity_months : tuple of float
    adjust_covariates : tuple of str
        Baseline covariates of the adjusted Cox models.
    ni_hr_margin : float
        Non-inferiority margin of the HR (o-RAIT vs m-RAIT), the primary margin.
    ni_pfs_margin : float or None
        PFS-difference margin given instead of the one derived from ``ni_hr_margin`` (None: derived).
    ni_margins_prespecified : bool
        Whether the margins were fixed before the data were seen.
    ni_alpha : float
        One-sided level of the non-inferiority tests.
    iptw_estimand : {"ATE", "ATT"}
    iptw_covariates : tuple of str
    iptw_stabilized : bool
    evalue_rare_outcome : bool or None
    dose_reference_gbq : float
    dose_spline_df, dose_grid_points : int
    trial_hr_margin : float
        Hazard-ratio margin of the designed prospective non-inferiority trial (`rait_registry.analysis.trial_design`).
    trial_margins : tuple of float
        Margins of the trial-design table.
    trial_alpha : float
        One-sided level of the designed trial.
    trial_powers : tuple of float
        Powers of the designed trial.
    trial_follow_up_years : float
        Follow-up of the designed trial after its accrual.
    trial_hazard_source : {"person_time", "pfs_horizon"}
        Which registry PFS hazard the design assumes.
    grace_months : int
        Grace period of the "second RAIT" strategy of the target-trial emulation.
    strategy_weight_truncation : float
        Percentile at which the stabilised censoring weights are truncated.
    bootstrap : int
        Bootstrap replicates of the target-trial emulation's CIs (0: robust sandwich CI).
    bootstrap_seed : int

    Units, ranges and the meaning of each option: ``rait-registry params`` or
    `rait_registry.params.ANALYSIS_PARAMETERS`.

    Examples
    --------
    >>> config = AnalysisConfig(age_cut_years=50, caliper=None)
    >>> config.age_cut_years, config.caliper, config.landmark_months
    (50.0, None, 12.0)
    >>> AnalysisConfig(ni_hr_margin=0.9)
    Traceback (most recent call last):
    ...
    rait_registry.exceptions.UsageError: parameter ni_hr_margin must be > 1; see `rait-registry params`.
    """

    test_rule: str = _declared("test_rule")
    age_cut_years: float = _declared("age_cut_years")
    size_cut_cm: float = _declared("size_cut_cm")
    selection_threshold: float = _declared("selection_threshold")
    matching_covariates: tuple[str, ...] = _declared("matching_covariates")
    caliper: float | None = _declared("caliper")
    caliper_scale: str = _declared("caliper_scale")
    matching_order: str = _declared("matching_order")
    random_state: int | None = _declared("random_state")
    centre_in_matching: str = _declared("centre_in_matching")
    smd_threshold: float = _declared("smd_threshold")
    subgroup_cohort: str = _declared("subgroup_cohort")
    subgroup_min_patients: int = _declared("subgroup_min_patients")
    subgroup_min_events: int = _declared("subgroup_min_events")
    sensitivity_analyses: bool = _declared("sensitivity_analyses")
    alpha: float = _declared("alpha")
    ph_test_alpha: float = _declared("ph_test_alpha")
    horizon_months: float = _declared("horizon_months")
    landmark_months: float = _declared("landmark_months")
    landmark_sensitivity_months: tuple[float, ...] = _declared("landmark_sensitivity_months")
    adjust_covariates: tuple[str, ...] = _declared("adjust_covariates")
    ni_hr_margin: float = _declared("ni_hr_margin")
    ni_pfs_margin: float | None = _declared("ni_pfs_margin")
    ni_margins_prespecified: bool = _declared("ni_margins_prespecified")
    ni_alpha: float = _declared("ni_alpha")
    iptw_estimand: str = _declared("iptw_estimand")
    iptw_covariates: tuple[str, ...] = _declared("iptw_covariates")
    iptw_stabilized: bool = _declared("iptw_stabilized")
    evalue_rare_outcome: bool | None = _declared("evalue_rare_outcome")
    dose_reference_gbq: float = _declared("dose_reference_gbq")
    dose_spline_df: int = _declared("dose_spline_df")
    dose_grid_points: int = _declared("dose_grid_points")
    trial_hr_margin: float = _declared("trial_hr_margin")
    trial_margins: tuple[float, ...] = _declared("trial_margins")
    trial_alpha: float = _declared("trial_alpha")
    trial_powers: tuple[float, ...] = _declared("trial_powers")
    trial_follow_up_years: float = _declared("trial_follow_up_years")
    trial_hazard_source: str = _declared("trial_hazard_source")
    grace_months: int = _declared("grace_months")
    strategy_weight_truncation: float = _declared("strategy_weight_truncation")
    bootstrap: int = _declared("bootstrap")
    bootstrap_seed: int = _declared("bootstrap_seed")

    def __post_init__(self) -> None:
        checked = params.check_values(asdict(self), "analysis")
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if not self.landmark_months < self.horizon_months:
            raise UsageError(
                f"landmark_months ({self.landmark_months:g}) must be before horizon_months "
                f"({self.horizon_months:g}); see `rait-registry params`."
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AnalysisConfig:
        """A config from ``{name: value}`` (e.g. results.json ``meta.config``); unknown names are refused."""
        return DEFAULTS.replace(**values)

    def replace(self, **options: Any) -> AnalysisConfig:
        """A copy with some options changed (checked like a new config; `UsageError` for an unknown name)."""
        names = [f.name for f in fields(self)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise UsageError(f"unknown analysis option(s) {', '.join(unknown)}; valid: {', '.join(names)}.")
        return replace(self, **options)

    def to_dict(self) -> dict[str, Any]:
        """Every option (results.json ``meta.config``; tuples as lists when written as JSON)."""
        return asdict(self)


#: The declared defaults, for the defaults of the analysis classes.
DEFAULTS = AnalysisConfig()
