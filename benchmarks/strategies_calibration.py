"""Calibration of the target-trial emulation (`rait_registry.analysis.strategies`): printed, not timed.

A simulated registry in which the decision to give a second RAIT depends on a prognostic marker
seen after the first RAIT (the first cycle's Tg decline, known from month 4), so that comparing
patients by the number of RAITs they ended up receiving is biased (immortal time, confounding by
indication), while clone-censor-weight with the marker in the censoring model is not:

* latent prognosis U ~ N(0, 1); Tg decline delta = 0.4 - 0.25 U + N(0, 0.15), known from month 4
  (its sample is dated in month 3); age ~ N(45, 15);
* monthly hazard of progression 0.006 exp(0.7 U + 0.02 (age - 45)) x HR_T once the second RAIT
  has been given (from the month it is given); HR_T = 1 (no effect) or 0.6 (a stated effect);
* monthly hazard of the second RAIT, among patients without one: logistic in
  -2.2 - 0.5 ((month - 8) / 4)^2 - 2 delta (delta 0 while unknown), so a poor Tg decline makes a
  second RAIT likelier (about a third of the patients have one within 12 months);
* administrative end of follow-up uniform in 36..120 months.

The truth of each strategy is the mean, over 10^6 simulated patients, of their probability of
being progression-free at 60 months under it: A never treats; B treats at the patient's natural
time if that is before month 11 and in month 11 otherwise (grace 12 months: the natural course
until the deadline, the strategy `TargetTrialEmulation` estimates). Its Monte Carlo interval is
the mean +- 1.96 standard errors.

For each seed the CCW estimate of S_A(60) - S_B(60) with its 95% percentile-bootstrap CI is
compared with the truth, and the naive contrast (Kaplan-Meier of one RAIT vs two or more from the
first RAIT) with the truth's Monte Carlo interval.

Usage::

    python benchmarks/strategies_calibration.py [--seeds 50] [--patients 800] [--bootstrap 500]
        [--processes 2] [--truncation 99.9] [--per-seed seeds.csv]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread per process: the machine has 2 cores
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from rait_registry.analysis.config import DEFAULTS
from rait_registry.analysis.strategies import TargetTrialEmulation

GRACE = 12
HORIZON = 60.0
EFFECTS = {"no effect": 1.0, "HR 0.6": 0.6}
MAX_MONTHS = 120


def _treatment_logit(month: np.ndarray, delta_known: np.ndarray) -> np.ndarray:
    return -2.2 - 0.5 * ((month - 8.0) / 4.0) ** 2 - 2.0 * delta_known


def _patients(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    u = rng.normal(size=n)
    return {
        "u": u,
        "age": rng.normal(45.0, 15.0, n),
        "delta": 0.4 - 0.25 * u + rng.normal(0.0, 0.15, n),
        "end": rng.uniform(36.0, 120.0, n),
    }


def _progression_hazard(p: dict[str, np.ndarray], hr_treated: float, treated: np.ndarray) -> np.ndarray:
    base = 0.006 * np.exp(0.7 * p["u"] + 0.02 * (p["age"] - 45.0))
    return np.minimum(base * np.where(treated, hr_treated, 1.0), 1.0)


def _delta_known(p: dict[str, np.ndarray], month: int) -> np.ndarray:
    return p["delta"] if month >= 4 else np.zeros_like(p["delta"])


def simulate(n: int, seed: int, hr_treated: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A registry of ``n`` patients as the analysis reads it: (cohort, strategy_evidence_monthly)."""
    rng = np.random.default_rng(seed)
    p = _patients(n, rng)
    ids = np.char.add("S", np.char.zfill(np.arange(n).astype(str), 6))
    treated = np.zeros(n, bool)
    alive = np.ones(n, bool)
    rows = []
    pfs_months = np.zeros(n)
    pfs_event = np.zeros(n, int)
    for month in range(MAX_MONTHS):
        in_fu = alive & (p["end"] > month)
        if not in_fu.any():
            break
        known = _delta_known(p, month)
        h_t = 1 / (1 + np.exp(-_treatment_logit(np.full(n, month, float), known)))
        treat_now = in_fu & ~treated & (rng.random(n) < h_t)
        given_before = treated.copy()
        treated |= treat_now
        event = in_fu & (rng.random(n) < _progression_hazard(p, hr_treated, treated))
        last = in_fu & (event | (p["end"] <= month + 1))
        stop = np.where(event, month + rng.uniform(0.01, 1.0, n), np.where(last, p["end"], month + 1.0))
        idx = np.flatnonzero(in_fu)
        rows.append(
            pd.DataFrame(
                {
                    "patient_id": ids[idx],
                    "month_number": month,
                    "start_months": float(month),
                    "stop_months": stop[idx],
                    "tg_post_known": month >= 4,
                    "delta_tg": np.where(month >= 4, p["delta"][idx], np.nan),
                    "scan_change": None,
                    "n_new_lesions": 0,
                    "second_rait_given": given_before[idx],
                    "second_rait_in_month": treat_now[idx],
                    "pfs_event_in_month": event[idx],
                    "is_last_month": last[idx],
                }
            )
        )
        pfs_months[last] = stop[last]
        pfs_event[event] = 1
        alive &= ~last
    months = pd.concat(rows, ignore_index=True)
    n_rait = np.where(treated, 2, 1)
    cohort = pd.DataFrame(
        {
            "patient_id": ids,
            "age_at_diagnosis_years": p["age"],
            "sex": rng.choice(["F", "M"], n),
            "pfs_months": pfs_months,
            "pfs_event": pfs_event,
            "n_rait_cycles": n_rait,
        }
    )
    return cohort, months


