"""Calibration of the synthetic registry against the study (Shi et al. 2025, Tables 1-3).

Simulates a registry with :func:`rait_registry.synth.simulate`, derives the marts with the
independent pandas reading of docs/specification.md section 2 (``tests/oracle``), and prints the figures
the study reports next to the simulated ones. Nothing here feeds back into the simulator:
it is a measurement.

Usage::

    python benchmarks/calibration_synth.py                 # default registry (160, seed 0)
    python benchmarks/calibration_synth.py --patients 20000 --seed 1   # expected values
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rait_registry.synth import simulate  # noqa: E402
from tests.oracle import derive_marts  # noqa: E402

# (label, paper value as printed)
PAPER = {
    "eligible": "117",
    "o/m": "38/79",
    "age overall": "29.9 (19.2, 39.4)",
    "age o": "33.9 (27.4, 39.9)",
    "age m": "27.1 (17.1, 37.2)",
    "female %": "61.5 (o 65.8, m 59.5)",
    "PTC %": "97.4",
    "size overall": "2.5 (1.5, 3.5)",
    "size o": "2.0 (1.3, 2.8)",
    "size m": "2.9 (1.6, 3.7)",
    "T3+T4 %": "50.4 (o 44.7, m 53.2)",
    "N0/N1a/N1b %": "6.8/5.1/88.0",
    "ATA low/int/high": "1/4/112",
    "local neither/rec/pers %": "65.8/8.5/25.6",
    "local persistent o/m %": "7.9/34.2",
    "synchronous %": "87.2 (o 97.4, m 82.3)",
    "median activity overall": "5.55 (5.55, 6.01)",
    "median activity o": "5.55 (5.00, 5.55)",
    "median activity m": "5.55 (5.55, 6.48)",
    "cumulative o": "5.55 (5.00, 5.55)",
    "cumulative m": "14.80 (11.10, 20.17)",
    "cycles m": "median 3 (range 2-7)",
    "interval m (months)": "6.3 (5.6, 8.2)",
    "first response PR/SD/PD": "58/48/11 (49.6/41.0/9.4%)",
    "first response o PR/SD/PD": "19/15/4",
    "first response m PR/SD/PD": "39/33/7",
    "last response m PR/SD/PD": "17/42/20 (21.5/53.2/25.3%)",
    "PD patients (o/m)": "24 (4/20)",
    "5y PFS overall/o/m": "76.6/84.8/72.9",
    "deaths": "0",
    "follow-up months": "61.1 (range 13.0-257.6)",
    "OR age>=45 uni/multi": "3.07 / 8.48",
    "OR local persistent uni/multi": "7.55 / 9.14",
    "OR size per cm uni/multi": "1.39 / 1.36",
    "OR m-RAIT uni/multi": "2.88 / 1.57",
    "OR number of cycles uni": "1.21",
}


def _mq(s: pd.Series, digits: int = 1) -> str:
    s = s.dropna()
    if s.empty:
        return "-"
    q = s.quantile([0.5, 0.25, 0.75]).round(digits)
    return f"{q.iloc[0]} ({q.iloc[1]}, {q.iloc[2]})"


def _pct(mask: pd.Series) -> float:
    return round(100 * float(mask.mean()), 1) if len(mask) else float("nan")


def _km_at(months: pd.Series, event: pd.Series, t: float) -> float:
    from lifelines import KaplanMeierFitter

    if len(months) == 0:
        return float("nan")
    kmf = KaplanMeierFitter().fit(months, event)
    return round(100 * float(kmf.survival_function_at_times(t).iloc[0]), 1)


def _odds_ratios(cohort: pd.DataFrame) -> dict[str, str]:
    import statsmodels.api as sm

    d = pd.DataFrame(
        {
            "pd": cohort["pfs_event"].astype(float),
            "age45": (cohort["age_at_diagnosis_years"] >= 45).astype(float),
            "lp": cohort["local_disease_status"].eq("local_persistent").astype(float),
            "lr": cohort["local_disease_status"].eq("local_recurrence").astype(float),
            "size": cohort["max_tumor_size_cm"].astype(float),
            "m": cohort["rait_group"].eq("m-RAIT").astype(float),
            "cycles": cohort["n_rait_cycles"].astype(float),
        }
    ).dropna()

    def fit(cols: list[str]) -> pd.Series:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.Logit(d["pd"], sm.add_constant(d[cols])).fit(disp=0)
        return np.exp(res.params)

    multi = fit(["age45", "lp", "lr", "size", "m"])
    out = {}
    for label, col in (
        ("OR age>=45 uni/multi", "age45"),
        ("OR local persistent uni/multi", "lp"),
        ("OR size per cm uni/multi", "size"),
        ("OR m-RAIT uni/multi", "m"),
    ):
        out[label] = f"{fit([col])[col]:.2f} / {multi[col]:.2f}"
    out["OR number of cycles uni"] = f"{fit(['cycles'])['cycles']:.2f}"
    return out


def figures(marts: dict[str, pd.DataFrame]) -> dict[str, str]:
    """The study's figures computed from oracle marts."""
    c = marts["analysis_cohort"]
    cyc = marts["rait_cycles"]
    o, m = c[c["rait_group"].eq("o-RAIT")], c[c["rait_group"].eq("m-RAIT")]
    f: dict[str, str] = {}
    att = marts["cohort_attrition"]
    f["attrition"] = ", ".join(f"{r.criterion}:-{r.n_excluded}" for r in att.itertuples() if r.step > 0)
    f["eligible"] = str(len(c))
    f["o/m"] = f"{len(o)}/{len(m)}"
    f["age overall"] = _mq(c["age_at_diagnosis_years"])
    f["age o"] = _mq(o["age_at_diagnosis_years"])
    f["age m"] = _mq(m["age_at_diagnosis_years"])
    f["female %"] = f"{_pct(c['sex'].eq('F'))} (o {_pct(o['sex'].eq('F'))}, m {_pct(m['sex'].eq('F'))})"
    f["PTC %"] = str(_pct(c["histology"].eq("PTC")))
    f["size overall"] = _mq(c["max_tumor_size_cm"])
    f["size o"] = _mq(o["max_tumor_size_cm"])
    f["size m"] = _mq(m["max_tumor_size_cm"])
    t34 = lambda d: _pct(d["t_stage_group"].eq("T3+T4"))  # noqa: E731
    f["T3+T4 %"] = f"{t34(c)} (o {t34(o)}, m {t34(m)})"
    f["N0/N1a/N1b %"] = "/".join(str(_pct(c["n_stage_max"].eq(s))) for s in ("N0", "N1a", "N1b"))
    f["ATA low/int/high"] = "/".join(str(int(c["ata_risk"].eq(s).sum())) for s in ("low", "intermediate", "high"))
    f["ATA unknown"] = str(int(c["ata_risk"].eq("unknown").sum()))
    f["local neither/rec/pers %"] = "/".join(
        str(_pct(c["local_disease_status"].eq(s))) for s in ("neither", "local_recurrence", "local_persistent")
    )
    f["local persistent o/m %"] = (
        f"{_pct(o['local_disease_status'].eq('local_persistent'))}/"
        f"{_pct(m['local_disease_status'].eq('local_persistent'))}"
    )
    sy = lambda d: _pct(d["metastasis_timing"].eq("synchronous"))  # noqa: E731
    f["synchronous %"] = f"{sy(c)} (o {sy(o)}, m {sy(m)})"
    f["median activity overall"] = _mq(c["median_activity_gbq"], 2)
    f["median activity o"] = _mq(o["median_activity_gbq"], 2)
    f["median activity m"] = _mq(m["median_activity_gbq"], 2)
    f["cumulative o"] = _mq(o["cumulative_gbq"], 2)
    f["cumulative m"] = _mq(m["cumulative_gbq"], 2)
    f["cycles m"] = (
        f"median {m['n_rait_cycles'].median():g} (range {m['n_rait_cycles'].min()}-{m['n_rait_cycles'].max()})"
        if len(m)
        else "-"
    )
    mc = cyc[cyc["patient_id"].isin(m["patient_id"])]
    f["interval m (months)"] = _mq(mc["days_since_previous"].astype(float) / 30.4375)
    for label, d, col in (
        ("first response PR/SD/PD", c, "first_response"),
        ("first response o PR/SD/PD", o, "first_response"),
        ("first response m PR/SD/PD", m, "first_response"),
        ("last response m PR/SD/PD", m, "last_response"),
    ):
        counts = "/".join(str(int(d[col].eq(s).sum())) for s in ("PR", "SD", "PD"))
        other = int((~d[col].isin(["PR", "SD", "PD"])).sum())
        pcts = "/".join(str(_pct(d[col].eq(s))) for s in ("PR", "SD", "PD"))
        f[label] = f"{counts} ({pcts}%)" + (f" + {other} CR/NE" if other else "")
    f["PD patients (o/m)"] = f"{int(c['pfs_event'].sum())} ({int(o['pfs_event'].sum())}/{int(m['pfs_event'].sum())})"
    f["5y PFS overall/o/m"] = "/".join(str(_km_at(d["pfs_months"], d["pfs_event"], 60.0)) for d in (c, o, m))
    pats = marts["patients"]
    pfs = marts["pfs"]
    f["deaths"] = str(int(pfs.loc[pfs["patient_id"].isin(c["patient_id"]), "event_type"].eq("death").sum()))
    f["deaths (whole registry)"] = str(int(pfs["event_type"].eq("death").sum()))
    fu = c["follow_up_months"]
    f["follow-up months"] = f"{fu.median():.1f} (range {fu.min():.1f}-{fu.max():.1f})"
    f["age>=45 %"] = str(_pct(c["age_at_diagnosis_years"] >= 45))
    f["registry patients / no RAIT"] = f"{len(pats)} / {int(pats['n_rait_cycles'].eq(0).sum())}"
    if len(c) >= 20 and c["pfs_event"].sum() >= 3:
        try:
            f.update(_odds_ratios(c))
        except Exception as exc:
            f["OR"] = f"not estimable ({type(exc).__name__})"
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    tables = simulate(args.patients, args.seed)
    t1 = time.perf_counter()
    marts = derive_marts(tables)
    t2 = time.perf_counter()
    figs = figures(marts)
    print(
        f"synthetic registry: {args.patients} patients, seed {args.seed} "
        f"(simulate {t1 - t0:.1f} s, oracle {t2 - t1:.1f} s)\n"
    )
    width = max(len(k) for k in figs)
    print(f"{'figure':<{width}}  {'simulated':<40}  paper")
    for key, value in figs.items():
        print(f"{key:<{width}}  {value:<40}  {PAPER.get(key, '')}")


if __name__ == "__main__":
    main()
