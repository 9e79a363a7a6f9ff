"""Progression: who progresses, when the new lesions appear, and their imaging rows.

Progression (any new lesion after the first RAIT) is a latent logistic risk rising with age
>= 45, local persistent disease, recurrence and size, as the study's multivariable model, and
not with the number of cycles; the highest risks progress, by quota per group. A new lesion
falls after the early-progression window (183 days) of the cycle whose window holds it --
within it for the early-progression archetype -- so the rules count it as planned.

Writes the ``imaging_findings`` rows of the new lesions (or the nodal row of the next
post-therapy scan that shows one). The neck dissections they lead to are in
:mod:`.surgeries`, the follow-up after them in :mod:`.followup`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import params
from .layout import TableRows, code, codes
from .plan import AGE_CUT_YEARS, MAX_CYCLES, PatientPlan
from .sampling import (
    QuantileTable,
    allot_by_quota,
    categorical,
    highest_share,
    quantile_draw,
    stratified_uniforms,
    uniform_days,
)

# --------------------------------------------------------------------------------------
# Calibration (targets: the study's Tables 2-3 and PFS; see the package docstring)
# --------------------------------------------------------------------------------------

#: Progression (any new lesion after the first RAIT) in the eligible groups (o, m): 4/38, 20/79.
PROGRESSION_SHARE = (4 / 38, 20 / 79)
#: m-RAIT progressors already progressing after cycle 1.
FIRST_CYCLE_PROGRESSION_SHARE = 7 / 20
#: Latent progression risk: log OR of age >= 45, local persistent, local recurrence, per cm.
RISK_LOG_ODDS = (math.log(8.477), math.log(9.143), math.log(3.832), math.log(1.356))
#: Days from the start of the last cycle's PD-eligible period to a new lesion, (o-RAIT, m-RAIT):
#: 5-year PFS 84.8% / 72.9% with 4/38 and 20/79 progressing.
PROGRESSION_DELAY_DAYS: tuple[QuantileTable, QuantileTable] = (
    ((0.0, 0.25, 0.50, 0.75, 0.90, 1.0), (0.0, 350.0, 750.0, 1150.0, 1450.0, 1750.0)),
    ((0.0, 0.25, 0.50, 0.75, 0.90, 1.0), (0.0, 150.0, 380.0, 750.0, 1050.0, 1700.0)),
)
#: First day after an administration on which a new lesion counts as progression (184).
PD_ELIGIBLE_FROM_DAY = params.get("early_pd_exclusion_days").default + 1

#: Sites of the new lesions, in the order of :attr:`NewLesions.site`, and their shares.
NEW_LESION_SITES = ("neck_nodes", "lung", "bone", "other")
NEW_LESION_SITE_SHARES = [0.5, 0.3, 0.1, 0.1]
NECK_NODES, LUNG, BONE, OTHER = range(4)


@dataclass(frozen=True)
class ProgressionPlan:
    progresses: np.ndarray  # a new lesion after the first RAIT
    progresses_after_first_cycle: np.ndarray  # m-RAIT: the new lesion is in cycle 1's window


@dataclass(frozen=True)
class NewLesions:
    """The new-lesion events of a block (one entry per event; a patient may have several)."""

    patient: np.ndarray
    date: np.ndarray
    on_next_post_therapy_scan: np.ndarray  # shown as the nodal row of the second cycle's RxWBS
    site: np.ndarray  # index into NEW_LESION_SITES
    first_date: np.ndarray  # per patient; int64 max when none
    last_date: np.ndarray  # per patient; -1 when none
    lung: np.ndarray  # per patient: some new lesion is in the lung

    def __len__(self) -> int:
        return len(self.patient)


def plan_progression(rng: np.random.Generator, plan: PatientPlan, frailty: np.ndarray | None = None) -> ProgressionPlan:
    """The progressors: the highest latent risks, by quota in each group (eligible or not).

    ``frailty`` (log-odds per patient, ``synth --centres N``: its centre's) is added to the latent
    risk; it draws nothing, so without it the registry is unchanged.
    """
    age_over_cut = plan.age_years >= AGE_CUT_YEARS
    uniforms = stratified_uniforms(rng, plan.strata * 4 + 2 * plan.local_persistent + age_over_cut)
    uniforms = np.clip(uniforms, 1e-12, 1 - 1e-12)  # stratified logistic noise
    score = (
        RISK_LOG_ODDS[0] * age_over_cut
        + RISK_LOG_ODDS[1] * plan.local_persistent
        + RISK_LOG_ODDS[2] * plan.local_recurrence
        + RISK_LOG_ODDS[3] * (plan.tumour_size_cm - 2.5)
        + np.log(uniforms / (1 - uniforms))
    )
    if frailty is not None:
        score = score + frailty
    eligible = plan.archetypes.eligible
    progresses = np.zeros(plan.n, dtype=bool)
    for subset in (eligible, ~eligible):
        for group_index in (0, 1):
            members = subset & plan.has_rait & (plan.group == group_index)
            progresses |= highest_share(score, members, PROGRESSION_SHARE[group_index])
    after_first = np.zeros(plan.n, dtype=bool)
    members = np.flatnonzero(eligible & progresses & plan.m_rait)
    shares = [1 - FIRST_CYCLE_PROGRESSION_SHARE, FIRST_CYCLE_PROGRESSION_SHARE]
    after_first[members[allot_by_quota(rng, len(members), shares) == 1]] = True
    members = ~eligible & progresses & plan.m_rait
    after_first[members] = rng.random(int(members.sum())) < FIRST_CYCLE_PROGRESSION_SHARE
    return ProgressionPlan(progresses=progresses, progresses_after_first_cycle=after_first)


def draw_progression_delay(rng: np.random.Generator, plan: PatientPlan) -> np.ndarray:
    """Days from the start of the last cycle's PD-eligible period to the new lesion."""
    m_rait_delay = quantile_draw(rng, plan.n, PROGRESSION_DELAY_DAYS[1])
    o_rait_delay = quantile_draw(rng, plan.n, PROGRESSION_DELAY_DAYS[0])
    return np.rint(np.where(plan.m_rait, m_rait_delay, o_rait_delay)).astype(np.int64)


def plan_new_lesions(
    rng: np.random.Generator,
    plan: PatientPlan,
    progression: ProgressionPlan,
    gaps: np.ndarray,
    admin_date: np.ndarray,
    last_admin_date: np.ndarray,
    last_cycle: np.ndarray,
    days_after_last_cycle: np.ndarray,
    last_contact: np.ndarray,
    delay: np.ndarray,
    rxwbs_date: np.ndarray,
    rxwbs_missing: np.ndarray,
) -> NewLesions:
    """Date and site of every new lesion: cycle 1's window, the last window, early progression.

    ``gaps``, ``admin_date``, ``rxwbs_date`` and ``rxwbs_missing`` are (n, cycles) arrays;
    ``delay`` is :func:`draw_progression_delay`'s.
    """
    n, index = plan.n, plan.index
    patients, dates, on_scan = [], [], []
    # window of cycle 1 for m-RAIT early progressors (found on the second RxWBS half the time)
    members = progression.progresses_after_first_cycle
    on_rxwbs = members & (rng.random(n) < 0.5) & ~rxwbs_missing[:, 1]
    in_window = admin_date[:, 0] + uniform_days(rng, np.full(n, PD_ELIGIBLE_FROM_DAY), gaps[:, 0] + 12)
    first_window = np.where(on_rxwbs, rxwbs_date[:, 1], in_window)
    patients.append(index[members])
    dates.append(first_window[members])
    on_scan.append(on_rxwbs[members])
    # window of the last cycle, two days before the last contact at the latest
    members = progression.progresses & (days_after_last_cycle >= 200)
    latest = days_after_last_cycle - PD_ELIGIBLE_FROM_DAY - 2
    delay = np.where(delay <= latest, delay, uniform_days(rng, np.zeros(n), np.maximum(latest, 0)))
    last_window = last_admin_date + PD_ELIGIBLE_FROM_DAY + delay
    patients.append(index[members])
    dates.append(last_window[members])
    on_scan.append(np.zeros(int(members.sum()), bool))
    # early progression (<= 183 days after an administration, inside its window)
    early_cycle = np.minimum(categorical(rng, n, [0.5, 0.3, 0.2]), last_cycle)
    early_gap = np.where(
        early_cycle < last_cycle, gaps[index, np.minimum(early_cycle, MAX_CYCLES - 2)], days_after_last_cycle
    )
    early = admin_date[index, early_cycle] + uniform_days(rng, np.full(n, 40), np.minimum(180, early_gap + 10))
    members = plan.archetypes.early_progression & plan.has_rait
    patients.append(index[members])
    dates.append(early[members])
    on_scan.append(np.zeros(int(members.sum()), bool))

    patient = np.concatenate(patients)
    date = np.minimum(np.concatenate(dates), last_contact[patient] - 1)
    on_next_scan = np.concatenate(on_scan)
    site = categorical(rng, len(patient), NEW_LESION_SITE_SHARES)
    site = np.where(plan.archetypes.no_lung_disease[patient] & (site == LUNG), NECK_NODES, site)
    site = np.where(on_next_scan, NECK_NODES, site)
    first_date = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_date, patient, date)
    last_date = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_date, patient, date)
    lung = np.zeros(n, dtype=bool)
    lung[patient[site == LUNG]] = True
    return NewLesions(patient, date, on_next_scan, site, first_date, last_date, lung)


