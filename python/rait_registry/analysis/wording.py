"""How a generated sentence states a result: the allowed verdicts, the words never used, the bias clause.

Clinicians paste the package's sentences into manuscripts, so every sentence it writes must be
one the analysis supports. The rules, in one place for every sentence builder (the sensitivity
sections, the survival, logistic and matching results, the report's captions and readings):

* A non-inferiority verdict is one of `VERDICTS`, chosen by `ni_verdict` from the confidence
  interval and the margin (CONSORT's reading of a non-inferiority interval, Piaggio et al.
  2012): the whole interval on the good side of the margin is *consistent with*
  non-inferiority, the whole interval on the bad side is *not consistent with* it, an interval
  across the margin (or no interval) is *inconclusive*.
* A margin says whether it was prespecified (`margin_status`): "not prespecified" unless the
  user declares it so (``ni_margins_prespecified``), because a margin chosen after seeing the
  data can be chosen to fit them.
* An analysis known to be biased says so in the same sentence (`bias_clause`, the reasons in
  `BIASES`), so that no sentence can be quoted without its caveat.
* An interval that includes the null value is read as compatible with both directions
  (`interval_reading`), never as "no difference".
* No sentence uses a word of proof (`FORBIDDEN_WORDS`: "shown", "demonstrated", "proven",
  "established", "confirms", ...) or claims non-inferiority in other words than a verdict
  (`FORBIDDEN_PHRASES`: "o-RAIT is non-inferior", "non-inferiority was met"): an observational
  comparison is at most *consistent with* a hypothesis. `forbidden_words` finds them; the tests
  run it over results.json, the report and the CSV tables.

References
----------
Piaggio G, Elbourne DR, Pocock SJ, Evans SJW, Altman DG (2012). Reporting of noninferiority and
equivalence randomized trials: extension of the CONSORT 2010 statement. *JAMA* 308:2594-2604
(figure 1: the interval against the margin).
Suissa S (2008). Immortal time bias in pharmacoepidemiology. *Am J Epidemiol* 167:492-499.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "BIASES",
    "BIAS_LABELS",
    "FORBIDDEN_PHRASES",
    "FORBIDDEN_WORDS",
    "VERDICTS",
    "VERDICT_CONSISTENT",
    "VERDICT_INCONCLUSIVE",
    "VERDICT_NOT_CONSISTENT",
    "bias_clause",
    "bias_reasons",
    "forbidden_words",
    "interval_reading",
    "margin_status",
    "ni_verdict",
]

#: The whole interval is on the good side of the margin.
VERDICT_CONSISTENT = "consistent with non-inferiority at the margin"
#: The whole interval is on the bad side of the margin.
VERDICT_NOT_CONSISTENT = "not consistent with non-inferiority at the margin"
#: The interval crosses the margin, or there is no interval.
VERDICT_INCONCLUSIVE = "inconclusive"
#: Every verdict a non-inferiority result may have (results.json ``verdict``, the report, the CSVs).
VERDICTS: tuple[str, ...] = (VERDICT_CONSISTENT, VERDICT_NOT_CONSISTENT, VERDICT_INCONCLUSIVE)

#: Words of proof that no generated sentence uses (any inflection listed; matched as whole words,
#: case-insensitive). "inconclusive" is a verdict and is not matched by "conclusive".
FORBIDDEN_WORDS: tuple[str, ...] = (
    "show",
    "shows",
    "showed",
    "shown",
    "showing",
    "demonstrate",
    "demonstrates",
    "demonstrated",
    "demonstrating",
    "demonstration",
    "prove",
    "proves",
    "proved",
    "proven",
    "proving",
    "proof",
    "establish",
    "establishes",
    "established",
    "establishing",
    "confirm",
    "confirms",
    "confirmed",
    "confirming",
    "verified",
    "conclusive",
    "conclusively",
    "definitive",
    "definitively",
    "no difference",
)
#: Claims of non-inferiority in any other words than a verdict of `VERDICTS` ("o-RAIT is
#: non-inferior", "non-inferiority was met"), as regular expressions.
FORBIDDEN_PHRASES: tuple[str, ...] = (
    r"\b(?:is|are|was|were|be|been)\s+(?:\w+\s+)?non-?inferior\b",
    r"\bnon-?inferiority\s+(?:is|was|has\s+been|can\s+be)\s+(?:met|achieved|reached|concluded|supported|claimed)\b",
)
_FORBIDDEN = re.compile(
    "|".join([r"\b(?:" + "|".join(re.escape(w) for w in FORBIDDEN_WORDS) + r")\b", *FORBIDDEN_PHRASES]),
    re.IGNORECASE,
)

#: Known biases of an analysis, by key: the clause a sentence about it carries.
BIASES: dict[str, str] = {
    "immortal_time": (
        "groups are defined by the number of RAITs received during follow-up, so m-RAIT patients had to stay "
        "progression-free until their second RAIT (immortal-time bias)"
    ),
    "matched_on_follow_up": (
        "the matching includes follow-up time, which is known only after treatment (matching on a "
        "post-baseline variable)"
    ),
    "unlagged_exposure": (
        "m-RAIT status starts on the day of the second administration, so progression found on that "
        "cycle's post-therapy scan, which evaluates the first cycle, is credited to m-RAIT"
    ),
    "total_activity": (
        "the total activity is known only at the end of follow-up and partly follows progression (immortal-time bias)"
    ),
}


#: The same biases in a few words, for a one-line reading (`bias_clause` with ``short=True``).
BIAS_LABELS: dict[str, str] = {
    "immortal_time": "immortal time",
    "matched_on_follow_up": "matched on follow-up time",
    "unlagged_exposure": "exposure switched on the day of the second RAIT",
    "total_activity": "total activity known only at the end of follow-up",
}


def _set(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def ni_verdict(ci_low: float | None, ci_high: float | None, margin: float | None, *, worse: str = "higher") -> str:
    """The non-inferiority verdict of an interval against a margin (one of `VERDICTS`).

    Parameters
    ----------
    ci_low, ci_high : float or None
        The two-sided ``1 - 2 alpha`` interval of the contrast (None: not estimated).
    margin : float or None
        The non-inferiority margin on the contrast's scale (None: undefined).
    worse : {"higher", "lower"}
        Which side of the margin is worse for the treatment claimed non-inferior: ``"higher"``
        for a hazard ratio of it versus the comparator, ``"lower"`` for a difference in
        survival (it minus the comparator).

    Returns
    -------
    str
        `VERDICT_CONSISTENT` when the whole interval is on the good side of the margin,
        `VERDICT_NOT_CONSISTENT` when the whole interval is on the bad side (the margin
        included), `VERDICT_INCONCLUSIVE` when the interval crosses the margin or is undefined.

    Examples
    --------
    >>> ni_verdict(0.4, 1.3, 1.5)
    'consistent with non-inferiority at the margin'
    >>> ni_verdict(0.8, 2.9, 1.5)
    'inconclusive'
    >>> ni_verdict(1.6, 3.0, 1.5)
    'not consistent with non-inferiority at the margin'
    >>> ni_verdict(-0.05, 0.12, -0.08, worse="lower"), ni_verdict(None, None, 1.5)
    ('consistent with non-inferiority at the margin', 'inconclusive')
    """
    if worse not in ("higher", "lower"):
        raise ValueError(f"worse must be 'higher' or 'lower', got {worse!r}")
    if not (_set(ci_low) and _set(ci_high) and _set(margin)):
        return VERDICT_INCONCLUSIVE
    good_side, bad_side = (
        (ci_high < margin, ci_low >= margin) if worse == "higher" else (ci_low > margin, ci_high <= margin)
    )
    if good_side:
        return VERDICT_CONSISTENT
    if bad_side:
        return VERDICT_NOT_CONSISTENT
    return VERDICT_INCONCLUSIVE


def margin_status(prespecified: bool) -> str:
    """``"prespecified"`` or ``"not prespecified"``: how every sentence qualifies a margin.

    Examples
    --------
    >>> margin_status(False)
    'not prespecified'
    """
    return "prespecified" if prespecified else "not prespecified"


def bias_clause(biases: Iterable[str], *, short: bool = False) -> str:
    """The clause a sentence about a biased analysis carries ('' when it has no known bias).

    Parameters
    ----------
    biases : iterable of str
        Keys of `BIASES` (an unknown key is refused: a caveat must be written before it is used).
    short : bool
        False: ``"; biased: <reason>[; and <reason>]"`` (`BIASES`), to put before the end of a
        sentence. True: ``" (biased: <label>[; <label>])"`` (`BIAS_LABELS`), to put after the
        name of the analysis in a one-line reading.

    Examples
    --------
    >>> bias_clause([])
    ''
    >>> bias_clause(["matched_on_follow_up"])
    '; biased: the matching includes follow-up time, which is known only after treatment (matching on a post-baseline variable)'
    >>> bias_clause(["immortal_time", "matched_on_follow_up"], short=True)
    ' (biased: immortal time; matched on follow-up time)'
    """
    keys = list(dict.fromkeys(biases))
    unknown = [k for k in keys if k not in BIASES]
    if unknown:
        raise ValueError(f"unknown bias {unknown}; declare it in rait_registry.analysis.wording.BIASES")
    if not keys:
        return ""
    if short:
        return " (biased: " + "; ".join(BIAS_LABELS[k] for k in keys) + ")"
    return "; biased: " + "; and ".join(BIASES[k] for k in keys)


def bias_reasons(biases: Iterable[str]) -> str:
    """The reasons of `BIASES` joined by ``"; "`` ('' for none): a table cell of the CSV files.

    Examples
    --------
    >>> bias_reasons(["immortal_time"])[:52]
    'groups are defined by the number of RAITs received d'
    """
    return "; ".join(BIASES[b] for b in dict.fromkeys(biases))


def interval_reading(ci_low: float, ci_high: float, null: float = 1.0, *, quantity: str) -> str:
    """What an interval says about the direction of an effect, never "no difference".

    Parameters
    ----------
    ci_low, ci_high : float
        The interval.
    null : float
        The value of no effect (1 for a ratio, 0 for a difference).
    quantity : str
        What a value above the null makes higher (``"hazard of progression with m-RAIT"``).

    Examples
    --------
    >>> interval_reading(0.4, 2.1, quantity="hazard of progression with m-RAIT")
    'the interval includes 1, so it is compatible with both a lower and a higher hazard of progression with m-RAIT'
    >>> interval_reading(1.2, 3.0, quantity="hazard of progression with m-RAIT")
    'the interval excludes 1 (a higher hazard of progression with m-RAIT in this observational comparison)'
    """
    if ci_low <= null <= ci_high:
        return f"the interval includes {null:g}, so it is compatible with both a lower and a higher {quantity}"
    side = "lower" if ci_high < null else "higher"
    return f"the interval excludes {null:g} (a {side} {quantity} in this observational comparison)"


def forbidden_words(text: str) -> list[str]:
    """The words of `FORBIDDEN_WORDS` and the phrases of `FORBIDDEN_PHRASES` in ``text`` (as
    written there), in order of appearance.

    Examples
    --------
    >>> forbidden_words("Non-inferiority is shown; the result is inconclusive and confirmed.")
    ['shown', 'confirmed']
    >>> forbidden_words("o-RAIT was non-inferior; non-inferiority was met. Not non-inferior: consistent with it.")
    ['was non-inferior', 'non-inferiority was met']
    """
    return [m.group(0) for m in _FORBIDDEN.finditer(text)]
