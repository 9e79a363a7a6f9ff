"""Laboratory: which Tg values are interpretable, and the Tg / TSH / TgAb samples.

Writes the ``lab_results`` rows: a stimulated Tg + TSH + TgAb set before each administration
(sometimes an earlier one in the same window: the latest counts), a suppressed set about three
months after each administration but the last, the stimulated set of the diagnostic work-up
(:mod:`.rait`) and of the late discovery of lung metastases, and the suppressed sets of the
follow-up visits (:mod:`.followup`). The rules judge a cycle by Tg only where Tg is
interpretable (same-day TSH >= 30 mIU/L, TgAb negative), so :func:`plan_labs` decides that
first, and :mod:`.response` realises a planned PR on the scan where it is not.

Each sample kind is one function (:func:`write_stimulated_samples`,
:func:`write_suppressed_samples`, :func:`write_tgab_samples`), and how a value is reported
(detection and upper limits, ``<`` / ``>``) is in the ``report_*`` functions: new reporting
cases (a TSH reported ``<`` or ``>`` near 30 mIU/L, an indeterminate TgAb, a ``<`` Tg before
treatment, a Tg near 1 ng/mL after it) belong there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import params
from .layout import TableRows, code
from .plan import MAX_CYCLES, PatientPlan
from .sampling import categorical, round_like_lab, uniform_days

if TYPE_CHECKING:
    from .rait import Administrations

#: TgAb positivity cut-off the rules apply when a TgAb row carries none (IU/mL).
TGAB_DEFAULT_CUTOFF = params.get("tgab_positive_cutoff").default
#: A Tg is stimulated when the same-day TSH is at least this (mIU/L).
STIMULATED_TSH_MIN = params.get("stimulated_tsh_min").default
#: The Tg before a cycle is the latest interpretable one within this many days before it.
TG_PRE_WINDOW_DAYS = params.get("tg_pre_window_days").default
#: The last cycle's work-up counts from this many days after the administration.
TG_POST_MIN_DAYS = params.get("tg_post_min_days").default

#: TgAb assays: (cut-off, detection limit) in IU/mL, and their shares. The first is the
#: registry's usual assay: its cut-off is the rules' default, and half its rows leave it empty.
TGAB_ASSAYS = ((TGAB_DEFAULT_CUTOFF, 10.0), (40.0, 15.0), (4.0, 0.9))
TGAB_ASSAY_SHARES = [0.6, 0.25, 0.15]
#: Tg reporting limits (ng/mL).
TG_DETECTION_LIMIT = 0.1
TG_UPPER_LIMIT = 5000.0
#: Suppressed TSH detection limit (mIU/L).
TSH_DETECTION_LIMIT = 0.01


@dataclass(frozen=True)
class LabPlan:
    """Which samples make Tg interpretable, and the diagnostic work-up after the last cycle."""

    tgab_assay: np.ndarray  # index into TGAB_ASSAYS
    tgab_positive_patient: np.ndarray  # TgAb positive throughout
    tsh_stimulated_before: np.ndarray  # (n, MAX_CYCLES): the sample before the cycle is stimulated
    tgab_positive_before: np.ndarray  # (n, MAX_CYCLES)
    workup_date: np.ndarray
    has_workup: np.ndarray
    workup_tgab_positive: np.ndarray
    tg_evaluable: np.ndarray  # (n, MAX_CYCLES): the cycle's Tg before and after are interpretable


@dataclass(frozen=True)
class Assays:
    """Per-patient reporting of the laboratory: units, limits, TgAb cut-off."""

    tg_unit: np.ndarray
    tsh_unit: np.ndarray
    tgab_unit: np.ndarray
    tsh_upper_limit: np.ndarray
    tgab_cutoff: np.ndarray
    tgab_detection_limit: np.ndarray
    tgab_cutoff_reported: np.ndarray  # NaN when the row leaves it empty


def plan_labs(
    rng: np.random.Generator,
    plan: PatientPlan,
    in_course: np.ndarray,
    last_cycle: np.ndarray,
    last_admin_date: np.ndarray,
    days_after_last_cycle: np.ndarray,
    last_contact: np.ndarray,
) -> LabPlan:
    """TgAb assay and positivity, stimulation of each pre-cycle sample, the work-up's timing."""
    n, index = plan.n, plan.index
    archetypes = plan.archetypes
    tgab_assay = categorical(rng, n, TGAB_ASSAY_SHARES)
    tgab_positive_patient = rng.random(n) < 0.05
    tsh_stimulated_before = rng.random((n, MAX_CYCLES)) >= 0.02
    tgab_positive_before = tgab_positive_patient[:, None] | (rng.random((n, MAX_CYCLES)) < 0.015)
    interpretable_before = tsh_stimulated_before & ~tgab_positive_before
    workup_date = last_admin_date + uniform_days(rng, np.full(n, 150), np.minimum(400, days_after_last_cycle - 15))
    has_workup = (
        plan.has_rait
        & (workup_date <= last_contact)
        & (workup_date - last_admin_date >= TG_POST_MIN_DAYS)
        & ((rng.random(n) < 0.9) | archetypes.eligible | archetypes.early_progression | archetypes.massive_remnant)
    )
    workup_tgab_positive = tgab_positive_patient | (rng.random(n) < 0.015)
    interpretable_after = np.concatenate([interpretable_before[:, 1:], np.zeros((n, 1), bool)], axis=1)
    interpretable_after[index, last_cycle] = has_workup & ~workup_tgab_positive
    return LabPlan(
        tgab_assay=tgab_assay,
        tgab_positive_patient=tgab_positive_patient,
        tsh_stimulated_before=tsh_stimulated_before,
        tgab_positive_before=tgab_positive_before,
        workup_date=workup_date,
        has_workup=has_workup,
        workup_tgab_positive=workup_tgab_positive,
        tg_evaluable=interpretable_before & interpretable_after & in_course,
    )