def write_new_lesions(
    rng: np.random.Generator, imaging: TableRows, lesions: NewLesions, first_rait_row: np.ndarray
) -> None:
    """Imaging rows of the new lesions; ``first_rait_row`` is each patient's first rait row."""
    count = len(lesions)
    site = lesions.site
    site_code = codes("site", NEW_LESION_SITES)[site]
    bone_modality = np.where(rng.random(count) < 0.5, code("modality", "bone_scan"), code("modality", "PET_CT"))
    modality = np.select(
        [site == NECK_NODES, site == BONE], [code("modality", "US"), bone_modality], default=code("modality", "CT")
    )
    confirmation = np.where(
        (site == NECK_NODES) & (rng.random(count) < 0.6),
        code("confirmation", "cytology"),
        code("confirmation", "imaging"),
    )
    lung_mm, other_mm = rng.uniform(3, 12, count), rng.uniform(5, 20, count)
    size_mm = np.round(np.where(site == LUNG, lung_mm, other_mm), 0)
    shown = ~lesions.on_next_post_therapy_scan
    imaging.add(
        lesions.patient[shown],
        lesions.date[shown],
        8,
        modality=modality[shown].astype(np.int8),
        site=site_code[shown],
        status="new",
        max_lesion_mm=size_mm[shown],
        confirmation=confirmation[shown].astype(np.int8),
    )
    # new node on the next cycle's post-therapy scan (the scan that evaluates cycle 1)
    on_scan = lesions.on_next_post_therapy_scan
    imaging.add(
        lesions.patient[on_scan],
        lesions.date[on_scan],
        7,
        modality="RxWBS",
        rait_id=(first_rait_row[lesions.patient] + 1)[on_scan],
        site="neck_nodes",
        status="new",
        rai_avid=1,
        confirmation="imaging",
    )
