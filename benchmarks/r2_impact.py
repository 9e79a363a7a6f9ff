"""How many patients and cycles each rule of contract revision 2 changes, on one extract.

The extract is refreshed with this code (revision 2) into a warehouse ``r2``; a copy of it is
then rebuilt with the dbt project of a commit implementing revision 1 (``--r1-ref``, by default
the last one before revision 2), so both revisions read exactly the same accepted rows. Each
rule is measured where it acts, with the other rules held at revision 2 (so the rows of the
table do not add up to the whole):

* comparators, TSH -- Tg samples whose *stimulated* flag differs (revision 1 read a TSH ``<X`` as
  X); cycles whose tg_pre or tg_post sample differs because of such a sample;
* TgAb indeterminate -- Tg samples whose *interpretable* flag differs (revision 1: a ``<`` TgAb
  negative, a ``>X`` TgAb read as X); cycles whose tg_pre or tg_post sample differs because of one;
* delta_tg NULL -- cycles whose revision-2 tg_pre / tg_post would have given revision 1 a
  delta_tg (a ``<`` tg_pre, a ``>`` value); with the response that delta would have given;
* CR threshold -- cycles (not PD, scan resolved / absent) where "tg_post reported ``<``" and
  "tg_post below cr_tg_max" disagree;
* avidity -- patients whose ``avid_on_every_rxwbs`` differs (revision 1 judged every existing
  RxWBS); and whose eligibility differs when only this flag is taken from revision 1;
* local-disease anchor -- patients whose ``local_disease_status`` differs;
* PFS censoring -- patients with a RAIT whose ``pfs_months`` differs from
  ``pfs_months_last_contact`` (revision 1's interval), and how many of them are in the cohort.

The last rows compare the two builds' marts whole: patients and cycles with any difference, the
cohort and its groups, the attrition per step.

Usage::

    python benchmarks/r2_impact.py --synth 160 --seed 0            # the demo registry
    python benchmarks/r2_impact.py --synth 100000 --seed 0 --format parquet
    python benchmarks/r2_impact.py --extract DIR [--r1-ref COMMIT] [--workdir DIR] [--json OUT]

Needs git (the revision-1 dbt project is read with ``git archive`` from this repository).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
#: The last commit of the main line that implements revision 1 of the registry rules.
R1_REF = "d623db7"


def _r1_project(ref: str, into: Path) -> Path:
    """The dbt project (and seeds) of ``ref``, extracted under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref, "dbt_project", "seeds"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "dbt_project"


def build_both(extract: Path, workdir: Path, r1_ref: str) -> tuple[Path, Path, dict]:
    """Refresh ``extract`` with revision 2, then rebuild a copy's models with revision 1's project."""
    from rait_registry.dbt_runner import require_success, run_dbt
    from rait_registry.refresh import refresh

    timings = {}
    r2 = workdir / "r2" / "registry.duckdb"
    r2.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    refresh(extract, r2, max_age_days=None, force=True)
    timings["refresh_r2_s"] = time.perf_counter() - started

    r1 = workdir / "r1" / "registry.duckdb"
    r1.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(r2, r1)
    project = _r1_project(r1_ref, workdir / "r1-project")
    previous = os.environ.get("RAIT_DBT_PROJECT")
    os.environ["RAIT_DBT_PROJECT"] = str(project)
    started = time.perf_counter()
    try:
        require_success(run_dbt("run", r1, work_dir=workdir / "r1" / ".dbt"))
    finally:
        if previous is None:
            os.environ.pop("RAIT_DBT_PROJECT", None)
        else:
            os.environ["RAIT_DBT_PROJECT"] = previous
    timings["dbt_run_r1_s"] = time.perf_counter() - started
    return r1, r2, timings


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    return con.execute(sql).fetchone()


