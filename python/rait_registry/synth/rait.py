"""RAIT and scans: the cycle schedule, the administrations and the whole-body scans.

Writes the ``rait_administrations`` rows (activity in GBq, MBq or mCi, preparation, intent),
the post-therapy scan rows (RxWBS: the lung on every scan, the thyroid bed with its remnant
uptake, residual nodes, bone) that the rules read for baseline avidity and for each cycle's
scan change, and the diagnostic work-up after the last cycle (stimulated sample and DxWBS),
which evaluates the last cycle. Cycles are spaced as Table 2 (6.3 months); the lung status on
each scan is the planned response of :mod:`.response`.

Which post-therapy scans are missing from the registry is decided by
:func:`plan_post_therapy_scans`, and for the cases of revision 2 of the rules (a remnant
ablation's scan on record, a first scan not on record) by :func:`.bounds.post_therapy_scans`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract import ACTIVITY_UNITS_TO_GBQ
from .labs import Assays, LabPlan, write_stimulated_samples
from .layout import EventRows, TableRows, code, codes
from .plan import MAX_CYCLES, PatientPlan
from .progression import NewLesions
from .response import ResponseEvidence
from .sampling import (
    QuantileTable,
    categorical,
    day_number,
    pick_codes,
    quantile_draw,
    stratified_uniforms,
    uniform_days,
)

# --------------------------------------------------------------------------------------
# Calibration (targets: the study's Table 2; see the package docstring)
# --------------------------------------------------------------------------------------

#: Days between cycles (Table 2: 6.3 (5.6, 8.2) months = 192 (170, 250) days).
CYCLE_INTERVAL_DAYS: QuantileTable = (
    (0.0, 0.05, 0.25, 0.50, 0.75, 0.90, 0.97, 1.0),
    (120.0, 150.0, 168.0, 188.0, 242.0, 320.0, 460.0, 900.0),
)
#: The usual activities in each unit, by catalogue index (5.55 GBq = 150 mCi usual).
ACTIVITY_CATALOGUE = {
    "GBq": np.array([3.7, 4.44, 5.0, 5.55, 6.48, 7.4, 9.25]),
    "MBq": np.array([3700.0, 4440.0, 5000.0, 5550.0, 6475.0, 7400.0, 9250.0]),
    "mCi": np.array([100.0, 120.0, 135.0, 150.0, 175.0, 200.0, 250.0]),
}
ACTIVITY_UNIT_SHARES = {"GBq": 0.45, "MBq": 0.25, "mCi": 0.30}
for _unit, _activities in ACTIVITY_CATALOGUE.items():  # the contract's conversion is the reference
    assert np.allclose(_activities * ACTIVITY_UNITS_TO_GBQ[_unit], ACTIVITY_CATALOGUE["GBq"], rtol=0.01), _unit
#: Shares of the catalogue activities in the first and in later cycles.
FIRST_ACTIVITY_SHARES = [0.13, 0.04, 0.11, 0.56, 0.04, 0.11, 0.01]
LATER_ACTIVITY_SHARES = [0.02, 0.02, 0.02, 0.50, 0.14, 0.28, 0.02]
#: Recombinant TSH preparation is used from this date on.
RHTSH_FROM_DAY = day_number("2005-01-01")


@dataclass(frozen=True)
class CycleSchedule:
    """When the cycles are given, as offsets in days from the first RAIT."""

    in_course: np.ndarray  # (n, MAX_CYCLES): the cycle is given
    gaps: np.ndarray  # (n, MAX_CYCLES - 1): days from cycle k to k + 1 (0 when not given)
    offset: np.ndarray  # (n, MAX_CYCLES): days from the first RAIT
    last_cycle: np.ndarray  # index of the last cycle (0 without RAIT)
    span: np.ndarray  # days from the first to the last administration


@dataclass(frozen=True)
class PostTherapyScanPlan:
    date: np.ndarray  # (n, MAX_CYCLES): 3-8 days after each administration
    missing: np.ndarray  # (n, MAX_CYCLES): the scan is not in the registry


@dataclass(frozen=True)
class Administrations:
    """The block's administrations, one per row of ``rait_administrations`` (patient, cycle order)."""

    patient: np.ndarray
    cycle: np.ndarray
    row: np.ndarray  # local rait row index (the RxWBS reference)
    first_cycle: np.ndarray
    date: np.ndarray
    rhtsh: np.ndarray  # prepared with recombinant TSH

    def __len__(self) -> int:
        return len(self.patient)


