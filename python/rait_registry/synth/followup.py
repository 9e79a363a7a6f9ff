"""Follow-up: its length, the visits until the last contact, vital status.

Writes the follow-up visits (a suppressed Tg / TSH set, often TgAb, and some chest CTs and
neck ultrasounds, worse after a progression) from the end of treatment to the last contact,
and the ``follow_up`` row (last contact, vital status, death date). Follow-up after the last
cycle is Table 2's overall 61 (13-258) months; progressors are followed beyond their new
lesion. Deaths occur only among patients with advanced or refractory disease (none eligible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract import DAYS_PER_MONTH
from .labs import Assays, LabPlan, write_suppressed_samples
from .layout import NULL_DATE, EventRows, TableRows, code
from .plan import PatientPlan
from .progression import PD_ELIGIBLE_FROM_DAY, NewLesions, ProgressionPlan
from .response import ResponseEvidence
from .sampling import QuantileTable, pick_codes, quantile_draw, ragged_layout, stratified_uniforms, uniform_days
from .timeline import CUTOFF_DAY, Timeline

#: Months of follow-up after the last cycle (overall follow-up 61 (13-258) months).
FOLLOW_UP_AFTER_LAST_CYCLE_MONTHS: QuantileTable = (
    (0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 1.0),
    (13.0, 18.0, 29.0, 48.0, 78.0, 122.0, 240.0),
)
#: Longest follow-up from the first RAIT (months).
MAX_FOLLOW_UP_MONTHS = 258


@dataclass(frozen=True)
class VitalStatus:
    dies: np.ndarray
    death_date: np.ndarray  # meaningful where dies


def draw_follow_up_after_last_cycle(rng: np.random.Generator, plan: PatientPlan) -> np.ndarray:
    """Days from the last cycle to the last contact, before progression is accounted for."""
    months = quantile_draw(rng, plan.n, FOLLOW_UP_AFTER_LAST_CYCLE_MONTHS, stratified_uniforms(rng, plan.strata))
    return np.rint(months * DAYS_PER_MONTH).astype(np.int64)


def follow_progressors_beyond_their_lesion(
    rng: np.random.Generator,
    days_after_last_cycle: np.ndarray,
    progression: ProgressionPlan,
    progression_delay: np.ndarray,
    span: np.ndarray,
) -> np.ndarray:
    """Progressors are followed 30-700 days beyond their new lesion; total follow-up capped."""
    n = len(days_after_last_cycle)
    beyond = PD_ELIGIBLE_FROM_DAY + progression_delay + uniform_days(rng, np.full(n, 30), 700)
    days = np.where(progression.progresses, np.maximum(days_after_last_cycle, beyond), days_after_last_cycle)
    return np.minimum(days, np.maximum(int(MAX_FOLLOW_UP_MONTHS * DAYS_PER_MONTH) - span, 400))


def plan_vital_status(rng: np.random.Generator, plan: PatientPlan, last_contact: np.ndarray) -> VitalStatus:
    """A quarter of the advanced or refractory patients die, at or after their last contact."""
    archetypes = plan.archetypes
    advanced = (
        archetypes.lung_nodule_10mm
        | archetypes.bone_metastases
        | archetypes.other_distant_site
        | archetypes.lung_non_avid_later
        | archetypes.lung_non_avid_first
    )
    dies = advanced & (rng.random(plan.n) < 0.25)
    at_last_contact = rng.random(plan.n) < 0.6
    after = uniform_days(rng, np.ones(plan.n), np.maximum(np.minimum(400, CUTOFF_DAY - last_contact), 1))
    death_date = np.where(at_last_contact, last_contact, last_contact + after)
    return VitalStatus(dies, np.minimum(death_date, CUTOFF_DAY))


def write_follow_up_visits(
    rng: np.random.Generator,
    rows: EventRows,
    assays: Assays,
    plan: PatientPlan,
    timeline: Timeline,
    lab_plan: LabPlan,
    evidence: ResponseEvidence,
    lesions: NewLesions,
    last_cycle: np.ndarray,
) -> None:
    """Visits every 9-15 months from the end of treatment to the last contact (the last one)."""
    n, index = plan.n, plan.index
    last_contact = timeline.last_contact
    start = np.where(
        lab_plan.has_workup,
        lab_plan.workup_date,
        np.where(plan.has_rait, timeline.last_admin_date + 60, timeline.first_rait + 30),
    )
    start = np.minimum(start, last_contact)
    length = last_contact - start
    n_visits = np.maximum(1, np.rint(length / rng.uniform(270, 450, n)).astype(np.int64))
    patient, visit = ragged_layout(n_visits)
    step = length[patient] / n_visits[patient]
    date = start[patient] + np.rint((visit + 1) * step).astype(np.int64)
    jitter = np.rint(rng.uniform(-1, 1, len(patient)) * np.minimum(20, step / 4)).astype(np.int64)
    date = np.where(visit < n_visits[patient] - 1, date + jitter, last_contact[patient])
    kept = date > start[patient] + 20  # never on the day of a stimulated work-up
    patient, date = patient[kept], date[kept]
    count = len(patient)

    after_progression = date >= lesions.first_date[patient]
    tg_end_of_treatment = np.where(
        lab_plan.has_workup, evidence.tg_at_workup, evidence.tg_before_cycle[index, last_cycle]
    )
    tg = tg_end_of_treatment[patient] * np.where(after_progression, 2.0, 1.0)
    with_tgab = rng.random(count) < 0.7
    write_suppressed_samples(
        rng, rows.lab_results, assays, patient, date, tg, 0, with_tgab, lab_plan.tgab_positive_patient[patient]
    )

    imaging = rows.imaging_findings
    no_lung = plan.archetypes.no_lung_disease[patient]
    on_lesion_day = (date == lesions.first_date[patient]) | (date == lesions.last_date[patient])  # its own study
    ct = (rng.random(count) < 0.35) & ~on_lesion_day
    ct_status = np.where(
        after_progression,
        pick_codes(rng, count, "status", {"increased": 0.4, "stable": 0.6}),
        pick_codes(rng, count, "status", {"stable": 0.6, "reduced": 0.25, "present": 0.15}),
    )
    ct_status = np.where(no_lung, code("status", "absent"), ct_status).astype(np.int8)
    unmeasured = no_lung | (rng.random(count) < 0.3)
    grown_mm, usual_mm = rng.uniform(4, 16, count), rng.uniform(2, 9.5, count)
    ct_mm = np.where(
        unmeasured,
        np.nan,
        np.round(np.where(after_progression & lesions.lung[patient], grown_mm, usual_mm), 1),
    )
    imaging.add(
        patient[ct],
        date[ct],
        2,
        modality="CT",
        site="lung",
        status=ct_status[ct],
        max_lesion_mm=ct_mm[ct],
        confirmation="imaging",
    )
    us = (rng.random(count) < 0.35) & ~on_lesion_day
    imaging.add(patient[us], date[us], 0, modality="US", site="thyroid_bed", status="absent", confirmation="imaging")
    local_disease = (plan.local_persistent | plan.local_recurrence)[patient]
    node_status = np.where(
        after_progression,
        pick_codes(rng, count, "status", {"present": 0.4, "stable": 0.3, "resolved": 0.3}),
        np.where(local_disease & (rng.random(count) < 0.2), code("status", "stable"), code("status", "absent")),
    )
    imaging.add(
        patient[us],
        date[us],
        1,
        modality="US",
        site="neck_nodes",
        status=node_status[us].astype(np.int8),
        confirmation="imaging",
    )


def write_follow_up(follow_up: TableRows, plan: PatientPlan, last_contact: np.ndarray, vital: VitalStatus) -> None:
    """One row per patient: last contact, vital status, death date."""
    follow_up.add(
        plan.index,
        last_contact,
        0,
        vital_status=np.where(vital.dies, code("vital_status", "dead"), code("vital_status", "alive")).astype(np.int8),
        death_date=np.where(vital.dies, vital.death_date, NULL_DATE),
    )