def measure(r1: Path, r2: Path) -> dict:
    """Per rule: what differs between the two builds (see the module docstring)."""
    con = duckdb.connect()
    con.execute(f"attach '{r1}' as r1 (read_only)")
    con.execute(f"attach '{r2}' as r2 (read_only)")
    out: dict[str, dict] = {}

    # ---- Tg samples: stimulated (TSH rule) and interpretable (TgAb rule), cycles they move
    con.execute(
        """
        create temp table samples as
        select s2.lab_id, s2.patient_id,
            s1.is_stimulated is distinct from s2.is_stimulated as tsh_moved,
            s1.is_interpretable is distinct from s2.is_interpretable as tgab_moved
        from r2.intermediate.int_lab_results__tg_classified as s2
        join r1.intermediate.int_lab_results__tg_classified as s1 using (lab_id)
        """
    )
    con.execute(
        """
        create temp table cycle_samples as
        select c2.rait_id, c2.patient_id,
            c1.tg_pre_lab_id is distinct from c2.tg_pre_lab_id
                or c1.tg_post_lab_id is distinct from c2.tg_post_lab_id as sample_moved,
            list_value(c1.tg_pre_lab_id, c1.tg_post_lab_id, c2.tg_pre_lab_id, c2.tg_post_lab_id) as lab_ids
        from r2.marts.rait_cycles as c2
        join r1.marts.rait_cycles as c1 using (rait_id)
        """
    )
    for rule, flag in (("comparators_tsh", "tsh_moved"), ("tgab_indeterminate", "tgab_moved")):
        n_samples, n_sample_patients = _one(
            con, f"select count(*), count(distinct patient_id) from samples where {flag}"
        )
        n_cycles, n_patients = _one(
            con,
            f"""
            select count(*), count(distinct patient_id) from cycle_samples
            where sample_moved and exists (
                select 1 from samples where samples.{flag} and list_contains(cycle_samples.lab_ids, samples.lab_id))
            """,
        )
        out[rule] = {
            "tg_samples": n_samples,
            "patients_with_samples": n_sample_patients,
            "cycles": n_cycles,
            "patients": n_patients,
        }

    # ---- delta_tg NULL from comparators (on revision 2's own tg_pre / tg_post)
    from rait_registry import params

    threshold = params.get("tg_response_threshold").default
    n_cycles, n_patients, n_responses = _one(
        con,
        f"""
        with affected as (
            select *, (tg_pre - tg_post) / tg_pre as delta_r1 from r2.marts.rait_cycles
            where delta_tg is null and tg_pre > 0 and tg_post is not null
                and (tg_pre_comparator is not null or tg_post_comparator = '>')
        )
        select count(*), count(distinct patient_id),
            count(*) filter (where delta_r1 >= {threshold} and (response in ('SD', 'NE')
                or (response = 'PR' and response_basis = 'scan_reduction')))
        from affected
        """,
    )
    out["delta_tg_null"] = {"cycles": n_cycles, "patients": n_patients, "responses_changed": n_responses}

    # ---- CR threshold (revision 1: tg_post reported '<'; revision 2: below cr_tg_max)
    n_cycles, n_patients, to_cr, from_cr = _one(
        con,
        """
        with judged as (
            select patient_id, response,
                coalesce(tg_post_comparator = '<', false) as cr_r1,
                response = 'CR' as cr_r2
            from r2.marts.rait_cycles
            where response <> 'PD' and scan_change in ('resolved', 'absent')
        )
        select count(*), count(distinct patient_id),
            count(*) filter (where cr_r2), count(*) filter (where cr_r1)
        from judged where cr_r1 <> cr_r2
        """,
    )
    out["cr_threshold"] = {
        "cycles": n_cycles,
        "patients": n_patients,
        "cycles_now_cr": to_cr,
        "cycles_no_longer_cr": from_cr,
    }

    # ---- avidity
    n_patients, now_true, now_false, eligibility = _one(
        con,
        """
        with flags as (
            select p2.patient_id, a1.avid_on_every_rxwbs as avid_r1, p2.avid_on_every_rxwbs as avid_r2,
                p2.is_eligible as eligible_r2,
                p2.dtc_surgery and p2.lung_only_micromets and a1.avid_on_every_rxwbs and not p2.mets_after_first_rait
                    and not p2.massive_remnant and not p2.early_progression as eligible_with_avid_r1
            from r2.marts.patients as p2
            join r1.intermediate.int_patients__avid_on_every_rxwbs as a1 using (patient_id)
        )
        select count(*) filter (where avid_r1 <> avid_r2),
            count(*) filter (where avid_r2 and not avid_r1),
            count(*) filter (where avid_r1 and not avid_r2),
            count(*) filter (where eligible_r2 <> eligible_with_avid_r1)
        from flags
        """,
    )
    out["avidity"] = {
        "patients": n_patients,
        "now_avid": now_true,
        "no_longer_avid": now_false,
        "eligibility_changed": eligibility,
        "patients_with_rait_without_rxwbs": _one(
            con, "select count(*) from r2.marts.patients where n_rait_without_rxwbs > 0"
        )[0],
        "reach_step_4": _one(
            con, "select count(*) from r2.marts.patients where exclusion_reason = 'mets_after_first_rait'"
        )[0],
    }

    # ---- local disease anchor
    rows = con.execute(
        """
        select p1.local_disease_status, p2.local_disease_status, count(*)
        from r2.marts.patients as p2 join r1.marts.patients as p1 using (patient_id)
        where p1.local_disease_status is distinct from p2.local_disease_status
        group by all order by all
        """
    ).fetchall()
    out["local_disease_anchor"] = {
        "patients": sum(n for *_, n in rows),
        "transitions": {f"{before}->{after}": n for before, after, n in rows},
        "in_cohort": _one(
            con,
            """
            select count(*) from r2.marts.analysis_cohort as c2 join r1.marts.patients as p1 using (patient_id)
            where p1.local_disease_status is distinct from c2.local_disease_status
            """,
        )[0],
    }

    # ---- PFS censoring
    n_patients, in_cohort, months_lost = _one(
        con,
        """
        select count(*), count(*) filter (where patient_id in (select patient_id from r2.marts.analysis_cohort)),
            median(pfs_months_last_contact - pfs_months)
        from r2.marts.pfs where pfs_months <> pfs_months_last_contact
        """,
    )
    out["pfs_censoring"] = {
        "patients": n_patients,
        "in_cohort": in_cohort,
        "median_months_not_credited": None if months_lost is None else round(float(months_lost), 1),
        "censored_at_first_rait": _one(
            con, "select count(*) from r2.marts.pfs where event_type = 'censored' and pfs_months = 0"
        )[0],
    }

    # ---- the two builds whole
    common = {
        mart: [
            row[0]
            for row in con.execute(
                "select column_name from (describe r1.marts." + mart + ") "
                "intersect select column_name from (describe r2.marts." + mart + ")"
            ).fetchall()
        ]
        for mart in ("patients", "rait_cycles", "pfs")
    }

    def differing(mart: str, key: str) -> str:
        columns = [c for c in common[mart] if c != key]
        condition = " or ".join(f"m1.{c} is distinct from m2.{c}" for c in columns)
        return f"""select m2.{key} from r2.marts.{mart} as m2 join r1.marts.{mart} as m1 using ({key})
                   where {condition}"""

    patients_changed = _one(
        con,
        f"""
        select count(distinct patient_id) from (
            {differing("patients", "patient_id")}
            union {differing("pfs", "patient_id")}
            union select patient_id from r2.marts.rait_cycles where rait_id in ({differing("rait_cycles", "rait_id")})
        )
        """,
    )[0]
    cycles_changed = _one(con, f"select count(*) from ({differing('rait_cycles', 'rait_id')})")[0]
    responses_changed = _one(
        con,
        """
        select count(*) from r2.marts.rait_cycles as c2 join r1.marts.rait_cycles as c1 using (rait_id)
        where c1.response <> c2.response
        """,
    )[0]
    cohort = {
        rev: dict(
            con.execute(
                f"select rait_group, count(*) from {rev}.marts.analysis_cohort group by 1 order by 1"
            ).fetchall()
        )
        for rev in ("r1", "r2")
    }
    entering, leaving = _one(
        con,
        """
        select (select count(*) from (select patient_id from r2.marts.analysis_cohort
                                       except select patient_id from r1.marts.analysis_cohort)),
               (select count(*) from (select patient_id from r1.marts.analysis_cohort
                                       except select patient_id from r2.marts.analysis_cohort))
        """,
    )
    attrition = {
        rev: [
            {"step": step, "criterion": criterion, "n_excluded": excluded}
            for step, criterion, excluded in con.execute(
                f"select step, criterion, n_excluded from {rev}.marts.cohort_attrition order by step"
            ).fetchall()
        ]
        for rev in ("r1", "r2")
    }
    out["all_rules"] = {
        "patients": _one(con, "select count(*) from r2.marts.patients")[0],
        "cycles": _one(con, "select count(*) from r2.marts.rait_cycles")[0],
        "patients_changed": patients_changed,
        "cycles_changed": cycles_changed,
        "responses_changed": responses_changed,
        "cohort_r1": cohort["r1"],
        "cohort_r2": cohort["r2"],
        "entering_cohort": entering,
        "leaving_cohort": leaving,
        "attrition_r1": attrition["r1"],
        "attrition_r2": attrition["r2"],
    }
    con.close()
    return out


