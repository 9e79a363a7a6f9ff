"""Values reported as bounds, scans and operations missing from the record: the cases that
revision 2 of the registry rules reads differently from revision 1, at stated rates.

Revision 2 of the rules (``docs/specification.md`` section 2, ``docs/contract-readings.md``)
reads a ``<`` or ``>`` value as a bound, judges avidity from the lung metastases on, anchors
local disease on the diagnosis when no initial operation is on record and censors PFS at the
last disease assessment. A registry shows each of these only if it holds the cases; the
simulator writes them here, each at a rate stated below, with at least one per block where the
block has a candidate (so the default registry of 160 patients has every case):

=========================================  =======================================================
case                                       rate
=========================================  =======================================================
TSH reported ``<30``                       half of the pre-treatment samples that were not
                                           stimulated (TSH 5-30 mIU/L): the laboratory reports an
                                           insufficient stimulation as a bound
TSH reported ``>30``                       every stimulated TSH of 5 % of the treated patients
                                           (an assay whose range ends at 30 mIU/L)
TgAb indeterminate                         30 % of the positive TgAb results, reported as a bound
                                           on the wrong side of the cut-off: half ``<X`` with
                                           X = 1.2-3 x cut-off, half ``>X`` with X = 0.3-0.9 x cut-off
Tg ``<`` before treatment                  3 % of the treated patients (Tg-negative disease: every
                                           stimulated Tg below the detection limit)
Tg ``>`` before or after a cycle           2 % of the treated patients (an assay whose range ends at
                                           500 ng/mL, Tg above it before the first RAIT)
tg_post near 1.0 ng/mL                     of the patients with a work-up after a planned partial
                                           response of the last cycle (not TgAb positive): 3 % get a
                                           Tg ``<1.5`` or ``<2.0`` (a less sensitive assay) with the
                                           lung ``resolved`` on the DxWBS; 20 % of those outside the
                                           study cohort (the study had no complete response) an exact
                                           Tg of 0.60-0.99 ng/mL with the lung ``resolved`` or
                                           ``absent``
remnant ablation before lung metastases    half the patients whose lung metastases are found after
with its post-therapy scan                 the first RAIT (eligibility step 4): that RAIT's RxWBS is
                                           on record, showing the thyroid bed and no lung disease
RAIT without a post-therapy scan           the other half of those (scan not on record), 20 % of the
                                           scans of patients operated before 2000 or with another
                                           histology (:mod:`.rait`), and the first scan of 40 % of
                                           the m-RAIT patients planned non-avid whose lung disease
                                           was known before the first RAIT (their later scans show
                                           lung uptake: revision 2 still fails them at step 3, for
                                           want of the earliest scan; revision 1 judged the others)
initial operation not on record            5 % of the synchronous patients with an initial
                                           thyroidectomy, taken separately among those with local
                                           persistent disease and the others: the registry holds the
                                           completion thyroidectomy (with the pathology) of a
                                           lobectomy done elsewhere
no operation with pathology on record      half the patients operated before 2000: the operation is
                                           recorded as ``other`` and no specimen's histology is known
=========================================  =======================================================

(PFS censoring needs no case of its own: the follow-up visits image a patient only on some
visits, :mod:`.followup`.) Every draw comes from the block's second generator
(``SeedSequence([seed, block, CASES_STREAM])``), so the course drawn from the main generator is
unchanged: the cases change how some values are reported and which records exist, and the
plan of each course (its eligibility step and, but for the near-CR work-ups, its responses)
holds under revision 2 (the only exception: the exact Tg below 1 ng/mL, a complete response,
outside the study cohort). The plan-level cases (:func:`plan_bounded_tg`, :func:`plan_near_cr`,
:func:`post_therapy_scans`) are applied while the course is drawn; the reporting cases
(:func:`report_bounds`) on the finished rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .labs import TGAB_DEFAULT_CUTOFF, LabPlan
from .layout import code, codes
from .plan import PatientPlan
from .rait import PostTherapyScanPlan
from .response import PARTIAL_RESPONSE, ResponseEvidence

#: Index ``k`` of the block's second generator, ``SeedSequence([seed, block, k])``
#: (``k = 1`` is kept for centre effects, :func:`.plan.draw_centres`).
CASES_STREAM = 2

TSH_BOUND = 30.0
TSH_NOT_STIMULATED_BELOW_30_SHARE = 0.5
TSH_ASSAY_TO_30_SHARE = 0.05
TGAB_POSITIVE_AS_BOUND_SHARE = 0.3
TG_NEGATIVE_SHARE = 0.03
TG_NEGATIVE_BASELINE = 0.03  # ng/mL, below the detection limit of 0.1
TG_HIGH_ASSAY_SHARE = 0.02
TG_HIGH_ASSAY_UPPER = 500.0  # ng/mL
NEAR_CR_BELOW_DETECTION_SHARE = 0.03
NEAR_CR_EXACT_SHARE = 0.2
REMNANT_SCAN_ON_RECORD_SHARE = 0.5
FIRST_SCAN_MISSING_SHARE = 0.4
INITIAL_OPERATION_ELSEWHERE_SHARE = 0.05
PATHOLOGY_NOT_ON_RECORD_SHARE = 0.5


def choose(rng: np.random.Generator, candidates: np.ndarray, share: float) -> np.ndarray:
    """Boolean: ``round(share * candidates)`` of the candidates at random, at least one when any."""
    members = np.flatnonzero(candidates)
    k = min(len(members), max(1, int(np.floor(share * len(members) + 0.5)))) if len(members) else 0
    out = np.zeros(len(candidates), dtype=bool)
    out[rng.permutation(members)[:k]] = True
    return out


@dataclass(frozen=True)
class BoundedTg:
    """Patients whose stimulated Tg is reported as a bound (arrays per patient)."""

    negative: np.ndarray  # every stimulated Tg '<' the detection limit
    high_assay: np.ndarray  # '>500' while above the assay's range


def plan_bounded_tg(rng: np.random.Generator, plan: PatientPlan, lab_plan: LabPlan) -> tuple[BoundedTg, LabPlan]:
    """Tg-negative and high-Tg-assay patients; their cycles are not judged by a Tg decline."""
    negative = choose(rng, plan.has_rait, TG_NEGATIVE_SHARE)
    high_assay = choose(rng, plan.has_rait & ~negative, TG_HIGH_ASSAY_SHARE)
    bounded = negative | high_assay
    return BoundedTg(negative, high_assay), replace(lab_plan, tg_evaluable=lab_plan.tg_evaluable & ~bounded[:, None])


def bound_tg_course(rng: np.random.Generator, bounded: BoundedTg, evidence: ResponseEvidence) -> ResponseEvidence:
    """Scale the Tg course: below detection throughout, or starting above 500 ng/mL."""
    baseline = evidence.tg_baseline
    new_baseline = np.where(bounded.negative, TG_NEGATIVE_BASELINE, baseline)
    above = rng.uniform(1.3, 6.0, len(baseline)) * TG_HIGH_ASSAY_UPPER
    new_baseline = np.where(bounded.high_assay, np.maximum(baseline, above), new_baseline)
    factor = new_baseline / baseline
    return replace(
        evidence,
        tg_baseline=new_baseline,
        tg_before_cycle=evidence.tg_before_cycle * factor[:, None],
        tg_at_workup=evidence.tg_at_workup * factor,
    )


def plan_near_cr(
    rng: np.random.Generator,
    plan: PatientPlan,
    lab_plan: LabPlan,
    response: np.ndarray,
    last_cycle: np.ndarray,
    bounded: BoundedTg,
) -> np.ndarray:
    """Per patient: 0 none, 1 exact Tg 0.60-0.99 at the work-up, 2 '<1.5' / '<2.0' at the work-up.

    Kind 1 is a complete response under revision 2; the study's cohort had none (its Table 2),
    so it goes only to patients outside it (any eligibility step failed). Kind 2 keeps the
    planned partial response under revision 2 (revision 1 called it complete)."""
    candidates = (
        lab_plan.has_workup
        & ~lab_plan.workup_tgab_positive
        & (response[plan.index, last_cycle] == PARTIAL_RESPONSE)
        & ~bounded.negative
        & ~bounded.high_assay
    )
    below_detection = choose(rng, candidates, NEAR_CR_BELOW_DETECTION_SHARE)
    exact = choose(rng, candidates & ~below_detection & ~plan.archetypes.eligible, NEAR_CR_EXACT_SHARE)
    return np.where(exact, 1, np.where(below_detection, 2, 0))


def post_therapy_scans(
    rng: np.random.Generator, plan: PatientPlan, scans: PostTherapyScanPlan, lung_known: np.ndarray
) -> tuple[PostTherapyScanPlan, np.ndarray]:
    """Which first post-therapy scans are on record: the remnant ablation's of half the step-4
    patients (its lung row shows no disease, :func:`.rait.write_post_therapy_scans`), not the
    first scan of some m-RAIT patients planned non-avid (returned: their later scans show lung
    uptake, :func:`report_bounds`)."""
    archetypes = plan.archetypes
    remnant_scan = choose(rng, archetypes.lung_mets_after_first_rait & plan.has_rait, REMNANT_SCAN_ON_RECORD_SHARE)
    first_missing = choose(
        rng, archetypes.lung_non_avid_first & lung_known & (plan.n_cycles >= 2), FIRST_SCAN_MISSING_SHARE
    )
    missing = scans.missing.copy()
    missing[:, 0] = (missing[:, 0] & ~remnant_scan) | first_missing
    return replace(scans, missing=missing), first_missing


def report_bounds(
    rng: np.random.Generator,
    plan: PatientPlan,
    rows: dict[str, dict[str, np.ndarray]],
    bounded: BoundedTg,
    near_cr: np.ndarray,
    workup_date: np.ndarray,
    diagnosis_date: np.ndarray,
    lobectomy_first: np.ndarray,
    first_scan_missing: np.ndarray,
) -> None:
    """The reporting cases on the finished rows of the block (in place)."""
    _report_tsh(rng, plan, rows["lab_results"])
    _report_tgab(rng, rows["lab_results"])
    _report_tg_above_range(rows["lab_results"], bounded)
    _report_near_cr(rng, rows["lab_results"], rows["imaging_findings"], near_cr, workup_date)
    _later_scans_avid(rows["imaging_findings"], first_scan_missing)
    _initial_operation_elsewhere(rng, plan, rows["surgeries"], diagnosis_date, lobectomy_first)
    _pathology_not_on_record(rng, plan, rows["surgeries"])


def _report_tsh(rng: np.random.Generator, plan: PatientPlan, labs: dict[str, np.ndarray]) -> None:
    tsh = (labs["analyte"] == code("analyte", "TSH")) & (labs["comparator"] < 0)
    not_stimulated = tsh & (labs["value"] >= 5.0) & (labs["value"] < TSH_BOUND)
    below = choose(rng, not_stimulated, TSH_NOT_STIMULATED_BELOW_30_SHARE)
    labs["value"][below] = TSH_BOUND
    labs["comparator"][below] = code("comparator", "<")
    assay_to_30 = choose(rng, plan.has_rait, TSH_ASSAY_TO_30_SHARE)
    stimulated = (labs["analyte"] == code("analyte", "TSH")) & (labs["value"] >= TSH_BOUND) & ~below
    above = stimulated & assay_to_30[labs["_p"]]
    labs["value"][above] = TSH_BOUND
    labs["comparator"][above] = code("comparator", ">")


def _report_tgab(rng: np.random.Generator, labs: dict[str, np.ndarray]) -> None:
    cutoff = np.where(np.isnan(labs["tgab_cutoff"]), TGAB_DEFAULT_CUTOFF, labs["tgab_cutoff"])
    positive = (labs["analyte"] == code("analyte", "TgAb")) & (labs["comparator"] < 0) & (labs["value"] >= cutoff)
    bound = choose(rng, positive, TGAB_POSITIVE_AS_BOUND_SHARE)
    below_limit = rng.random(len(cutoff)) < 0.5
    value = np.where(
        below_limit,
        np.round(cutoff * rng.uniform(1.2, 3.0, len(cutoff)), 0),
        np.round(cutoff * rng.uniform(0.3, 0.9, len(cutoff)), 1),
    )
    comparator = np.where(below_limit, code("comparator", "<"), code("comparator", ">")).astype(np.int8)
    labs["value"][bound] = value[bound]
    labs["comparator"][bound] = comparator[bound]


def _report_tg_above_range(labs: dict[str, np.ndarray], bounded: BoundedTg) -> None:
    above = (
        (labs["analyte"] == code("analyte", "Tg"))
        & bounded.high_assay[labs["_p"]]
        & (labs["value"] > TG_HIGH_ASSAY_UPPER)
    )
    labs["value"][above] = TG_HIGH_ASSAY_UPPER
    labs["comparator"][above] = code("comparator", ">")


def _report_near_cr(
    rng: np.random.Generator,
    labs: dict[str, np.ndarray],
    imaging: dict[str, np.ndarray],
    near_cr: np.ndarray,
    workup_date: np.ndarray,
) -> None:
    at_workup = labs["sample_date"] == workup_date[labs["_p"]]
    tg = (labs["analyte"] == code("analyte", "Tg")) & at_workup & (near_cr[labs["_p"]] > 0)
    exact = tg & (near_cr[labs["_p"]] == 1)
    labs["value"][exact] = np.round(rng.uniform(0.60, 0.99, int(exact.sum())), 2)
    labs["comparator"][exact] = -1
    below = tg & (near_cr[labs["_p"]] == 2)
    labs["value"][below] = np.where(rng.random(int(below.sum())) < 0.5, 1.5, 2.0)
    labs["comparator"][below] = code("comparator", "<")
    kind = near_cr[imaging["_p"]]
    lung = (
        (imaging["modality"] == code("modality", "DxWBS"))
        & (imaging["site"] == code("site", "lung"))
        & (imaging["study_date"] == workup_date[imaging["_p"]])
        & (kind > 0)
    )
    resolved_or_absent = np.where(rng.random(len(kind)) < 0.5, code("status", "resolved"), code("status", "absent"))
    imaging["status"][lung] = np.where(kind[lung] == 1, resolved_or_absent[lung], code("status", "resolved"))
    imaging["rai_avid"][lung] = 0


def _later_scans_avid(imaging: dict[str, np.ndarray], first_scan_missing: np.ndarray) -> None:
    """The first scan (no lung uptake) is not on record; the later ones show uptake."""
    lung = (
        (imaging["modality"] == code("modality", "RxWBS"))
        & (imaging["site"] == code("site", "lung"))
        & first_scan_missing[imaging["_p"]]
    )
    imaging["rai_avid"][lung] = 1


def _initial_operation_elsewhere(
    rng: np.random.Generator,
    plan: PatientPlan,
    surgeries: dict[str, np.ndarray],
    diagnosis_date: np.ndarray,
    lobectomy_first: np.ndarray,
) -> None:
    candidates = plan.has_rait & ~plan.metachronous & ~lobectomy_first & ~plan.archetypes.lobectomy_only
    elsewhere = choose(rng, candidates & plan.local_persistent, INITIAL_OPERATION_ELSEWHERE_SHARE)
    elsewhere |= choose(rng, candidates & ~plan.local_persistent, INITIAL_OPERATION_ELSEWHERE_SHARE)
    initial = codes("procedure", ("total_thyroidectomy", "subtotal_thyroidectomy"))
    row = (
        elsewhere[surgeries["_p"]]
        & np.isin(surgeries["procedure"], initial)
        & (surgeries["surgery_date"] == diagnosis_date[surgeries["_p"]])
    )
    surgeries["procedure"][row] = code("procedure", "completion_thyroidectomy")


def _pathology_not_on_record(rng: np.random.Generator, plan: PatientPlan, surgeries: dict[str, np.ndarray]) -> None:
    chosen = choose(rng, plan.archetypes.surgery_before_2000 & plan.has_rait, PATHOLOGY_NOT_ON_RECORD_SHARE)
    rows = chosen[surgeries["_p"]]
    initial = codes("procedure", ("total_thyroidectomy", "subtotal_thyroidectomy", "lobectomy"))
    surgeries["procedure"][rows & np.isin(surgeries["procedure"], initial)] = code("procedure", "other")
    surgeries["histology"][rows] = -1
    surgeries["max_tumor_size_cm"][rows] = np.nan
