"""Surgeries: the thyroid operations with their pathology, and the later neck dissections.

Writes the ``surgeries`` rows the rules read for the DTC step (procedure, date, histology),
the ATA risk (T stage, ETE, resection, vascular invasion, nodes, aggressive variant) and the
local disease before RAIT: the initial operation (total or subtotal thyroidectomy, or a
lobectomy completed within weeks), the neck dissection with it, a re-operation for nodes
persisting before the RAIT, and the neck dissection after a nodal recurrence. Metachronous
patients had a limited first operation years earlier (ATA risk as planned) and a completion
thyroidectomy with neck dissection at their recurrence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layout import TableRows, code, codes
from .plan import ATA_INTERMEDIATE, ATA_LOW, N0, N1A, N1B, PatientPlan
from .progression import NECK_NODES, NewLesions
from .sampling import categorical, pick_codes, uniform_days

#: Codes of N0, N1a, N1b (indexed by the plan's N stage).
N_STAGE_CODES = codes("n_stage", ("N0", "N1a", "N1b"))
#: T stage codes by size class (<= 1, <= 2, <= 4, > 4 cm) then gross extension (T3b, T4a, T4b).
T_STAGE_CODES = codes("t_stage", ("T1a", "T1b", "T2", "T3a", "T3b", "T4a", "T4b"))


@dataclass(frozen=True)
class Pathology:
    """Pathology of the initial operation (arrays per patient; -1 / NaN = not reported)."""

    histology: np.ndarray
    t_stage: np.ndarray
    ete: np.ndarray
    resection: np.ndarray
    vascular_invasion_foci: np.ndarray
    aggressive_variant: np.ndarray
    positive_nodes: np.ndarray  # of the full nodal work-up (synchronous patients)
    largest_node_cm: np.ndarray
    metachronous_n_stage: np.ndarray  # the metachronous patients' limited first operation
    metachronous_nodes: np.ndarray
    metachronous_node_cm: np.ndarray


def add_neck_dissections(
    surgeries: TableRows,
    patient: np.ndarray,
    date: np.ndarray,
    histology: np.ndarray,
    positive_nodes: np.ndarray,
    largest_node_cm: np.ndarray,
    order: int = 0,
) -> None:
    """Rows of lateral neck dissections (N1b) with their node counts."""
    surgeries.add(
        patient,
        date,
        order,
        procedure="neck_dissection",
        histology=histology,
        n_stage=N_STAGE_CODES[N1B],
        positive_nodes=positive_nodes,
        largest_node_cm=largest_node_cm,
    )


def draw_pathology(rng: np.random.Generator, plan: PatientPlan) -> Pathology:
    """Histology, T stage, ETE, resection, invasion and nodes; metachronous risk as planned."""
    n = plan.n
    follicular, size, gross, n_stage = plan.follicular, plan.tumour_size_cm, plan.gross_ete, plan.n_stage
    histology = np.where(
        plan.archetypes.histology_other,
        code("histology", "other"),
        np.where(follicular, code("histology", "FTC"), code("histology", "PTC")),
    ).astype(np.int8)
    size_class = np.select([size <= 1.0, size <= 2.0, size <= 4.0], [0, 1, 2], default=3)
    size_class = np.where(gross, 4 + categorical(rng, n, [0.6, 0.35, 0.05]), size_class)  # T3b, T4a, T4b
    t_stage = T_STAGE_CODES[size_class]
    ete = np.where(
        gross,
        code("ete", "gross"),
        np.where(rng.random(n) < 0.35, code("ete", "microscopic"), code("ete", "none")),
    ).astype(np.int8)
    resection = np.where(
        gross,
        pick_codes(rng, n, "resection", {"R0": 0.35, "R1": 0.5, "R2": 0.15}),
        pick_codes(rng, n, "resection", {"R0": 0.9, "R1": 0.1}),
    ).astype(np.int8)
    invasion = np.where(
        follicular,
        uniform_days(rng, np.zeros(n), 8),
        np.where(rng.random(n) < 0.6, 0, uniform_days(rng, np.ones(n), 6)),
    )
    aggressive = np.where(rng.random(n) < 0.15, 1, np.where(rng.random(n) < 0.82, 0, -1)).astype(np.int8)
    positive_nodes = np.select(
        [n_stage == N0, n_stage == N1A],
        [0, uniform_days(rng, np.ones(n), 8)],
        default=uniform_days(rng, np.full(n, 3), 40),
    )
    node_cm = np.where(n_stage == N0, np.nan, np.round(np.clip(rng.lognormal(math.log(1.4), 0.45, n), 0.3, 6.0), 1))

    # metachronous initial operation: limited node sampling, ATA risk as planned
    intermediate = plan.metachronous & (plan.metachronous_ata == ATA_INTERMEDIATE)
    low = plan.metachronous & (plan.metachronous_ata == ATA_LOW)
    meta_n = np.where(
        rng.random(n) < 0.5,
        code("n_stage", "NX"),
        np.where(rng.random(n) < 0.6, code("n_stage", "N0"), code("n_stage", "N1a")),
    )
    meta_n = np.where(low, code("n_stage", "N0"), meta_n).astype(np.int8)
    meta_nodes = np.where(
        meta_n == code("n_stage", "N1a"),
        uniform_days(rng, np.ones(n), 4),
        np.where(meta_n == code("n_stage", "N0"), 0, -1),
    )
    meta_node_cm = np.where(meta_n == code("n_stage", "N1a"), np.round(rng.uniform(0.3, 1.5, n), 1), np.nan)
    microscopic = code("ete", "microscopic")
    ete = np.where(intermediate & (rng.random(n) < 0.6), microscopic, ete)
    ete = np.where(low, code("ete", "none"), ete).astype(np.int8)
    resection = np.where(low | intermediate, code("resection", "R0"), resection).astype(np.int8)
    invasion = np.where(low, 0, np.where(intermediate & (ete != microscopic), np.maximum(invasion, 1), invasion))
    invasion = np.where((intermediate | low) & follicular, np.minimum(invasion, 4), invasion)  # FTC > 4 foci: high
    aggressive = np.where(low, 0, aggressive).astype(np.int8)
    invasion = np.where(low & follicular, 0, invasion)
    # FTC intermediate risk needs microscopic ETE (the PTC vascular invasion rule does not apply)
    ete = np.where(intermediate & follicular, microscopic, ete).astype(np.int8)
    return Pathology(
        histology=histology,
        t_stage=t_stage,
        ete=ete,
        resection=resection,
        vascular_invasion_foci=invasion,
        aggressive_variant=aggressive,
        positive_nodes=positive_nodes,
        largest_node_cm=node_cm,
        metachronous_n_stage=meta_n,
        metachronous_nodes=meta_nodes,
        metachronous_node_cm=meta_node_cm,
    )


def write_thyroid_operations(
    rng: np.random.Generator,
    surgeries: TableRows,
    plan: PatientPlan,
    pathology: Pathology,
    lobectomy_first: np.ndarray,
    diagnosis_date: np.ndarray,
    completion_date: np.ndarray,
) -> None:
    """The initial operation, the completion thyroidectomy, and the neck dissection with them."""
    n, index = plan.n, plan.index
    meta, n_stage = plan.metachronous, plan.n_stage
    lobectomy = code("procedure", "lobectomy")
    subtotal = code("procedure", "subtotal_thyroidectomy")
    metachronous_procedure = np.where(rng.random(n) < 0.55, lobectomy, subtotal)
    synchronous_procedure = np.where(
        lobectomy_first | plan.archetypes.lobectomy_only,
        lobectomy,
        np.where(rng.random(n) < 0.06, subtotal, code("procedure", "total_thyroidectomy")),
    )
    procedure = np.where(meta, metachronous_procedure, synchronous_procedure).astype(np.int8)
    # a lobectomy first reports the nodes only when none were found (the rest at completion)
    lobectomy_n = np.where(n_stage == N0, N_STAGE_CODES[N0], code("n_stage", "NX"))
    initial_n = np.where(
        meta, pathology.metachronous_n_stage, np.where(lobectomy_first, lobectomy_n, N_STAGE_CODES[n_stage])
    )
    initial_nodes = np.where(
        meta,
        pathology.metachronous_nodes,
        np.where(lobectomy_first, np.where(n_stage == N0, 0, -1), pathology.positive_nodes),
    )
    initial_node_cm = np.where(
        meta, pathology.metachronous_node_cm, np.where(lobectomy_first, np.nan, pathology.largest_node_cm)
    )
    surgeries.add(
        index,
        diagnosis_date,
        0,
        procedure=procedure,
        histology=pathology.histology,
        max_tumor_size_cm=plan.tumour_size_cm,
        t_stage=pathology.t_stage,
        n_stage=initial_n,
        ete=pathology.ete,
        resection=pathology.resection,
        vascular_invasion_foci=pathology.vascular_invasion_foci,
        positive_nodes=initial_nodes,
        largest_node_cm=initial_node_cm,
        aggressive_variant=pathology.aggressive_variant,
    )
    # completion thyroidectomy (synchronous after a lobectomy; metachronous at recurrence)
    completed = meta | lobectomy_first
    completion_histology = np.where(rng.random(n) < 0.55, pathology.histology, -1).astype(np.int8)
    completion_size = np.where(
        completion_histology >= 0, np.round(np.minimum(rng.uniform(0.2, 1.0, n), plan.tumour_size_cm), 1), np.nan
    )
    central_nodes = np.where(lobectomy_first & (n_stage == N1A), N_STAGE_CODES[N1A], -1).astype(np.int8)
    surgeries.add(
        index[completed],
        completion_date[completed],
        0,
        procedure="completion_thyroidectomy",
        histology=completion_histology[completed],
        max_tumor_size_cm=completion_size[completed],
        n_stage=central_nodes[completed],
        resection=code("resection", "R0"),
        positive_nodes=np.where(central_nodes >= 0, pathology.positive_nodes, -1)[completed],
        largest_node_cm=np.where(central_nodes >= 0, pathology.largest_node_cm, np.nan)[completed],
    )
    # neck dissection with the thyroid operation
    dissected = (n_stage == N1B) & ((rng.random(n) < 0.93) | meta) & ~plan.archetypes.lobectomy_only
    dissection_date = np.where(meta | lobectomy_first, completion_date, diagnosis_date)
    add_neck_dissections(
        surgeries,
        index[dissected],
        dissection_date[dissected],
        pathology.histology[dissected],
        pathology.positive_nodes[dissected],
        pathology.largest_node_cm[dissected],
        order=1,
    )


def write_reoperation_for_persistent_nodes(
    rng: np.random.Generator,
    surgeries: TableRows,
    plan: PatientPlan,
    histology: np.ndarray,
    persistent: np.ndarray,
    ultrasound_date: np.ndarray,
    first_rait: np.ndarray,
) -> None:
    """A neck dissection for a quarter of the nodes persisting before the RAIT."""
    n, index = plan.n, plan.index
    reoperated = persistent & (rng.random(n) < 0.25) & (ultrasound_date + 54 < first_rait - 10)
    date = ultrasound_date + uniform_days(rng, np.full(n, 14), 40)
    nodes = uniform_days(rng, np.ones(n), 6)
    node_cm = np.round(rng.uniform(0.5, 2.5, n), 1)
    add_neck_dissections(
        surgeries, index[reoperated], date[reoperated], histology[reoperated], nodes[reoperated], node_cm[reoperated]
    )


def write_neck_dissections_after_recurrence(
    rng: np.random.Generator,
    surgeries: TableRows,
    lesions: NewLesions,
    histology: np.ndarray,
    last_contact: np.ndarray,
) -> None:
    """A neck dissection for half of the nodal new lesions (before the last contact)."""
    count = len(lesions)
    patient = lesions.patient
    dissected = (lesions.site == NECK_NODES) & (rng.random(count) < 0.5)
    date = lesions.date + uniform_days(rng, np.full(count, 20), 90)
    dissected &= date <= last_contact[patient]
    nodes = uniform_days(rng, np.ones(count), 8)
    node_cm = np.round(rng.uniform(0.5, 3.0, count), 1)
    add_neck_dissections(
        surgeries,
        patient[dissected],
        date[dissected],
        histology[patient][dissected],
        nodes[dissected],
        node_cm[dissected],
    )