def draw_assays(rng: np.random.Generator, n: int, tgab_assay: np.ndarray) -> Assays:
    """Units (contract spellings), TSH upper reporting limit and TgAb cut-off per patient."""
    tg_unit = np.where(rng.random(n) < 0.85, code("unit", "ng/mL"), code("unit", "ug/L")).astype(np.int8)
    tsh_unit = np.where(rng.random(n) < 0.7, code("unit", "mIU/L"), code("unit", "uIU/mL")).astype(np.int8)
    tgab_unit = np.where(rng.random(n) < 0.8, code("unit", "IU/mL"), code("unit", "kIU/L")).astype(np.int8)
    tsh_upper_limit = np.where(rng.random(n) < 0.5, 100.0, 150.0)
    tgab_cutoff = np.array([cutoff for cutoff, _ in TGAB_ASSAYS])[tgab_assay]
    tgab_detection_limit = np.array([limit for _, limit in TGAB_ASSAYS])[tgab_assay]
    tgab_cutoff_reported = np.where((tgab_assay == 0) & (rng.random(n) < 0.5), np.nan, tgab_cutoff)
    return Assays(
        tg_unit, tsh_unit, tgab_unit, tsh_upper_limit, tgab_cutoff, tgab_detection_limit, tgab_cutoff_reported
    )


# --------------------------------------------------------------------------------------
# Reporting a value (no draw)
# --------------------------------------------------------------------------------------


def report_stimulated_tg(tg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, comparator code) of a stimulated Tg: ``<`` below detection, ``>`` above range."""
    tg = np.clip(tg, 0.0, None)
    below, above = tg < TG_DETECTION_LIMIT, tg > TG_UPPER_LIMIT
    comparator = np.where(below, code("comparator", "<"), np.where(above, code("comparator", ">"), -1))
    value = np.where(
        below, TG_DETECTION_LIMIT, np.where(above, TG_UPPER_LIMIT, round_like_lab(np.maximum(tg, TG_DETECTION_LIMIT)))
    )
    return value, comparator.astype(np.int8)


def report_suppressed_tg(tg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, comparator code) of a suppressed Tg: ``<`` below detection."""
    below = tg < TG_DETECTION_LIMIT
    value = np.where(below, TG_DETECTION_LIMIT, round_like_lab(tg))
    return value, np.where(below, code("comparator", "<"), -1).astype(np.int8)


def report_stimulated_tsh(tsh: np.ndarray, upper_limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, comparator code) of a stimulated TSH: ``>`` above the assay's upper limit."""
    above = tsh > upper_limit
    value = np.where(above, upper_limit, np.round(tsh, 1))
    return value, np.where(above, code("comparator", ">"), -1).astype(np.int8)