def truth(hr_treated: float, n: int = 1_000_000, seed: int = 12345) -> tuple[float, float]:
    """S_A(60) - S_B(60) over ``n`` simulated patients and its Monte Carlo standard error."""
    rng = np.random.default_rng(seed)
    p = _patients(n, rng)
    # B: natural treatment time before the deadline month, else the deadline month (11)
    t_b = np.full(n, GRACE - 1)
    pending = np.ones(n, bool)
    for month in range(GRACE - 1):
        h_t = 1 / (1 + np.exp(-_treatment_logit(np.full(n, month, float), _delta_known(p, month))))
        now = pending & (rng.random(n) < h_t)
        t_b[now] = month
        pending &= ~now
    log_a = np.zeros(n)
    log_b = np.zeros(n)
    for month in range(int(HORIZON)):
        log_a += np.log1p(-_progression_hazard(p, hr_treated, np.zeros(n, bool)))
        log_b += np.log1p(-_progression_hazard(p, hr_treated, t_b <= month))
    diff = np.exp(log_a) - np.exp(log_b)
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(n))


def naive_difference(cohort: pd.DataFrame) -> float:
    """KM PFS at 60 months of one RAIT minus two or more, groups by the RAITs received (biased)."""
    out = []
    for n_rait in (1, 2):
        g = cohort[cohort["n_rait_cycles"] == n_rait]
        out.append(float(KaplanMeierFitter().fit(g["pfs_months"], g["pfs_event"]).predict(HORIZON)))
    return out[0] - out[1]


#: Truncation percentiles whose point estimates every seed also reports (their bias is printed).
TRUNCATIONS = (99.0, 99.5, 99.9, 100.0)


def one_seed(args: tuple) -> dict:
    seed, hr_treated, n, n_bootstrap, *rest = args
    truncation = rest[0] if rest else DEFAULTS.strategy_weight_truncation
    cohort, months = simulate(n, seed, hr_treated)
    tte = TargetTrialEmulation(
        grace_months=GRACE,
        truncation=truncation,
        n_bootstrap=n_bootstrap,
        random_state=seed,
        covariates=("age_at_diagnosis_years", "sex"),
    ).fit(cohort, months)
    diff = tte.estimates_[f"{HORIZON:g}"]["difference"]
    out = {
        "seed": seed,
        "estimate": diff["estimate"],
        "ci_low": diff["ci_low"],
        "ci_high": diff["ci_high"],
        "naive": naive_difference(cohort),
    }
    out.update({f"trunc_{p:g}": point_difference(tte, p) for p in TRUNCATIONS})
    return out


