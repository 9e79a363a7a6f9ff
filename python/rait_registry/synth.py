"""Synthetic registry: a simulator of patients' courses that writes a raw extract.

The real registry is private, so the demo and the tests run on a simulated one. Each
patient's course is simulated as *raw events only* -- operations with their pathology,
RAIT administrations, stimulated and suppressed Tg/TgAb/TSH samples, post-therapy and
diagnostic whole-body scans, CT/US findings, new lesions, follow-up -- and written in the
extract format of contract section 1. Nothing derived is ever written: response, PFS,
local-disease status, eligibility... all come out of the contract section 2 rules applied
(by dbt) to these events, exactly as for a real registry.

Calibration
-----------
The default registry (160 patients, seed 0) is shaped so that the contract rules give a
cohort like the study's (Shi et al. 2025, Tables 1-3): about 117 eligible patients
(38 o-RAIT / 79 m-RAIT), each of the six eligibility steps excluding a few patients, and
the study's margins for age, sex, histology, tumour size, T/N stage, ATA risk, local
disease before RAIT, metastasis timing, activity, number and spacing of cycles, first and
last response, progression and follow-up. The simulator draws, for every patient, an
*archetype* (eligible, or failing one of the six steps in a realistic way), a treatment
group, covariates from the group-specific distributions of Table 1, and a course whose
events make each cycle's response come out as planned under the rules. Progression is a
latent logistic model (risk rising with age >= 45 and local persistent disease, as the
study's multivariable model, and not with the number of cycles). The archetypes, the
o/m-RAIT split and the progression counts are allotted by stratified quotas (largest
remainder, then a random permutation), so that even the small default registry is close to
the study; everything else is random. ``benchmarks/calibration_synth.py`` measures the
figures through the independent pandas reading of the rules (``tests/oracle``).

Scale and determinism
---------------------
Patients are simulated in blocks of :data:`BLOCK_PATIENTS`, each block with its own
``numpy`` generator seeded from ``(seed, block index)``; every step inside a block is
vectorised (no per-patient Python loop). The data therefore depend only on
``(n_patients, seed)``: the same arguments give the same bytes and the same sha256 on the
same library versions; ``chunk_size`` only sets how many patients are written at once
(Parquet row groups). One million patients are written as Parquet in well under two
minutes on two cores (``benchmarks/synth_scale.py``).

Clean generation (:func:`iter_blocks`) is separate from writing (:func:`write_extract`), so
that a later ``messy`` mode can inject faults between the two.

References
----------
Shi C, Sun D, Sun YQ, et al. Less is more: once vs. multiple radioactive iodine (RAI)
therapy in patients with RAI-avid pulmonary micrometastatic differentiated thyroid cancer.
Eur J Nucl Med Mol Imaging (2025). doi:10.1007/s00259-025-07339-3
Haugen BR, et al. 2015 American Thyroid Association management guidelines for adult
patients with thyroid nodules and differentiated thyroid cancer. Thyroid 26 (2016) 1-133.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .contract import TABLES
from .exceptions import UsageError

__all__ = [
    "BLOCK_PATIENTS",
    "DATA_CUTOFF",
    "SCHEMAS",
    "TABLE_NAMES",
    "id_width",
    "iter_blocks",
    "simulate",
    "write_blocks",
    "write_extract",
]

#: The six tables of contract section 1, in the order they are written.
TABLE_NAMES = (
    "patients",
    "surgeries",
    "rait_administrations",
    "lab_results",
    "imaging_findings",
    "follow_up",
)

#: Patients per random block: each block has its own generator seeded from (seed, block).
BLOCK_PATIENTS = 20_000

#: Registry data cut-off: no simulated event is later than this date.
DATA_CUTOFF = "2024-06-30"

_EPOCH = np.datetime64("1970-01-01", "D")


def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - _EPOCH).astype(np.int64))


_CUTOFF = _day(DATA_CUTOFF)
_SURG_MIN = _day("2000-01-01")
_SURG_MAX = _day("2022-12-31")
_RHTSH_FROM = _day("2005-01-01")
_MONTH = 30.4375
_YEAR = 365.25

# --------------------------------------------------------------------------------------
# Calibration constants (targets: the paper's Tables 1-3; see module docstring)
# --------------------------------------------------------------------------------------

# Archetypes: eligible, or failing the first time at one eligibility step (contract §2).
_ELIG, _X_DTC, _X_LUNG, _X_AVID, _X_METS, _X_MASSIVE, _X_EARLY = range(7)
#: 117 of 160 eligible; the 43 others spread over the six steps (>= 4 each at n = 160).
_ARCHETYPE_P = np.array([117, 7, 10, 9, 7, 4, 6], dtype=float) / 160
# Variants within an archetype.
_DTC_VARIANTS = [0.40, 0.20, 0.25, 0.15]  # surgery before 2000, after 2022, histology other, lobectomy only
_LUNG_VARIANTS = [0.40, 0.30, 0.20, 0.10]  # lung nodule >= 10 mm, bone mets, no lung disease, other site
_AVID_VARIANTS = [0.35, 0.35, 0.30]  # no RAIT, lung non-avid on a later RxWBS, non-avid on the first

_P_MRAIT = 79 / 117  # Table 1: 38 o-RAIT / 79 m-RAIT
#: Number of cycles in m-RAIT, 2..7 (Table 2: median 3, range 2-7).
_MCYCLES_P = [0.49, 0.26, 0.11, 0.07, 0.04, 0.03]

#: Quantile tables (probabilities, values) sampled by inverse-CDF interpolation.
_Q = (0.0, 0.05, 0.25, 0.50, 0.75, 0.90, 0.97, 1.0)
_AGE_O = (_Q, (14.0, 19.0, 27.4, 33.9, 39.9, 47.0, 58.0, 70.0))  # Table 1 o-RAIT 33.9 (27.4, 39.9)
_AGE_M = (_Q, (7.0, 10.5, 17.1, 27.1, 37.2, 45.5, 56.0, 70.0))  # Table 1 m-RAIT 27.1 (17.1, 37.2)
_SIZE_O = (_Q, (0.3, 0.7, 1.3, 2.0, 2.8, 3.8, 5.5, 9.0))  # Table 1 o-RAIT 2.0 (1.3, 2.8) cm
_SIZE_M = (_Q, (0.3, 0.8, 1.6, 2.9, 3.7, 4.8, 6.5, 10.0))  # Table 1 m-RAIT 2.9 (1.6, 3.7) cm
#: Days between cycles (Table 2: 6.3 (5.6, 8.2) months = 192 (170, 250) days).
_INTERVAL = (_Q, (120.0, 150.0, 168.0, 188.0, 242.0, 320.0, 460.0, 900.0))
#: Months of follow-up after the last cycle (overall follow-up 61 (13-258) months).
_POST_FU = ((0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 1.0), (13.0, 18.0, 29.0, 48.0, 78.0, 122.0, 240.0))
#: Days from the start of the last cycle's PD-eligible period (admin + 184 d) to a new
#: lesion, (o-RAIT, m-RAIT): 5-year PFS 84.8% / 72.9% with 4/38 and 20/79 progressing.
_PD_DELAY = (
    ((0.0, 0.25, 0.50, 0.75, 0.90, 1.0), (0.0, 350.0, 750.0, 1150.0, 1450.0, 1750.0)),
    ((0.0, 0.25, 0.50, 0.75, 0.90, 1.0), (0.0, 150.0, 380.0, 750.0, 1050.0, 1700.0)),
)

_P_FEMALE = (0.658, 0.595)  # (o, m), Table 1
_P_FTC = 0.026
_P_GROSS_ETE = (0.39, 0.38)  # gives T3+T4 44.7% / 53.2% with the size distributions
_N_STAGE_P = ((0.09, 0.06, 0.85), (0.085, 0.07, 0.845))  # N0, N1a, N1b (synchronous)
_P_METACHRONOUS = (0.026, 0.177)
_P_LP_SYNCHRONOUS = (0.072, 0.344)  # local persistent disease among synchronous patients
_P_LR_METACHRONOUS = 2 / 3  # 10 of 15 metachronous had recurrence, 5 residual disease
_META_ATA_P = (0.63, 0.30, 0.07)  # high / intermediate / low among metachronous
#: Progression (any new lesion after the first RAIT) in the eligible groups: 4/38, 20/79.
_P_PD = (4 / 38, 20 / 79)
_P_FIRST_PD_M = 7 / 20  # m-RAIT progressors already progressing after cycle 1
#: Latent progression risk: log OR of age >= 45, local persistent, local recurrence, per cm.
_PD_BETA = (math.log(8.477), math.log(9.143), math.log(3.832), math.log(1.356))

# Activities: GBq, MBq and mCi forms of the usual catalogue (5.55 GBq = 150 mCi usual).
_ACT_GBQ = np.array([3.7, 4.44, 5.0, 5.55, 6.48, 7.4, 9.25])
_ACT_MBQ = np.array([3700.0, 4440.0, 5000.0, 5550.0, 6475.0, 7400.0, 9250.0])
_ACT_MCI = np.array([100.0, 120.0, 135.0, 150.0, 175.0, 200.0, 250.0])
_ACT_P_FIRST = [0.13, 0.04, 0.11, 0.56, 0.04, 0.11, 0.01]
_ACT_P_LATER = [0.02, 0.02, 0.02, 0.50, 0.14, 0.28, 0.02]

# --------------------------------------------------------------------------------------
# Vocabularies and table layout
# --------------------------------------------------------------------------------------


def _vocab(table: str, column: str) -> tuple[str, ...]:
    voc = TABLES[table].column(column).vocabulary
    assert voc is not None
    return voc


_V: dict[str, tuple[str, ...]] = {
    "sex": _vocab("patients", "sex"),
    "center_id": ("C01", "C02", "C03"),
    "procedure": _vocab("surgeries", "procedure"),
    "histology": _vocab("surgeries", "histology"),
    "t_stage": _vocab("surgeries", "t_stage"),
    "n_stage": _vocab("surgeries", "n_stage"),
    "ete": _vocab("surgeries", "ete"),
    "resection": _vocab("surgeries", "resection"),
    "activity_unit": _vocab("rait_administrations", "activity_unit"),
    "preparation": _vocab("rait_administrations", "preparation"),
    "intent": _vocab("rait_administrations", "intent"),
    "analyte": _vocab("lab_results", "analyte"),
    "comparator": _vocab("lab_results", "comparator"),
    "unit": ("ng/mL", "ug/L", "IU/mL", "kIU/L", "mIU/L", "uIU/mL"),
    "modality": _vocab("imaging_findings", "modality"),
    "site": _vocab("imaging_findings", "site"),
    "status": _vocab("imaging_findings", "status"),
    "remnant_uptake": _vocab("imaging_findings", "remnant_uptake"),
    "confirmation": _vocab("imaging_findings", "confirmation"),
    "vital_status": _vocab("follow_up", "vital_status"),
}


def _c(column: str, value: str) -> int:
    """Code of a vocabulary value."""
    return _V[column].index(value)


# column kinds: id, pid, date, cat, float, int, bool, ref (rait row index -> rait_id)
_SPEC: dict[str, dict[str, str]] = {
    "patients": {"patient_id": "pid", "sex": "cat", "birth_date": "date", "center_id": "cat"},
    "surgeries": {
        "surgery_id": "id",
        "patient_id": "pid",
        "surgery_date": "date",
        "procedure": "cat",
        "histology": "cat",
        "max_tumor_size_cm": "float",
        "t_stage": "cat",
        "n_stage": "cat",
        "ete": "cat",
        "resection": "cat",
        "vascular_invasion_foci": "int",
        "positive_nodes": "int",
        "largest_node_cm": "float",
        "aggressive_variant": "bool",
    },
    "rait_administrations": {
        "rait_id": "id",
        "patient_id": "pid",
        "admin_date": "date",
        "activity": "float",
        "activity_unit": "cat",
        "preparation": "cat",
        "intent": "cat",
    },
    "lab_results": {
        "lab_id": "id",
        "patient_id": "pid",
        "sample_date": "date",
        "analyte": "cat",
        "value": "float",
        "comparator": "cat",
        "unit": "cat",
        "tgab_cutoff": "float",
    },
    "imaging_findings": {
        "finding_id": "id",
        "patient_id": "pid",
        "study_date": "date",
        "modality": "cat",
        "rait_id": "ref",
        "site": "cat",
        "status": "cat",
        "rai_avid": "bool",
        "max_lesion_mm": "float",
        "remnant_uptake": "cat",
        "confirmation": "cat",
    },
    "follow_up": {
        "patient_id": "pid",
        "last_contact_date": "date",
        "vital_status": "cat",
        "death_date": "date",
    },
}
for _t, _cols in _SPEC.items():  # the layout must be exactly contract section 1's
    assert list(_cols) == TABLES[_t].column_names, _t

_ARROW_TYPES = {
    "id": pa.string(),
    "pid": pa.string(),
    "date": pa.date32(),
    "cat": pa.string(),
    "float": pa.float64(),
    "int": pa.int32(),
    "bool": pa.bool_(),
    "ref": pa.string(),
}
#: Arrow schema of each table as written (Parquet keeps these types; CSV writes them as text).
SCHEMAS: dict[str, pa.Schema] = {
    t: pa.schema([(c, _ARROW_TYPES[k]) for c, k in cols.items()]) for t, cols in _SPEC.items()
}
_ID_PREFIX = {"surgeries": "S", "rait_administrations": "R", "lab_results": "L", "imaging_findings": "F"}
#: Upper bound of rows per patient, used only to fix the zero-padded width of the ids.
_ROWS_BOUND = {"surgeries": 10, "rait_administrations": 10, "lab_results": 1000, "imaging_findings": 1000}


def id_width(table: str, n_patients: int) -> int:
    """Digits of the zero-padded ids of ``table`` for a registry of ``n_patients``."""
    if table in ("patients", "follow_up"):
        return max(6, len(str(n_patients)))
    return max(6, len(str(n_patients * _ROWS_BOUND[table])))


# --------------------------------------------------------------------------------------
# Vectorised sampling helpers
# --------------------------------------------------------------------------------------


def _qs(rng: np.random.Generator, size: int, table: tuple, u: np.ndarray | None = None) -> np.ndarray:
    """Inverse-CDF draw from a piecewise-linear quantile table (probabilities, values)."""
    return np.interp(rng.random(size) if u is None else u, table[0], table[1])


def _choice(rng: np.random.Generator, size: int, probs, u: np.ndarray | None = None) -> np.ndarray:
    """Category index 0..k-1 with the given probabilities (from uniforms ``u`` if given)."""
    cum = np.cumsum(np.asarray(probs, dtype=float))
    u = rng.random(size) if u is None else u
    return np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(cum) - 1)


def _su(rng: np.random.Generator, strata: np.ndarray) -> np.ndarray:
    """Stratified uniforms: within each stratum of k units, one draw in each of [i/k, (i+1)/k).

    A variance-reduction device (Latin-hypercube sampling in one dimension): the marginal
    law is still uniform, but every quantile of a stratum is hit, so a small registry's
    margins sit close to the targets.
    """
    u = np.empty(len(strata))
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        k = len(idx)
        u[idx] = (rng.permutation(k) + rng.random(k)) / k
    return u


def _pick(rng: np.random.Generator, size: int, column: str, probs: dict[str, float]) -> np.ndarray:
    """Vocabulary codes of ``column`` drawn with the given value -> probability."""
    codes = np.array([_c(column, v) for v in probs], dtype=np.int8)
    return codes[_choice(rng, size, list(probs.values()))]


def _quota(rng: np.random.Generator, n: int, probs) -> np.ndarray:
    """Stratified allotment: exactly round(n * p) of each category (largest remainder), shuffled."""
    p = np.asarray(probs, dtype=float)
    p = p / p.sum()
    raw = n * p
    counts = np.floor(raw).astype(np.int64)
    short = n - counts.sum()
    if short:
        order = np.lexsort((np.arange(len(p)), -(raw - counts)))
        counts[order[:short]] += 1
    return rng.permutation(np.repeat(np.arange(len(p)), counts))


def _top_quota(score: np.ndarray, mask: np.ndarray, frac: float) -> np.ndarray:
    """Boolean: the round(frac * mask.sum()) highest scores among ``mask``."""
    idx = np.flatnonzero(mask)
    k = int(math.floor(frac * len(idx) + 0.5))
    out = np.zeros(len(score), dtype=bool)
    if k:
        out[idx[np.argsort(-score[idx], kind="stable")[:k]]] = True
    return out


def _unif(rng: np.random.Generator, lo, hi) -> np.ndarray:
    """Integer days uniformly in [lo, hi] (arrays broadcast; hi < lo gives lo)."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.maximum(np.asarray(hi, dtype=np.float64), lo)
    size = np.broadcast(lo, hi).shape
    return np.floor(lo + rng.random(size) * (hi - lo + 1)).astype(np.int64)


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for a ragged layout with ``counts[i]`` items owned by i."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(len(owner)) - starts[owner]
    return owner, pos