#: The rows of the table: (label, key of :func:`measure`, what else changes).
RULES = (
    ("comparators: TSH `<X` / `>X`", "comparators_tsh", lambda m: f"{m['tg_samples']} Tg samples change stimulated"),
    ("TgAb indeterminate", "tgab_indeterminate", lambda m: f"{m['tg_samples']} Tg samples change interpretable"),
    (
        "delta_tg NULL (`<` tg_pre, `>`)",
        "delta_tg_null",
        lambda m: f"{m['responses_changed']} responses were PR by Tg in revision 1",
    ),
    (
        "CR below cr_tg_max",
        "cr_threshold",
        lambda m: f"{m['cycles_now_cr']} become CR, {m['cycles_no_longer_cr']} no longer",
    ),
    (
        "avidity judged from lung_met_date - 14",
        "avidity",
        lambda m: (
            f"{m['now_avid']} now avid, {m['no_longer_avid']} no longer; "
            f"eligibility of {m['eligibility_changed']}; step 4 reached by {m['reach_step_4']}"
        ),
    ),
    (
        "local-disease anchor",
        "local_disease_anchor",
        lambda m: ", ".join(f"{k} {v}" for k, v in m["transitions"].items()) + f"; {m['in_cohort']} in the cohort",
    ),
    (
        "PFS censoring at the last assessment",
        "pfs_censoring",
        lambda m: (
            f"{m['in_cohort']} in the cohort; median {m['median_months_not_credited']} months no longer "
            f"credited; {m['censored_at_first_rait']} censored at the first RAIT"
        ),
    ),
)


