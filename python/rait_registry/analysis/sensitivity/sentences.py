"""Sentences generated from the numbers of the sensitivity analyses (they never read a
non-significant test as "no difference")."""

from __future__ import annotations

from typing import Any

from ..config import DEFAULTS
from ..formatting import format_p
from .results import is_set

__all__ = ["hr_sentence", "ni_sentence"]


def fmt(x: float | None) -> str:
    """A ratio or difference in a sentence: 2 decimals, 3 significant digits below 0.1."""
    if x is None:
        return "n/a"
    ax = abs(x)
    return f"{x:.2f}" if ax >= 0.1 or ax == 0 else f"{x:.3g}"


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
) -> str:
    """One sentence on an HR and its CI that never reads 'not significant' as 'no difference'."""
    if not (is_set(hr) and is_set(lo) and is_set(hi)):
        return f"{what}: the hazard ratio could not be estimated" + (f" ({reason})." if reason else ".")
    head = f"{what}: HR ({contrast}) {fmt(hr)} ({level(alpha)} CI {fmt(lo)} to {fmt(hi)})"
    if lo <= 1.0 <= hi:
        return head + "; the interval includes both lower and higher hazards, so neither benefit nor harm is shown."
    side = "lower" if hi < 1.0 else "higher"
    first = contrast.split(" vs ")[0]
    return (
        head
        + f"; the interval excludes 1 ({side} hazard of progression with {first} in this observational comparison)."
    )


def ni_sentence(what: str, res: dict[str, Any], margin: float, alpha: float) -> str:
    """One sentence on a non-inferiority verdict: the CI against the margin, with the one-sided p."""
    if not is_set(res.get("hr")):
        return f"{what}: non-inferiority cannot be assessed (no hazard ratio)."
    head = (
        f"{what}: HR (o-RAIT vs m-RAIT) {fmt(res['hr'])}, {level(2 * alpha)} CI {fmt(res['ci_low'])} to "
        f"{fmt(res['ci_high'])}"
    )
    if res["non_inferior"]:
        return head + (
            f"; the upper limit is below the margin {margin:g} (one-sided p = {fmt_p(res['p_one_sided'])}), "
            "so non-inferiority of o-RAIT is shown in this analysis, subject to its biases."
        )
    return head + (
        f"; the upper limit is at or above the margin {margin:g} (one-sided p = {fmt_p(res['p_one_sided'])}), "
        "so non-inferiority of o-RAIT is not shown."
    )
