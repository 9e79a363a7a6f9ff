"""The options of the sensitivity analyses, and the matching specifications they compare.

The options are fields of `rait_registry.analysis.AnalysisConfig` (declared in
`rait_registry.params`); `OPTION_NAMES` lists those the sensitivity analyses read, in the order
results.json ``sensitivity_options`` reports them. The matching specifications are structured
values, not study parameters: `default_matching_variants` derives them from the matching
covariates, and `SensitivityAnalyses` takes others as an argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rait_registry import params

from ..config import DEFAULTS

#: The estimands of the weighting.
ESTIMANDS: tuple[str, ...] = params.get("iptw_estimand").choices or ()
#: Austin's (2011) caliper: 0.2 standard deviations of the logit of the propensity.
AUSTIN_CALIPER_LOGIT_SD = 0.2

#: The AnalysisConfig fields the sensitivity analyses read (``matching_variants``: the argument
#: of `SensitivityAnalyses`), in the order of results.json ``sensitivity_options``; the exposure
#: lag of the time-varying models (the refresh's ``rxwbs_window_days``) follows them.
OPTION_NAMES: tuple[str, ...] = (
    "landmark_months",
    "landmark_sensitivity_months",
    "horizon_months",
    "alpha",
    "adjust_covariates",
    "ni_hr_margin",
    "ni_pfs_margin",
    "ni_margins_prespecified",
    "ni_alpha",
    "matching_variants",
    "iptw_estimand",
    "iptw_covariates",
    "iptw_stabilized",
    "evalue_rare_outcome",
    "dose_reference_gbq",
    "dose_spline_df",
    "dose_grid_points",
)


@dataclass(frozen=True)
class MatchingVariant:
    """One propensity-score matching specification of the sensitivity analysis.

    ``caliper_scale`` is that of `PropensityMatcher`: ``"propensity"`` (caliper in propensity
    units, the study's 0.05) or ``"logit_sd"`` (in SDs of the logit of the propensity).

    Examples
    --------
    >>> MatchingVariant("age only, 0.2 SD", ("age_at_diagnosis_years",), 0.2, "logit_sd").caliper_scale
    'logit_sd'

    """

    label: str
    covariates: tuple[str, ...]
    caliper: float | None
    caliper_scale: str = "propensity"


def default_matching_variants(
    covariates: Sequence[str] = DEFAULTS.matching_covariates,
) -> tuple[MatchingVariant, ...]:
    """With and without follow-up time x the study's caliper (0.05, propensity) and 0.2 SD (logit propensity).

    Examples
    --------
    >>> [v.label for v in default_matching_variants(("age_at_diagnosis_years", "follow_up_months"))]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['caliper 0.05 (propensity), with follow-up', 'caliper 0.2 SD (logit propensity), with follow-up',
     'caliper 0.05 (propensity), without follow-up', 'caliper 0.2 SD (logit propensity), without follow-up']
    """
    study, austin = DEFAULTS.caliper, AUSTIN_CALIPER_LOGIT_SD
    given = tuple(covariates)
    without_fu = tuple(c for c in given if c != "follow_up_months")
    specs = [(given, "with follow-up")] if without_fu != given else []
    specs.append((without_fu, "without follow-up"))
    out = []
    for covs, tag in specs:
        out.append(MatchingVariant(f"caliper {study:g} (propensity), {tag}", covs, study, "propensity"))
        out.append(MatchingVariant(f"caliper {austin:g} SD (logit propensity), {tag}", covs, austin, "logit_sd"))
    return tuple(out)