def plan_cycle_schedule(rng: np.random.Generator, plan: PatientPlan, needs_long_first_gap: np.ndarray) -> CycleSchedule:
    """Gaps between cycles; the first gap is long enough for a window after day 183 when needed."""
    n = plan.n
    cycle = np.arange(MAX_CYCLES)
    in_course = cycle[None, :] < plan.n_cycles[:, None]
    gaps = np.rint(quantile_draw(rng, n * (MAX_CYCLES - 1), CYCLE_INTERVAL_DAYS)).astype(np.int64)
    gaps = gaps.reshape(n, MAX_CYCLES - 1)
    long_gap = uniform_days(rng, np.full(n, 215), 330)[needs_long_first_gap]
    gaps[needs_long_first_gap, 0] = np.maximum(gaps[needs_long_first_gap, 0], long_gap)
    gaps = np.where(cycle[None, 1:] < plan.n_cycles[:, None], gaps, 0)
    offset = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(gaps, axis=1)], axis=1)
    last_cycle = np.maximum(plan.n_cycles - 1, 0)
    return CycleSchedule(in_course, gaps, offset, last_cycle, offset[plan.index, last_cycle])


def plan_post_therapy_scans(rng: np.random.Generator, plan: PatientPlan, admin_date: np.ndarray) -> PostTherapyScanPlan:
    """Scan dates; missing scans: a first RAIT given elsewhere (lung metastases found later),
    and a fifth of the scans of the oldest and of the non-DTC patients."""
    n = plan.n
    archetypes = plan.archetypes
    date = admin_date + uniform_days(rng, np.full((n, MAX_CYCLES), 3), 8)
    missing = np.zeros((n, MAX_CYCLES), dtype=bool)
    missing[:, 0] = archetypes.lung_mets_after_first_rait
    old_or_other = archetypes.surgery_before_2000 | archetypes.histology_other
    missing |= old_or_other[:, None] & (rng.random((n, MAX_CYCLES)) < 0.2)
    return PostTherapyScanPlan(date, missing)


def write_administrations(
    rng: np.random.Generator,
    rait: TableRows,
    plan: PatientPlan,
    schedule: CycleSchedule,
    admin_date: np.ndarray,
    lung_known: np.ndarray,
) -> Administrations:
    """One row per cycle: activity (catalogue, unit), preparation, intent."""
    patient, cycle = np.nonzero(schedule.in_course)  # patient-major, cycle order
    count = len(patient)
    first_cycle = cycle == 0
    uniforms = stratified_uniforms(rng, plan.strata[patient] * 2 + first_cycle)
    catalogue_index = np.where(
        first_cycle,
        categorical(rng, count, FIRST_ACTIVITY_SHARES, uniforms),
        categorical(rng, count, LATER_ACTIVITY_SHARES, uniforms),
    )
    units = tuple(ACTIVITY_UNIT_SHARES)
    unit = categorical(rng, count, list(ACTIVITY_UNIT_SHARES.values()))
    activity = np.stack([ACTIVITY_CATALOGUE[name] for name in units])[unit, catalogue_index]
    date = admin_date[patient, cycle]
    preparation = np.where(
        (date >= RHTSH_FROM_DAY) & (rng.random(count) < 0.15),
        code("preparation", "rhTSH"),
        np.where(rng.random(count) < 0.97, code("preparation", "withdrawal"), -1),
    ).astype(np.int8)
    first_intent = np.where(
        lung_known | plan.metachronous,
        code("intent", "metastatic_disease"),
        np.where(rng.random(plan.n) < 0.8, code("intent", "adjuvant"), code("intent", "remnant_ablation")),
    )
    first_intent = np.where(
        plan.archetypes.lung_mets_after_first_rait,
        np.where(rng.random(plan.n) < 0.6, code("intent", "remnant_ablation"), code("intent", "adjuvant")),
        first_intent,
    )
    intent = np.where(first_cycle, first_intent[patient], code("intent", "metastatic_disease")).astype(np.int8)
    rait.add(
        patient,
        date,
        0,
        activity=activity,
        activity_unit=codes("activity_unit", units)[unit],
        preparation=preparation,
        intent=intent,
    )
    rhtsh = preparation == code("preparation", "rhTSH")
    return Administrations(patient, cycle, np.arange(count), first_cycle, date, rhtsh)