def _round_lab(x: np.ndarray) -> np.ndarray:
    """Round like a laboratory report: 3 significant figures, at most 2 decimals."""
    return np.where(x >= 100, np.round(x, 0), np.where(x >= 10, np.round(x, 1), np.round(x, 2)))


# --------------------------------------------------------------------------------------
# Row accumulation
# --------------------------------------------------------------------------------------


class _Rows:
    """Rows of one table for one block, added in vectorised parts, sorted at the end."""

    _NULL = {"cat": -1, "float": np.nan, "int": -1, "bool": -1, "ref": -1, "date": np.iinfo(np.int64).min}
    _DTYPE = {"cat": np.int8, "float": np.float64, "int": np.int32, "bool": np.int8, "ref": np.int64, "date": np.int64}

    def __init__(self, table: str) -> None:
        self.table = table
        self.spec = {c: k for c, k in _SPEC[table].items() if k not in ("id", "pid")}
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, p: np.ndarray, date, order: int = 0, **cols) -> None:
        p = np.asarray(p, dtype=np.int64)
        m = len(p)
        if m == 0:
            return
        part = {
            "_p": p,
            "_date": np.broadcast_to(np.asarray(date, dtype=np.int64), (m,)),
            "_order": np.full(m, order, dtype=np.int64),
        }
        for name, val in cols.items():
            kind = self.spec[name]
            if isinstance(val, str):
                val = _c(name, val)
            part[name] = np.broadcast_to(np.asarray(val, dtype=self._DTYPE[kind]), (m,))
        self.parts.append(part)

    def finish(self, date_column: str) -> dict[str, np.ndarray]:
        """Concatenate, fill absent columns with nulls, sort by (patient, date, order)."""
        spec = {c: k for c, k in self.spec.items() if c != date_column}
        if not self.parts:
            out = {"_p": np.zeros(0, np.int64), date_column: np.zeros(0, np.int64)}
            for c, k in spec.items():
                out[c] = np.zeros(0, self._DTYPE[k])
            return out
        p = np.concatenate([x["_p"] for x in self.parts])
        date = np.concatenate([x["_date"] for x in self.parts])
        order = np.concatenate([x["_order"] for x in self.parts])
        key = (p << 24) + ((date + 40_000) << 8) + order
        idx = np.argsort(key, kind="stable")
        out = {"_p": p[idx], date_column: date[idx]}
        for c, k in spec.items():
            arrays = [
                x[c] if c in x else np.full(len(x["_p"]), self._NULL[k], dtype=self._DTYPE[k]) for x in self.parts
            ]
            out[c] = np.concatenate(arrays)[idx]
        return out


# --------------------------------------------------------------------------------------
# One block of patients
# --------------------------------------------------------------------------------------