def markdown(result: dict, label: str) -> str:
    """The impact as a Markdown table."""
    r = result
    rows = [(name, r[key]["patients"], r[key].get("cycles", ""), what(r[key])) for name, key, what in RULES]
    a = r["all_rules"]
    lines = [
        f"**{label}** ({a['patients']} patients, {a['cycles']} cycles)",
        "",
        "| revision-2 rule | patients | cycles | what changes |",
        "|---|---:|---:|---|",
        *(f"| {name} | {patients} | {cycles} | {what} |" for name, patients, cycles, what in rows),
        f"| **all rules (the marts of both builds)** | {a['patients_changed']} | {a['cycles_changed']} | "
        f"{a['responses_changed']} responses; cohort {_cohort(a['cohort_r1'])} -> {_cohort(a['cohort_r2'])} "
        f"(+{a['entering_cohort']} / -{a['leaving_cohort']}) |",
        "",
        "Attrition (n excluded per step, revision 1 -> 2): "
        + ", ".join(
            f"{one['step']} {one['n_excluded']} -> {two['n_excluded']}"
            for one, two in zip(a["attrition_r1"][1:], a["attrition_r2"][1:], strict=True)
        ),
    ]
    return "\n".join(lines)


def _cohort(groups: dict) -> str:
    return f"{sum(groups.values())} ({groups.get('o-RAIT', 0)} o / {groups.get('m-RAIT', 0)} m)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--extract", type=Path, help="an extract folder")
    source.add_argument("--synth", type=int, metavar="N", help="a synthetic registry of N patients")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", help="synthetic extract format")
    parser.add_argument("--r1-ref", default=R1_REF, help=f"a commit implementing revision 1 (default {R1_REF})")
    parser.add_argument("--workdir", type=Path, help="keep the builds here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="r2-impact-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.synth:
            from rait_registry.synth import write_extract

            extract = workdir / "extract"
            if extract.exists():
                shutil.rmtree(extract)
            started = time.perf_counter()
            write_extract(extract, n_patients=args.synth, seed=args.seed, fmt=args.format)
            synth_s = time.perf_counter() - started
            label = f"synthetic registry, {args.synth} patients, seed {args.seed}"
        else:
            extract, synth_s, label = args.extract, 0.0, str(args.extract)
        r1, r2, timings = build_both(extract, workdir, args.r1_ref)
        started = time.perf_counter()
        result = measure(r1, r2)
        timings.update(synth_s=synth_s, measure_s=time.perf_counter() - started)
        result["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
        print(markdown(result, label))
        print("\nTimings (s): " + ", ".join(f"{k} {v}" for k, v in result["timings_s"].items()))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
