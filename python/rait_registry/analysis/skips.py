"""Analyses a cohort is too small for: skipped with their reason, the others run.

A registry's first extracts, a single centre or a narrow parameter choice can leave a cohort too
small for an analysis: no eligible patient, one of the two groups empty, no progression event, or
so few patients that a model's information matrix is singular. Such an analysis is *skipped*:
its results.json section becomes ``{"skipped": true, "reason": "..."}`` (the one shape of a
skipped analysis everywhere; ``schemas/results.schema.json`` ``$defs/skipped``), the report shows
the reason in its place, ``analyze`` warns and still exits 0, and every other analysis runs.

What counts as "too small" is decided by the analyses themselves, not by a threshold here: the
conditions checked before a section runs (`cohort_problem`) and the errors an analysis raises
when its data cannot support it (`SKIP_ERRORS`: `AnalysisError` and its subclasses, and the
numerical failures of a fit on degenerate data). Any other exception is a bug and is not caught.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError

from ..contract import M_RAIT, O_RAIT
from ..exceptions import AnalysisError

__all__ = ["SKIP_ERRORS", "cohort_problem", "is_skipped", "run_section", "skip_reason", "skipped"]

T = TypeVar("T")

#: Errors that mean "these data cannot support this analysis" (not a bug).
SKIP_ERRORS: tuple[type[BaseException], ...] = (AnalysisError, np.linalg.LinAlgError, ConvergenceError)


def skipped(reason: str) -> dict[str, Any]:
    """The results.json value of a skipped analysis."""
    return {"skipped": True, "reason": reason}


def is_skipped(value: Any) -> bool:
    """Whether a results.json value is a skipped analysis (`skipped`)."""
    return isinstance(value, Mapping) and value.get("skipped") is True


def skip_reason(exc: BaseException, n_patients: int | None = None) -> str:
    """The reason recorded for an analysis that raised one of `SKIP_ERRORS`."""
    if isinstance(exc, AnalysisError):
        return str(exc)
    cohort = f" on a cohort of {n_patients}" if n_patients is not None else ""
    return (
        f"the model cannot be fitted{cohort} ({type(exc).__name__}: {exc}); the cohort has too few patients or "
        "events for it"
    )


def cohort_problem(cohort: pd.DataFrame, *, both_groups: bool = False, events: bool = False) -> str | None:
    """Why ``cohort`` (``marts.analysis_cohort``) cannot support an analysis, or None.

    Parameters
    ----------
    both_groups
        The analysis compares o-RAIT with m-RAIT: both need patients.
    events
        The analysis models progression: at least one progression event is needed.
    """
    n = len(cohort)
    if n == 0:
        return "the cohort has no eligible patient (marts.analysis_cohort is empty; see marts.cohort_attrition)"
    if both_groups:
        groups = cohort["rait_group"].value_counts()
        n_o, n_m = int(groups.get(O_RAIT, 0)), int(groups.get(M_RAIT, 0))
        if n_o == 0 or n_m == 0:
            return f"the comparison needs patients in both groups; the cohort has {n_o} {O_RAIT} and {n_m} {M_RAIT}"
    if events and int(pd.to_numeric(cohort["pfs_event"]).sum()) == 0:
        return f"no progression event among the {n} eligible patients; a model of progression needs events"
    return None


def run_section(
    name: str,
    compute: Callable[[], T],
    skips: dict[str, str],
    problem: str | None = None,
    n_patients: int | None = None,
) -> T | None:
    """Run one analysis; on a foreseeable shortage of data record why in ``skips`` and return None.

    Parameters
    ----------
    name
        The results.json section.
    compute
        Runs the analysis and returns its result.
    skips
        ``{section: reason}`` of the skipped analyses, filled here.
    problem
        A reason found before running (`cohort_problem`): the analysis is not run.
    n_patients
        The cohort's size, for the reason of a failed fit.
    """
    if problem is not None:
        skips[name] = problem
        return None
    try:
        return compute()
    except SKIP_ERRORS as exc:
        skips[name] = skip_reason(exc, n_patients)
        return None