def _simulate_block(rng: np.random.Generator, n: int) -> dict[str, dict[str, np.ndarray]]:
    """Simulate ``n`` patients; return per table the sorted column arrays (local indices).

    The course of every patient, all vectorised over the block:

    1. *Archetype* (quota): eligible, or failing one eligibility step for a realistic
       reason -- operation before 2000 or after 2022, non-DTC histology, lobectomy only;
       a lung nodule >= 10 mm, bone / brain / liver / mediastinal disease, no lung disease;
       no RAIT, lung not iodine-avid on the first or a later post-therapy scan; lung
       metastases first seen after a first RAIT given elsewhere (its scan is not in the
       registry); massive remnant uptake; a new lesion within 183 days of a cycle.
    2. *Group and covariates*: o-/m-RAIT (quota among the eligible), cycles, sex, age,
       histology, size, ETE, N stage, synchronous / metachronous lung metastases, local
       persistent disease or recurrence before RAIT, from Table 1's group margins.
    3. *Progression*: a latent logistic risk (age >= 45, local persistent disease,
       recurrence, size); the highest risks progress (quota per group). The new lesion
       falls > 183 days after the cycle whose window holds it (earlier for the
       early-progression archetype); progressors are followed beyond it.
    4. *Calendar*: follow-up length, data cut-off, operations dated 2000-2022 (except the
       dtc_surgery exclusions); for metachronous patients a lobectomy or subtotal
       thyroidectomy years earlier, residual nodes or a recurrence, then completion
       thyroidectomy and neck dissection before the RAIT.
    5. *Response per cycle* (planned PR / SD / PD) realised through the events the rules
       read: the next cycle's stimulated Tg (or the diagnostic work-up after the last
       one), the lung status on the next RxWBS (or the DxWBS), new lesions. Where Tg is
       not interpretable (TgAb positive, TSH < 30) a planned PR shows on the scan.
    6. *Events*: operations with pathology, administrations (GBq / MBq / mCi), RxWBS rows
       (lung on every scan, thyroid bed with remnant uptake, nodes, bone), stimulated
       Tg/TSH/TgAb before each cycle, suppressed samples, DxWBS work-up, CT / US follow-up
       until the last contact, new lesions and the neck dissections they lead to.
    """
    I = np.arange(n)  # noqa: E741 - the patient index of the block (renamed with the generator split)
    arch = _quota(rng, n, _ARCHETYPE_P)
    var = np.zeros(n, dtype=np.int64)
    for a, probs in ((_X_DTC, _DTC_VARIANTS), (_X_LUNG, _LUNG_VARIANTS), (_X_AVID, _AVID_VARIANTS)):
        m = arch == a
        var[m] = _quota(rng, int(m.sum()), probs)
    elig = arch == _ELIG
    dtc_pre2000 = (arch == _X_DTC) & (var == 0)
    dtc_post2022 = (arch == _X_DTC) & (var == 1)
    dtc_other_hist = (arch == _X_DTC) & (var == 2)
    lobectomy_only = (arch == _X_DTC) & (var == 3)
    big_lung = (arch == _X_LUNG) & (var == 0)
    bone_mets = (arch == _X_LUNG) & (var == 1)
    no_lung = (arch == _X_LUNG) & (var == 2)
    other_site = (arch == _X_LUNG) & (var == 3)
    no_rait_avid = (arch == _X_AVID) & (var == 0)
    later_nonavid = (arch == _X_AVID) & (var == 1)
    first_nonavid = (arch == _X_AVID) & (var == 2)
    mets_after = arch == _X_METS
    massive = arch == _X_MASSIVE
    early = arch == _X_EARLY
    no_rait = lobectomy_only | no_rait_avid

    # ---- treatment group and number of cycles --------------------------------------
    grp_m = np.zeros(n, dtype=bool)
    grp_m[elig] = _quota(rng, int(elig.sum()), [1 - _P_MRAIT, _P_MRAIT]) == 1
    grp_m[~elig] = rng.random(int((~elig).sum())) < _P_MRAIT
    grp_m |= later_nonavid | mets_after
    grp_m &= ~dtc_post2022
    g = grp_m.astype(np.int64)
    strata = np.where(elig, grp_m.astype(np.int64), 2)  # eligible o, eligible m, others
    ncyc = np.where(grp_m, 2 + _choice(rng, n, _MCYCLES_P, _su(rng, strata)), 1)
    ncyc[no_rait] = 0
    has_rait = ncyc > 0

    # ---- covariates (Table 1, by group) ----------------------------------------------
    female = _su(rng, strata) < np.take(_P_FEMALE, g)
    u = _su(rng, strata)
    age = np.where(grp_m, _qs(rng, n, _AGE_M, u), _qs(rng, n, _AGE_O, u))
    ftc = _su(rng, strata) < _P_FTC
    u = _su(rng, strata)
    size = np.round(np.clip(np.where(grp_m, _qs(rng, n, _SIZE_M, u), _qs(rng, n, _SIZE_O, u)), 0.2, 15.0), 1)
    meta = (_su(rng, strata) < np.take(_P_METACHRONOUS, g)) & ~mets_after & ~dtc_post2022 & ~lobectomy_only
    sm = np.where(meta, strata, 3 + strata)  # strata split by timing
    lr = meta & (_su(rng, sm) < _P_LR_METACHRONOUS)
    lp = np.where(meta, ~lr, _su(rng, sm) < np.take(_P_LP_SYNCHRONOUS, g))
    meta_ata = _choice(rng, n, _META_ATA_P, _su(rng, sm))  # 0 high, 1 intermediate, 2 low (when meta)
    gross = np.where(meta, meta_ata == 0, _su(rng, sm) < np.take(_P_GROSS_ETE, g))
    nst = np.empty(n, dtype=np.int64)  # 0 N0, 1 N1a, 2 N1b
    u = _su(rng, sm)
    for gi in (0, 1):
        m = g == gi
        nst[m] = _choice(rng, int(m.sum()), _N_STAGE_P[gi], u[m])
    nst[meta] = 2  # the neck dissection at recurrence finds lateral nodes

    # ---- progression plan ------------------------------------------------------------
    age45 = age >= 45
    u = np.clip(_su(rng, strata * 4 + 2 * lp + age45), 1e-12, 1 - 1e-12)  # stratified logistic noise
    score = _PD_BETA[0] * age45 + _PD_BETA[1] * lp + _PD_BETA[2] * lr + _PD_BETA[3] * (size - 2.5) + np.log(u / (1 - u))
    pd_any = np.zeros(n, dtype=bool)
    for sub in (elig, ~elig):
        for gi in (0, 1):
            pd_any |= _top_quota(score, sub & has_rait & (g == gi), _P_PD[gi])
    first_pd = np.zeros(n, dtype=bool)
    m = elig & pd_any & grp_m
    idx = np.flatnonzero(m)
    first_pd[idx[_quota(rng, len(idx), [1 - _P_FIRST_PD_M, _P_FIRST_PD_M]) == 1]] = True
    m = ~elig & pd_any & grp_m
    first_pd[m] = rng.random(int(m.sum())) < _P_FIRST_PD_M

    # ---- cycle schedule (offsets from the first RAIT) ----------------------------------
    MAXC = 7
    K = np.arange(MAXC)
    cyc = K[None, :] < ncyc[:, None]
    gaps = np.rint(_qs(rng, n * (MAXC - 1), _INTERVAL)).astype(np.int64).reshape(n, MAXC - 1)
    need_long = first_pd | mets_after
    gaps[need_long, 0] = np.maximum(gaps[need_long, 0], _unif(rng, np.full(n, 215), 330)[need_long])
    gaps = np.where(K[None, 1:] < ncyc[:, None], gaps, 0)
    admin_off = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(gaps, axis=1)], axis=1)
    last_k = np.maximum(ncyc - 1, 0)
    span = admin_off[I, last_k]

    post = np.rint(_qs(rng, n, _POST_FU, _su(rng, strata)) * _MONTH).astype(np.int64)
    # progressors: the new lesion of the last window comes 184 + delay days after the last
    # cycle, and they are followed beyond it
    delay = np.rint(np.where(grp_m, _qs(rng, n, _PD_DELAY[1]), _qs(rng, n, _PD_DELAY[0]))).astype(np.int64)
    post = np.where(pd_any, np.maximum(post, 184 + delay + _unif(rng, np.full(n, 30), 700)), post)
    post = np.minimum(post, np.maximum(int(258 * _MONTH) - span, 400))
    fu = span + post  # first RAIT (or its planned date) -> last contact, days

    # ---- history before the first RAIT (offsets, days before the first RAIT) -----------
    lob_first = ~meta & (rng.random(n) < 0.10) & ~lobectomy_only
    q_gap = np.where(
        lp & ~meta,
        _unif(rng, np.full(n, 100), 330),
        np.rint(_qs(rng, n, ((0, 0.25, 0.5, 0.75, 1), (30, 48, 70, 105, 200)))),
    ).astype(np.int64)
    q_gap = np.where(lob_first, np.maximum(q_gap, 95), q_gap)
    comp_delay = _unif(rng, np.full(n, 20), 70)  # lobectomy -> completion (synchronous)
    meta_comp = _unif(rng, np.full(n, 30), 120)  # completion -> first RAIT (metachronous)
    meta_rec = _unif(rng, np.full(n, 20), 120)  # recurrence work-up -> completion
    meta_g = np.rint(rng.uniform(1.6, 15.0, n) * _YEAR).astype(np.int64)  # first operation -> recurrence
    # qualifying thyroidectomy (total/subtotal/completion), days before the first RAIT
    q_off = np.where(meta, meta_comp, np.where(lob_first, q_gap - comp_delay, q_gap))

    # ---- calendar ---------------------------------------------------------------------
    lag = np.where(rng.random(n) < 0.75, _unif(rng, np.zeros(n), 90), _unif(rng, np.full(n, 90), 1200))
    first = _CUTOFF - lag - fu
    lo = _SURG_MIN + 10 + q_off
    hi = np.minimum(_SURG_MAX - 10 + q_off, _CUTOFF - fu)
    first = np.clip(first, lo, np.maximum(hi, lo))
    lc = first + fu
    # surgery dates outside 2000-2022 for the dtc_surgery exclusions
    pre = _unif(rng, np.full(n, _day("1993-01-01")), _day("1999-11-30"))
    first = np.where(dtc_pre2000, pre + q_off, first)
    lc = np.where(dtc_pre2000, _CUTOFF - lag, lc)
    q_gap = np.where(dtc_post2022, np.minimum(q_gap, 120), q_gap)
    q_off = np.where(dtc_post2022, q_gap, q_off)
    lob_first &= ~dtc_post2022
    post22 = _unif(rng, np.full(n, _day("2023-01-10")), _day("2023-08-31"))
    first = np.where(dtc_post2022, post22 + q_off, first)
    lc = np.where(dtc_post2022, _CUTOFF - _unif(rng, np.zeros(n), 60), lc)
    fu = lc - first
    post = fu - span

    admin = first[:, None] + admin_off  # (n, 7); meaningful where cyc
    last_admin = admin[I, last_k]

    # diagnosis and operations
    dx = np.where(meta, first - meta_comp - meta_rec - meta_g, first - q_gap)
    comp_date = np.where(meta, first - meta_comp, np.where(lob_first, dx + comp_delay, -1))
    rec_date = first - meta_comp - meta_rec  # metachronous recurrence work-up
    birth = dx - np.rint(age * _YEAR).astype(np.int64)

    # deaths: only among patients with advanced or refractory disease (none eligible)
    dies = (big_lung | bone_mets | other_site | later_nonavid | first_nonavid) & (rng.random(n) < 0.25)
    death = np.where(rng.random(n) < 0.6, lc, lc + _unif(rng, np.ones(n), np.maximum(np.minimum(400, _CUTOFF - lc), 1)))
    death = np.minimum(death, _CUTOFF)

    # ---- per-cycle response targets ------------------------------------------------------
    PR, SD, PDc = 0, 1, 2
    resp = np.where(rng.random((n, MAXC)) < 0.35, PR, SD)  # intermediate cycles
    # first cycle
    p_first_pr = np.where(grp_m, np.where(pd_any, 0.55, 0.54), 0.559)
    sp = np.where(pd_any, 3 + strata, strata)
    resp[:, 0] = np.where(_su(rng, sp) < p_first_pr, PR, SD)
    # last cycle of m-RAIT non-progressors (correlated with the first)
    p_last_pr = np.where(resp[:, 0] == PR, 0.36, 0.19)
    last_resp = np.where(_su(rng, sp) < p_last_pr, PR, SD)
    resp[grp_m, last_k[grp_m]] = last_resp[grp_m]
    resp[pd_any, last_k[pd_any]] = PDc
    resp[first_pd, 0] = PDc
    resp = np.where(cyc, resp, -1)

    # ---- new-lesion events -------------------------------------------------------------
    # (patient, date, found on the next cycle's post-therapy scan)
    ev_p, ev_t, ev_on_rx = [], [], []
    rx_off = _unif(rng, np.full((n, MAXC), 3), 8)  # RxWBS 3-8 days after each administration
    rx_date = admin + rx_off
    # post-therapy scans missing from the registry: the first RAIT given elsewhere (lung
    # metastases found later), and a fifth of the scans of the oldest / non-DTC patients
    rx_missing_pk = np.zeros((n, MAXC), dtype=bool)
    rx_missing_pk[:, 0] = mets_after
    rx_missing_pk |= (dtc_pre2000 | dtc_other_hist)[:, None] & (rng.random((n, MAXC)) < 0.2)
    # window of cycle 1 for m-RAIT early progressors (found on the second RxWBS half the time)
    m = first_pd
    on_rx = m & (rng.random(n) < 0.5) & ~rx_missing_pk[:, 1]
    t1 = np.where(on_rx, rx_date[:, 1], admin[:, 0] + _unif(rng, np.full(n, 184), gaps[:, 0] + 12))
    ev_p.append(I[m])
    ev_t.append(t1[m])
    ev_on_rx.append(on_rx[m])
    # window of the last cycle
    m = pd_any & (post >= 200)
    cap = post - 186
    delay = np.where(delay <= cap, delay, _unif(rng, np.zeros(n), np.maximum(cap, 0)))
    tl = last_admin + 184 + delay
    ev_p.append(I[m])
    ev_t.append(tl[m])
    ev_on_rx.append(np.zeros(int(m.sum()), bool))
    # early progression (<= 183 days after an administration, inside its window)
    ek = np.minimum(_choice(rng, n, [0.5, 0.3, 0.2]), last_k)
    ek_gap = np.where(ek < last_k, gaps[I, np.minimum(ek, MAXC - 2)], post)
    te = admin[I, ek] + _unif(rng, np.full(n, 40), np.minimum(180, ek_gap + 10))
    m = early & has_rait
    ev_p.append(I[m])
    ev_t.append(te[m])
    ev_on_rx.append(np.zeros(int(m.sum()), bool))
    ev_p = np.concatenate(ev_p)
    ev_t = np.concatenate(ev_t)
    ev_on_rx = np.concatenate(ev_on_rx)
    ev_t = np.minimum(ev_t, lc[ev_p] - 1)
    ne = len(ev_p)
    ev_site = _choice(rng, ne, [0.5, 0.3, 0.1, 0.1])  # neck_nodes, lung, bone, other
    ev_site = np.where(no_lung[ev_p] & (ev_site == 1), 0, ev_site)
    ev_site = np.where(ev_on_rx, 0, ev_site)
    pd_date = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(pd_date, ev_p, ev_t)
    lung_pd = np.zeros(n, dtype=bool)
    lung_pd[ev_p[ev_site == 1]] = True

    # ---- laboratory plan: which samples make Tg interpretable ----------------------------
    tgab_assay = _choice(rng, n, [0.6, 0.25, 0.15])  # cut-off 115 / 40 / 4 IU/mL
    tgab_pos_pt = rng.random(n) < 0.05
    pre_tsh_ok = rng.random((n, MAXC)) >= 0.02
    pre_tgab_pos = tgab_pos_pt[:, None] | (rng.random((n, MAXC)) < 0.015)
    pre_ok = pre_tsh_ok & ~pre_tgab_pos
    work_off = _unif(rng, np.full(n, 150), np.minimum(400, post - 15))
    work = last_admin + work_off
    has_work = has_rait & (work <= lc) & (work - last_admin >= 90) & ((rng.random(n) < 0.9) | elig | early | massive)
    work_tgab_pos = tgab_pos_pt | (rng.random(n) < 0.015)
    work_ok = has_work & ~work_tgab_pos
    nxt_ok = np.concatenate([pre_ok[:, 1:], np.zeros((n, 1), bool)], axis=1)
    nxt_ok[I, last_k] = work_ok
    tg_eval = pre_ok & nxt_ok & cyc

    # Tg ratio per cycle and scan change (status of the lung on the next scan)
    u = rng.random((n, MAXC))
    pr_by_tg = tg_eval & (rng.random((n, MAXC)) < 0.8)
    ratio = np.select(
        [(resp == PR) & pr_by_tg, resp == PR, resp == SD, resp == PDc],
        [0.2 + 0.5 * u, 0.8 + 0.5 * u, 0.8 + 0.7 * u, 0.8 + 1.7 * u],
        default=1.0,
    )
    st_pr_tg = _pick(rng, n * MAXC, "status", {"reduced": 0.3, "stable": 0.5, "present": 0.2}).reshape(n, MAXC)
    st_sd = _pick(rng, n * MAXC, "status", {"stable": 0.6, "present": 0.25, "increased": 0.15}).reshape(n, MAXC)
    st_pd = _pick(rng, n * MAXC, "status", {"increased": 0.5, "stable": 0.4, "present": 0.1}).reshape(n, MAXC)
    scan = np.select(
        [(resp == PR) & pr_by_tg, resp == PR, resp == SD],
        [st_pr_tg, np.full((n, MAXC), _c("status", "reduced")), st_sd],
        default=st_pd,
    ).astype(np.int8)
    tg0 = np.exp(rng.normal(math.log(60.0), 1.2, n)).clip(2.0, 20_000.0)
    tg_pre = tg0[:, None] * np.concatenate([np.ones((n, 1)), np.cumprod(ratio[:, :-1], axis=1)], axis=1)
    tg_work = tg_pre[I, last_k] * ratio[I, last_k]

    T = {t: _Rows(t) for t in TABLE_NAMES if t != "patients"}
    S, R, L, F = T["surgeries"], T["rait_administrations"], T["lab_results"], T["imaging_findings"]

    # ---- surgeries -----------------------------------------------------------------------
    hist = np.where(
        dtc_other_hist, _c("histology", "other"), np.where(ftc, _c("histology", "FTC"), _c("histology", "PTC"))
    ).astype(np.int8)
    tcode = np.select([size <= 1.0, size <= 2.0, size <= 4.0], [0, 1, 2], default=3)
    tcode = np.where(gross, 4 + _choice(rng, n, [0.6, 0.35, 0.05]), tcode)  # T3b, T4a, T4b
    t_stage = np.array([_c("t_stage", s) for s in ("T1a", "T1b", "T2", "T3a", "T3b", "T4a", "T4b")], dtype=np.int8)[
        tcode
    ]
    ete = np.where(
        gross, _c("ete", "gross"), np.where(rng.random(n) < 0.35, _c("ete", "microscopic"), _c("ete", "none"))
    ).astype(np.int8)
    resection = np.where(
        gross,
        _pick(rng, n, "resection", {"R0": 0.35, "R1": 0.5, "R2": 0.15}),
        _pick(rng, n, "resection", {"R0": 0.9, "R1": 0.1}),
    ).astype(np.int8)
    vif = np.where(ftc, _unif(rng, np.zeros(n), 8), np.where(rng.random(n) < 0.6, 0, _unif(rng, np.ones(n), 6)))
    aggressive = np.where(rng.random(n) < 0.15, 1, np.where(rng.random(n) < 0.82, 0, -1)).astype(np.int8)
    n_code = np.array([_c("n_stage", s) for s in ("N0", "N1a", "N1b")], dtype=np.int8)
    pos_nodes = np.select([nst == 0, nst == 1], [0, _unif(rng, np.ones(n), 8)], default=_unif(rng, np.full(n, 3), 40))
    node_cm = np.where(nst == 0, np.nan, np.round(np.clip(rng.lognormal(math.log(1.4), 0.45, n), 0.3, 6.0), 1))
    # metachronous initial operation: limited node sampling, ATA risk as planned
    m_int, m_low = meta & (meta_ata == 1), meta & (meta_ata == 2)
    meta_n = np.where(
        rng.random(n) < 0.5,
        _c("n_stage", "NX"),
        np.where(rng.random(n) < 0.6, _c("n_stage", "N0"), _c("n_stage", "N1a")),
    )
    meta_n = np.where(m_low, _c("n_stage", "N0"), meta_n).astype(np.int8)
    meta_nodes = np.where(
        meta_n == _c("n_stage", "N1a"), _unif(rng, np.ones(n), 4), np.where(meta_n == _c("n_stage", "N0"), 0, -1)
    )
    meta_node_cm = np.where(meta_n == _c("n_stage", "N1a"), np.round(rng.uniform(0.3, 1.5, n), 1), np.nan)
    ete = np.where(m_int & (rng.random(n) < 0.6), _c("ete", "microscopic"), ete)
    ete = np.where(m_low, _c("ete", "none"), ete).astype(np.int8)
    resection = np.where(m_low | m_int, _c("resection", "R0"), resection).astype(np.int8)
    vif = np.where(m_low, 0, np.where(m_int & (ete != _c("ete", "microscopic")), np.maximum(vif, 1), vif))
    vif = np.where((m_int | m_low) & ftc, np.minimum(vif, 4), vif)  # FTC with > 4 foci is high risk
    aggressive = np.where(m_low, 0, aggressive).astype(np.int8)
    vif = np.where(m_low & ftc, 0, vif)
    # FTC intermediate risk needs microscopic ETE (PTC vascular invasion rule does not apply)
    ete = np.where(m_int & ftc, _c("ete", "microscopic"), ete).astype(np.int8)

    init_proc = np.where(
        meta,
        np.where(rng.random(n) < 0.55, _c("procedure", "lobectomy"), _c("procedure", "subtotal_thyroidectomy")),
        np.where(
            lob_first | lobectomy_only,
            _c("procedure", "lobectomy"),
            np.where(
                rng.random(n) < 0.06, _c("procedure", "subtotal_thyroidectomy"), _c("procedure", "total_thyroidectomy")
            ),
        ),
    ).astype(np.int8)
    init_n = np.where(
        meta, meta_n, np.where(lob_first, np.where(nst == 0, n_code[0], _c("n_stage", "NX")), n_code[nst])
    )
    init_nodes = np.where(meta, meta_nodes, np.where(lob_first, np.where(nst == 0, 0, -1), pos_nodes))
    init_node_cm = np.where(meta, meta_node_cm, np.where(lob_first, np.nan, node_cm))
    S.add(
        I,
        dx,
        0,
        procedure=init_proc,
        histology=hist,
        max_tumor_size_cm=size,
        t_stage=t_stage,
        n_stage=init_n,
        ete=ete,
        resection=resection,
        vascular_invasion_foci=vif,
        positive_nodes=init_nodes,
        largest_node_cm=init_node_cm,
        aggressive_variant=aggressive,
    )
    # completion thyroidectomy (synchronous after a lobectomy; metachronous at recurrence)
    m = meta | lob_first
    comp_hist = np.where(rng.random(n) < 0.55, hist, -1).astype(np.int8)
    comp_size = np.where(comp_hist >= 0, np.round(np.minimum(rng.uniform(0.2, 1.0, n), size), 1), np.nan)
    comp_n = np.where(lob_first & (nst == 1), n_code[1], -1).astype(np.int8)  # central nodes
    S.add(
        I[m],
        comp_date[m],
        0,
        procedure="completion_thyroidectomy",
        histology=comp_hist[m],
        max_tumor_size_cm=comp_size[m],
        n_stage=comp_n[m],
        resection=_c("resection", "R0"),
        positive_nodes=np.where(comp_n >= 0, pos_nodes, -1)[m],
        largest_node_cm=np.where(comp_n >= 0, node_cm, np.nan)[m],
    )
    # neck dissection with the thyroid operation
    nd = (nst == 2) & ((rng.random(n) < 0.93) | meta) & ~lobectomy_only
    nd_date = np.where(meta | lob_first, comp_date, dx)
    S.add(
        I[nd],
        nd_date[nd],
        1,
        procedure="neck_dissection",
        histology=hist[nd],
        n_stage=n_code[2],
        positive_nodes=pos_nodes[nd],
        largest_node_cm=node_cm[nd],
    )

    # ---- imaging before the first RAIT ------------------------------------------------------
    anchor = first  # planned first RAIT (patients without RAIT: the date it would have been)
    # post-operative neck ultrasound; local persistent disease confirmed by cytology
    sync_lp = lp & ~meta
    us_lo = np.where(lob_first, comp_date, dx) + 15
    us_date = np.where(
        sync_lp,
        _unif(rng, dx + 20, np.minimum(dx + 300, anchor - 60)),
        _unif(rng, us_lo, np.maximum(anchor - 10, us_lo)),
    )
    us_date = np.minimum(us_date, anchor - 5)
    m = ~meta & (us_date > dx)
    F.add(
        I[m],
        us_date[m],
        0,
        modality="US",
        site="thyroid_bed",
        status=np.where(rng.random(n) < 0.15, _c("status", "present"), _c("status", "absent"))[m],
        confirmation="imaging",
    )
    unconfirmed = ~sync_lp & (rng.random(n) < 0.07)
    nn_status = np.where(sync_lp | unconfirmed, _c("status", "present"), _c("status", "absent"))
    nn_conf = np.where(
        sync_lp,
        np.where(rng.random(n) < 0.85, _c("confirmation", "cytology"), _c("confirmation", "histology")),
        _c("confirmation", "imaging"),
    )
    F.add(
        I[m],
        us_date[m],
        1,
        modality="US",
        site="neck_nodes",
        status=nn_status[m],
        confirmation=nn_conf[m],
        max_lesion_mm=np.where(sync_lp | unconfirmed, np.round(rng.uniform(5, 25, n), 0), np.nan)[m],
    )
    # re-operation for persistent nodes before the RAIT (a quarter of them)
    reop = sync_lp & (rng.random(n) < 0.25) & (us_date + 54 < anchor - 10)
    reop_date = us_date + _unif(rng, np.full(n, 14), 40)
    S.add(
        I[reop],
        reop_date[reop],
        0,
        procedure="neck_dissection",
        histology=hist[reop],
        n_stage=n_code[2],
        positive_nodes=_unif(rng, np.ones(n), 6)[reop],
        largest_node_cm=np.round(rng.uniform(0.5, 2.5, n), 1)[reop],
    )
    # metachronous: residual nodes after the first operation, or recurrence years later
    m = meta & lp
    res_date = dx + _unif(rng, np.full(n, 60), 330)
    F.add(
        I[m],
        res_date[m],
        1,
        modality="US",
        site="neck_nodes",
        status="present",
        confirmation="cytology",
        max_lesion_mm=np.round(rng.uniform(5, 15, n), 0)[m],
    )
    F.add(
        I[meta],
        rec_date[meta],
        1,
        modality="US",
        site="neck_nodes",
        status=np.where(lr, _c("status", "new"), _c("status", "increased"))[meta],
        confirmation=np.where(rng.random(n) < 0.8, _c("confirmation", "cytology"), _c("confirmation", "histology"))[
            meta
        ],
        max_lesion_mm=np.round(rng.uniform(8, 30, n), 0)[meta],
    )
    # lung (and other distant) disease known before the first RAIT
    lung_known = (rng.random(n) < np.where(meta, 0.75, 0.55)) | no_rait | big_lung | first_nonavid
    lung_known &= ~no_lung & ~mets_after
    ct_date = np.where(
        meta, rec_date + _unif(rng, np.zeros(n), 15), anchor - _unif(rng, np.full(n, 7), np.minimum(60, q_gap - 5))
    )
    ct_date = np.maximum(ct_date, np.where(lob_first, comp_date, dx) + 7)
    ct_date = np.minimum(ct_date, anchor - 1)
    lung_mm = np.where(rng.random(n) < 0.3, np.nan, np.round(rng.uniform(2, 9.5, n), 1))
    lung_mm = np.where(big_lung, np.round(rng.uniform(11, 30, n), 0), lung_mm)
    F.add(
        I[lung_known],
        ct_date[lung_known],
        2,
        modality="CT",
        site="lung",
        status="present",
        max_lesion_mm=lung_mm[lung_known],
        confirmation="imaging",
    )
    m = ~lung_known & (rng.random(n) < 0.3) & (ct_date > dx)
    F.add(I[m], ct_date[m], 2, modality="CT", site="lung", status="absent", confirmation="imaging")
    # non-lung distant disease at baseline
    m = bone_mets
    bone_date = anchor - _unif(rng, np.full(n, 5), 40)
    F.add(
        I[m],
        np.maximum(bone_date, dx + 3)[m],
        3,
        modality=np.where(rng.random(n) < 0.5, _c("modality", "bone_scan"), _c("modality", "CT"))[m],
        site="bone",
        status="present",
        max_lesion_mm=np.round(rng.uniform(6, 30, n), 0)[m],
        confirmation="imaging",
    )
    m = other_site
    o_site = np.where(
        rng.random(n) < 0.7,
        _c("site", "other"),
        np.where(rng.random(n) < 0.5, _c("site", "brain"), _c("site", "liver")),
    )
    o_mod = np.where(o_site == _c("site", "brain"), _c("modality", "MRI"), _c("modality", "CT"))
    F.add(
        I[m],
        np.maximum(ct_date, dx + 3)[m],
        3,
        modality=o_mod[m],
        site=o_site[m],
        status="present",
        max_lesion_mm=np.round(rng.uniform(5, 25, n), 0)[m],
        confirmation="imaging",
    )

    # ---- RAIT administrations and their post-therapy scans ------------------------------------
    pc_, kc = np.nonzero(cyc)  # patient-major, cycle order
    nr = len(pc_)
    rait_row = np.arange(nr)
    first_cycle = kc == 0
    u = _su(rng, strata[pc_] * 2 + first_cycle)
    act_idx = np.where(first_cycle, _choice(rng, nr, _ACT_P_FIRST, u), _choice(rng, nr, _ACT_P_LATER, u))
    unit = _choice(rng, nr, [0.45, 0.25, 0.30])  # GBq, MBq, mCi
    activity = np.select([unit == 0, unit == 1], [_ACT_GBQ[act_idx], _ACT_MBQ[act_idx]], default=_ACT_MCI[act_idx])
    unit_code = np.array([_c("activity_unit", u) for u in ("GBq", "MBq", "mCi")], dtype=np.int8)[unit]
    adate = admin[pc_, kc]
    prep = np.where(
        (adate >= _RHTSH_FROM) & (rng.random(nr) < 0.15),
        _c("preparation", "rhTSH"),
        np.where(rng.random(nr) < 0.97, _c("preparation", "withdrawal"), -1),
    ).astype(np.int8)
    intent1 = np.where(
        lung_known | meta,
        _c("intent", "metastatic_disease"),
        np.where(rng.random(n) < 0.8, _c("intent", "adjuvant"), _c("intent", "remnant_ablation")),
    )
    intent1 = np.where(
        mets_after, np.where(rng.random(n) < 0.6, _c("intent", "remnant_ablation"), _c("intent", "adjuvant")), intent1
    )
    intent = np.where(first_cycle, intent1[pc_], _c("intent", "metastatic_disease")).astype(np.int8)
    R.add(pc_, adate, 0, activity=activity, activity_unit=unit_code, preparation=prep, intent=intent)

    # post-therapy scans: lung row on every scan, thyroid bed, nodes, bone...
    rx = ~rx_missing_pk[pc_, kc]
    rd = rx_date[pc_, kc]
    prev_scan = np.where(kc > 0, scan[pc_, np.maximum(kc - 1, 0)], -1)
    lung_first_status = np.where(lung_known[pc_] | (rng.random(nr) < 0.6), _c("status", "present"), _c("status", "new"))
    lung_status = np.where(first_cycle, lung_first_status, prev_scan)
    lung_avid = np.ones(nr, dtype=np.int8)
    lung_avid[first_nonavid[pc_]] = 0
    lung_avid[later_nonavid[pc_] & (kc == last_k[pc_])] = 0
    lung_status = np.where(no_lung[pc_], _c("status", "absent"), lung_status)
    lung_avid[no_lung[pc_]] = 0
    m = rx
    F.add(
        pc_[m],
        rd[m],
        4,
        modality="RxWBS",
        rait_id=rait_row[m],
        site="lung",
        status=lung_status[m].astype(np.int8),
        rai_avid=lung_avid[m],
        confirmation="imaging",
    )
    uptake = np.where(
        massive[pc_],
        _c("remnant_uptake", "massive"),
        np.where(rng.random(nr) < 0.65, _c("remnant_uptake", "minor"), _c("remnant_uptake", "none")),
    )
    uptake = np.where(first_cycle, uptake, _c("remnant_uptake", "none"))
    had_remnant = np.zeros(n, dtype=bool)
    had_remnant[pc_[first_cycle]] = uptake[first_cycle] != _c("remnant_uptake", "none")
    bed_status = np.where(
        uptake != _c("remnant_uptake", "none"),
        _c("status", "present"),
        np.where((kc == 1) & had_remnant[pc_], _c("status", "resolved"), _c("status", "absent")),
    )
    F.add(
        pc_[m],
        rd[m],
        5,
        modality="RxWBS",
        rait_id=rait_row[m],
        site="thyroid_bed",
        status=bed_status[m].astype(np.int8),
        rai_avid=(uptake != _c("remnant_uptake", "none"))[m].astype(np.int8),
        remnant_uptake=uptake[m].astype(np.int8),
        confirmation="imaging",
    )
    new_node_on_rx2 = np.zeros(n, dtype=bool)  # the progression is the nodal row of that scan
    new_node_on_rx2[ev_p[ev_on_rx]] = True
    m = rx & (lp | lr)[pc_] & ~(new_node_on_rx2[pc_] & (kc == 1))
    nn_rx = np.where(
        first_cycle, _c("status", "present"), _pick(rng, nr, "status", {"stable": 0.5, "reduced": 0.3, "resolved": 0.2})
    )
    F.add(
        pc_[m],
        rd[m],
        6,
        modality="RxWBS",
        rait_id=rait_row[m],
        site="neck_nodes",
        status=nn_rx[m].astype(np.int8),
        rai_avid=(rng.random(nr) < 0.6)[m].astype(np.int8),
        confirmation="imaging",
    )
    m = rx & first_cycle & bone_mets[pc_]
    F.add(
        pc_[m],
        rd[m],
        7,
        modality="RxWBS",
        rait_id=rait_row[m],
        site="bone",
        status="present",
        rai_avid=1,
        confirmation="imaging",
    )

    # ---- laboratory: stimulated samples before each administration -------------------------------
    tg_unit = np.where(rng.random(n) < 0.85, _c("unit", "ng/mL"), _c("unit", "ug/L")).astype(np.int8)
    tsh_unit = np.where(rng.random(n) < 0.7, _c("unit", "mIU/L"), _c("unit", "uIU/mL")).astype(np.int8)
    ab_unit = np.where(rng.random(n) < 0.8, _c("unit", "IU/mL"), _c("unit", "kIU/L")).astype(np.int8)
    tsh_cap = np.where(rng.random(n) < 0.5, 100.0, 150.0)
    ab_cut = np.array([115.0, 40.0, 4.0])[tgab_assay]
    ab_lod = np.array([10.0, 15.0, 0.9])[tgab_assay]
    ab_cut_col = np.where((tgab_assay == 0) & (rng.random(n) < 0.5), np.nan, ab_cut)

    def stimulated(
        p: np.ndarray,
        date: np.ndarray,
        tg: np.ndarray,
        tsh_ok: np.ndarray,
        ab_pos: np.ndarray,
        rhtsh: np.ndarray,
        order: int,
    ) -> None:
        k = len(p)
        tgv = np.clip(tg, 0.0, None)
        tg_cmp = np.where(tgv < 0.1, _c("comparator", "<"), np.where(tgv > 5000, _c("comparator", ">"), -1))
        tg_val = np.where(tgv < 0.1, 0.1, np.where(tgv > 5000, 5000.0, _round_lab(np.maximum(tgv, 0.1))))
        L.add(p, date, order, analyte="Tg", value=tg_val, comparator=tg_cmp.astype(np.int8), unit=tg_unit[p])
        latent = np.where(rhtsh, rng.uniform(60, 200, k), np.exp(rng.normal(math.log(80), 0.45, k)).clip(32, 400))
        latent = np.where(tsh_ok, latent, rng.uniform(8, 28, k))
        cap_ = tsh_cap[p]
        over = latent > cap_
        L.add(
            p,
            date,
            order + 1,
            analyte="TSH",
            value=np.where(over, cap_, np.round(latent, 1)),
            comparator=np.where(over, _c("comparator", ">"), -1).astype(np.int8),
            unit=tsh_unit[p],
        )
        tgab(p, date, ab_pos, order + 2)

    def tgab(p: np.ndarray, date: np.ndarray, pos: np.ndarray, order: int) -> None:
        k = len(p)
        below = ~pos & (rng.random(k) < 0.6)
        val = np.where(
            pos,
            np.round(ab_cut[p] * rng.uniform(1.3, 15, k), 1),
            np.where(below, ab_lod[p], np.round(rng.uniform(ab_lod[p], 0.8 * ab_cut[p]), 1)),
        )
        L.add(
            p,
            date,
            order,
            analyte="TgAb",
            value=val,
            comparator=np.where(below, _c("comparator", "<"), -1).astype(np.int8),
            unit=ab_unit[p],
            tgab_cutoff=ab_cut_col[p],
        )

    def suppressed(p: np.ndarray, date: np.ndarray, tg: np.ndarray, order: int, with_ab: np.ndarray) -> None:
        k = len(p)
        tgv = tg * rng.uniform(0.03, 0.15, k)
        lod = 0.1
        L.add(
            p,
            date,
            order,
            analyte="Tg",
            value=np.where(tgv < lod, lod, _round_lab(tgv)),
            comparator=np.where(tgv < lod, _c("comparator", "<"), -1).astype(np.int8),
            unit=tg_unit[p],
        )
        tsh = np.exp(rng.normal(math.log(0.08), 1.0, k))
        L.add(
            p,
            date,
            order + 1,
            analyte="TSH",
            value=np.where(tsh < 0.01, 0.01, np.round(tsh, 2)),
            comparator=np.where(tsh < 0.01, _c("comparator", "<"), -1).astype(np.int8),
            unit=tsh_unit[p],
        )
        m_ = with_ab
        tgab(p[m_], date[m_], tgab_pos_pt[p[m_]], order + 2)

    pre_off = np.where(rng.random(nr) < 0.93, _unif(rng, np.ones(nr), 12), _unif(rng, np.full(nr, 13), 29))
    pre_off = np.where(rng.random(nr) < 0.04, 0, pre_off)
    stimulated(
        pc_,
        adate - pre_off,
        tg_pre[pc_, kc],
        pre_tsh_ok[pc_, kc],
        pre_tgab_pos[pc_, kc],
        prep == _c("preparation", "rhTSH"),
        0,
    )
    # an occasional earlier stimulated sample in the same window (the latest one counts)
    m = (pre_off <= 12) & (rng.random(nr) < 0.05)
    extra_off = pre_off + _unif(rng, np.full(nr, 5), 30 - pre_off)
    stimulated(
        pc_[m],
        (adate - np.minimum(extra_off, 30))[m],
        (tg_pre[pc_, kc] * rng.uniform(0.8, 1.25, nr))[m],
        pre_tsh_ok[pc_, kc][m],
        pre_tgab_pos[pc_, kc][m],
        np.zeros(int(m.sum()), bool),
        0,
    )
    # suppressed sample ~3 months after each administration but the last
    m = (kc < last_k[pc_]) & (rng.random(nr) < 0.5)
    gap_k = gaps[pc_, np.minimum(kc, MAXC - 2)]
    mid = adate + np.minimum(_unif(rng, np.full(nr, 60), 120), gap_k - 35)
    suppressed(pc_[m], mid[m], tg_pre[pc_, kc][m] * ratio[pc_, kc][m], 0, rng.random(int(m.sum())) < 0.7)

    # ---- diagnostic work-up after the last administration: stimulated Tg + DxWBS --------------
    m = has_work
    stimulated(
        I[m], work[m], tg_work[m], np.ones(int(m.sum()), bool), work_tgab_pos[m], rng.random(int(m.sum())) < 0.3, 0
    )
    dx_lung = scan[I, last_k]
    dx_avid = np.where(dx_lung == _c("status", "resolved"), 0, 1).astype(np.int8)
    dx_lung = np.where(no_lung, _c("status", "absent"), dx_lung).astype(np.int8)
    dx_avid = np.where(no_lung | first_nonavid | later_nonavid, 0, dx_avid).astype(np.int8)
    F.add(
        I[m], work[m], 4, modality="DxWBS", site="lung", status=dx_lung[m], rai_avid=dx_avid[m], confirmation="imaging"
    )
    F.add(I[m], work[m], 5, modality="DxWBS", site="thyroid_bed", status="absent", rai_avid=0, confirmation="imaging")
    # lung metastases first seen on a diagnostic scan after a first (remnant) RAIT
    m = mets_after & has_rait
    late_lung = admin[:, 0] + _unif(rng, np.full(n, 125), gaps[:, 0] - 35)
    stimulated(I[m], late_lung[m], tg0[m], np.ones(int(m.sum()), bool), tgab_pos_pt[m], np.zeros(int(m.sum()), bool), 0)
    F.add(I[m], late_lung[m], 4, modality="DxWBS", site="lung", status="new", rai_avid=1, confirmation="imaging")

    # ---- new lesions (progression) and what follows them ---------------------------------------
    ev_code = np.array([_c("site", s) for s in ("neck_nodes", "lung", "bone", "other")], dtype=np.int8)[ev_site]
    ev_mod = np.select(
        [ev_site == 0, ev_site == 2],
        [_c("modality", "US"), np.where(rng.random(ne) < 0.5, _c("modality", "bone_scan"), _c("modality", "PET_CT"))],
        default=_c("modality", "CT"),
    )
    ev_conf = np.where(
        (ev_site == 0) & (rng.random(ne) < 0.6), _c("confirmation", "cytology"), _c("confirmation", "imaging")
    )
    ev_mm = np.round(np.where(ev_site == 1, rng.uniform(3, 12, ne), rng.uniform(5, 20, ne)), 0)
    m = ~ev_on_rx
    F.add(
        ev_p[m],
        ev_t[m],
        8,
        modality=ev_mod[m].astype(np.int8),
        site=ev_code[m],
        status="new",
        max_lesion_mm=ev_mm[m],
        confirmation=ev_conf[m].astype(np.int8),
    )
    # new node on the next cycle's post-therapy scan (the scan that evaluates cycle 1)
    m = ev_on_rx
    rait_start = np.cumsum(ncyc) - ncyc
    F.add(
        ev_p[m],
        ev_t[m],
        7,
        modality="RxWBS",
        rait_id=(rait_start[ev_p] + 1)[m],
        site="neck_nodes",
        status="new",
        rai_avid=1,
        confirmation="imaging",
    )
    # neck dissection for half of the nodal recurrences
    ndr = (ev_site == 0) & (rng.random(ne) < 0.5)
    nd_t = ev_t + _unif(rng, np.full(ne, 20), 90)
    ndr &= nd_t <= lc[ev_p]
    S.add(
        ev_p[ndr],
        nd_t[ndr],
        0,
        procedure="neck_dissection",
        histology=hist[ev_p][ndr],
        n_stage=n_code[2],
        positive_nodes=_unif(rng, np.ones(ne), 8)[ndr],
        largest_node_cm=np.round(rng.uniform(0.5, 3.0, ne), 1)[ndr],
    )

    # ---- follow-up visits until the last contact ------------------------------------------------
    start = np.where(has_work, work, np.where(has_rait, last_admin + 60, anchor + 30))
    start = np.minimum(start, lc)
    length = lc - start
    nvis = np.maximum(1, np.rint(length / rng.uniform(270, 450, n)).astype(np.int64))
    owner, j = _ragged(nvis)
    step = length[owner] / nvis[owner]
    vdate = start[owner] + np.rint((j + 1) * step).astype(np.int64)
    jitter = np.rint(rng.uniform(-1, 1, len(owner)) * np.minimum(20, step / 4)).astype(np.int64)
    vdate = np.where(j < nvis[owner] - 1, vdate + jitter, lc[owner])
    keep = vdate > start[owner] + 20  # never on the day of a stimulated work-up
    owner, vdate = owner[keep], vdate[keep]
    after_pd = vdate >= pd_date[owner]
    tg_now = np.where(has_work, tg_work, tg_pre[I, last_k])[owner] * np.where(after_pd, 2.0, 1.0)
    suppressed(owner, vdate, tg_now, 0, rng.random(len(owner)) < 0.7)
    nv = len(owner)
    ev_last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(ev_last, ev_p, ev_t)
    on_event_day = (vdate == pd_date[owner]) | (vdate == ev_last[owner])  # that study is the new lesion's
    ct = (rng.random(nv) < 0.35) & ~on_event_day
    ct_status = np.where(
        after_pd,
        _pick(rng, nv, "status", {"increased": 0.4, "stable": 0.6}),
        _pick(rng, nv, "status", {"stable": 0.6, "reduced": 0.25, "present": 0.15}),
    )
    ct_status = np.where(no_lung[owner], _c("status", "absent"), ct_status).astype(np.int8)
    ct_mm = np.where(
        no_lung[owner] | (rng.random(nv) < 0.3),
        np.nan,
        np.round(np.where(after_pd & lung_pd[owner], rng.uniform(4, 16, nv), rng.uniform(2, 9.5, nv)), 1),
    )
    F.add(
        owner[ct],
        vdate[ct],
        2,
        modality="CT",
        site="lung",
        status=ct_status[ct],
        max_lesion_mm=ct_mm[ct],
        confirmation="imaging",
    )
    us = (rng.random(nv) < 0.35) & ~on_event_day
    F.add(owner[us], vdate[us], 0, modality="US", site="thyroid_bed", status="absent", confirmation="imaging")
    us_nn = np.where(
        after_pd,
        _pick(rng, nv, "status", {"present": 0.4, "stable": 0.3, "resolved": 0.3}),
        np.where((lp | lr)[owner] & (rng.random(nv) < 0.2), _c("status", "stable"), _c("status", "absent")),
    )
    F.add(
        owner[us],
        vdate[us],
        1,
        modality="US",
        site="neck_nodes",
        status=us_nn[us].astype(np.int8),
        confirmation="imaging",
    )

    # ---- patients and follow-up -------------------------------------------------------------------
    T["follow_up"].add(
        I,
        lc,
        0,
        vital_status=np.where(dies, _c("vital_status", "dead"), _c("vital_status", "alive")).astype(np.int8),
        death_date=np.where(dies, death, np.iinfo(np.int64).min),
    )
    center = _choice(rng, n, [0.8, 0.15, 0.05]).astype(np.int8)
    out = {
        "patients": {
            "_p": I,
            "sex": np.where(female, _c("sex", "F"), _c("sex", "M")).astype(np.int8),
            "birth_date": birth,
            "center_id": center,
        },
        "surgeries": S.finish("surgery_date"),
        "rait_administrations": R.finish("admin_date"),
        "lab_results": L.finish("sample_date"),
        "imaging_findings": F.finish("study_date"),
        "follow_up": T["follow_up"].finish("last_contact_date"),
    }
    # the rait table is sorted like (patient, cycle): its row index is the RxWBS reference
    assert np.array_equal(out["rait_administrations"]["_p"], pc_)
    return out


