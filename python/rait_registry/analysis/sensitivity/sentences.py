"""Sentences generated from the numbers of the sensitivity analyses.

Every sentence states its result through `rait_registry.analysis.wording`: an interval that
includes 1 is compatible with both directions (never "no difference"), a non-inferiority result
is one of the verdicts of `wording.VERDICTS`, a margin says whether it was prespecified, and an
analysis with a known bias names it in the same sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import wording
from ..config import DEFAULTS
from ..formatting import format_p
from .results import is_set

__all__ = ["hr_sentence", "ni_hr_sentence", "ni_pfs_sentence"]


def fmt(x: float | None) -> str:
    """A ratio or difference in a sentence: 2 decimals, 3 significant digits below 0.1."""
    if x is None:
        return "n/a"
    ax = abs(x)
    return f"{x:.2f}" if ax >= 0.1 or ax == 0 else f"{x:.3g}"


def fmt_points(x: float | None) -> str:
    """A difference of proportions in percentage points, signed, 1 decimal (``-8.4``)."""
    return "n/a" if x is None else f"{100 * x:+.1f}"


def fmt_p(p: float | None) -> str:
    """A p-value in a sentence (``< 0.001``, else 3 decimals)."""
    return format_p(p, style="sentence")


def level(alpha: float) -> str:
    """The confidence level of ``alpha`` as text (``95%``)."""
    return f"{100 * (1 - alpha):g}%"


def hr_sentence(
    what: str,
    hr: float | None,
    lo: float | None,
    hi: float | None,
    alpha: float = DEFAULTS.alpha,
    contrast: str = "m-RAIT vs o-RAIT",
    reason: str | None = None,
    biases: Sequence[str] = (),
) -> str:
    """One sentence on an HR and its CI: what the interval allows, and the analysis' known biases.

    Examples
    --------
    >>> print(hr_sentence("Matched cohort", 1.46, 0.35, 6.14, biases=["immortal_time"]))
    Matched cohort: HR (m-RAIT vs o-RAIT) 1.46 (95% CI 0.35 to 6.14); the interval includes 1, so it is compatible
    with both a lower and a higher hazard of progression with m-RAIT; biased: groups are defined by the number of
    RAITs received during follow-up, ... (immortal-time bias).
    """
    bias = wording.bias_clause(biases)
    if not (is_set(hr) and is_set(lo) and is_set(hi)):
        return f"{what}: the hazard ratio could not be estimated" + (f" ({reason})" if reason else "") + bias + "."
    first = contrast.split(" vs ")[0]
    reading = wording.interval_reading(lo, hi, 1.0, quantity=f"hazard of progression with {first}")
    return f"{what}: HR ({contrast}) {fmt(hr)} ({level(alpha)} CI {fmt(lo)} to {fmt(hi)}); {reading}{bias}."


def _margin_words(prespecified: bool) -> str:
    return wording.margin_status(prespecified)


def ni_hr_sentence(what: str, row: Mapping[str, Any], *, margin: float, prespecified: bool, alpha: float) -> str:
    """One sentence on the non-inferiority of o-RAIT by the hazard ratio: the CI against the margin.

    Parameters
    ----------
    what : str
        The analysis, as the sentence names it.
    row : mapping
        A ``non_inferiority.hr`` row: ``hr_o_vs_m``, ``ci_low``, ``ci_high``, ``p_one_sided``,
        ``verdict``, ``biases``, ``notes``.
    margin : float
        The HR margin.
    prespecified : bool
        Whether the user declared the margins prespecified.
    alpha : float
        One-sided level (the interval is two-sided ``1 - 2 alpha``).
    """
    bias = wording.bias_clause(row.get("biases") or ())
    against = f"at the HR margin {margin:g} ({_margin_words(prespecified)})"
    if not (is_set(row.get("hr_o_vs_m")) and is_set(row.get("ci_low")) and is_set(row.get("ci_high"))):
        why = next(iter(row.get("notes") or []), "no hazard ratio")
        return f"{what}: no hazard ratio ({why}), so non-inferiority {against} is {row['verdict']}{bias}."
    return (
        f"{what}: HR (o-RAIT vs m-RAIT) {fmt(row['hr_o_vs_m'])}, {level(2 * alpha)} CI {fmt(row['ci_low'])} to "
        f"{fmt(row['ci_high'])}, one-sided p = {fmt_p(row['p_one_sided'])} {against}: "
        f"{_verdict_phrase(row['verdict'])}{bias}."
    )


def ni_pfs_sentence(what: str, row: Mapping[str, Any], *, hr_margin: float, prespecified: bool, alpha: float) -> str:
    """One sentence on the non-inferiority of o-RAIT by the PFS difference at the horizon.

    The margin is printed with its origin: derived from the HR margin (``S_m^M - S_m``) or given.

    Parameters
    ----------
    what : str
    row : mapping
        A ``non_inferiority.pfs_difference`` row.
    hr_margin : float
    prespecified : bool
    alpha : float
    """
    bias = wording.bias_clause(row.get("biases") or ())
    years = row["horizon_months"] / 12
    horizon = f"{years:g}-year" if float(years).is_integer() else f"{row['horizon_months']:g}-month"
    if row.get("margin_source") == "given":
        origin = f"given; the HR margin {hr_margin:g} implies {fmt_points(row.get('margin_derived'))} points"
    elif is_set(row.get("pfs_m_rait")):
        origin = (
            f"derived from the HR margin {hr_margin:g} at the m-RAIT {horizon} PFS of {100 * row['pfs_m_rait']:.1f}%: "
            f"{row['pfs_m_rait']:.3f}^{hr_margin:g} - {row['pfs_m_rait']:.3f}"
        )
    else:
        origin = f"derived from the HR margin {hr_margin:g}"
    margin = row.get("margin")
    against = (
        f"at the margin {fmt_points(margin)} points ({origin}; {_margin_words(prespecified)})"
        if is_set(margin)
        else f"at a margin that cannot be derived ({origin}; {_margin_words(prespecified)})"
    )
    if not (is_set(row.get("difference")) and is_set(row.get("ci_low")) and is_set(row.get("ci_high"))):
        why = "; ".join(row.get("notes") or []) or "no estimate"
        return (
            f"{what}: the {horizon} PFS difference has no interval ({why}), so non-inferiority {against} is "
            f"{row['verdict']}{bias}."
        )
    return (
        f"{what}: {horizon} PFS difference (o-RAIT minus m-RAIT) {fmt_points(row['difference'])} percentage points, "
        f"{level(2 * alpha)} CI {fmt_points(row['ci_low'])} to {fmt_points(row['ci_high'])} {against}: "
        f"{_verdict_phrase(row['verdict'])}{bias}."
    )


def _verdict_phrase(verdict: str) -> str:
    """``the result is <verdict>`` (the verdict verbatim, so it can be found in the text)."""
    if verdict not in wording.VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {wording.VERDICTS}")
    return f"the result is {verdict}"
