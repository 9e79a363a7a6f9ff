"""Shared fixtures: one demo warehouse per test session (built once, read by many tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from .frozen_data import FROZEN, load_frozen, read_frozen_csv

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
BIN = Path(sys.executable).parent
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")


def run_cli(*args: str, check: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the ``rait-registry`` console script; return the completed process (text mode)."""
    proc = subprocess.run(
        [str(BIN / "rait-registry"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"rait-registry {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def demo_extract(tmp_path_factory) -> Path:
    """The bundled synthetic registry (160 patients, seed 0) as a CSV extract."""
    from rait_registry.synth import write_extract

    out = tmp_path_factory.mktemp("demo") / "extract"
    write_extract(out, n_patients=160, seed=0, fmt="csv")
    return out


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory, demo_extract) -> Path:
    """The demo extract refreshed into a published warehouse (one real dbt build per session)."""
    warehouse = tmp_path_factory.mktemp("warehouse") / "registry.duckdb"
    run_cli("refresh", "--extract", str(demo_extract), "--warehouse", str(warehouse), check=True)
    return warehouse


@pytest.fixture
def published_copy(tmp_path, demo_warehouse) -> Path:
    """A private copy of the demo warehouse (with its history) to refresh onto."""
    target = tmp_path / "wh" / "registry.duckdb"
    target.parent.mkdir()
    shutil.copy(demo_warehouse, target)
    return target


@pytest.fixture(scope="session")
def demo_con(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture
def tiny_extract(tmp_path) -> Path:
    """A copy of the tiny hand-written extract, safe to modify."""
    target = tmp_path / "tiny"
    shutil.copytree(DATA / "tiny_extract", target)
    return target


@pytest.fixture(scope="session")
def edge_warehouse(tmp_path_factory) -> Path:
    """The hand-written golden edge-case extract, refreshed once per session."""
    warehouse = tmp_path_factory.mktemp("edge") / "registry.duckdb"
    run_cli("refresh", "--extract", str(DATA / "edge_extract"), "--warehouse", str(warehouse), check=True)
    return warehouse


def read_published_marts(warehouse: Path) -> dict:
    """The marts of a published warehouse as DataFrames (the five of the paper and, when the
    warehouse has it, the target-trial emulation's strategy_evidence_monthly)."""
    from rait_registry.warehouse import MARTS, table_exists

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [
            *MARTS,
            *(["strategy_evidence_monthly"] if table_exists(con, "marts", "strategy_evidence_monthly") else []),
        ]
        return {name: con.execute(f"select * from marts.{name}").df() for name in names}
    finally:
        con.close()


@pytest.fixture(scope="module", params=FROZEN)
def frozen(request):
    """Each frozen data set (stand-in, demo) with its R references (tests/frozen_data.py), once per module."""
    return load_frozen(request.param)


@pytest.fixture(scope="module")
def cohort():
    """The frozen stand-in cohort (CR/NE responses, missing values, deliberate separation), once per module."""
    return read_frozen_csv("frozen_cohort", "analysis_cohort")


@pytest.fixture(scope="module")
def cycles():
    """The frozen stand-in cohort's rait_cycles, once per module."""
    return read_frozen_csv("frozen_cohort", "rait_cycles")


@pytest.fixture(scope="session")
def demo_results(tmp_path_factory, demo_warehouse) -> Path:
    """``rait-registry analyze`` on the demo warehouse, once per session; returns the output folder."""
    out = tmp_path_factory.mktemp("analysis")
    run_cli("analyze", "--warehouse", str(demo_warehouse), "--out", str(out), check=True)
    return out
