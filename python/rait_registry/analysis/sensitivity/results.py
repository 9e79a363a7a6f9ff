"""What each sensitivity analysis returns: its results.json section, its tables and fitted models,
and the hazard ratios (m-RAIT vs o-RAIT) it contributes to the non-inferiority and E-value tables."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from ..jsonutil import jsonable

__all__ = ["HazardRatioEstimate", "SectionResult"]


def is_set(x: Any) -> bool:
    """A number, not None or NaN."""
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def skipped(reason: str) -> dict[str, Any]:
    """What an analysis that cannot run reports, in results.json and everywhere else: ``{skipped, reason}``."""
    return {"skipped": True, "reason": reason}


def null_term() -> dict[str, Any]:
    return {"hr": None, "ci_low": None, "ci_high": None, "p": None, "log_hr": None, "se_log_hr": None}


@dataclass(frozen=True)
class HazardRatioEstimate:
    """One hazard ratio of m-RAIT vs o-RAIT (reference o-RAIT), with its SE on the log scale.

    ``log_hr`` and ``se_log_hr`` are None when the fit gives none; the non-inferiority test
    and the E-values then report "not assessable" with ``notes``. ``biases`` are the known
    biases of the analysis (keys of `rait_registry.analysis.wording.BIASES`): every sentence
    about the estimate names them.

    Examples
    --------
    >>> from rait_registry.analysis.sensitivity import landmark_analysis
    >>> est = landmark_analysis(cohort, cycles, landmark_months=12, horizon_months=60).estimates["landmark"]
    >>> round(est.hr, 2), round(est.se_log_hr, 3), est.n, est.events
    (2.22, 0.646, 108, 15)
    """

    analysis: str
    description: str
    hr: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    log_hr: float | None = None
    se_log_hr: float | None = None
    n: int | None = None
    events: int | None = None
    notes: tuple[str, ...] = ()
    biases: tuple[str, ...] = ()

    @classmethod
    def from_fit(
        cls,
        analysis: str,
        description: str,
        result: dict[str, Any],
        fitter: Any = None,
        data: pd.DataFrame | None = None,
        note: str | None = None,
        n: int | None = None,
        biases: tuple[str, ...] = (),
    ) -> HazardRatioEstimate:
        """From a ``{hr, ci_low, ci_high, p[, log_hr, se_log_hr]}`` result.

        The log HR and its SE come from ``result`` when it has them, else from the ``x``
        coefficient of ``fitter`` (`survival.hazard_ratio`'s model); ``n`` defaults to the
        rows of ``data`` and the events to the sum of its ``pfs_event`` (or ``event``) column.
        """
        log_hr = se = None
        if result.get("se_log_hr") is not None:
            log_hr, se = result["log_hr"], result["se_log_hr"]
        elif fitter is not None and "x" in getattr(fitter, "params_", {}):
            log_hr, se = float(fitter.params_["x"]), float(fitter.standard_errors_["x"])
        events = None
        if data is not None:
            events = int(data["pfs_event" if "pfs_event" in data.columns else "event"].sum())
        return cls(
            analysis=analysis,
            description=description,
            hr=result.get("hr"),
            ci_low=result.get("ci_low"),
            ci_high=result.get("ci_high"),
            p=result.get("p"),
            log_hr=log_hr,
            se_log_hr=se,
            n=n if n is not None else (None if data is None else len(data)),
            events=events,
            notes=(note,) if note else (),
            biases=tuple(biases),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (notes and biases as lists)."""
        return jsonable(asdict(self))


@dataclass
class SectionResult:
    """One analysis: its results.json section, tidy tables, fitted models and hazard ratios.

    Attributes
    ----------
    name : str
        The results.json section (``landmark``, ``time_varying_cox``, ...).
    section : dict
        The section's content (`to_dict` makes it JSON-ready).
    tables : dict of str -> DataFrame
        Tidy tables, named as the CSV files ``analyze`` writes (``tables/<name>.csv``).
    estimates : dict of str -> HazardRatioEstimate
        The hazard ratios the analysis contributes, by analysis name.
    fitted : dict
        Fitted models and the data they were fitted on, for figures and checks.
    main_table : str or None
        The table `summary` returns.

    Examples
    --------
    >>> from rait_registry.analysis.sensitivity import landmark_analysis
    >>> result = landmark_analysis(cohort, cycles, landmark_months=12, horizon_months=60)
    >>> result.name, sorted(result.tables)
    ('landmark', ['landmark_hr_by_time', 'landmark_km_m-RAIT', 'landmark_km_o-RAIT'])
    >>> result.summary[["landmark_months", "n_o_rait", "n_m_rait", "hr"]].round(2)
       landmark_months  n_o_rait  n_m_rait    hr
    0             12.0        41        67  2.22
    """

    name: str
    section: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    estimates: dict[str, HazardRatioEstimate] = field(default_factory=dict)
    fitted: dict[str, Any] = field(default_factory=dict)
    main_table: str | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """The analysis' main table (an empty frame when it has none)."""
        if self.main_table is None or self.main_table not in self.tables:
            return pd.DataFrame()
        return self.tables[self.main_table]

    def to_dict(self) -> dict[str, Any]:
        """The results.json section (JSON-ready: NaN -> None)."""
        return jsonable(self.section)