def write_post_therapy_scans(
    rng: np.random.Generator,
    imaging: TableRows,
    plan: PatientPlan,
    admins: Administrations,
    last_cycle: np.ndarray,
    scans: PostTherapyScanPlan,
    evidence: ResponseEvidence,
    lung_known: np.ndarray,
    lesions: NewLesions,
) -> None:
    """RxWBS rows: lung (every scan), thyroid bed, residual nodes, bone."""
    archetypes = plan.archetypes
    patient, cycle, first_cycle = admins.patient, admins.cycle, admins.first_cycle
    count = len(admins)
    shown = ~scans.missing[patient, cycle]
    date = scans.date[patient, cycle]
    rait_row = admins.row
    # lung: the previous scan's planned status shows the previous cycle's response
    previous_status = np.where(cycle > 0, evidence.lung_scan_status[patient, np.maximum(cycle - 1, 0)], -1)
    first_status = np.where(
        lung_known[patient] | (rng.random(count) < 0.6), code("status", "present"), code("status", "new")
    )
    lung_status = np.where(first_cycle, first_status, previous_status)
    # the scan of a remnant ablation given before the lung metastases were found shows none
    # (when it is on record: :func:`.bounds.post_therapy_scans`)
    remnant_before_lung = archetypes.lung_mets_after_first_rait[patient] & first_cycle
    lung_status = np.where(remnant_before_lung, code("status", "absent"), lung_status)
    lung_avid = np.ones(count, dtype=np.int8)
    lung_avid[remnant_before_lung] = 0
    lung_avid[archetypes.lung_non_avid_first[patient]] = 0
    lung_avid[archetypes.lung_non_avid_later[patient] & (cycle == last_cycle[patient])] = 0
    lung_status = np.where(archetypes.no_lung_disease[patient], code("status", "absent"), lung_status)
    lung_avid[archetypes.no_lung_disease[patient]] = 0
    imaging.add(
        patient[shown],
        date[shown],
        4,
        modality="RxWBS",
        rait_id=rait_row[shown],
        site="lung",
        status=lung_status[shown].astype(np.int8),
        rai_avid=lung_avid[shown],
        confirmation="imaging",
    )
    # thyroid bed: remnant uptake on the first scan (resolved on the second)
    no_uptake = code("remnant_uptake", "none")
    uptake = np.where(
        archetypes.massive_remnant[patient],
        code("remnant_uptake", "massive"),
        np.where(rng.random(count) < 0.65, code("remnant_uptake", "minor"), no_uptake),
    )
    uptake = np.where(first_cycle, uptake, no_uptake)
    had_remnant = np.zeros(plan.n, dtype=bool)
    had_remnant[patient[first_cycle]] = uptake[first_cycle] != no_uptake
    bed_status = np.where(
        uptake != no_uptake,
        code("status", "present"),
        np.where((cycle == 1) & had_remnant[patient], code("status", "resolved"), code("status", "absent")),
    )
    imaging.add(
        patient[shown],
        date[shown],
        5,
        modality="RxWBS",
        rait_id=rait_row[shown],
        site="thyroid_bed",
        status=bed_status[shown].astype(np.int8),
        rai_avid=(uptake != no_uptake)[shown].astype(np.int8),
        remnant_uptake=uptake[shown].astype(np.int8),
        confirmation="imaging",
    )
    # residual nodes (when a new node shows on the second scan, that row is the progression's)
    new_node_on_second_scan = np.zeros(plan.n, dtype=bool)
    new_node_on_second_scan[lesions.patient[lesions.on_next_post_therapy_scan]] = True
    local_disease = plan.local_persistent | plan.local_recurrence
    nodes = shown & local_disease[patient] & ~(new_node_on_second_scan[patient] & (cycle == 1))
    node_status = np.where(
        first_cycle,
        code("status", "present"),
        pick_codes(rng, count, "status", {"stable": 0.5, "reduced": 0.3, "resolved": 0.2}),
    )
    node_avid = rng.random(count) < 0.6
    imaging.add(
        patient[nodes],
        date[nodes],
        6,
        modality="RxWBS",
        rait_id=rait_row[nodes],
        site="neck_nodes",
        status=node_status[nodes].astype(np.int8),
        rai_avid=node_avid[nodes].astype(np.int8),
        confirmation="imaging",
    )
    bone = shown & first_cycle & archetypes.bone_metastases[patient]
    imaging.add(
        patient[bone],
        date[bone],
        7,
        modality="RxWBS",
        rait_id=rait_row[bone],
        site="bone",
        status="present",
        rai_avid=1,
        confirmation="imaging",
    )


