"""Scale benchmark of the Statistics II layer: matching, Kaplan-Meier + log-rank, Cox.

Simulates an analysis cohort of N patients with numpy (no registry, no dbt) and times

* ``PropensityMatcher().fit`` - logistic propensity model, greedy 1:1 caliper matching,
  balance table, matched cohort (the matching step alone is timed too);
* ``SurvivalComparison(cox=False).fit`` - Kaplan-Meier per group with log-log CIs, landmark
  survival, medians, numbers at risk and the log-rank test;
* ``hazard_ratio`` - the Cox model (lifelines, Efron ties, tight convergence);
* ``MaxstatCutpoint().fit`` on age;
* ``TargetTrialEmulation().fit`` (the strategies section) on a registry simulated by
  ``benchmarks/strategies_calibration.py``: at 2,000 eligible patients with the default 500
  bootstrap replicates, and at 100,000 with the robust sandwich CI (``n_bootstrap=0``).

Targets at 1M rows (2-core machine): matching < 5 s, KM + log-rank < 2 s; strategies < 120 s at
2,000 patients (500 replicates) and at 100,000 (sandwich CI).

Usage::

    python benchmarks/analysis_scale.py [--sizes 100000 1000000] [--no-cox] [--seed 1]
        [--strategies 2000:500 100000:0]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the pooled logistic's least squares: no thread contention

import numpy as np
import pandas as pd

from rait_registry.analysis.cutpoints import MaxstatCutpoint
from rait_registry.analysis.matching import PropensityMatcher, greedy_nearest_neighbor_match
from rait_registry.analysis.strategies import TargetTrialEmulation
from rait_registry.analysis.survival import SurvivalComparison, hazard_ratio

TARGETS = {"matching (PropensityMatcher.fit)": 5.0, "KM + log-rank": 2.0}
STRATEGY_TARGET_S = 120.0


def run_strategies(n: int, n_bootstrap: int, seed: int) -> dict:
    """The strategies section on ``n`` simulated eligible patients (simulation not timed)."""
    from strategies_calibration import simulate  # benchmarks/ is the script's directory

    cohort, months = simulate(n, seed, 1.0)
    tte = TargetTrialEmulation(n_bootstrap=n_bootstrap, covariates=("age_at_diagnosis_years", "sex"))
    load_before = os.getloadavg()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, fitted = _time(lambda: tte.fit(cohort, months))
    diff = fitted.estimates_["60"]["difference"]
    return {
        "n": n,
        "step": f"strategies ({n_bootstrap} bootstrap)" if n_bootstrap else "strategies (sandwich CI)",
        "seconds": t,
        "detail": f"{len(months)} person-months; diff {diff['estimate']:.3f} [{diff['ci_low']:.3f}, "
        f"{diff['ci_high']:.3f}]; load {load_before:.1f} -> {os.getloadavg()[0]:.1f}",
        "target_s": STRATEGY_TARGET_S,
    }


def simulate_cohort(n: int, seed: int = 1) -> pd.DataFrame:
    """A synthetic analysis cohort shaped like the study's (about a third o-RAIT)."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(38.0, 14.0, n), 8.0, 85.0).round(1)
    local = rng.choice(["neither", "local_recurrence", "local_persistent"], n, p=[0.75, 0.1, 0.15])
    fu = rng.uniform(12.0, 150.0, n).round(4)
    lin = -0.3 + 0.03 * (age - 38) - 1.4 * (local == "local_persistent") - 0.012 * (fu - 60)
    o_rait = rng.random(n) < 1 / (1 + np.exp(-lin))
    hazard = 0.004 * np.exp(0.04 * (age - 38) + 1.0 * (local == "local_persistent") + 0.3 * ~o_rait)
    t_event = rng.exponential(1 / hazard)
    pfs = np.minimum(t_event, fu).round(4)
    return pd.DataFrame(
        {
            "patient_id": np.char.add("P", np.char.zfill(np.arange(n).astype(str), 8)),
            "rait_group": np.where(o_rait, "o-RAIT", "m-RAIT"),
            "age_at_diagnosis_years": age,
            "local_disease_status": local,
            "follow_up_months": fu,
            "pfs_months": pfs,
            "pfs_event": (t_event <= fu).astype(int),
        }
    )


def _time(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(n: int, seed: int, cox: bool) -> list[dict]:
    cohort = simulate_cohort(n, seed)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, m = _time(lambda: PropensityMatcher().fit(cohort))
        rows.append(
            {"n": n, "step": "matching (PropensityMatcher.fit)", "seconds": t, "detail": f"{len(m.pairs_)} pairs"}
        )
        focal = (cohort["rait_group"] == "o-RAIT").to_numpy()
        p = m.propensity_.to_numpy()
        ids = m.propensity_.index.to_numpy()
        t, pairs = _time(
            lambda: greedy_nearest_neighbor_match(ids, focal[np.argsort(cohort["patient_id"].to_numpy())], p, 0.05)
        )
        rows.append({"n": n, "step": "  of which greedy matching", "seconds": t, "detail": f"{len(pairs)} pairs"})
        T = cohort["pfs_months"].to_numpy()
        E = cohort["pfs_event"].to_numpy()
        G = cohort["rait_group"].to_numpy()
        t, comp = _time(lambda: SurvivalComparison(["o-RAIT", "m-RAIT"], cox=False).fit(cohort))
        rows.append({"n": n, "step": "KM + log-rank", "seconds": t, "detail": f"chi2 {comp.logrank_['chi2']:.1f}"})
        if cox:
            t, hr = _time(lambda: hazard_ratio(T, E, G, "o-RAIT", "m-RAIT")[0])
            rows.append({"n": n, "step": "Cox (lifelines, Efron)", "seconds": t, "detail": f"HR {hr['hr']:.3f}"})
        t, ms = _time(lambda: MaxstatCutpoint().fit(T, E, cohort["age_at_diagnosis_years"].to_numpy()))
        rows.append({"n": n, "step": "maxstat (age)", "seconds": t, "detail": f"cut {ms.cutpoint_:g}"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000], help="none: strategies only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-cox", action="store_true", help="skip the Cox model (slowest step)")
    ap.add_argument(
        "--strategies",
        nargs="*",
        default=["2000:500", "100000:0"],
        help="N:REPLICATES runs of the strategies section (0 replicates: sandwich CI); none to skip",
    )
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        for row in run(n, args.seed, not args.no_cox):
            # the matching and KM targets are stated at 1M rows (NaN: no target, never None, so the
            # comparison below works whatever the sizes)
            row["target_s"] = TARGETS.get(row["step"], np.nan) if n == 1_000_000 else np.nan
            rows.append(row)
    for spec in args.strategies:
        n, reps = (int(x) for x in spec.split(":"))
        rows.append(run_strategies(n, reps, args.seed))
    table = pd.DataFrame(rows)
    table["target_s"] = pd.to_numeric(table["target_s"], errors="coerce")
    table["seconds"] = table["seconds"].round(2)
    with pd.option_context("display.width", 200, "display.max_columns", 10, "display.max_colwidth", 120):
        print(table.to_string(index=False))
    late = table[(table["target_s"].notna()) & (table["seconds"] > table["target_s"])]
    if len(late):
        print(f"\n{len(late)} step(s) over target")


if __name__ == "__main__":
    main()