# --------------------------------------------------------------------------------------
# Blocks as Arrow tables
# --------------------------------------------------------------------------------------

_NULL_DATE = np.iinfo(np.int64).min


def _id_array(prefix: str, start: int, count: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``start .. start+count-1``, built straight into Arrow buffers."""
    if start + count - 1 >= 10**width:
        raise RuntimeError(f"{prefix} ids overflow {width} digits; raise _ROWS_BOUND (a bug in synth).")
    nums = np.arange(start, start + count, dtype=np.int64)
    p = prefix.encode("ascii")
    size = len(p) + width
    buf = np.empty((count, size), dtype=np.uint8)
    buf[:, : len(p)] = np.frombuffer(p, dtype=np.uint8)
    for i in range(width):
        buf[:, size - 1 - i] = (nums // 10**i) % 10 + 48
    offsets = np.arange(0, (count + 1) * size, size, dtype=np.int64)
    arr = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(buf)))
    return arr.cast(pa.string())


def _to_arrow(
    table: str, cols: dict[str, np.ndarray], pids: pa.Array, rait_ids: pa.Array | None, id_start: int, width: int
) -> pa.Table:
    m = len(cols["_p"])
    arrays = []
    for c, kind in _SPEC[table].items():
        if kind == "id":
            arr = _id_array(_ID_PREFIX[table], id_start, m, width)
        elif kind == "pid":
            arr = pids.take(pa.array(cols["_p"]))
        elif kind == "date":
            v = cols[c]
            null = v == _NULL_DATE
            arr = pa.array(np.where(null, 0, v).astype(np.int32), mask=null).cast(pa.date32())
        elif kind == "cat":
            v = cols[c]
            arr = pa.array(list(_V[c])).take(pa.array(v, type=pa.int8(), mask=v < 0))
        elif kind == "float":
            v = cols[c]
            arr = pa.array(v, type=pa.float64(), mask=np.isnan(v))
        elif kind == "int":
            v = cols[c]
            arr = pa.array(v.astype(np.int32), type=pa.int32(), mask=v < 0)
        elif kind == "bool":
            v = cols[c]
            arr = pa.array(v == 1, type=pa.bool_(), mask=v < 0)
        else:  # ref: local rait row -> rait_id
            v = cols[c]
            assert rait_ids is not None
            arr = rait_ids.take(pa.array(v, type=pa.int64(), mask=v < 0))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[table])


def iter_blocks(n_patients: int, seed: int = 0) -> Iterator[dict[str, pa.Table]]:
    """Simulate the registry block by block (the clean generator; nothing is written).

    Parameters
    ----------
    n_patients
        Registry size (>= 1).
    seed
        Non-negative random seed. Block ``b`` (patients ``b * BLOCK_PATIENTS + 1`` ...) uses
        ``numpy.random.default_rng(SeedSequence([seed, b]))``.

    Yields
    ------
    dict of pyarrow.Table
        The six raw tables (contract section 1 columns, :data:`SCHEMAS` types) for the
        patients of one block; ids continue across blocks.
    """
    _check_args(n_patients, seed)
    widths = {t: id_width(t, n_patients) for t in TABLE_NAMES}
    next_id = dict.fromkeys(_ID_PREFIX, 1)
    for b, start in enumerate(range(0, n_patients, BLOCK_PATIENTS)):
        nb = min(BLOCK_PATIENTS, n_patients - start)
        rng = np.random.default_rng(np.random.SeedSequence([seed, b]))
        raw = _simulate_block(rng, nb)
        pids = _id_array("P", start + 1, nb, widths["patients"])
        n_rait = len(raw["rait_administrations"]["_p"])
        rait_ids = _id_array("R", next_id["rait_administrations"], n_rait, widths["rait_administrations"])
        out = {}
        for t in TABLE_NAMES:
            id_start = next_id.get(t, 0)
            out[t] = _to_arrow(t, raw[t], pids, rait_ids, id_start, widths[t])
            if t in next_id:
                next_id[t] += out[t].num_rows
        yield out


def _check_args(n_patients: int, seed: int) -> None:
    if isinstance(n_patients, bool) or not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise UsageError(f"n_patients must be a whole number >= 1 (got {n_patients!r}); pass e.g. 160.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0 (got {seed!r}).")


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    mapper = {pa.bool_(): pd.BooleanDtype(), pa.int32(): pd.Int64Dtype()}.get
    df = table.to_pandas(types_mapper=mapper, date_as_object=False)
    for field in table.schema:
        if pa.types.is_date32(field.type):
            df[field.name] = df[field.name].astype("datetime64[ns]")
    return df


def simulate(n_patients: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Simulate a registry and return its six raw tables as DataFrames.

    Parameters
    ----------
    n_patients
        Number of patients (the default registry has 160).
    seed
        Random seed; the same ``(n_patients, seed)`` always gives the same tables.

    Returns
    -------
    dict of DataFrame
        ``patients``, ``surgeries``, ``rait_administrations``, ``lab_results``,
        ``imaging_findings``, ``follow_up`` with the contract section 1 columns in contract
        order: text as ``object``, dates ``datetime64[ns]``, decimals ``float64``, integers
        ``Int64``, booleans ``boolean`` (missing = NA). Raw events only, nothing derived.

    Notes
    -----
    Holds the whole registry in memory; for large registries write it with
    :func:`write_extract` (chunked) instead.
    """
    parts: dict[str, list[pa.Table]] = {t: [] for t in TABLE_NAMES}
    for block in iter_blocks(n_patients, seed):
        for t in TABLE_NAMES:
            parts[t].append(block[t])
    return {t: _to_pandas(pa.concat_tables(parts[t])) for t in TABLE_NAMES}


# --------------------------------------------------------------------------------------
# Writing an extract
# --------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _CsvSink:
    """One CSV file: header written once, unquoted values (none contains , " or newline)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.handle = open(path, "wb")
        self.handle.write((",".join(schema.names) + "\n").encode("utf-8"))
        self.writer = pacsv.CSVWriter(
            self.handle, schema, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none")
        )

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()
        self.handle.close()


class _ParquetSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.writer = pq.ParquetWriter(path, schema, compression="snappy")

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))

    def close(self) -> None:
        self.writer.close()


def write_blocks(
    out_dir: str | Path,
    blocks: Iterable[dict[str, pa.Table]],
    fmt: str = "csv",
    chunk_size: int = 100_000,
    extract_id: str = "synth",
) -> Path:
    """Write blocks of the six tables as an extract folder with ``manifest.json``.

    The writing half of :func:`write_extract`, separate from the clean generator so that a
    transformation (e.g. fault injection) can sit between :func:`iter_blocks` and the files.

    Parameters
    ----------
    out_dir
        Folder to write into (created if needed). A table file of the *other* format
        already there is refused: it would make the extract ambiguous.
    blocks
        Iterable of ``{table: pyarrow.Table}`` holding the six tables; every block of a
        table must have the same schema (that of its first block is used).
    fmt
        ``"csv"`` or ``"parquet"``.
    chunk_size
        Patients (rows of ``patients``) gathered before a batch is written; one Parquet row
        group per batch.
    extract_id
        The manifest's ``extract_id``.

    Returns
    -------
    pathlib.Path
        The extract folder.
    """
    if fmt not in ("csv", "parquet"):
        raise UsageError(f"fmt must be 'csv' or 'parquet' (got {fmt!r}).")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise UsageError(f"chunk_size must be a whole number >= 1 (got {chunk_size!r}).")
    out = Path(out_dir)
    other = "parquet" if fmt == "csv" else "csv"
    clash = [f"{t}.{other}" for t in TABLE_NAMES if (out / f"{t}.{other}").exists()]
    if clash:
        raise UsageError(
            f"{out} already holds {', '.join(clash)}; writing {fmt} beside them would make the extract "
            "ambiguous. Choose an empty folder or remove those files."
        )
    out.mkdir(parents=True, exist_ok=True)
    names = {t: f"{t}.{fmt}" for t in TABLE_NAMES}
    sink_cls = _CsvSink if fmt == "csv" else _ParquetSink
    sinks: dict[str, _CsvSink | _ParquetSink] = {}
    rows = dict.fromkeys(TABLE_NAMES, 0)
    latest = _NULL_DATE
    pending: list[dict[str, pa.Table]] = []
    pending_patients = 0

    def flush() -> None:
        nonlocal pending, pending_patients, latest
        if not pending:
            return
        for t in TABLE_NAMES:
            table = pa.concat_tables([blk[t] for blk in pending]) if len(pending) > 1 else pending[0][t]
            for field in table.schema:
                if pa.types.is_date32(field.type):
                    mx = pc.max(table[field.name]).cast(pa.int32()).as_py()
                    if mx is not None:
                        latest = max(latest, mx)
            if t not in sinks:
                sinks[t] = sink_cls(out / names[t], table.schema)
            sinks[t].write(table)
            rows[t] += table.num_rows
        pending, pending_patients = [], 0

    try:
        for block in blocks:
            pending.append(block)
            pending_patients += block["patients"].num_rows
            if pending_patients >= chunk_size:
                flush()
        flush()
    finally:
        for sink in sinks.values():
            sink.close()
    if len(sinks) != len(TABLE_NAMES):
        raise UsageError("write_blocks got no block to write; pass at least one block of the six tables.")
    manifest = {
        "extract_id": extract_id,
        "extracted_at": _extracted_at(latest),
        "files": {names[t]: {"rows": rows[t], "sha256": _sha256(out / names[t])} for t in TABLE_NAMES},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out


def _extracted_at(latest_day: int) -> str:
    """The day after the latest date of the extract, 06:00 UTC (the data cut-off when no date)."""
    day = _CUTOFF if latest_day == _NULL_DATE else latest_day
    return f"{(_EPOCH + np.timedelta64(int(day) + 1, 'D')).astype(str)}T06:00:00Z"


def write_extract(
    out_dir: str | Path,
    n_patients: int = 160,
    seed: int = 0,
    fmt: str = "csv",
    chunk_size: int = 100_000,
) -> Path:
    """Simulate a registry and write it as a contract section 1 extract.

    Writes ``<table>.csv`` (or ``.parquet``) for the six tables and ``manifest.json``
    ``{"extract_id", "extracted_at", "files": {"<table>.<ext>": {"rows", "sha256"}}}``.

    Parameters
    ----------
    out_dir
        Folder to write into (created if needed). Files of this extract are overwritten; a
        table file of the *other* format already there is refused (it would make the
        extract ambiguous).
    n_patients
        Number of patients; the default registry has 160.
    seed
        Random seed. The same ``(n_patients, seed, fmt)`` writes the same bytes (same
        sha256), on the same library versions.
    fmt
        ``"csv"`` (UTF-8, comma, header, ISO dates, empty = missing, ``true``/``false``) or
        ``"parquet"`` (typed: date32, float64, int32, bool, string).
    chunk_size
        Patients simulated and written per batch (memory bound; one Parquet row group per
        batch). It does not change the data.

    Returns
    -------
    pathlib.Path
        The extract folder.

    Notes
    -----
    ``extracted_at`` is the day after the latest date in the extract (06:00 UTC), so it
    depends on the data, never on the wall clock, and no event is dated after it.

    Examples
    --------
    >>> write_extract("demo/extract")                                   # doctest: +SKIP
    >>> write_extract("big", n_patients=1_000_000, fmt="parquet")       # doctest: +SKIP
    """
    _check_args(n_patients, seed)
    if fmt not in ("csv", "parquet"):
        raise UsageError(f"fmt must be 'csv' or 'parquet' (got {fmt!r}).")
    return write_blocks(
        out_dir,
        iter_blocks(n_patients, seed),
        fmt=fmt,
        chunk_size=chunk_size,
        extract_id=f"synth-n{n_patients}-seed{seed}",
    )
