"""Patient plan: archetype, treatment group, number of cycles and covariates.

Writes the ``patients`` rows (sex, birth date, centre) and no event. It decides, for every
patient of a block, what the course must show: whether the patient is eligible or fails one
of the six eligibility steps (and how), the o-/m-RAIT group and number of cycles, and the
covariates of Table 1 (sex, age, histology, tumour size, gross extension, N stage,
synchronous or metachronous lung metastases, local persistent disease or recurrence before
RAIT). The archetypes and the group split are allotted by quota, the covariates by
stratified uniforms, so that a small registry's margins sit close to the study's. The centre
is drawn last of the block (:func:`draw_centres`), or, with ``synth --centres N``, from a
generator of its own with centre effects (:class:`CentreEffects`, :func:`draw_centres_with_effects`).

Every probability here is a scalar applied through numpy broadcasting; a per-patient array
of the same meaning (e.g. a centre effect on the m-RAIT share) would work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import params
from .layout import CENTRE_IDS, code
from .sampling import (
    QuantileTable,
    allot_by_quota,
    categorical,
    quantile_draw,
    stratified_uniforms,
)

# --------------------------------------------------------------------------------------
# Calibration (targets: the study's Table 1; see the package docstring)
# --------------------------------------------------------------------------------------

# Archetypes: eligible, or failing the first time at one eligibility step (docs/specification.md section 2).
ELIGIBLE, FAILS_DTC_SURGERY, FAILS_LUNG_ONLY, FAILS_RAI_AVID, FAILS_METS_BEFORE_RAIT, FAILS_MASSIVE, FAILS_EARLY_PD = (
    range(7)
)
#: 117 of 160 eligible; the 43 others spread over the six steps (>= 4 each at n = 160).
ARCHETYPE_SHARES = np.array([117, 7, 10, 9, 7, 4, 6], dtype=float) / 160
#: Variants within an archetype, in the order of the :class:`Archetypes` fields.
DTC_SURGERY_VARIANTS = [0.40, 0.20, 0.25, 0.15]  # before 2000, after 2022, histology other, lobectomy only
LUNG_ONLY_VARIANTS = [0.40, 0.30, 0.20, 0.10]  # lung nodule >= 10 mm, bone mets, no lung disease, other site
RAI_AVID_VARIANTS = [0.35, 0.35, 0.30]  # no RAIT, lung non-avid on a later RxWBS, non-avid on the first

M_RAIT_SHARE = 79 / 117  # Table 1: 38 o-RAIT / 79 m-RAIT
#: Shares of 2, 3, ... 7 cycles in m-RAIT (Table 2: median 3, range 2-7).
M_RAIT_CYCLE_SHARES = [0.49, 0.26, 0.11, 0.07, 0.04, 0.03]
#: The most cycles a patient receives.
MAX_CYCLES = 1 + len(M_RAIT_CYCLE_SHARES)

#: Quantile tables (probabilities, values) sampled by inverse-CDF interpolation; (o-RAIT, m-RAIT).
_QUANTILES = (0.0, 0.05, 0.25, 0.50, 0.75, 0.90, 0.97, 1.0)
AGE_YEARS: tuple[QuantileTable, QuantileTable] = (
    (_QUANTILES, (14.0, 19.0, 27.4, 33.9, 39.9, 47.0, 58.0, 70.0)),  # Table 1 o-RAIT 33.9 (27.4, 39.9)
    (_QUANTILES, (7.0, 10.5, 17.1, 27.1, 37.2, 45.5, 56.0, 70.0)),  # Table 1 m-RAIT 27.1 (17.1, 37.2)
)
TUMOUR_SIZE_CM: tuple[QuantileTable, QuantileTable] = (
    (_QUANTILES, (0.3, 0.7, 1.3, 2.0, 2.8, 3.8, 5.5, 9.0)),  # Table 1 o-RAIT 2.0 (1.3, 2.8) cm
    (_QUANTILES, (0.3, 0.8, 1.6, 2.9, 3.7, 4.8, 6.5, 10.0)),  # Table 1 m-RAIT 2.9 (1.6, 3.7) cm
)

# Shares by group (o-RAIT, m-RAIT), Table 1.
FEMALE_SHARE = (0.658, 0.595)
FTC_SHARE = 0.026
GROSS_ETE_SHARE = (0.39, 0.38)  # gives T3+T4 44.7% / 53.2% with the size distributions
N_STAGE_SHARES = ((0.09, 0.06, 0.85), (0.085, 0.07, 0.845))  # N0, N1a, N1b (synchronous)
METACHRONOUS_SHARE = (0.026, 0.177)
LOCAL_PERSISTENT_SHARE_SYNCHRONOUS = (0.072, 0.344)  # local persistent disease among synchronous patients
LOCAL_RECURRENCE_SHARE_METACHRONOUS = 2 / 3  # 10 of 15 metachronous had recurrence, 5 residual disease
METACHRONOUS_ATA_SHARES = (0.63, 0.30, 0.07)  # high / intermediate / low among metachronous

#: N stage of the synchronous patients, as the index drawn from N_STAGE_SHARES.
N0, N1A, N1B = 0, 1, 2
#: ATA risk of the metachronous patients' first operation, as drawn from METACHRONOUS_ATA_SHARES.
ATA_HIGH, ATA_INTERMEDIATE, ATA_LOW = 0, 1, 2

#: Age (years) from which the progression risk rises (the study's age cut).
AGE_CUT_YEARS = params.get("age_cut_years").default

#: Shares of the centres of :data:`~.layout.CENTRE_IDS` in the default registry (no centre effects).
CENTRE_SHARES = [0.8, 0.15, 0.05]

#: Index ``k`` of the generators of ``synth --centres N``: the registry-level centre effects
#: (``SeedSequence(seed, spawn_key=(k,))``) and each block's centre draws
#: (``SeedSequence([seed, block, k])``), so that no draw of the course moves.
CENTRE_STREAM = 1
#: Standard deviations (log-odds) of the centre effects of ``synth --centres N``: the frailty on
#: the latent progression score, the practice (m-RAIT patients' preference for the centre) and the
#: case-mix (patients aged >= the age cut's preference for the centre).
CENTRE_FRAILTY_SD = 0.6
CENTRE_PRACTICE_SD = 0.8
CENTRE_CASE_MIX_SD = 0.5
#: Dirichlet concentration of the centres' sizes.
CENTRE_SIZE_CONCENTRATION = 4.0


# --------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archetypes:
    """Boolean masks over the block: the eligibility step each patient fails, and how."""

    eligible: np.ndarray
    # step 1, DTC operated 2000-2022
    surgery_before_2000: np.ndarray
    surgery_after_2022: np.ndarray
    histology_other: np.ndarray
    lobectomy_only: np.ndarray
    # step 2, lung-only micrometastases
    lung_nodule_10mm: np.ndarray
    bone_metastases: np.ndarray
    no_lung_disease: np.ndarray
    other_distant_site: np.ndarray
    # step 3, RAI-avid lung disease
    avid_step_no_rait: np.ndarray
    lung_non_avid_later: np.ndarray
    lung_non_avid_first: np.ndarray
    # steps 4-6
    lung_mets_after_first_rait: np.ndarray
    massive_remnant: np.ndarray
    early_progression: np.ndarray

    @property
    def no_rait(self) -> np.ndarray:
        """Patients never given RAIT (lobectomy only, or the RAI-avid step's no-RAIT variant)."""
        return self.lobectomy_only | self.avid_step_no_rait


@dataclass(frozen=True)
class PatientPlan:
    """What a block's course must show, per patient (arrays of length n)."""

    index: np.ndarray  # local patient index 0..n-1
    archetypes: Archetypes
    m_rait: np.ndarray  # planned m-RAIT (more than one cycle)
    group: np.ndarray  # 0 o-RAIT, 1 m-RAIT: index into the (o-RAIT, m-RAIT) calibration pairs
    strata: np.ndarray  # 0 eligible o-RAIT, 1 eligible m-RAIT, 2 others
    n_cycles: np.ndarray  # 0 (no RAIT) .. MAX_CYCLES
    female: np.ndarray
    age_years: np.ndarray  # at diagnosis
    follicular: np.ndarray  # FTC (else PTC, unless the histology_other archetype)
    tumour_size_cm: np.ndarray
    metachronous: np.ndarray  # lung metastases found at a recurrence years after the first operation
    timing_strata: np.ndarray  # strata split by metachronous / synchronous
    local_recurrence: np.ndarray  # metachronous: nodal recurrence before the RAIT
    local_persistent: np.ndarray  # nodal disease persisting after the operation
    metachronous_ata: np.ndarray  # ATA_HIGH / ATA_INTERMEDIATE / ATA_LOW of the metachronous first operation
    gross_ete: np.ndarray
    n_stage: np.ndarray  # N0 / N1A / N1B

    @property
    def n(self) -> int:
        return len(self.index)

    @property
    def has_rait(self) -> np.ndarray:
        return self.n_cycles > 0

    @property
    def synchronous_persistent(self) -> np.ndarray:
        """Synchronous patients with nodes persisting after the operation."""
        return self.local_persistent & ~self.metachronous


def draw_archetypes(rng: np.random.Generator, n: int) -> Archetypes:
    """Allot the archetypes and their variants by quota."""
    archetype = allot_by_quota(rng, n, ARCHETYPE_SHARES)
    variant = np.zeros(n, dtype=np.int64)
    for failing, shares in (
        (FAILS_DTC_SURGERY, DTC_SURGERY_VARIANTS),
        (FAILS_LUNG_ONLY, LUNG_ONLY_VARIANTS),
        (FAILS_RAI_AVID, RAI_AVID_VARIANTS),
    ):
        members = archetype == failing
        variant[members] = allot_by_quota(rng, int(members.sum()), shares)
    dtc, lung, avid = archetype == FAILS_DTC_SURGERY, archetype == FAILS_LUNG_ONLY, archetype == FAILS_RAI_AVID
    return Archetypes(
        eligible=archetype == ELIGIBLE,
        surgery_before_2000=dtc & (variant == 0),
        surgery_after_2022=dtc & (variant == 1),
        histology_other=dtc & (variant == 2),
        lobectomy_only=dtc & (variant == 3),
        lung_nodule_10mm=lung & (variant == 0),
        bone_metastases=lung & (variant == 1),
        no_lung_disease=lung & (variant == 2),
        other_distant_site=lung & (variant == 3),
        avid_step_no_rait=avid & (variant == 0),
        lung_non_avid_later=avid & (variant == 1),
        lung_non_avid_first=avid & (variant == 2),
        lung_mets_after_first_rait=archetype == FAILS_METS_BEFORE_RAIT,
        massive_remnant=archetype == FAILS_MASSIVE,
        early_progression=archetype == FAILS_EARLY_PD,
    )


def draw_groups(rng: np.random.Generator, archetypes: Archetypes) -> np.ndarray:
    """Planned m-RAIT: a quota among the eligible, random among the others."""
    eligible = archetypes.eligible
    m_rait = np.zeros(len(eligible), dtype=bool)
    m_rait[eligible] = allot_by_quota(rng, int(eligible.sum()), [1 - M_RAIT_SHARE, M_RAIT_SHARE]) == 1
    m_rait[~eligible] = rng.random(int((~eligible).sum())) < M_RAIT_SHARE
    m_rait |= archetypes.lung_non_avid_later | archetypes.lung_mets_after_first_rait
    m_rait &= ~archetypes.surgery_after_2022
    return m_rait


def draw_cycles(rng: np.random.Generator, archetypes: Archetypes, m_rait: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Number of cycles: one for o-RAIT, 2..MAX_CYCLES for m-RAIT, none without RAIT."""
    n = len(m_rait)
    n_cycles = np.where(m_rait, 2 + categorical(rng, n, M_RAIT_CYCLE_SHARES, stratified_uniforms(rng, strata)), 1)
    n_cycles[archetypes.no_rait] = 0
    return n_cycles


def plan_patients(rng: np.random.Generator, n: int) -> PatientPlan:
    """Archetypes, groups, cycles and the covariates of Table 1 for ``n`` patients."""
    archetypes = draw_archetypes(rng, n)
    m_rait = draw_groups(rng, archetypes)
    group = m_rait.astype(np.int64)
    strata = np.where(archetypes.eligible, group, 2)  # eligible o, eligible m, others
    n_cycles = draw_cycles(rng, archetypes, m_rait, strata)

    female = stratified_uniforms(rng, strata) < np.take(FEMALE_SHARE, group)
    uniforms = stratified_uniforms(rng, strata)
    age = np.where(m_rait, quantile_draw(rng, n, AGE_YEARS[1], uniforms), quantile_draw(rng, n, AGE_YEARS[0], uniforms))
    follicular = stratified_uniforms(rng, strata) < FTC_SHARE
    uniforms = stratified_uniforms(rng, strata)
    size = np.where(
        m_rait, quantile_draw(rng, n, TUMOUR_SIZE_CM[1], uniforms), quantile_draw(rng, n, TUMOUR_SIZE_CM[0], uniforms)
    )
    size = np.round(np.clip(size, 0.2, 15.0), 1)
    metachronous = (
        (stratified_uniforms(rng, strata) < np.take(METACHRONOUS_SHARE, group))
        & ~archetypes.lung_mets_after_first_rait
        & ~archetypes.surgery_after_2022
        & ~archetypes.lobectomy_only
    )
    timing_strata = np.where(metachronous, strata, 3 + strata)
    local_recurrence = metachronous & (stratified_uniforms(rng, timing_strata) < LOCAL_RECURRENCE_SHARE_METACHRONOUS)
    local_persistent = np.where(
        metachronous,
        ~local_recurrence,
        stratified_uniforms(rng, timing_strata) < np.take(LOCAL_PERSISTENT_SHARE_SYNCHRONOUS, group),
    )
    metachronous_ata = categorical(rng, n, METACHRONOUS_ATA_SHARES, stratified_uniforms(rng, timing_strata))
    gross_ete = np.where(
        metachronous,
        metachronous_ata == ATA_HIGH,
        stratified_uniforms(rng, timing_strata) < np.take(GROSS_ETE_SHARE, group),
    )
    n_stage = np.empty(n, dtype=np.int64)
    uniforms = stratified_uniforms(rng, timing_strata)
    for group_index in (0, 1):
        members = group == group_index
        n_stage[members] = categorical(rng, int(members.sum()), N_STAGE_SHARES[group_index], uniforms[members])
    n_stage[metachronous] = N1B  # the neck dissection at recurrence finds lateral nodes

    return PatientPlan(
        index=np.arange(n),
        archetypes=archetypes,
        m_rait=m_rait,
        group=group,
        strata=strata,
        n_cycles=n_cycles,
        female=female,
        age_years=age,
        follicular=follicular,
        tumour_size_cm=size,
        metachronous=metachronous,
        timing_strata=timing_strata,
        local_recurrence=local_recurrence,
        local_persistent=local_persistent,
        metachronous_ata=metachronous_ata,
        gross_ete=gross_ete,
        n_stage=n_stage,
    )


def draw_centres(rng: np.random.Generator, n: int) -> np.ndarray:
    """Centre codes of the patients: the last draw of a block, so that nothing depends on it.

    A ``--centres N`` option with centre effects needs the centre before the covariates: it
    would draw it first from a generator of its own (e.g. ``SeedSequence([seed, block, 1])``),
    pass it to the phases it affects, and leave this default path, hence the default
    registry's bytes, unchanged.
    """
    return categorical(rng, n, CENTRE_SHARES).astype(np.int8)


@dataclass(frozen=True)
class CentreEffects:
    """Registry-level effects of the centres of ``synth --centres N`` (one value per centre).

    Attributes
    ----------
    shares : ndarray
        Baseline share of the patients in each centre (Dirichlet).
    frailty : ndarray
        Added to the latent progression score (log-odds) of the centre's patients: a shared
        frailty, so that the centres differ in progression beyond their case-mix.
    practice : ndarray
        Log-odds preference of m-RAIT patients for the centre: centres differ in how often
        they repeat RAIT.
    case_mix : ndarray
        Log-odds preference of patients aged >= the age cut for the centre.
    """

    shares: np.ndarray
    frailty: np.ndarray
    practice: np.ndarray
    case_mix: np.ndarray

    @property
    def n(self) -> int:
        return len(self.shares)

    @classmethod
    def draw(cls, seed: int, n_centres: int) -> CentreEffects:
        """The effects of ``n_centres`` centres, from ``SeedSequence(seed, spawn_key=(CENTRE_STREAM,))``.

        The same for every block of the registry; one centre has no effect (all zero).
        """
        if n_centres == 1:
            zero = np.zeros(1)
            return cls(shares=np.ones(1), frailty=zero, practice=zero, case_mix=zero)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(CENTRE_STREAM,)))
        shares = rng.dirichlet(np.full(n_centres, CENTRE_SIZE_CONCENTRATION))
        frailty = rng.normal(0.0, CENTRE_FRAILTY_SD, n_centres)
        practice = rng.normal(0.0, CENTRE_PRACTICE_SD, n_centres)
        case_mix = rng.normal(0.0, CENTRE_CASE_MIX_SD, n_centres)
        return cls(shares=shares, frailty=frailty - frailty.mean(), practice=practice, case_mix=case_mix)


def draw_centres_with_effects(rng: np.random.Generator, plan: PatientPlan, effects: CentreEffects) -> np.ndarray:
    """Centre codes of the patients of ``synth --centres N``, after their group and age are planned.

    A patient goes to centre ``c`` with probability proportional to
    ``shares[c] * exp(practice[c] * m_rait + case_mix[c] * (age >= age cut))``, so the centres
    differ in RAIT practice and case-mix; ``rng`` is the block's centre generator
    (``SeedSequence([seed, block, CENTRE_STREAM])``).
    """
    older = (plan.age_years >= AGE_CUT_YEARS).astype(float)
    log_weight = (
        np.log(effects.shares)[None, :]
        + plan.m_rait.astype(float)[:, None] * effects.practice[None, :]
        + older[:, None] * effects.case_mix[None, :]
    )
    weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
    cumulative = np.cumsum(weight, axis=1)
    uniforms = rng.random(plan.n) * cumulative[:, -1]
    return np.minimum((uniforms[:, None] >= cumulative).sum(axis=1), effects.n - 1).astype(np.int8)


def patient_rows(plan: PatientPlan, birth_date: np.ndarray, centre: np.ndarray) -> dict[str, np.ndarray]:
    """The ``patients`` table of the block (sorted by patient)."""
    assert len(CENTRE_SHARES) <= len(CENTRE_IDS)
    return {
        "_p": plan.index,
        "sex": np.where(plan.female, code("sex", "F"), code("sex", "M")).astype(np.int8),
        "birth_date": birth_date,
        "center_id": centre,
    }
