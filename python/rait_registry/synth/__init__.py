"""Synthetic registry: a simulator of patients' courses that writes a raw extract.

The real registry is private, so the demo and the tests run on a simulated one. Each
patient's course is simulated as *raw events only* -- operations with their pathology,
RAIT administrations, stimulated and suppressed Tg/TgAb/TSH samples, post-therapy and
diagnostic whole-body scans, CT/US findings, new lesions, follow-up -- and written in the
extract format of docs/specification.md section 1. Nothing derived is ever written: response, PFS,
local-disease status, eligibility... all come out of the docs/specification.md section 2 rules applied
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
that a transformation such as fault injection (:mod:`rait_registry.messy`) can sit between
the two.

Package layout
--------------
One module per phase of the course, each a set of functions of the arrays they are given:

- :mod:`.plan` -- archetypes, groups, cycles, covariates, centres (no event);
- :mod:`.progression` -- who progresses, the new lesions;
- :mod:`.timeline` -- the history before the first RAIT and the calendar (no event);
- :mod:`.response` -- each cycle's response and the Tg / scan evidence for it (no event);
- :mod:`.surgeries` -- operations, pathology, neck dissections;
- :mod:`.baseline` -- imaging before the first RAIT;
- :mod:`.rait` -- cycle schedule, administrations, post-therapy and diagnostic scans;
- :mod:`.labs` -- interpretability of Tg, the Tg / TSH / TgAb samples;
- :mod:`.followup` -- follow-up length, visits, vital status;
- :mod:`.bounds` -- the cases revision 2 of the rules reads differently (values reported as
  bounds, scans and operations not on record), at stated rates, from a generator of their own;
- :mod:`.course` -- one block: the phases in the order of their random draws;
- :mod:`.blocks` -- blocks as Arrow tables (:func:`iter_blocks`, :func:`simulate`);
- :mod:`.writing` -- CSV / Parquet sinks and the manifest (:func:`write_extract`);
- :mod:`.layout`, :mod:`.sampling` -- the table layout and the vectorised sampling helpers.

Vocabularies come from :mod:`rait_registry.contract`, rule thresholds the course is built
around (study period, 183-day window, TSH and TgAb cut-offs...) from
:mod:`rait_registry.params`.

References
----------
Shi C, Sun D, Sun YQ, et al. Less is more: once vs. multiple radioactive iodine (RAI)
therapy in patients with RAI-avid pulmonary micrometastatic differentiated thyroid cancer.
Eur J Nucl Med Mol Imaging (2025). doi:10.1007/s00259-025-07339-3
Haugen BR, et al. 2015 American Thyroid Association management guidelines for adult
patients with thyroid nodules and differentiated thyroid cancer. Thyroid 26 (2016) 1-133.
"""

from __future__ import annotations

from .blocks import BLOCK_PATIENTS, iter_blocks, simulate
from .layout import SCHEMAS, TABLE_NAMES, id_width
from .timeline import DATA_CUTOFF
from .writing import write_blocks, write_extract

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
