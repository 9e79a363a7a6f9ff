"""One block of patients: the course, phase by phase, in the order of its random draws.

:func:`simulate_block` is the only place that fixes the order in which the phases draw from
the block's generator; the data (and the pinned sha256 in ``tests/test_synth_pinned.py``)
depend on that order, and on the order in which rows are added (rows with the same patient,
date and order keep it). Each phase is a function of the arrays it is given:

1. *Plan* (:mod:`.plan`, :mod:`.progression`, :mod:`.rait`, :mod:`.followup`,
   :mod:`.timeline`, :mod:`.response`, :mod:`.labs`): archetype -- eligible, or failing one
   eligibility step for a realistic reason --, group, cycles and covariates; who progresses;
   the cycle schedule and the follow-up length; the calendar; vital status; the response of
   each cycle; the post-therapy scans and new lesions; which Tg values are interpretable; the
   Tg course and lung statuses that realise the responses.
2. *Events*: operations with their pathology (:mod:`.surgeries`), imaging before the first
   RAIT (:mod:`.baseline`), administrations and post-therapy scans (:mod:`.rait`), samples
   around each administration (:mod:`.labs`), the diagnostic work-up, new lesions and the
   neck dissections they lead to, follow-up visits and the ``follow_up`` row
   (:mod:`.followup`), and last the centre.

Adding a feature
----------------
A new clinical case at a stated rate belongs to the phase that writes its rows. Its draws
either go where they belong in this sequence (the registry changes from there on: update the
pinned hashes in the same commit) or, to leave the other events byte-identical, come from a
generator of its own (``numpy.random.default_rng(SeedSequence([seed, block, k]))`` with a new
``k``), which :func:`.blocks.iter_blocks` hands in next to ``rng``. The cases that revision 2
of the rules reads differently (a TSH reported ``<`` or ``>`` near 30 mIU/L, an indeterminate
TgAb, Tg reported as a bound, a Tg near 1 ng/mL after treatment, a remnant ablation's scan
before the lung metastases, scans and operations not on record) take that second route:
:mod:`.bounds`, drawn from ``cases_rng`` (``k =`` :data:`.bounds.CASES_STREAM`), on top of the
course drawn from ``rng``. Options whose default must keep the registry unchanged (e.g.
``--centres N``) take it too and change nothing when unset.
"""

from __future__ import annotations

import numpy as np

from . import baseline, bounds, followup, labs, plan, progression, rait, response, surgeries, timeline
from .layout import EventRows