def write_diagnostic_workup(
    rng: np.random.Generator,
    rows: EventRows,
    assays: Assays,
    plan: PatientPlan,
    lab_plan: LabPlan,
    evidence: ResponseEvidence,
    last_cycle: np.ndarray,
) -> None:
    """After the last administration: a stimulated sample and a DxWBS (lung, thyroid bed)."""
    archetypes = plan.archetypes
    done = lab_plan.has_workup
    count = int(done.sum())
    patient, date = plan.index[done], lab_plan.workup_date[done]
    rhtsh = rng.random(count) < 0.3
    write_stimulated_samples(
        rng,
        rows.lab_results,
        assays,
        patient,
        date,
        evidence.tg_at_workup[done],
        np.ones(count, bool),
        lab_plan.workup_tgab_positive[done],
        rhtsh,
        0,
    )
    lung_status = evidence.lung_scan_status[plan.index, last_cycle]
    lung_avid = np.where(lung_status == code("status", "resolved"), 0, 1).astype(np.int8)
    lung_status = np.where(archetypes.no_lung_disease, code("status", "absent"), lung_status).astype(np.int8)
    non_avid = archetypes.no_lung_disease | archetypes.lung_non_avid_first | archetypes.lung_non_avid_later
    lung_avid = np.where(non_avid, 0, lung_avid).astype(np.int8)
    imaging = rows.imaging_findings
    imaging.add(
        patient,
        date,
        4,
        modality="DxWBS",
        site="lung",
        status=lung_status[done],
        rai_avid=lung_avid[done],
        confirmation="imaging",
    )
    imaging.add(
        patient, date, 5, modality="DxWBS", site="thyroid_bed", status="absent", rai_avid=0, confirmation="imaging"
    )


def write_lung_metastases_found_later(
    rng: np.random.Generator,
    rows: EventRows,
    assays: Assays,
    plan: PatientPlan,
    admin_date: np.ndarray,
    gaps: np.ndarray,
    lab_plan: LabPlan,
    tg_baseline: np.ndarray,
) -> None:
    """Lung metastases first seen on a diagnostic scan after a first (remnant) RAIT."""
    n = plan.n
    found = plan.archetypes.lung_mets_after_first_rait & plan.has_rait
    count = int(found.sum())
    date = admin_date[:, 0] + uniform_days(rng, np.full(n, 125), gaps[:, 0] - 35)
    write_stimulated_samples(
        rng,
        rows.lab_results,
        assays,
        plan.index[found],
        date[found],
        tg_baseline[found],
        np.ones(count, bool),
        lab_plan.tgab_positive_patient[found],
        np.zeros(count, bool),
        0,
    )
    rows.imaging_findings.add(
        plan.index[found],
        date[found],
        4,
        modality="DxWBS",
        site="lung",
        status="new",
        rai_avid=1,
        confirmation="imaging",
    )
