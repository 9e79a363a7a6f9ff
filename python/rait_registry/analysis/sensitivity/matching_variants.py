"""How much the matched result depends on the matching specification (results.json
``sensitivity.matching``): the study's matching (with follow-up time, caliper 0.05 on the
propensity) against matching without follow-up time (not a baseline variable) and with a
caliper of 0.2 SD of the logit of the propensity (Austin 2011).

References
----------
Austin PC (2011). Optimal caliper widths for propensity-score matching when estimating
differences in means and differences in proportions in observational studies. *Pharm Stat*
10:150-161.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from rait_registry.contract import M_RAIT, O_RAIT, RAIT_GROUPS
from rait_registry.exceptions import MatchingError, StatisticsWarning

from .. import survival, wording
from ..config import DEFAULTS
from ..matching import PropensityMatcher
from .options import MatchingVariant, default_matching_variants
from .results import HazardRatioEstimate, SectionResult, is_set

__all__ = ["matched_biases", "matched_comparison", "matching_sensitivity"]


def matched_comparison(matched: pd.DataFrame, horizon_months: float, alpha: float) -> survival.SurvivalComparison:
    """Kaplan-Meier, log-rank and Cox of o-RAIT vs m-RAIT in a matched cohort (HR with the SE robust to the
    pairs; the pair-stratified model is reported once, in results.json ``survival.matched``)."""
    return survival.SurvivalComparison(list(RAIT_GROUPS), horizon=horizon_months, alpha=alpha, stratified=False).fit(
        matched, cluster_col="pair_id"
    )


def matched_biases(covariates: Sequence[str]) -> tuple[str, ...]:
    """The known biases of a matched comparison of the final groups (keys of `wording.BIASES`).

    The groups are defined by the number of cycles received during follow-up (immortal time),
    whatever the matching; matching on ``follow_up_months`` adds a post-baseline variable.

    Examples
    --------
    >>> matched_biases(["age_at_diagnosis_years", "follow_up_months"])
    ('immortal_time', 'matched_on_follow_up')
    """
    return ("immortal_time",) + (("matched_on_follow_up",) if "follow_up_months" in covariates else ())


def _matching_row(label: str, m: PropensityMatcher, comp: survival.SurvivalComparison) -> dict[str, Any]:
    d = comp.to_dict()
    smd = [abs(x) for x in m.balance_["smd_after"].tolist() if is_set(x)]
    return {
        "label": label,
        "covariates": list(m.covariates),
        "caliper": m.caliper,
        "caliper_scale": m.caliper_scale,
        "caliper_width": m.caliper_width_,
        "biases": list(matched_biases(m.covariates)),
        "n_pairs": len(m.pairs_),
        "max_abs_smd_after": max(smd) if smd else None,
        "events": d["events"],
        "hr": d["hr"],
        "hr_ci_low": d["hr_ci_low"],
        "hr_ci_high": d["hr_ci_high"],
        "hr_p": d["hr_p"],
        "logrank_p": d["logrank_p"],
        "pfs_5y_o_rait": d["groups"][O_RAIT]["pfs_5y"],
        "pfs_5y_m_rait": d["groups"][M_RAIT]["pfs_5y"],
        "notes": list(d["notes"]),
    }


def matching_sensitivity(
    cohort: pd.DataFrame,
    matcher: PropensityMatcher | None = None,
    variants: Sequence[MatchingVariant] | None = None,
    *,
    horizon_months: float,
    alpha: float = DEFAULTS.alpha,
) -> SectionResult:
    """The primary matched comparison and the same comparison under other matching specifications.

    Parameters
    ----------
    cohort : DataFrame
        The eligible cohort.
    matcher : PropensityMatcher, optional
        The fitted matcher of the main analysis; None: the study's matching is fitted here.
    variants : sequence of MatchingVariant, optional
        Default `default_matching_variants` of the primary matcher's covariates; a variant equal
        to the primary matching is not refitted (its label is added to the primary row).
    horizon_months, alpha : float

    Returns
    -------
    SectionResult
        ``section`` ``{notes, matching: rows}`` (the start of results.json ``sensitivity``);
        table ``sensitivity_matching``; estimate ``matched``; fitted ``matcher`` (the primary),
        ``comparison`` (its `SurvivalComparison`) and ``variants`` (list of ``(variant,
        matcher or None, comparison or None)``).
    """
    notes: list[str] = []
    if matcher is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StatisticsWarning)
            matcher = PropensityMatcher().fit(cohort)
        notes += [f"primary matching: {w.message}" for w in caught if issubclass(w.category, StatisticsWarning)]
    comp = matched_comparison(matcher.matched_cohort_, horizon_months, alpha)
    d = comp.to_dict()
    estimate = HazardRatioEstimate.from_fit(
        "matched",
        f"propensity-matched cohort ({', '.join(matcher.covariates)}; caliper {matcher.caliper} "
        f"on the {matcher.caliper_scale} scale), as the study; SE robust to the pairs",
        {
            "hr": d["hr"],
            "ci_low": d["hr_ci_low"],
            "ci_high": d["hr_ci_high"],
            "p": d["hr_p"],
            "log_hr": d["hr_log"],
            "se_log_hr": d["hr_se_log"],
        },
        comp.cox_,
        matcher.matched_cohort_,
        biases=matched_biases(matcher.covariates),
    )
    primary = _matching_row("primary (the main analysis's matching)", matcher, comp)
    if variants is None:
        variants = default_matching_variants(matcher.covariates)
    rows = [primary]
    fitted_variants: list[tuple[MatchingVariant, PropensityMatcher | None, Any]] = []
    same = (tuple(matcher.covariates), matcher.caliper, matcher.caliper_scale)
    for v in variants:
        if (tuple(v.covariates), v.caliper, v.caliper_scale) == same and matcher.order == "largest":
            primary["label"] += f"; = {v.label}"
            continue
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", StatisticsWarning)
                m = PropensityMatcher(
                    covariates=list(v.covariates), caliper=v.caliper, caliper_scale=v.caliper_scale
                ).fit(cohort)
        except MatchingError as exc:
            rows.append(
                {
                    "label": v.label,
                    "covariates": list(v.covariates),
                    "caliper": v.caliper,
                    "caliper_scale": v.caliper_scale,
                    "biases": list(matched_biases(v.covariates)),
                    "n_pairs": None,
                    "notes": [str(exc)],
                }
            )
            fitted_variants.append((v, None, None))
            continue
        c = matched_comparison(m.matched_cohort_, horizon_months, alpha)
        row = _matching_row(v.label, m, c)
        row["notes"] += [str(w.message) for w in caught if issubclass(w.category, StatisticsWarning)]
        rows.append(row)
        fitted_variants.append((v, m, c))
    return SectionResult(
        "sensitivity",
        {"notes": notes, "matching": rows},
        {
            "sensitivity_matching": pd.DataFrame(rows)
            .drop(columns=["notes"], errors="ignore")
            .assign(biases=[wording.bias_reasons(r["biases"]) for r in rows])
        },
        {"matched": estimate},
        {"matcher": matcher, "comparison": comp, "variants": fitted_variants},
        main_table="sensitivity_matching",
    )