def report_suppressed_tsh(tsh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, comparator code) of a suppressed TSH: ``<`` below detection."""
    below = tsh < TSH_DETECTION_LIMIT
    value = np.where(below, TSH_DETECTION_LIMIT, np.round(tsh, 2))
    return value, np.where(below, code("comparator", "<"), -1).astype(np.int8)


# --------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------


def write_tgab_samples(
    rng: np.random.Generator,
    labs: TableRows,
    assays: Assays,
    patient: np.ndarray,
    date: np.ndarray,
    positive: np.ndarray,
    order: int,
) -> None:
    """TgAb rows: positive well above the cut-off, negative below it or below detection."""
    count = len(patient)
    below_detection = ~positive & (rng.random(count) < 0.6)
    cutoff, detection_limit = assays.tgab_cutoff[patient], assays.tgab_detection_limit[patient]
    positive_value = np.round(cutoff * rng.uniform(1.3, 15, count), 1)
    negative_value = np.round(rng.uniform(detection_limit, 0.8 * cutoff), 1)
    value = np.where(positive, positive_value, np.where(below_detection, detection_limit, negative_value))
    labs.add(
        patient,
        date,
        order,
        analyte="TgAb",
        value=value,
        comparator=np.where(below_detection, code("comparator", "<"), -1).astype(np.int8),
        unit=assays.tgab_unit[patient],
        tgab_cutoff=assays.tgab_cutoff_reported[patient],
    )


def write_stimulated_samples(
    rng: np.random.Generator,
    labs: TableRows,
    assays: Assays,
    patient: np.ndarray,
    date: np.ndarray,
    tg: np.ndarray,
    tsh_stimulated: np.ndarray,
    tgab_positive: np.ndarray,
    rhtsh: np.ndarray,
    order: int,
) -> None:
    """Same-day Tg, TSH and TgAb rows (orders ``order`` .. ``order + 2``)."""
    count = len(patient)
    value, comparator = report_stimulated_tg(tg)
    labs.add(patient, date, order, analyte="Tg", value=value, comparator=comparator, unit=assays.tg_unit[patient])
    after_rhtsh = rng.uniform(60, 200, count)
    after_withdrawal = np.exp(rng.normal(math.log(80), 0.45, count)).clip(STIMULATED_TSH_MIN + 2.0, 400)
    tsh = np.where(rhtsh, after_rhtsh, after_withdrawal)
    tsh = np.where(tsh_stimulated, tsh, rng.uniform(8, STIMULATED_TSH_MIN - 2.0, count))
    value, comparator = report_stimulated_tsh(tsh, assays.tsh_upper_limit[patient])
    labs.add(patient, date, order + 1, analyte="TSH", value=value, comparator=comparator, unit=assays.tsh_unit[patient])
    write_tgab_samples(rng, labs, assays, patient, date, tgab_positive, order + 2)


def write_suppressed_samples(
    rng: np.random.Generator,
    labs: TableRows,
    assays: Assays,
    patient: np.ndarray,
    date: np.ndarray,
    tg: np.ndarray,
    order: int,
    with_tgab: np.ndarray,
    tgab_positive: np.ndarray,
) -> None:
    """Tg and TSH rows under suppression, and TgAb where ``with_tgab``."""
    count = len(patient)
    value, comparator = report_suppressed_tg(tg * rng.uniform(0.03, 0.15, count))
    labs.add(patient, date, order, analyte="Tg", value=value, comparator=comparator, unit=assays.tg_unit[patient])
    value, comparator = report_suppressed_tsh(np.exp(rng.normal(math.log(0.08), 1.0, count)))
    labs.add(patient, date, order + 1, analyte="TSH", value=value, comparator=comparator, unit=assays.tsh_unit[patient])
    write_tgab_samples(rng, labs, assays, patient[with_tgab], date[with_tgab], tgab_positive[with_tgab], order + 2)


def write_samples_around_administrations(
    rng: np.random.Generator,
    labs: TableRows,
    assays: Assays,
    admins: Administrations,
    lab_plan: LabPlan,
    tg_before_cycle: np.ndarray,
    tg_ratio: np.ndarray,
    gaps: np.ndarray,
    last_cycle: np.ndarray,
) -> None:
    """Stimulated samples before each administration, suppressed ones ~3 months after."""
    patient, cycle, date = admins.patient, admins.cycle, admins.date
    count = len(admins)
    tg_before = tg_before_cycle[patient, cycle]
    tsh_stimulated = lab_plan.tsh_stimulated_before[patient, cycle]
    tgab_positive = lab_plan.tgab_positive_before[patient, cycle]
    days_before = np.where(
        rng.random(count) < 0.93, uniform_days(rng, np.ones(count), 12), uniform_days(rng, np.full(count, 13), 29)
    )
    days_before = np.where(rng.random(count) < 0.04, 0, days_before)
    write_stimulated_samples(
        rng, labs, assays, patient, date - days_before, tg_before, tsh_stimulated, tgab_positive, admins.rhtsh, 0
    )
    # an occasional earlier stimulated sample in the same window (the latest one counts)
    earlier = (days_before <= 12) & (rng.random(count) < 0.05)
    earlier_days = days_before + uniform_days(rng, np.full(count, 5), TG_PRE_WINDOW_DAYS - days_before)
    earlier_tg = tg_before * rng.uniform(0.8, 1.25, count)
    write_stimulated_samples(
        rng,
        labs,
        assays,
        patient[earlier],
        (date - np.minimum(earlier_days, TG_PRE_WINDOW_DAYS))[earlier],
        earlier_tg[earlier],
        tsh_stimulated[earlier],
        tgab_positive[earlier],
        np.zeros(int(earlier.sum()), bool),
        0,
    )
    # suppressed sample ~3 months after each administration but the last
    after = (cycle < last_cycle[patient]) & (rng.random(count) < 0.5)
    gap = gaps[patient, np.minimum(cycle, MAX_CYCLES - 2)]
    mid = date + np.minimum(uniform_days(rng, np.full(count, 60), 120), gap - 35)
    with_tgab = rng.random(int(after.sum())) < 0.7
    tg_after = tg_before[after] * tg_ratio[patient, cycle][after]
    write_suppressed_samples(
        rng,
        labs,
        assays,
        patient[after],
        mid[after],
        tg_after,
        0,
        with_tgab,
        lab_plan.tgab_positive_patient[patient[after]],
    )