def point_difference(tte: TargetTrialEmulation, percentile: float) -> float:
    """S_A(60) - S_B(60) of a fitted emulation with its weights truncated at ``percentile`` instead
    (the same censoring model: only the truncation differs)."""
    d = tte.design_
    h_num, h_den, _, _ = tte._hazards(
        d, None, (tte.stabilising_model_.to_numpy(), tte.censoring_model_["coef"].to_numpy())
    )
    w = tte._weights(d, h_num, h_den)
    saved, tte.truncation = tte.truncation, percentile
    try:
        tte._truncate(w, None, d.pid)
    finally:
        tte.truncation = saved
    s = tte._survival(d, w, None)
    k = len(tte.horizons_months)
    return float(s[k - 1] - s[2 * k - 1])


def calibrate(
    seeds: int,
    n: int,
    n_bootstrap: int,
    processes: int = 1,
    first_seed: int = 1,
    truncation: float = DEFAULTS.strategy_weight_truncation,
    per_seed: Path | None = None,
    effects: tuple[str, ...] = tuple(EFFECTS),
) -> pd.DataFrame:
    """One row per truth (``effects``, names of `EFFECTS`): the truth, its MC interval, bias (and
    its Monte Carlo SE over seeds), CI coverage over seeds, the naive contrast, and the bias at
    each of `TRUNCATIONS`."""
    rows = []
    for label, hr in ((name, EFFECTS[name]) for name in effects):
        true, se = truth(hr)
        jobs = [(first_seed + s, hr, n, n_bootstrap, truncation) for s in range(seeds)]
        if processes > 1:
            with ProcessPoolExecutor(processes) as pool:
                results = list(pool.map(one_seed, jobs))
        else:
            results = [one_seed(job) for job in jobs]
        res = pd.DataFrame(results)
        if per_seed is not None:
            res.assign(truth=label, true_diff=true).to_csv(
                per_seed, mode="a", header=not per_seed.exists(), index=False
            )
        lo, hi = true - 1.96 * se, true + 1.96 * se
        covered = int(((res["ci_low"] <= true) & (true <= res["ci_high"])).sum())
        naive_mean = float(res["naive"].mean())
        row = {
            "truth": label,
            "true_diff_60m": round(true, 4),
            "mc_interval": f"[{lo:.4f}, {hi:.4f}]",
            "seeds": seeds,
            "ccw_mean": round(float(res["estimate"].mean()), 4),
            "bias": round(float(res["estimate"].mean()) - true, 4),
            "bias_mc_se": round(float(res["estimate"].std(ddof=1)) / np.sqrt(seeds), 4),
            "ci_covers_truth": covered,
            "naive_mean": round(naive_mean, 4),
            "naive_outside_mc": int(((res["naive"] < lo) | (res["naive"] > hi)).sum()),
        }
        for p in TRUNCATIONS:
            row[f"bias_trunc_{p:g}"] = round(float(res[f"trunc_{p:g}"].mean()) - true, 4)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--patients", type=int, default=800)
    ap.add_argument("--bootstrap", type=int, default=DEFAULTS.bootstrap)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument(
        "--truncation", type=float, default=DEFAULTS.strategy_weight_truncation, help="weight truncation percentile"
    )
    ap.add_argument("--per-seed", type=Path, help="append every seed's estimates to this CSV")
    ap.add_argument(
        "--effects",
        default=",".join(EFFECTS),
        help=f"comma-separated truths to calibrate (default: {', '.join(EFFECTS)})",
    )
    args = ap.parse_args()
    effects = tuple(e.strip() for e in args.effects.split(","))
    unknown = [e for e in effects if e not in EFFECTS]
    if unknown:
        ap.error(f"unknown truth(s) {unknown}; choose from {list(EFFECTS)}")
    t0 = time.perf_counter()
    table = calibrate(
        args.seeds,
        args.patients,
        args.bootstrap,
        args.processes,
        args.first_seed,
        args.truncation,
        args.per_seed,
        effects,
    )
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.T.to_string(header=False))
    print(
        f"\n{args.seeds} seeds x {len(effects)} truths, {args.patients} patients, {args.bootstrap} bootstrap "
        f"replicates, truncation at the {args.truncation:g}th percentile, {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
