"""The frozen cohorts on which the statistics layer is compared with R, and their R references.

* ``frozen_cohort`` - the stand-in drawn by ``tests/data/make_standin_cohort.py`` (CR/NE responses,
  missing values and deliberate separation that the demo lacks);
* ``frozen_demo`` - ``marts.analysis_cohort`` / ``marts.rait_cycles`` of the demo warehouse
  (``rait-registry synth --patients 160 --seed 0``), frozen by
  ``tests/data/frozen_demo/freeze_demo_cohort.py``.

The R references were written from these exact CSV bytes by the scripts in ``tests/r/`` (see
their headers). CSVs are read with ``float_precision="round_trip"`` so every double is the one
R's ``read.csv`` (``strtod``) reads; pandas' default parser can be one ulp off on long decimals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

DATA = Path(__file__).parent / "data"
REF = DATA / "r_reference"
FROZEN = ("frozen_cohort", "frozen_demo")
REFERENCES = {
    "frozen_cohort": {
        "stats1": "stats1.json",
        "stats2": "stats2_frozen_cohort.json",
        "stats3": "stats3_frozen_cohort.json",
        "sensitivity": "beyond_frozen_cohort.json",
    },
    "frozen_demo": {
        "stats1": "stats1_demo.json",
        "stats2": "stats2_demo.json",
        "stats3": "stats3_frozen_demo.json",
        "sensitivity": "beyond_demo.json",
    },
}


def read_frozen_csv(name: str, table: str) -> pd.DataFrame:
    """``tests/data/<name>/<table>.csv`` with round-trip-exact floats (a fresh copy)."""
    return pd.read_csv(DATA / name / f"{table}.csv", float_precision="round_trip")


@dataclass(frozen=True)
class FrozenCohort:
    """One frozen data set: cohort and cycles (shared by a module; copy before modifying) and its R references."""

    name: str
    cohort: pd.DataFrame
    cycles: pd.DataFrame
    _refs: dict = field(default_factory=dict, repr=False)

    def ref(self, kind: str) -> dict:
        """The R reference ``kind`` (``stats1``, ``stats2``, ``stats3`` or ``sensitivity``) of this data set."""
        if kind not in self._refs:
            self._refs[kind] = json.loads((REF / REFERENCES[self.name][kind]).read_text())
        return self._refs[kind]


def load_frozen(name: str) -> FrozenCohort:
    """Read one frozen data set afresh (module-scoped fixtures call this once per module)."""
    return FrozenCohort(name, read_frozen_csv(name, "analysis_cohort"), read_frozen_csv(name, "rait_cycles"))
