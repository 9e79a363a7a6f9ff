"""Imaging before the first RAIT: the disease the rules find at baseline.

Writes the ``imaging_findings`` rows read for local disease before RAIT and for the
lung-only-micrometastases step: the post-operative neck ultrasound (persistent nodes
confirmed by cytology), the metachronous patients' residual nodes and nodal recurrence, the
chest CT with the lung metastases (>= 10 mm for the lung-nodule exclusion), and the bone,
brain, liver or other distant disease of the lung-step exclusions.
"""

from __future__ import annotations

import numpy as np

from .layout import TableRows, code
from .plan import PatientPlan
from .sampling import uniform_days


def write_neck_ultrasound(
    rng: np.random.Generator,
    imaging: TableRows,
    plan: PatientPlan,
    lobectomy_first: np.ndarray,
    diagnosis_date: np.ndarray,
    completion_date: np.ndarray,
    first_rait: np.ndarray,
) -> np.ndarray:
    """Post-operative neck ultrasound (synchronous patients); returns its date."""
    n, index = plan.n, plan.index
    persistent = plan.synchronous_persistent
    earliest = np.where(lobectomy_first, completion_date, diagnosis_date) + 15
    date = np.where(
        persistent,
        uniform_days(rng, diagnosis_date + 20, np.minimum(diagnosis_date + 300, first_rait - 60)),
        uniform_days(rng, earliest, np.maximum(first_rait - 10, earliest)),
    )
    date = np.minimum(date, first_rait - 5)
    shown = ~plan.metachronous & (date > diagnosis_date)
    bed_status = np.where(rng.random(n) < 0.15, code("status", "present"), code("status", "absent"))
    imaging.add(
        index[shown],
        date[shown],
        0,
        modality="US",
        site="thyroid_bed",
        status=bed_status[shown],
        confirmation="imaging",
    )
    unconfirmed = ~persistent & (rng.random(n) < 0.07)
    node_status = np.where(persistent | unconfirmed, code("status", "present"), code("status", "absent"))
    confirmation = np.where(
        persistent,
        np.where(rng.random(n) < 0.85, code("confirmation", "cytology"), code("confirmation", "histology")),
        code("confirmation", "imaging"),
    )
    size_mm = np.where(persistent | unconfirmed, np.round(rng.uniform(5, 25, n), 0), np.nan)
    imaging.add(
        index[shown],
        date[shown],
        1,
        modality="US",
        site="neck_nodes",
        status=node_status[shown],
        confirmation=confirmation[shown],
        max_lesion_mm=size_mm[shown],
    )
    return date


def write_metachronous_neck_findings(
    rng: np.random.Generator,
    imaging: TableRows,
    plan: PatientPlan,
    diagnosis_date: np.ndarray,
    recurrence_date: np.ndarray,
) -> None:
    """Metachronous patients: residual nodes after the first operation, the recurrence years later."""
    n, index, meta = plan.n, plan.index, plan.metachronous
    residual = meta & plan.local_persistent
    residual_date = diagnosis_date + uniform_days(rng, np.full(n, 60), 330)
    residual_mm = np.round(rng.uniform(5, 15, n), 0)
    imaging.add(
        index[residual],
        residual_date[residual],
        1,
        modality="US",
        site="neck_nodes",
        status="present",
        confirmation="cytology",
        max_lesion_mm=residual_mm[residual],
    )
    status = np.where(plan.local_recurrence, code("status", "new"), code("status", "increased"))
    confirmation = np.where(rng.random(n) < 0.8, code("confirmation", "cytology"), code("confirmation", "histology"))
    size_mm = np.round(rng.uniform(8, 30, n), 0)
    imaging.add(
        index[meta],
        recurrence_date[meta],
        1,
        modality="US",
        site="neck_nodes",
        status=status[meta],
        confirmation=confirmation[meta],
        max_lesion_mm=size_mm[meta],
    )


def write_lung_imaging(
    rng: np.random.Generator,
    imaging: TableRows,
    plan: PatientPlan,
    lobectomy_first: np.ndarray,
    surgery_to_rait_days: np.ndarray,
    diagnosis_date: np.ndarray,
    completion_date: np.ndarray,
    recurrence_date: np.ndarray,
    first_rait: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Chest CT before the first RAIT; returns (lung disease known before it, CT date)."""
    n, index = plan.n, plan.index
    archetypes, meta = plan.archetypes, plan.metachronous
    lung_known = (
        (rng.random(n) < np.where(meta, 0.75, 0.55))
        | archetypes.no_rait
        | archetypes.lung_nodule_10mm
        | archetypes.lung_non_avid_first
    )
    lung_known &= ~archetypes.no_lung_disease & ~archetypes.lung_mets_after_first_rait
    ct_date = np.where(
        meta,
        recurrence_date + uniform_days(rng, np.zeros(n), 15),
        first_rait - uniform_days(rng, np.full(n, 7), np.minimum(60, surgery_to_rait_days - 5)),
    )
    ct_date = np.maximum(ct_date, np.where(lobectomy_first, completion_date, diagnosis_date) + 7)
    ct_date = np.minimum(ct_date, first_rait - 1)
    lung_mm = np.where(rng.random(n) < 0.3, np.nan, np.round(rng.uniform(2, 9.5, n), 1))
    lung_mm = np.where(archetypes.lung_nodule_10mm, np.round(rng.uniform(11, 30, n), 0), lung_mm)
    imaging.add(
        index[lung_known],
        ct_date[lung_known],
        2,
        modality="CT",
        site="lung",
        status="present",
        max_lesion_mm=lung_mm[lung_known],
        confirmation="imaging",
    )
    clear = ~lung_known & (rng.random(n) < 0.3) & (ct_date > diagnosis_date)
    imaging.add(index[clear], ct_date[clear], 2, modality="CT", site="lung", status="absent", confirmation="imaging")
    return lung_known, ct_date


def write_distant_disease(
    rng: np.random.Generator,
    imaging: TableRows,
    plan: PatientPlan,
    diagnosis_date: np.ndarray,
    ct_date: np.ndarray,
    first_rait: np.ndarray,
) -> None:
    """Bone, or brain / liver / other distant disease, for the lung-step exclusions."""
    n, index = plan.n, plan.index
    archetypes = plan.archetypes
    bone = archetypes.bone_metastases
    bone_date = first_rait - uniform_days(rng, np.full(n, 5), 40)
    bone_modality = np.where(rng.random(n) < 0.5, code("modality", "bone_scan"), code("modality", "CT"))
    bone_mm = np.round(rng.uniform(6, 30, n), 0)
    imaging.add(
        index[bone],
        np.maximum(bone_date, diagnosis_date + 3)[bone],
        3,
        modality=bone_modality[bone],
        site="bone",
        status="present",
        max_lesion_mm=bone_mm[bone],
        confirmation="imaging",
    )
    other = archetypes.other_distant_site
    site = np.where(
        rng.random(n) < 0.7,
        code("site", "other"),
        np.where(rng.random(n) < 0.5, code("site", "brain"), code("site", "liver")),
    )
    modality = np.where(site == code("site", "brain"), code("modality", "MRI"), code("modality", "CT"))
    size_mm = np.round(rng.uniform(5, 25, n), 0)
    imaging.add(
        index[other],
        np.maximum(ct_date, diagnosis_date + 3)[other],
        3,
        modality=modality[other],
        site=site[other],
        status="present",
        max_lesion_mm=size_mm[other],
        confirmation="imaging",
    )
