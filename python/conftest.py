"""Doctests of the analysis layer (``pytest --doctest-modules python/rait_registry/analysis``).

Every Examples section runs on the frozen demo cohort (``tests/data/frozen_demo``: the marts
of the demo warehouse, ``rait-registry synth --patients 160 --seed 0``), given to the examples as
``cohort`` (``marts.analysis_cohort``) and ``cycles`` (``marts.rait_cycles``).
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

FROZEN_DEMO = Path(__file__).resolve().parents[1] / "tests" / "data" / "frozen_demo"


@cache
def _frozen(table: str) -> pd.DataFrame:
    return pd.read_csv(FROZEN_DEMO / f"{table}.csv", float_precision="round_trip")


@pytest.fixture(autouse=True)
def _frozen_demo_namespace(doctest_namespace):
    """``cohort`` and ``cycles`` (fresh copies) for every doctest; statistics warnings silenced."""
    doctest_namespace["cohort"] = _frozen("analysis_cohort").copy()
    doctest_namespace["cycles"] = _frozen("rait_cycles").copy()
    doctest_namespace["pd"] = pd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
