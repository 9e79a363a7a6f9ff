"""Response per cycle: the planned PR / SD / PD and the evidence that makes the rules find it.

Writes no event. :func:`plan_responses` sets each cycle's response (Table 2's first and last
response, correlated; PD where :mod:`.progression` put a new lesion). :func:`plan_response_evidence`
turns it into what the rules read: the ratio of the next cycle's stimulated Tg (or the
work-up's, after the last cycle) to this cycle's, and the lung status on the next scan. Where
Tg is not interpretable (TgAb positive, TSH not stimulated: :mod:`.labs`) a planned PR shows on
the scan only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import params
from .layout import code
from .plan import MAX_CYCLES, PatientPlan
from .progression import ProgressionPlan
from .sampling import pick_codes, stratified_uniforms

PARTIAL_RESPONSE, STABLE_DISEASE, PROGRESSIVE_DISEASE = 0, 1, 2
NOT_GIVEN = -1

#: A PR by Tg is a decline of at least this. The ratios drawn below keep clear of it: 0.2-0.7
#: for a PR shown by Tg, 0.8 and more otherwise.
TG_RESPONSE_THRESHOLD = params.get("tg_response_threshold").default
assert 0.2 + 0.5 < 1 - TG_RESPONSE_THRESHOLD < 0.8, "recalibrate the Tg ratios to the response threshold"


@dataclass(frozen=True)
class ResponseEvidence:
    tg_ratio: np.ndarray  # (n, MAX_CYCLES): next stimulated Tg / this cycle's
    lung_scan_status: np.ndarray  # (n, MAX_CYCLES): status code of the lung on the next scan
    tg_baseline: np.ndarray  # stimulated Tg before the first cycle (ng/mL)
    tg_before_cycle: np.ndarray  # (n, MAX_CYCLES)
    tg_at_workup: np.ndarray  # at the diagnostic work-up after the last cycle


def plan_responses(
    rng: np.random.Generator,
    plan: PatientPlan,
    progression: ProgressionPlan,
    in_course: np.ndarray,
    last_cycle: np.ndarray,
) -> np.ndarray:
    """(n, MAX_CYCLES) planned response of each cycle (NOT_GIVEN beyond the last)."""
    n = plan.n
    response = np.where(rng.random((n, MAX_CYCLES)) < 0.35, PARTIAL_RESPONSE, STABLE_DISEASE)  # intermediate cycles
    progresses = progression.progresses
    # first cycle
    first_pr_share = np.where(plan.m_rait, np.where(progresses, 0.55, 0.54), 0.559)
    strata = np.where(progresses, 3 + plan.strata, plan.strata)
    response[:, 0] = np.where(stratified_uniforms(rng, strata) < first_pr_share, PARTIAL_RESPONSE, STABLE_DISEASE)
    # last cycle of m-RAIT non-progressors (correlated with the first)
    last_pr_share = np.where(response[:, 0] == PARTIAL_RESPONSE, 0.36, 0.19)
    last_response = np.where(stratified_uniforms(rng, strata) < last_pr_share, PARTIAL_RESPONSE, STABLE_DISEASE)
    m_rait = plan.m_rait
    response[m_rait, last_cycle[m_rait]] = last_response[m_rait]
    response[progresses, last_cycle[progresses]] = PROGRESSIVE_DISEASE
    response[progression.progresses_after_first_cycle, 0] = PROGRESSIVE_DISEASE
    return np.where(in_course, response, NOT_GIVEN)


def plan_response_evidence(
    rng: np.random.Generator,
    plan: PatientPlan,
    response: np.ndarray,
    tg_evaluable: np.ndarray,
    last_cycle: np.ndarray,
) -> ResponseEvidence:
    """Tg course and lung scan statuses realising the planned responses.

    ``tg_evaluable`` (n, MAX_CYCLES): both Tg values that judge the cycle are interpretable.
    """
    n, index = plan.n, plan.index
    uniforms = rng.random((n, MAX_CYCLES))
    pr_by_tg = tg_evaluable & (rng.random((n, MAX_CYCLES)) < 0.8)
    partial, stable = response == PARTIAL_RESPONSE, response == STABLE_DISEASE
    tg_ratio = np.select(
        [partial & pr_by_tg, partial, stable, response == PROGRESSIVE_DISEASE],
        [0.2 + 0.5 * uniforms, 0.8 + 0.5 * uniforms, 0.8 + 0.7 * uniforms, 0.8 + 1.7 * uniforms],
        default=1.0,
    )
    size = n * MAX_CYCLES
    status_pr_by_tg = pick_codes(rng, size, "status", {"reduced": 0.3, "stable": 0.5, "present": 0.2})
    status_sd = pick_codes(rng, size, "status", {"stable": 0.6, "present": 0.25, "increased": 0.15})
    status_pd = pick_codes(rng, size, "status", {"increased": 0.5, "stable": 0.4, "present": 0.1})
    lung_scan_status = np.select(
        [partial & pr_by_tg, partial, stable],
        [
            status_pr_by_tg.reshape(n, MAX_CYCLES),
            np.full((n, MAX_CYCLES), code("status", "reduced")),
            status_sd.reshape(n, MAX_CYCLES),
        ],
        default=status_pd.reshape(n, MAX_CYCLES),
    ).astype(np.int8)
    tg_baseline = np.exp(rng.normal(math.log(60.0), 1.2, n)).clip(2.0, 20_000.0)
    cumulative = np.concatenate([np.ones((n, 1)), np.cumprod(tg_ratio[:, :-1], axis=1)], axis=1)
    tg_before_cycle = tg_baseline[:, None] * cumulative
    tg_at_workup = tg_before_cycle[index, last_cycle] * tg_ratio[index, last_cycle]
    return ResponseEvidence(tg_ratio, lung_scan_status, tg_baseline, tg_before_cycle, tg_at_workup)
