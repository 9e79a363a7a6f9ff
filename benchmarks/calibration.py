"""Calibrate the synthetic registry against the study: headline figures over many seeds.

For each seed: ``rait_registry.synth.write_extract(dir, n_patients=160, seed=s)``, then
``rait-registry refresh --extract DIR --warehouse PATH``, then Tables 1-3 from
``marts.analysis_cohort`` / ``marts.rait_cycles``. Prints, per figure, the mean and the
2.5-97.5 % range over seeds beside the paper's value (the paper is a target for the
simulator's shape, never an oracle for the statistics).

Usage::

    python benchmarks/calibration.py [--seeds 20] [--first-seed 1] [--patients 160] [--workdir DIR]

Takes about one refresh per seed (minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from rait_registry.analysis.logistic import LogisticAnalysis
from rait_registry.analysis.tables import table1, table2

# (label, paper value) -- Tables 1-3 and the Results text of the study (Shi et al. 2025)
PAPER = {
    "n eligible": 117,
    "% m-RAIT": 67.5,
    "median age, all": 29.9,
    "median age, o-RAIT": 33.9,
    "median age, m-RAIT": 27.1,
    "% female": 61.5,
    "% local persistent": 25.6,
    "% synchronous": 87.2,
    "% progressed": 20.5,
    "median cumulative GBq, m-RAIT": 14.80,
    "median interval, months": 6.3,
    "% first response PR": 49.6,
    "% first response PD": 9.4,
    "% last response PD, m-RAIT": 25.3,
    "p age (Table 1)": 0.036,
    "p local disease (Table 1)": 0.0003,
    "p metastasis timing (Table 1)": 0.046,
    "p last response o vs m": 0.005,
    "p first vs last, m-RAIT": 0.0003,
    "OR age >= 45": 3.070,
    "OR local persistent": 7.547,
    "OR m-RAIT": 2.881,
}


def _row(df: pd.DataFrame, variable: str, level: str | None = None) -> pd.Series:
    sel = df["variable"] == variable
    sel &= df["level"].isna() if level is None else df["level"].eq(level)
    return df[sel].iloc[0]


def headline(cohort: pd.DataFrame, cycles: pd.DataFrame) -> dict[str, float]:
    """The figures of :data:`PAPER` computed from one registry's marts."""
    t1, t2 = table1(cohort), table2(cohort, cycles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uni = LogisticAnalysis(sensitivity=False).fit(cohort).univariable_.set_index("term")
    m = cohort["rait_group"] == "m-RAIT"
    return {
        "n eligible": len(cohort),
        "% m-RAIT": 100 * m.mean(),
        "median age, all": _row(t1, "age_at_diagnosis_years")["overall"],
        "median age, o-RAIT": _row(t1, "age_at_diagnosis_years")["o_rait"],
        "median age, m-RAIT": _row(t1, "age_at_diagnosis_years")["m_rait"],
        "% female": _row(t1, "sex", "F")["overall_pct"],
        "% local persistent": _row(t1, "local_disease_status", "local_persistent")["overall_pct"],
        "% synchronous": _row(t1, "metastasis_timing", "synchronous")["overall_pct"],
        "% progressed": 100 * cohort["pfs_event"].mean(),
        "median cumulative GBq, m-RAIT": _row(t2, "cumulative_gbq")["m_rait"],
        "median interval, months": _row(t2, "interval_months")["m_rait"],
        "% first response PR": _row(t2, "first_response", "PR")["overall_pct"],
        "% first response PD": _row(t2, "first_response", "PD")["overall_pct"],
        "% last response PD, m-RAIT": _row(t2, "last_response", "PD")["m_rait_pct"],
        "p age (Table 1)": _row(t1, "age_at_diagnosis_years")["p_value"],
        "p local disease (Table 1)": _row(t1, "local_disease_status", "neither")["p_value"],
        "p metastasis timing (Table 1)": _row(t1, "metastasis_timing", "synchronous")["p_value"],
        "p last response o vs m": _row(t2, "last_response", "PD")["p_value"],
        "p first vs last, m-RAIT": _row(t2, "m_rait_first_vs_last", "worsened")["p_value"],
        "OR age >= 45": uni["or"].get("age_at_diagnosis=>=45", np.nan),
        "OR local persistent": uni["or"].get("local_disease_status=local_persistent", np.nan),
        "OR m-RAIT": uni["or"].get("rait_group=m-RAIT", np.nan),
    }


def run_seed(seed: int, patients: int, workdir: Path) -> dict[str, float]:
    from rait_registry.synth import write_extract

    extract, warehouse = workdir / f"extract_{seed}", workdir / f"registry_{seed}.duckdb"
    write_extract(extract, n_patients=patients, seed=seed)
    cli = shutil.which("rait-registry", path=str(Path(sys.executable).parent)) or "rait-registry"
    subprocess.run(
        [cli, "refresh", "--extract", str(extract), "--warehouse", str(warehouse)],
        check=True,
        capture_output=True,
        text=True,
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cohort = con.execute("select * from marts.analysis_cohort").df()
        cycles = con.execute("select * from marts.rait_cycles").df()
    return headline(cohort, cycles)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="number of seeds (default 20)")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--patients", type=int, default=160)
    ap.add_argument("--workdir", type=Path, help="keep extracts and warehouses here (default: a temp dir)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows = []
        for s in range(args.first_seed, args.first_seed + args.seeds):
            rows.append(run_seed(s, args.patients, workdir))
            print(f"seed {s}: {rows[-1]['n eligible']} eligible", file=sys.stderr)
    res = pd.DataFrame(rows)
    out = pd.DataFrame(
        {
            "paper": pd.Series(PAPER),
            "mean": res.mean(),
            "p2.5": res.quantile(0.025),
            "p97.5": res.quantile(0.975),
        }
    ).loc[list(PAPER)]
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 120):
        print(f"{len(res)} seeds, {args.patients} patients each")
        print(out.to_string())


if __name__ == "__main__":
    main()
