"""Write a seeded 117-patient stand-in of ``marts.analysis_cohort`` and ``marts.rait_cycles``.

The stand-in exists so that the statistics layer (Tables 1-3, matching, survival,
cut-points) can be tested against R before the dbt marts exist. It is *not* the synthetic
registry (``rait_registry.synth`` simulates raw events and lets dbt derive everything);
this script draws mart rows directly, shaped like Tables 1-2 of the study
(Shi et al. 2025, the study docs/specification.md follows): 38 o-RAIT and 79 m-RAIT patients with the
paper's group margins for every categorical row, so that the same tests are triggered:

* small cells, so Fisher's exact test is used on 2 x 2 *and* r x c tables
  (histology, N stage, ATA risk, local disease status, metastasis timing);
* a few missing values (T group, N stage, tumour size, ATA ``unknown``), so every
  "n missing" path runs;
* CR and NE responses, which the tables show and the tests leave out;
* no progression among FTC patients (and none among N1a), so the univariable logistic
  models meet quasi-complete separation and fall back to Firth.

Progression is drawn from a logistic model in age >= 45, local disease status, tumour size
and group; a patient progresses (``pfs_event`` = 1) exactly when one of their cycles has
response ``PD``. Values are rounded (age 0.1 y, size 0.1 cm, activity 0.01 GBq) so the
Mann-Whitney tie correction is exercised.

Usage::

    python tests/data/make_standin_cohort.py [--out tests/data/frozen_cohort] [--seed 20250508]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

MONTH_DAYS = 30.4375
DEFAULT_SEED = 20250508
DEFAULT_OUT = Path(__file__).resolve().parent / "frozen_cohort"


def _exact_levels(rng: np.random.Generator, counts: dict, n: int) -> np.ndarray:
    """An array holding each level exactly ``counts[level]`` times (None for missing), shuffled."""
    values = [lvl for lvl, k in counts.items() for _ in range(k)]
    if len(values) != n:
        raise ValueError(f"counts add to {len(values)}, expected {n}")
    arr = np.array(values, dtype=object)
    rng.shuffle(arr)
    return arr


# Group margins: the paper's Table 1-2, with a few cells moved to missing / CR / NE.
O_COUNTS = {
    "sex": {"M": 13, "F": 25},
    "histology": {"PTC": 37, "FTC": 1},
    "t_stage_group": {"T1+T2": 21, "T3+T4": 16, None: 1},
    "n_stage_max": {"N0": 3, "N1a": 2, "N1b": 33},
    "ata_risk": {"low": 1, "intermediate": 0, "high": 37, "unknown": 0},
    "local_disease_status": {"neither": 34, "local_recurrence": 1, "local_persistent": 3},
    "metastasis_timing": {"synchronous": 37, "metachronous": 1},
}
M_COUNTS = {
    "sex": {"M": 32, "F": 47},
    "histology": {"PTC": 77, "FTC": 2},
    "t_stage_group": {"T1+T2": 37, "T3+T4": 41, None: 1},
    "n_stage_max": {"N0": 5, "N1a": 4, "N1b": 69, None: 1},
    "ata_risk": {"low": 0, "intermediate": 4, "high": 74, "unknown": 1},
    "local_disease_status": {"neither": 43, "local_recurrence": 9, "local_persistent": 27},
    "metastasis_timing": {"synchronous": 65, "metachronous": 14},
}
N_CYCLES_M = {2: 25, 3: 24, 4: 15, 5: 9, 6: 4, 7: 2}  # median 3, range 2-7, 79 patients
ACTIVITY_LEVELS = np.array([3.70, 5.00, 5.55, 6.48, 7.40])


def _draw_group(rng: np.random.Generator, group: str, n: int, counts: dict) -> pd.DataFrame:
    df = pd.DataFrame({col: _exact_levels(rng, c, n) for col, c in counts.items()})
    df["rait_group"] = group
    if group == "o-RAIT":
        age = rng.gamma(shape=9.0, scale=34.0 / 9.0, size=n) + rng.normal(0, 2, n)
    else:
        age = rng.gamma(shape=4.0, scale=28.0 / 4.0, size=n) + rng.normal(0, 3, n)
    df["age_at_diagnosis_years"] = np.round(np.clip(age, 8.0, 78.0), 1)
    size_scale = 2.1 if group == "o-RAIT" else 2.8
    size = np.round(np.clip(rng.lognormal(np.log(size_scale), 0.55, n), 0.3, 9.5), 1)
    df["max_tumor_size_cm"] = size
    df["n_rait_cycles"] = 1 if group == "o-RAIT" else _exact_levels(rng, N_CYCLES_M, n).astype(int)
    return df


def _response_sequence(rng: np.random.Generator, n_cycles: int, progressed: bool) -> list[str]:
    """Per-cycle responses; PD appears (once, as the first PD) only when the patient progressed."""
    seq = list(rng.choice(["PR", "SD"], size=n_cycles, p=[0.5, 0.5]))
    if progressed:
        # first PD at the first cycle (~30% of m-RAIT progressions) or at the last
        k = 0 if (n_cycles == 1 or rng.random() < 0.3) else n_cycles - 1
        seq[k] = "PD"
        for j in range(k + 1, n_cycles):  # after a progression, no PR
            seq[j] = rng.choice(["SD", "PD"], p=[0.6, 0.4])
    else:
        # responses worsen over repeated cycles (the paper's last-vs-first finding)
        for j in range(1, n_cycles):
            if seq[j] == "PR" and rng.random() < 0.5:
                seq[j] = "SD"
    return seq


def make_standin(seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (analysis_cohort, rait_cycles) as DataFrames shaped like the marts of contract 3."""
    rng = np.random.default_rng(seed)
    cohort = pd.concat(
        [_draw_group(rng, "o-RAIT", 38, O_COUNTS), _draw_group(rng, "m-RAIT", 79, M_COUNTS)],
        ignore_index=True,
    )
    n = len(cohort)
    cohort.insert(0, "patient_id", [f"SP{i:04d}" for i in rng.permutation(np.arange(1, n + 1))])
    cohort.loc[rng.choice(n, 2, replace=False), "max_tumor_size_cm"] = np.nan

    # progression model (log-odds); FTC and N1a never progress (separation on purpose)
    lp = (
        -2.4
        + 1.6 * (cohort["age_at_diagnosis_years"] >= 45)
        + 2.0 * (cohort["local_disease_status"] == "local_persistent")
        + 0.8 * (cohort["local_disease_status"] == "local_recurrence")
        + 0.35 * (cohort["max_tumor_size_cm"].fillna(2.5) - 2.5)
        + 0.2 * (cohort["rait_group"] == "m-RAIT")
    )
    event = rng.random(n) < 1.0 / (1.0 + np.exp(-lp.to_numpy(dtype=float)))
    event &= ~cohort["histology"].eq("FTC").to_numpy() & ~cohort["n_stage_max"].eq("N1a").to_numpy()
    cohort["pfs_event"] = event.astype(int)

    start = pd.Timestamp("2004-01-01") + pd.to_timedelta(rng.integers(0, 365 * 17, n), unit="D")
    cycle_rows, first, last, pfs_m, fu_m, med_act, cum_act = [], [], [], [], [], [], []
    seqs = [
        [str(r) for r in _response_sequence(rng, int(k), bool(e))]
        for k, e in zip(cohort["n_rait_cycles"], cohort["pfs_event"])
    ]
    # three complete responses (one o-RAIT) and two non-evaluable first cycles, never in progressors
    groups = cohort["rait_group"].to_numpy()
    pr_last = [i for i, s in enumerate(seqs) if s[-1] == "PR" and not cohort.at[i, "pfs_event"]]
    cr_o = [i for i in pr_last if groups[i] == "o-RAIT"]
    cr_m = [i for i in pr_last if groups[i] == "m-RAIT"]
    for i in list(rng.choice(cr_o, 1, replace=False)) + list(rng.choice(cr_m, 2, replace=False)):
        seqs[i][-1] = "CR"
    ne_pool = [
        i for i, s in enumerate(seqs) if groups[i] == "m-RAIT" and not cohort.at[i, "pfs_event"] and s[-1] != "CR"
    ]
    for i in rng.choice(ne_pool, 2, replace=False):
        seqs[i][0] = "NE"
    for i, row in cohort.iterrows():
        k = int(row["n_rait_cycles"])
        seq = seqs[i]
        gaps = np.round(rng.lognormal(np.log(195), 0.25, k - 1)).astype(int)
        gaps = np.clip(gaps, 120, 720)
        dates = [start[i]] + [start[i] + pd.Timedelta(days=int(d)) for d in np.cumsum(gaps)]
        act = rng.choice(ACTIVITY_LEVELS, size=k, p=[0.05, 0.12, 0.6, 0.13, 0.10])
        cum = np.cumsum(act)
        span_days = (dates[-1] - dates[0]).days
        follow_days = span_days + int(np.clip(rng.lognormal(np.log(1500), 0.6), 300, 7000))
        if row["pfs_event"]:
            pd_cycle = seq.index("PD")
            lo = (dates[pd_cycle] - dates[0]).days + 184
            hi = (dates[pd_cycle + 1] - dates[0]).days + 14 if pd_cycle < k - 1 else lo + 2200
            pfs_days = int(rng.integers(lo, max(hi, lo + 1)))
            follow_days = max(follow_days, pfs_days + int(rng.integers(30, 2500)))
        else:
            pfs_days = follow_days
        for c in range(k):
            tg_pre = float(np.round(rng.lognormal(np.log(40), 1.2), 2))
            resp = seq[c]
            if resp == "PR":
                delta = rng.uniform(0.25, 0.9)
                basis, scan = "tg_decline", rng.choice(["stable", "reduced"])
            elif resp == "SD":
                delta = rng.uniform(-0.6, 0.24)
                basis, scan = "no_change", "stable"
            elif resp == "PD":
                delta = rng.uniform(-1.5, 0.5)
                basis, scan = "new_lesion", rng.choice(["stable", "increased"])
            elif resp == "CR":
                delta = 0.99
                basis, scan = "no_evidence_of_disease", "resolved"
            else:  # NE
                delta, basis, scan = np.nan, "insufficient_data", None
            tg_post = np.nan if np.isnan(delta) else float(np.round(tg_pre * (1 - delta), 2))
            d_tg = np.nan if np.isnan(tg_post) else (tg_pre - tg_post) / tg_pre
            cycle_rows.append(
                {
                    "patient_id": row["patient_id"],
                    "rait_id": f"{row['patient_id']}-R{c + 1}",
                    "cycle_number": c + 1,
                    "admin_date": dates[c].date().isoformat(),
                    "activity_gbq": float(act[c]),
                    "cumulative_gbq": float(np.round(cum[c], 2)),
                    "days_since_previous": None if c == 0 else int(gaps[c - 1]),
                    "tg_pre": tg_pre,
                    "tg_post": tg_post,
                    "delta_tg": None if np.isnan(d_tg) else round(float(d_tg), 6),
                    "scan_change": scan,
                    "response": resp,
                    "response_basis": basis,
                }
            )
        first.append(seq[0])
        last.append(seq[-1])
        pfs_m.append(round(pfs_days / MONTH_DAYS, 4))
        fu_m.append(round(follow_days / MONTH_DAYS, 4))
        med_act.append(float(np.median(act)))
        cum_act.append(float(np.round(cum[-1], 2)))
    cohort["first_response"] = first
    cohort["last_response"] = last
    cohort["median_activity_gbq"] = med_act
    cohort["cumulative_gbq"] = cum_act
    cohort["pfs_months"] = pfs_m
    cohort["follow_up_months"] = fu_m
    cols = [
        "patient_id",
        "rait_group",
        "n_rait_cycles",
        "sex",
        "age_at_diagnosis_years",
        "histology",
        "max_tumor_size_cm",
        "t_stage_group",
        "n_stage_max",
        "ata_risk",
        "local_disease_status",
        "metastasis_timing",
        "first_response",
        "last_response",
        "median_activity_gbq",
        "cumulative_gbq",
        "pfs_months",
        "pfs_event",
        "follow_up_months",
    ]
    cohort = cohort[cols].sort_values("patient_id", kind="stable").reset_index(drop=True)
    cycles = pd.DataFrame(cycle_rows).sort_values(["patient_id", "cycle_number"]).reset_index(drop=True)
    cycles["days_since_previous"] = cycles["days_since_previous"].astype("Int64")
    return cohort, cycles


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    cohort, cycles = make_standin(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    cohort.to_csv(args.out / "analysis_cohort.csv", index=False)
    cycles.to_csv(args.out / "rait_cycles.csv", index=False)
    print(
        f"wrote {len(cohort)} patients ({(cohort.rait_group == 'o-RAIT').sum()} o-RAIT), "
        f"{len(cycles)} cycles, {int(cohort.pfs_event.sum())} events to {args.out}"
    )


if __name__ == "__main__":
    main()
