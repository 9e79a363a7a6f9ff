"""Designing the prospective trial the paper calls for: events and patients a non-inferiority trial needs.

The registry cannot randomise; it can size the trial that would. The trial: surveillance after one
RAIT versus repeated RAIT, progression-free survival (PFS) as the endpoint, 1:1 allocation, the
hypothesis that surveillance is not worse than repeated RAIT by more than a hazard-ratio margin M
(H0: HR >= M against H1: HR < M, one-sided level alpha), powered at a true hazard ratio of 1.0.

Rules, in plain words:

* **Events** (Schoenfeld 1983; Jung et al. 2005 for the non-inferiority form): the log-rank test
  (or the Cox model's score test) needs ``d = (z_{1-alpha} + z_{power})^2 / (p (1 - p) (log M - log HR)^2)``
  progression events, with ``p = 1/2`` the share allocated to one arm and HR = 1.0 the true hazard
  ratio; ``d`` is rounded up to a whole event.
* **Hazard**: PFS is taken as exponential with the registry's own hazard ``lambda`` per year, the
  same in both arms (true HR 1.0). By default (``trial_hazard_source="person_time"``) ``lambda`` is
  the analysed cohort's progression events divided by its person-years of PFS follow-up (the
  exponential model's maximum-likelihood estimate); with ``"pfs_horizon"`` it is
  ``-log S(h) / h`` from the cohort's Kaplan-Meier PFS ``S`` at the horizon ``h`` (``horizon_months``).
* **Accrual rate**: the registry's eligible patients per year, ``n / span``: the cohort's patients
  divided by the years between its earliest and latest first RAIT (the start of PFS).
* **Patients**: patients enter uniformly over ``A`` years and are followed ``F`` more years after the
  last entry (``trial_follow_up_years``). With exponential PFS a patient has an event during the trial
  with probability ``P(A) = 1 - (exp(-lambda F) - exp(-lambda (A + F))) / (lambda A)`` (Collett 2015,
  section 10.2). The accrual duration ``A`` solves ``rate * A * P(A) = d`` (scipy's ``brentq``;
  the expected events grow strictly with ``A``, so the root is unique), and the trial enrols
  ``N = rate * A`` patients, rounded up to an even number for 1:1 allocation. No loss to follow-up
  and no interim analysis are assumed.

It is a design calculation, not a finding about the registry's patients: the report reads it as such.

References
----------
Schoenfeld DA (1983). Sample-size formula for the proportional-hazards regression model.
*Biometrics* 39:499-503.
Schoenfeld D (1981). The asymptotic properties of nonparametric tests for comparing survival
distributions. *Biometrika* 68:316-319.
Jung SH, Kang SJ, McCall LM, Blumenstein B (2005). Sample size computation for two-sample
noninferiority log-rank test. *J Biopharm Stat* 15:969-979.
Collett D (2015). *Modelling Survival Data in Medical Research*, 3rd ed. Chapman & Hall/CRC,
chapter 10 (sample size: the number of events, and the probability of an event under uniform
recruitment and exponential survival).
Lachin JM, Foulkes MA (1986). Evaluation of sample size and power for analyses of survival with
allowance for nonuniform patient entry, losses to follow-up, noncompliance, and stratification.
*Biometrics* 42:507-519.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from scipy.optimize import brentq
from scipy.stats import norm

from rait_registry.exceptions import AnalysisError, InsufficientDataError

from .config import DEFAULTS

__all__ = [
    "NonInferiorityTrialDesign",
    "accrual_years_for_events",
    "event_probability",
    "expected_events",
    "schoenfeld_events",
    "with_first_rait_date",
]

#: Days per year and months per year of the time scales (PFS is in months, the design in years).
DAYS_PER_YEAR = 365.25
MONTHS_PER_YEAR = 12.0
#: The design's columns (results.json ``trial_design.table``, ``tables/trial_design.csv``).
COLUMNS = [
    "margin",
    "power",
    "events",
    "events_exact",
    "event_probability",
    "accrual_years",
    "trial_years",
    "patients",
]


def schoenfeld_events(
    margin: float, alpha: float, power: float, *, true_hr: float = 1.0, allocation: float = 0.5
) -> float:
    """Progression events a one-sided log-rank test of ``HR >= margin`` needs (Schoenfeld 1983).

    Parameters
    ----------
    margin : float
        The hazard ratio under the null hypothesis (the non-inferiority margin M; 1.0 for superiority).
    alpha : float
        One-sided significance level.
    power : float
        Power at ``true_hr``.
    true_hr : float
        The hazard ratio under the alternative (1.0: the two arms have the same PFS).
    allocation : float
        Share of patients allocated to one arm (1/2 for 1:1).

    Returns
    -------
    float
        ``(z_{1-alpha} + z_power)^2 / (allocation (1 - allocation) (log margin - log true_hr)^2)``,
        not rounded.

    Examples
    --------
    >>> round(schoenfeld_events(1.5, 0.025, 0.8), 2)
    190.97
    """
    if not (0 < alpha < 0.5 and 0.5 <= power < 1 and 0 < allocation < 1 and margin > 0 and true_hr > 0):
        raise AnalysisError(
            "a trial design needs 0 < alpha < 0.5, 0.5 <= power < 1, 0 < allocation < 1 and positive hazard ratios; "
            "see `rait-registry params` (trial_*)."
        )
    effect = math.log(margin) - math.log(true_hr)
    if effect == 0:
        raise AnalysisError("the margin equals the true hazard ratio: no number of events can tell them apart.")
    z = norm.ppf(1 - alpha) + norm.ppf(power)
    return float(z**2 / (allocation * (1 - allocation) * effect**2))


def event_probability(hazard: float, accrual_years: float, follow_up_years: float) -> float:
    """Probability that a patient has an event before the analysis (uniform entry, exponential PFS).

    ``1 - (exp(-hazard F) - exp(-hazard (A + F))) / (hazard A)`` for entry uniform over ``A`` years and
    ``F`` years of follow-up after the last entry (Collett 2015, section 10.2); ``1 - exp(-hazard F)``
    when ``A`` is 0.

    Examples
    --------
    >>> round(event_probability(0.1, 5.0, 3.0), 4)
    0.417
    """
    if accrual_years <= 0:
        return float(-math.expm1(-hazard * follow_up_years))
    lam_a = hazard * accrual_years
    # exp(-lF) - exp(-l(A+F)) = exp(-lF) (1 - exp(-lA)), written with expm1 for a small hazard
    return float(1 - math.exp(-hazard * follow_up_years) * -math.expm1(-lam_a) / lam_a)


def expected_events(rate: float, hazard: float, accrual_years: float, follow_up_years: float) -> float:
    """Events expected when ``rate`` patients a year enter over ``accrual_years`` (``rate A P(A)``)."""
    return rate * accrual_years * event_probability(hazard, accrual_years, follow_up_years)


def accrual_years_for_events(events: float, rate: float, hazard: float, follow_up_years: float) -> float:
    """The accrual duration after which ``events`` are expected (the root of ``rate A P(A) = events``).

    The expected events ``rate (A - exp(-lambda F) (1 - exp(-lambda A)) / lambda)`` grow strictly with
    ``A`` (their derivative is ``rate (1 - exp(-lambda (A + F))) > 0``), are 0 at ``A = 0`` and exceed
    ``events`` by at least one at ``A = (events + 1) / rate + exp(-lambda F) / lambda`` (a margin that
    rounding cannot erase): `scipy.optimize.brentq` finds the one root in between.

    Examples
    --------
    >>> a = accrual_years_for_events(191, 100.0, 0.1, 3.0)
    >>> round(a, 3), round(expected_events(100.0, 0.1, a, 3.0), 6)
    (4.678, 191.0)
    """
    if not (events > 0 and rate > 0 and hazard > 0 and follow_up_years >= 0):
        raise AnalysisError("the accrual duration needs positive events, accrual rate and hazard.")
    upper = (events + 1) / rate + math.exp(-hazard * follow_up_years) / hazard
    return float(brentq(lambda a: expected_events(rate, hazard, a, follow_up_years) - events, 0.0, upper, xtol=1e-12))


def with_first_rait_date(cohort: pd.DataFrame, cycles: pd.DataFrame, start_col: str = "pfs_start_date") -> pd.DataFrame:
    """``cohort`` with ``start_col`` (the first RAIT date), taken from the first cycle's ``admin_date``
    in ``cycles`` (``marts.rait_cycles``) when the cohort does not carry it."""
    if start_col in cohort.columns or not {"patient_id", "admin_date"} <= set(cycles.columns):
        return cohort
    first = pd.to_datetime(cycles["admin_date"]).groupby(cycles["patient_id"]).min().rename(start_col)
    return cohort.join(first, on="patient_id")


class NonInferiorityTrialDesign:
    """Events and patients a 1:1 non-inferiority trial of surveillance vs repeated RAIT on PFS needs.

    Sized with the registry's own PFS hazard and accrual rate (see the module's rules).

    Parameters
    ----------
    margin : float
        Hazard-ratio margin of the design the reading reports (``trial_hr_margin``).
    margins : sequence of float
        Margins of the table (``trial_margins``).
    alpha : float
        One-sided level (``trial_alpha``).
    powers : sequence of float
        Powers (``trial_powers``).
    follow_up_years : float
        Follow-up after the last patient enters (``trial_follow_up_years``).
    hazard_source : {"person_time", "pfs_horizon"}
        Events per person-year, or ``-log S(h) / h`` from the Kaplan-Meier PFS at ``horizon_months``.
    horizon_months : float
        The horizon ``h`` of ``"pfs_horizon"``.
    true_hr : float
        The hazard ratio the power is computed at (1.0: both arms have the same PFS).

    Attributes
    ----------
    hazard_per_year_ : float
    hazard_ : dict
        How the hazard was obtained (source, events, person-years, PFS at the horizon).
    accrual_ : dict
        The registry's accrual: patients, first and last first-RAIT date, span, patients per year.
    table_ : DataFrame
        One row per margin and power (`COLUMNS`).
    primary_ : DataFrame
        The rows of ``margin``, one per power.

    Examples
    --------
    >>> design = NonInferiorityTrialDesign(margin=1.5).fit(
    ...     with_first_rait_date(cohort, cycles), duration_col="pfs_months", event_col="pfs_event"
    ... )
    >>> design.primary_[["power", "events", "patients"]].to_dict("records")
    [{'power': 0.8, 'events': 191, 'patients': 308}, {'power': 0.9, 'events': 256, 'patients': 380}]
    >>> round(design.hazard_per_year_, 4), round(design.accrual_["patients_per_year"], 2)
    (0.0381, 5.73)
    """

    def __init__(
        self,
        margin: float = DEFAULTS.trial_hr_margin,
        margins: Iterable[float] = DEFAULTS.trial_margins,
        alpha: float = DEFAULTS.trial_alpha,
        powers: Iterable[float] = DEFAULTS.trial_powers,
        follow_up_years: float = DEFAULTS.trial_follow_up_years,
        hazard_source: str = DEFAULTS.trial_hazard_source,
        horizon_months: float = DEFAULTS.horizon_months,
        true_hr: float = 1.0,
    ) -> None:
        if hazard_source not in ("person_time", "pfs_horizon"):
            raise AnalysisError(f"hazard_source must be person_time or pfs_horizon, not {hazard_source!r}.")
        self.margin = float(margin)
        self.margins = tuple(float(m) for m in margins)
        self.alpha = float(alpha)
        self.powers = tuple(float(p) for p in powers)
        self.follow_up_years = float(follow_up_years)
        self.hazard_source = hazard_source
        self.horizon_months = float(horizon_months)
        self.true_hr = float(true_hr)
        self.allocation = 0.5
        self.table_: pd.DataFrame | None = None

    @classmethod
    def from_config(cls, config: Any) -> NonInferiorityTrialDesign:
        """The design of an `AnalysisConfig`'s ``trial_*`` options."""
        return cls(
            margin=config.trial_hr_margin,
            margins=config.trial_margins,
            alpha=config.trial_alpha,
            powers=config.trial_powers,
            follow_up_years=config.trial_follow_up_years,
            hazard_source=config.trial_hazard_source,
            horizon_months=config.horizon_months,
        )

    # -- fitting --------------------------------------------------------------------------

    def fit(
        self,
        cohort: pd.DataFrame,
        duration_col: str = "pfs_months",
        event_col: str = "pfs_event",
        start_col: str = "pfs_start_date",
    ) -> NonInferiorityTrialDesign:
        """Estimate the registry's hazard and accrual rate from ``cohort`` and size the trial.

        Parameters
        ----------
        cohort : DataFrame
            The analysed cohort (``marts.analysis_cohort``), one row per patient.
        duration_col, event_col : str
            PFS in months and its event indicator.
        start_col : str
            The start of PFS, the first RAIT date (`with_first_rait_date` adds it from the cycles).

        Raises
        ------
        InsufficientDataError
            No patient, no progression event, or first RAITs all on one day (no accrual rate).
        """
        missing = [c for c in (duration_col, event_col, start_col) if c not in cohort.columns]
        if missing:
            raise AnalysisError(
                f"the trial design needs the column(s) {', '.join(missing)} of marts.analysis_cohort (the first "
                "RAIT date gives the accrual rate); refresh the warehouse with this version."
            )
        months = pd.to_numeric(cohort[duration_col]).to_numpy(dtype=float)
        events = pd.to_numeric(cohort[event_col]).to_numpy(dtype=float)
        self.hazard_per_year_, self.hazard_ = self._hazard(months, events)
        self.accrual_ = self._accrual(pd.to_datetime(cohort[start_col]))
        rate = self.accrual_["patients_per_year"]
        self.table_ = pd.DataFrame([self._row(m, p, rate) for m in self.margins for p in self.powers], columns=COLUMNS)
        self.primary_ = pd.DataFrame([self._row(self.margin, p, rate) for p in self.powers], columns=COLUMNS)
        return self

    def _hazard(self, months: np.ndarray, events: np.ndarray) -> tuple[float, dict[str, Any]]:
        n_events = int(events.sum())
        person_years = float(months.sum() / MONTHS_PER_YEAR)
        if n_events == 0 or person_years <= 0:
            raise InsufficientDataError(
                f"no progression event among the {len(months)} patients: the trial design needs the registry's "
                "PFS hazard"
            )
        info: dict[str, Any] = {
            "source": self.hazard_source,
            "events": n_events,
            "person_years": person_years,
            "horizon_months": None,
            "pfs_at_horizon": None,
        }
        if self.hazard_source == "person_time":
            hazard = n_events / person_years
        else:
            h = self.horizon_months
            if months.max() < h:
                raise InsufficientDataError(
                    f"no patient is followed to {h:g} months, so the Kaplan-Meier PFS there is not estimated; use "
                    "--trial-hazard-source person_time or a shorter --horizon-months"
                )
            km = KaplanMeierFitter().fit(months, events)
            surv = float(km.survival_function_at_times(h).iloc[0])
            if not 0 < surv < 1:
                raise InsufficientDataError(
                    f"the Kaplan-Meier PFS at {h:g} months is {surv:g}, which gives no finite positive hazard; use "
                    "--trial-hazard-source person_time"
                )
            hazard = -math.log(surv) / (h / MONTHS_PER_YEAR)
            info.update(horizon_months=h, pfs_at_horizon=surv)
        info.update(per_year=hazard, median_pfs_years=math.log(2) / hazard)
        return hazard, info

    @staticmethod
    def _accrual(starts: pd.Series) -> dict[str, Any]:
        starts = starts.dropna()
        if starts.empty:
            raise InsufficientDataError("no first RAIT date in the cohort: the trial design needs the accrual rate")
        first, last = starts.min(), starts.max()
        span = (last - first).days / DAYS_PER_YEAR
        if span <= 0:
            raise InsufficientDataError(
                f"the {len(starts)} patients' first RAITs are all on one day: the registry's accrual rate is not "
                "estimable"
            )
        return {
            "patients": len(starts),
            "first_date": first.date().isoformat(),
            "last_date": last.date().isoformat(),
            "span_years": span,
            "patients_per_year": len(starts) / span,
        }

    def _row(self, margin: float, power: float, rate: float) -> dict[str, Any]:
        exact = schoenfeld_events(margin, self.alpha, power, true_hr=self.true_hr, allocation=self.allocation)
        events = math.ceil(exact - 1e-9)
        accrual = accrual_years_for_events(events, rate, self.hazard_per_year_, self.follow_up_years)
        patients = math.ceil(rate * accrual - 1e-9)
        return {
            "margin": margin,
            "power": power,
            "events": events,
            "events_exact": exact,
            "event_probability": event_probability(self.hazard_per_year_, accrual, self.follow_up_years),
            "accrual_years": accrual,
            "trial_years": accrual + self.follow_up_years,
            "patients": patients + patients % 2,
        }

    # -- results --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if self.table_ is None:
            raise AnalysisError("call fit() before reading the trial design.")

    @property
    def summary(self) -> pd.DataFrame:
        """The design table: one row per margin and power (`COLUMNS`)."""
        self._check_fitted()
        return self.table_

    def reading(self) -> str:
        """One sentence for a clinician: what the trial would need, read as a design, not a finding."""
        self._check_fitted()
        rows = self.primary_.to_dict("records")
        hz = self.hazard_
        source = (
            f"{hz['events']} progression event{'s' if hz['events'] != 1 else ''} in {hz['person_years']:.0f} person-years"
            if hz["source"] == "person_time"
            else f"Kaplan-Meier PFS {100 * hz['pfs_at_horizon']:.1f}% at {hz['horizon_months']:g} months"
        )
        needs = "; ".join(
            f"{100 * r['power']:g}% power needs {r['events']} progression events, about {r['patients']} patients "
            f"accrued over {r['accrual_years']:.1f} years"
            for r in rows
        )
        return (
            "Design calculation, not a finding: a 1:1 non-inferiority trial of surveillance versus repeated RAIT on "
            f"PFS, with a hazard-ratio margin of {self.margin:g} (to be prespecified in its protocol), one-sided "
            f"alpha {self.alpha:g} and a true hazard ratio of {self.true_hr:.2f} (the same PFS in both arms): {needs}, "
            f"each followed {self.follow_up_years:g} more years. These assume exponential PFS with the registry's "
            f"hazard of {hz['per_year']:.3f} per year ({source}) and its "
            f"{self.accrual_['patients_per_year']:.1f} eligible patients per year; faster accrual (several centres) "
            "shortens the accrual but needs more patients, each followed for less time."
        )

    def to_dict(self) -> dict[str, Any]:
        """results.json ``trial_design``."""
        self._check_fitted()
        return {
            "description": "Sample size of a prospective 1:1 non-inferiority trial of surveillance versus repeated "
            "RAIT on PFS: events by Schoenfeld's formula, patients under exponential PFS with the registry's hazard, "
            "uniform accrual at the registry's rate and a stated follow-up. A design calculation, not a finding.",
            "design": {
                "comparison": "surveillance after one RAIT versus repeated RAIT",
                "endpoint": "progression-free survival",
                "allocation": "1:1",
                "true_hr": self.true_hr,
                "margin": self.margin,
                "margins": list(self.margins),
                "alpha_one_sided": self.alpha,
                "powers": list(self.powers),
                "follow_up_years": self.follow_up_years,
                "method": "Schoenfeld (1983) events; uniform accrual, exponential PFS, no loss to follow-up, "
                "no interim analysis",
            },
            "hazard": self.hazard_,
            "accrual": self.accrual_,
            "primary": self.primary_.to_dict("records"),
            "table": self.table_.to_dict("records"),
            "interpretation": self.reading(),
        }