def simulate_block(
    rng: np.random.Generator,
    n: int,
    cases_rng: np.random.Generator | None = None,
    centres: tuple[np.random.Generator, plan.CentreEffects] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Simulate ``n`` patients; return per table the sorted column arrays (local indices).

    ``cases_rng`` draws the cases of :mod:`.bounds` (values reported as bounds, scans and
    operations not on record); ``None`` simulates the block without them. ``centres`` (the
    block's centre generator and the registry's centre effects, ``synth --centres N``) draws
    each patient's centre after the plan and lets its frailty move the progressors; ``None``
    draws the default registry's centres last, without effects.
    """
    # ---- plan --------------------------------------------------------------------------
    patients = plan.plan_patients(rng, n)
    archetypes = patients.archetypes
    centre = frailty = None
    if centres is not None:
        centre_rng, effects = centres
        centre = plan.draw_centres_with_effects(centre_rng, patients, effects)
        frailty = effects.frailty[centre]
    progressors = progression.plan_progression(rng, patients, frailty)
    schedule = rait.plan_cycle_schedule(
        rng, patients, progressors.progresses_after_first_cycle | archetypes.lung_mets_after_first_rait
    )
    days_after_last_cycle = followup.draw_follow_up_after_last_cycle(rng, patients)
    progression_delay = progression.draw_progression_delay(rng, patients)
    days_after_last_cycle = followup.follow_progressors_beyond_their_lesion(
        rng, days_after_last_cycle, progressors, progression_delay, schedule.span
    )
    history = timeline.plan_history(rng, patients)
    dates = timeline.place_on_calendar(rng, patients, history, schedule, days_after_last_cycle)
    vital = followup.plan_vital_status(rng, patients, dates.last_contact)
    responses = response.plan_responses(rng, patients, progressors, schedule.in_course, schedule.last_cycle)
    scans = rait.plan_post_therapy_scans(rng, patients, dates.admin_date)
    lesions = progression.plan_new_lesions(
        rng,
        patients,
        progressors,
        schedule.gaps,
        dates.admin_date,
        dates.last_admin_date,
        schedule.last_cycle,
        dates.days_after_last_cycle,
        dates.last_contact,
        progression_delay,
        scans.date,
        scans.missing,
    )
    lab_plan = labs.plan_labs(
        rng,
        patients,
        schedule.in_course,
        schedule.last_cycle,
        dates.last_admin_date,
        dates.days_after_last_cycle,
        dates.last_contact,
    )
    if cases_rng is not None:
        bounded_tg, lab_plan = bounds.plan_bounded_tg(cases_rng, patients, lab_plan)
    evidence = response.plan_response_evidence(rng, patients, responses, lab_plan.tg_evaluable, schedule.last_cycle)
    if cases_rng is not None:
        evidence = bounds.bound_tg_course(cases_rng, bounded_tg, evidence)
        near_cr = bounds.plan_near_cr(cases_rng, patients, lab_plan, responses, schedule.last_cycle, bounded_tg)

    # ---- events ------------------------------------------------------------------------
    rows = EventRows()
    pathology = surgeries.draw_pathology(rng, patients)
    surgeries.write_thyroid_operations(
        rng,
        rows.surgeries,
        patients,
        pathology,
        dates.lobectomy_first,
        dates.diagnosis_date,
        dates.completion_date,
    )
    ultrasound_date = baseline.write_neck_ultrasound(
        rng,
        rows.imaging_findings,
        patients,
        dates.lobectomy_first,
        dates.diagnosis_date,
        dates.completion_date,
        dates.first_rait,
    )
    surgeries.write_reoperation_for_persistent_nodes(
        rng,
        rows.surgeries,
        patients,
        pathology.histology,
        patients.synchronous_persistent,
        ultrasound_date,
        dates.first_rait,
    )
    baseline.write_metachronous_neck_findings(
        rng, rows.imaging_findings, patients, dates.diagnosis_date, dates.recurrence_date
    )
    lung_known, ct_date = baseline.write_lung_imaging(
        rng,
        rows.imaging_findings,
        patients,
        dates.lobectomy_first,
        dates.surgery_to_rait_days,
        dates.diagnosis_date,
        dates.completion_date,
        dates.recurrence_date,
        dates.first_rait,
    )
    baseline.write_distant_disease(
        rng, rows.imaging_findings, patients, dates.diagnosis_date, ct_date, dates.first_rait
    )
    admins = rait.write_administrations(
        rng, rows.rait_administrations, patients, schedule, dates.admin_date, lung_known
    )
    scans_on_record = scans
    if cases_rng is not None:
        scans_on_record, first_scan_missing = bounds.post_therapy_scans(cases_rng, patients, scans, lung_known)
    rait.write_post_therapy_scans(
        rng,
        rows.imaging_findings,
        patients,
        admins,
        schedule.last_cycle,
        scans_on_record,
        evidence,
        lung_known,
        lesions,
    )
    assays = labs.draw_assays(rng, n, lab_plan.tgab_assay)
    labs.write_samples_around_administrations(
        rng,
        rows.lab_results,
        assays,
        admins,
        lab_plan,
        evidence.tg_before_cycle,
        evidence.tg_ratio,
        schedule.gaps,
        schedule.last_cycle,
    )
    rait.write_diagnostic_workup(rng, rows, assays, patients, lab_plan, evidence, schedule.last_cycle)
    rait.write_lung_metastases_found_later(
        rng, rows, assays, patients, dates.admin_date, schedule.gaps, lab_plan, evidence.tg_baseline
    )
    first_rait_row = np.cumsum(patients.n_cycles) - patients.n_cycles
    progression.write_new_lesions(rng, rows.imaging_findings, lesions, first_rait_row)
    surgeries.write_neck_dissections_after_recurrence(
        rng, rows.surgeries, lesions, pathology.histology, dates.last_contact
    )
    followup.write_follow_up_visits(
        rng, rows, assays, patients, dates, lab_plan, evidence, lesions, schedule.last_cycle
    )
    followup.write_follow_up(rows.follow_up, patients, dates.last_contact, vital)
    if centre is None:
        centre = plan.draw_centres(rng, n)

    out = {
        "patients": plan.patient_rows(patients, dates.birth_date, centre),
        "surgeries": rows.surgeries.finish("surgery_date"),
        "rait_administrations": rows.rait_administrations.finish("admin_date"),
        "lab_results": rows.lab_results.finish("sample_date"),
        "imaging_findings": rows.imaging_findings.finish("study_date"),
        "follow_up": rows.follow_up.finish("last_contact_date"),
    }
    # the rait table is sorted like (patient, cycle): its row index is the RxWBS reference
    assert np.array_equal(out["rait_administrations"]["_p"], admins.patient)
    if cases_rng is not None:
        bounds.report_bounds(
            cases_rng,
            patients,
            out,
            bounded_tg,
            near_cr,
            lab_plan.workup_date,
            dates.diagnosis_date,
            dates.lobectomy_first,
            first_scan_missing,
        )
    return out
