"""Timeline: the history before the first RAIT, and the course placed on the calendar.

Writes no event. Decides the dates every phase writes from: the operations before the first
RAIT (a total thyroidectomy weeks before it, or a lobectomy completed later; for metachronous
patients a first operation years earlier, a nodal recurrence, then a completion thyroidectomy),
the first RAIT so that the course ends before the data cut-off with a realistic lag, the
operation inside the study period 2000-2022 (outside it for the DTC-surgery exclusions), the
last contact, the diagnosis and the birth date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import params
from ..contract import DAYS_PER_YEAR
from .plan import PatientPlan
from .rait import CycleSchedule
from .sampling import QuantileTable, day_number, quantile_draw, uniform_days

#: Registry data cut-off: no simulated event is later than this date.
DATA_CUTOFF = "2024-06-30"
CUTOFF_DAY = day_number(DATA_CUTOFF)
#: The study period of the qualifying operation (eligibility step 1).
SURGERY_FROM_DAY = day_number(params.get("surgery_date_min").default)
SURGERY_TO_DAY = day_number(params.get("surgery_date_max").default)

#: Days from the thyroidectomy to the first RAIT (without persistent nodes).
SURGERY_TO_RAIT_DAYS: QuantileTable = ((0.0, 0.25, 0.5, 0.75, 1.0), (30.0, 48.0, 70.0, 105.0, 200.0))


@dataclass(frozen=True)
class History:
    """The operations before the first RAIT, as days before it (or between operations)."""

    lobectomy_first: np.ndarray  # synchronous: a lobectomy, then a completion thyroidectomy
    surgery_to_rait_days: np.ndarray  # first operation -> first RAIT (synchronous)
    completion_delay: np.ndarray  # lobectomy -> completion (synchronous)
    metachronous_completion_to_rait: np.ndarray
    metachronous_workup_to_completion: np.ndarray
    metachronous_operation_to_recurrence: np.ndarray
    qualifying_operation_offset: np.ndarray  # qualifying thyroidectomy -> first RAIT


@dataclass(frozen=True)
class Timeline:
    """Day numbers of the course (arrays per patient; admin_date is (n, MAX_CYCLES))."""

    lobectomy_first: np.ndarray
    surgery_to_rait_days: np.ndarray
    first_rait: np.ndarray  # the planned date for patients without RAIT
    last_contact: np.ndarray
    days_after_last_cycle: np.ndarray
    admin_date: np.ndarray  # meaningful where the cycle is given
    last_admin_date: np.ndarray
    diagnosis_date: np.ndarray  # the initial operation
    completion_date: np.ndarray  # -1 without completion
    recurrence_date: np.ndarray  # metachronous recurrence work-up
    birth_date: np.ndarray


def plan_history(rng: np.random.Generator, plan: PatientPlan) -> History:
    """Operations and their spacing before the first RAIT."""
    n, meta = plan.n, plan.metachronous
    lobectomy_first = ~meta & (rng.random(n) < 0.10) & ~plan.archetypes.lobectomy_only
    surgery_to_rait = np.where(
        plan.local_persistent & ~meta,
        uniform_days(rng, np.full(n, 100), 330),
        np.rint(quantile_draw(rng, n, SURGERY_TO_RAIT_DAYS)),
    ).astype(np.int64)
    surgery_to_rait = np.where(lobectomy_first, np.maximum(surgery_to_rait, 95), surgery_to_rait)
    completion_delay = uniform_days(rng, np.full(n, 20), 70)
    completion_to_rait = uniform_days(rng, np.full(n, 30), 120)
    workup_to_completion = uniform_days(rng, np.full(n, 20), 120)
    operation_to_recurrence = np.rint(rng.uniform(1.6, 15.0, n) * DAYS_PER_YEAR).astype(np.int64)
    qualifying_offset = np.where(
        meta, completion_to_rait, np.where(lobectomy_first, surgery_to_rait - completion_delay, surgery_to_rait)
    )
    return History(
        lobectomy_first=lobectomy_first,
        surgery_to_rait_days=surgery_to_rait,
        completion_delay=completion_delay,
        metachronous_completion_to_rait=completion_to_rait,
        metachronous_workup_to_completion=workup_to_completion,
        metachronous_operation_to_recurrence=operation_to_recurrence,
        qualifying_operation_offset=qualifying_offset,
    )


def place_on_calendar(
    rng: np.random.Generator,
    plan: PatientPlan,
    history: History,
    schedule: CycleSchedule,
    days_after_last_cycle: np.ndarray,
) -> Timeline:
    """Date the course: end before the cut-off, operation in 2000-2022 unless excluded for it."""
    n, archetypes = plan.n, plan.archetypes
    before_2000, after_2022 = archetypes.surgery_before_2000, archetypes.surgery_after_2022
    offset = history.qualifying_operation_offset
    follow_up = schedule.span + days_after_last_cycle  # first RAIT -> last contact
    lag = np.where(
        rng.random(n) < 0.75, uniform_days(rng, np.zeros(n), 90), uniform_days(rng, np.full(n, 90), 1200)
    )  # last contact -> data cut-off
    first_rait = CUTOFF_DAY - lag - follow_up
    earliest = SURGERY_FROM_DAY + 10 + offset
    latest = np.minimum(SURGERY_TO_DAY - 10 + offset, CUTOFF_DAY - follow_up)
    first_rait = np.clip(first_rait, earliest, np.maximum(latest, earliest))
    last_contact = first_rait + follow_up
    # operations outside 2000-2022 for the DTC-surgery exclusions
    operated_before_2000 = uniform_days(rng, np.full(n, day_number("1993-01-01")), day_number("1999-11-30"))
    first_rait = np.where(before_2000, operated_before_2000 + offset, first_rait)
    last_contact = np.where(before_2000, CUTOFF_DAY - lag, last_contact)
    surgery_to_rait = np.where(after_2022, np.minimum(history.surgery_to_rait_days, 120), history.surgery_to_rait_days)
    offset = np.where(after_2022, surgery_to_rait, offset)
    lobectomy_first = history.lobectomy_first & ~after_2022
    operated_after_2022 = uniform_days(rng, np.full(n, day_number("2023-01-10")), day_number("2023-08-31"))
    first_rait = np.where(after_2022, operated_after_2022 + offset, first_rait)
    last_contact = np.where(after_2022, CUTOFF_DAY - uniform_days(rng, np.zeros(n), 60), last_contact)
    days_after_last_cycle = last_contact - first_rait - schedule.span

    admin_date = first_rait[:, None] + schedule.offset
    meta = plan.metachronous
    completion_to_rait = history.metachronous_completion_to_rait
    recurrence_date = first_rait - completion_to_rait - history.metachronous_workup_to_completion
    diagnosis_date = np.where(
        meta, recurrence_date - history.metachronous_operation_to_recurrence, first_rait - surgery_to_rait
    )
    completion_date = np.where(
        meta,
        first_rait - completion_to_rait,
        np.where(lobectomy_first, diagnosis_date + history.completion_delay, -1),
    )
    return Timeline(
        lobectomy_first=lobectomy_first,
        surgery_to_rait_days=surgery_to_rait,
        first_rait=first_rait,
        last_contact=last_contact,
        days_after_last_cycle=days_after_last_cycle,
        admin_date=admin_date,
        last_admin_date=admin_date[plan.index, schedule.last_cycle],
        diagnosis_date=diagnosis_date,
        completion_date=completion_date,
        recurrence_date=recurrence_date,
        birth_date=diagnosis_date - np.rint(plan.age_years * DAYS_PER_YEAR).astype(np.int64),
    )
