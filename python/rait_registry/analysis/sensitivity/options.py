"""The options of the sensitivity analyses, and the matching specifications they compare."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rait_registry.exceptions import AnalysisError

from ..matching import DEFAULT_COVARIATES

ESTIMANDS = ("ATE", "ATT")


@dataclass(frozen=True)
class MatchingVariant:
    """One propensity-score matching specification of the sensitivity analysis.

    ``caliper_scale`` is that of `PropensityMatcher`: ``"propensity"`` (caliper in propensity
    units, the study's 0.05) or ``"logit_sd"`` (in SDs of the logit of the propensity).
    """

    label: str
    covariates: tuple[str, ...]
    caliper: float | None
    caliper_scale: str = "propensity"


def default_matching_variants(covariates: Sequence[str] = DEFAULT_COVARIATES) -> tuple[MatchingVariant, ...]:
    """With and without follow-up time x caliper 0.05 (propensity) and 0.2 SD (logit propensity)."""
    given = tuple(covariates)
    without_fu = tuple(c for c in given if c != "follow_up_months")
    specs = [(given, "with follow-up")] if without_fu != given else []
    specs.append((without_fu, "without follow-up"))
    out = []
    for covs, tag in specs:
        out.append(MatchingVariant(f"caliper 0.05 (propensity), {tag}", covs, 0.05, "propensity"))
        out.append(MatchingVariant(f"caliper 0.2 SD (logit propensity), {tag}", covs, 0.2, "logit_sd"))
    return tuple(out)


@dataclass
class SensitivityOptions:
    """Options of the sensitivity analyses (defaults in brackets).

    Attributes
    ----------
    landmark_months : float [12]
        Landmark after the first RAIT.
    landmark_sensitivity_months : tuple of float [(6, 18, 24)]
        Further landmarks for a short table of HRs.
    horizon_months : float [60]
        Time of the PFS comparison (5-year PFS); for the landmark analysis the KM is read at
        ``horizon_months - landmark_months`` after the landmark.
    alpha : float [0.05]
        1 - confidence level of the reported CIs (two-sided).
    adjust_covariates : tuple of str [age, local persistent disease]
        Baseline covariates of the adjusted Cox models (landmark, time-varying, dose). Names
        as `PropensityMatcher` covariates; patients with a missing value are left out of the
        adjusted models only. Empty: no adjusted models.
    ni_hr_margin : float [1.5]
        Non-inferiority margin for the HR of o-RAIT versus m-RAIT (must exceed 1).
    ni_pfs_margin : float [0.10]
        Non-inferiority margin for the 5-year PFS difference, o-RAIT minus m-RAIT (0..1).
    ni_alpha : float [0.025]
        One-sided significance level of the non-inferiority tests.
    matching_variants : tuple of MatchingVariant or None
        Matching specifications of the sensitivity analysis; None: `default_matching_variants`
        of the primary matcher's covariates.
    iptw_estimand : {"ATE", "ATT"} ["ATE"]
        ATE: weights 1/e (o-RAIT), 1/(1-e) (m-RAIT), e = P(o-RAIT | covariates); ATT (o-RAIT
        as target population, as the matching): 1 and e/(1-e).
    iptw_covariates : tuple of str [age, local persistent disease]
        Propensity-model covariates of the weighting (baseline only: follow-up time is not).
    iptw_stabilized : bool [True]
        Multiply ATE weights by the marginal group proportion (ignored for the ATT).
    evalue_rare_outcome : bool or None [None]
        Treat the HR as a risk ratio (rare outcome) or use VanderWeele's square-root
        transformation (common outcome). None: decide per analysis by the 15% rule on the
        Kaplan-Meier cumulative incidence at the end of follow-up.
    dose_reference_gbq : float [5.55]
        Reference cumulative activity of the HR curve (one standard activity).
    dose_spline_df : int [3]
        Degrees of freedom of the natural spline (interior knots at the quantiles
        k / df of the patients' cumulative activity); 1 means linear only.
    dose_grid_points : int [25]
        Points of the HR curve between the 5th and 95th percentile of cumulative activity
        (the reference is added).
    """

    landmark_months: float = 12.0
    landmark_sensitivity_months: tuple[float, ...] = (6.0, 18.0, 24.0)
    horizon_months: float = 60.0
    alpha: float = 0.05
    adjust_covariates: tuple[str, ...] = ("age_at_diagnosis_years", "local_persistent_disease")
    ni_hr_margin: float = 1.5
    ni_pfs_margin: float = 0.10
    ni_alpha: float = 0.025
    matching_variants: tuple[MatchingVariant, ...] | None = None
    iptw_estimand: str = "ATE"
    iptw_covariates: tuple[str, ...] = ("age_at_diagnosis_years", "local_persistent_disease")
    iptw_stabilized: bool = True
    evalue_rare_outcome: bool | None = None
    dose_reference_gbq: float = 5.55
    dose_spline_df: int = 3
    dose_grid_points: int = 25

    def validate(self) -> None:
        """Raise `AnalysisError` for options that cannot work."""
        if not (0 < self.landmark_months < self.horizon_months):
            raise AnalysisError(
                f"landmark_months must lie between 0 and horizon_months ({self.horizon_months:g}), "
                f"got {self.landmark_months!r}"
            )
        if not (0 < self.alpha < 1):
            raise AnalysisError(f"alpha must lie in (0, 1), got {self.alpha!r}")
        if not (0 < self.ni_alpha < 0.5):
            raise AnalysisError(f"ni_alpha (one-sided) must lie in (0, 0.5), got {self.ni_alpha!r}")
        if not (self.ni_hr_margin > 1 and math.isfinite(self.ni_hr_margin)):
            raise AnalysisError(
                f"ni_hr_margin is a margin for the HR of o-RAIT vs m-RAIT and must exceed 1, got {self.ni_hr_margin!r}"
            )
        if not (0 < self.ni_pfs_margin < 1):
            raise AnalysisError(f"ni_pfs_margin is a difference of proportions in (0, 1), got {self.ni_pfs_margin!r}")
        if self.iptw_estimand not in ESTIMANDS:
            raise AnalysisError(f"iptw_estimand must be one of {ESTIMANDS}, got {self.iptw_estimand!r}")
        if not (isinstance(self.dose_spline_df, int) and self.dose_spline_df >= 1):
            raise AnalysisError(f"dose_spline_df must be an integer >= 1, got {self.dose_spline_df!r}")
        if not self.dose_reference_gbq > 0:
            raise AnalysisError(f"dose_reference_gbq must be positive, got {self.dose_reference_gbq!r}")
        if not self.dose_grid_points >= 2:
            raise AnalysisError(f"dose_grid_points must be >= 2, got {self.dose_grid_points!r}")
