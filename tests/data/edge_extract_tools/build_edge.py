"""Builder of tests/data/edge_extract (+ edge_expected), worked by hand.

Each patient starts from a template (one total thyroidectomy, lung micromets on CT,
RAIT cycles with stimulated Tg, avid RxWBS, a DxWBS) and changes one thing. The expected
values are written per patient from the rules (date arithmetic done with a calculator:
the helpers below), never by running the oracle.

Run from the repository root (it rewrites ``tests/data/edge_extract`` and
``tests/data/edge_expected``; the README of the extract is ``readme_head.md`` here followed by
one line per patient)::

    python tests/data/edge_extract_tools/spec_edge.py
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else TOOLS.parent
M = 30.4375
Y = 365.25


def D(s):
    return dt.date.fromisoformat(s) if isinstance(s, str) else s


def plus(d, n):
    return D(d) + dt.timedelta(days=n)


def days(a, b):
    """b - a in days."""
    return (D(b) - D(a)).days


TABLES = {
    "patients": ["patient_id", "sex", "birth_date", "center_id"],
    "surgeries": [
        "surgery_id",
        "patient_id",
        "surgery_date",
        "procedure",
        "histology",
        "max_tumor_size_cm",
        "t_stage",
        "n_stage",
        "ete",
        "resection",
        "vascular_invasion_foci",
        "positive_nodes",
        "largest_node_cm",
        "aggressive_variant",
    ],
    "rait_administrations": [
        "rait_id",
        "patient_id",
        "admin_date",
        "activity",
        "activity_unit",
        "preparation",
        "intent",
    ],
    "lab_results": ["lab_id", "patient_id", "sample_date", "analyte", "value", "comparator", "unit", "tgab_cutoff"],
    "imaging_findings": [
        "finding_id",
        "patient_id",
        "study_date",
        "modality",
        "rait_id",
        "site",
        "status",
        "rai_avid",
        "max_lesion_mm",
        "remnant_uptake",
        "confirmation",
    ],
    "follow_up": ["patient_id", "last_contact_date", "vital_status", "death_date"],
}
ID = {
    "patients": "patient_id",
    "surgeries": "surgery_id",
    "rait_administrations": "rait_id",
    "lab_results": "lab_id",
    "imaging_findings": "finding_id",
    "follow_up": "patient_id",
}

PAT_COLS = [
    "patient_id",
    "diagnosis_date",
    "initial_surgery_date",
    "first_rait_date",
    "lung_met_date",
    "age_at_diagnosis_years",
    "histology",
    "max_tumor_size_cm",
    "t_stage_max",
    "n_stage_max",
    "t_stage_group",
    "metastasis_timing",
    "local_disease_status",
    "ata_risk",
    "n_rait_cycles",
    "rait_group",
    "median_activity_gbq",
    "cumulative_gbq",
    "first_response",
    "last_response",
    "pd_date",
    "dtc_surgery",
    "lung_only_micromets",
    "avid_on_every_rxwbs",
    "mets_after_first_rait",
    "massive_remnant",
    "early_progression",
    "is_eligible",
    "exclusion_reason",
    "n_rait_without_rxwbs",
    "is_eligible_at_baseline",
    "baseline_exclusion_reason",
]
CYC_COLS = [
    "patient_id",
    "rait_id",
    "cycle_number",
    "admin_date",
    "activity_gbq",
    "cumulative_gbq",
    "days_since_previous",
    "tg_pre",
    "tg_post",
    "delta_tg",
    "scan_change",
    "response",
    "response_basis",
    "tg_pre_comparator",
    "tg_post_comparator",
]
PFS_COLS = [
    "patient_id",
    "start_date",
    "end_date",
    "pfs_months",
    "pfs_event",
    "event_type",
    "follow_up_months",
    "pfs_months_last_contact",
]
COH_COLS = [
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
STEPS = [
    "dtc_surgery",
    "lung_only_micromets",
    "avid_on_every_rxwbs",
    "mets_after_first_rait",
    "massive_remnant",
    "early_progression",
]

ALL: list[Pt] = []


def lab(value):
    """'<0.5' -> (0.5, '<'); 12 -> (12, None)."""
    if isinstance(value, str) and value[0] in "<>":
        return value[1:], value[0]
    return value, None


class Pt:
    """A template patient; ``rows`` are editable, ``exp*`` hold the hand-worked expectation."""

    def __init__(
        self,
        pid,
        note,
        d0="2015-01-10",
        gap=50,
        birth="1985-06-15",
        sex="F",
        n=1,
        cgap=200,
        acts=None,
        pre=None,
        post=6.0,
        rx=None,
        dx="reduced",
        lc=1200,
        lung_off=-14,
    ):
        self.pid, self.note, self.sex, self.birth = pid, note, sex, D(birth)
        self.d0 = D(d0)
        gaps = cgap if isinstance(cgap, list) else [cgap] * (n - 1)
        self.A = [plus(self.d0, gap)]
        for g in gaps[: n - 1]:
            self.A.append(plus(self.A[-1], g))
        self.n = n
        acts = acts or [("5.55", "GBq", 5.55)] * n
        pre = pre if pre is not None else [12.0] * n
        rx = rx or ["present"] + ["stable"] * (n - 1)
        self.LC = plus(self.A[-1], lc) if n else plus(self.d0, lc)
        A1 = self.A[0] if n else None
        self.rows = {t: [] for t in TABLES}
        r = self.rows
        r["patients"].append(dict(patient_id=pid, sex=sex, birth_date=self.birth, center_id="C01"))
        r["surgeries"].append(
            dict(
                surgery_id=f"{pid}-S1",
                patient_id=pid,
                surgery_date=self.d0,
                procedure="total_thyroidectomy",
                histology="PTC",
                max_tumor_size_cm="2.5",
                t_stage="T3a",
                n_stage="N1b",
                ete="none",
                resection="R0",
                vascular_invasion_foci="0",
                positive_nodes="2",
                largest_node_cm="1.2",
                aggressive_variant="false",
            )
        )
        lung_date = plus(A1 if n else self.d0, lung_off)
        r["imaging_findings"].append(
            dict(
                finding_id=f"{pid}-F0",
                patient_id=pid,
                study_date=lung_date,
                modality="CT",
                site="lung",
                status="present",
                max_lesion_mm="6",
                confirmation="imaging",
            )
        )
        for k in range(n):
            Ak, rid = self.A[k], f"{pid}-R{k + 1}"
            r["rait_administrations"].append(
                dict(
                    rait_id=rid,
                    patient_id=pid,
                    admin_date=Ak,
                    activity=acts[k][0],
                    activity_unit=acts[k][1],
                    preparation="withdrawal",
                    intent="metastatic_disease",
                )
            )
            s = plus(Ak, -3)
            r["lab_results"].append(
                dict(lab_id=f"{pid}-L{k + 1}a", patient_id=pid, sample_date=s, analyte="TSH", value="85", unit="mIU/L")
            )
            if pre[k] is not None:
                v, c = lab(pre[k])
                r["lab_results"].append(
                    dict(
                        lab_id=f"{pid}-L{k + 1}b",
                        patient_id=pid,
                        sample_date=s,
                        analyte="Tg",
                        value=v,
                        comparator=c,
                        unit="ng/mL",
                    )
                )
            r["lab_results"].append(
                dict(lab_id=f"{pid}-L{k + 1}c", patient_id=pid, sample_date=s, analyte="TgAb", value="20", unit="IU/mL")
            )
            r["imaging_findings"].append(
                dict(
                    finding_id=f"{pid}-F{k + 1}L",
                    patient_id=pid,
                    study_date=plus(Ak, 5),
                    modality="RxWBS",
                    rait_id=rid,
                    site="lung",
                    status=rx[k],
                    rai_avid="true",
                    max_lesion_mm="6" if k == 0 else None,
                )
            )
            r["imaging_findings"].append(
                dict(
                    finding_id=f"{pid}-F{k + 1}T",
                    patient_id=pid,
                    study_date=plus(Ak, 5),
                    modality="RxWBS",
                    rait_id=rid,
                    site="thyroid_bed",
                    status="present" if k == 0 else "absent",
                    rai_avid="true" if k == 0 else "false",
                    remnant_uptake="minor" if k == 0 else "none",
                )
            )
        if n:
            An = self.A[-1]
            if post is not None:
                v, c = lab(post)
                r["lab_results"].append(
                    dict(
                        lab_id=f"{pid}-LPa",
                        patient_id=pid,
                        sample_date=plus(An, 180),
                        analyte="TSH",
                        value="60",
                        unit="mIU/L",
                    )
                )
                r["lab_results"].append(
                    dict(
                        lab_id=f"{pid}-LPb",
                        patient_id=pid,
                        sample_date=plus(An, 180),
                        analyte="Tg",
                        value=v,
                        comparator=c,
                        unit="ng/mL",
                    )
                )
            if dx is not None:
                r["imaging_findings"].append(
                    dict(
                        finding_id=f"{pid}-FD",
                        patient_id=pid,
                        study_date=plus(An, 180),
                        modality="DxWBS",
                        site="lung",
                        status=dx,
                        rai_avid="true",
                    )
                )
        r["follow_up"].append(dict(patient_id=pid, last_contact_date=self.LC, vital_status="alive"))

        # ---- expectation of the unchanged template (hand-worked once, see README) ----
        lung_met = min(lung_date, plus(A1, 5)) if n else lung_date
        sync = days(self.d0, lung_met) <= 365
        tot = 0.0
        self.exp_cycles = []
        for k in range(n):
            tot += acts[k][2]
            tg_pre = None if pre[k] is None else float(lab(pre[k])[0])
            pre_cmp = None if pre[k] is None else lab(pre[k])[1]
            post_raw = pre[k + 1] if k < n - 1 else post
            tg_post = None if post_raw is None else float(lab(post_raw)[0])
            post_cmp = None if post_raw is None else lab(post_raw)[1]
            self.exp_cycles.append(
                dict(
                    patient_id=pid,
                    rait_id=f"{pid}-R{k + 1}",
                    cycle_number=k + 1,
                    admin_date=self.A[k],
                    activity_gbq=acts[k][2],
                    cumulative_gbq=tot,
                    days_since_previous=None if k == 0 else days(self.A[k - 1], self.A[k]),
                    tg_pre=tg_pre,
                    tg_post=tg_post,
                    # revision 2: no delta from a tg_pre reported '<' or from a value reported '>'
                    delta_tg=(tg_pre - tg_post) / tg_pre
                    if tg_pre is not None and tg_post is not None and tg_pre > 0 and pre_cmp is None and post_cmp != ">"
                    else None,
                    scan_change=rx[k + 1] if k < n - 1 else dx,
                    response=None,
                    response_basis=None,
                    tg_pre_comparator=pre_cmp,
                    tg_post_comparator=post_cmp,
                )
            )
        acts_g = sorted(a[2] for a in acts[:n])
        med = None if not n else (acts_g[n // 2] if n % 2 else (acts_g[n // 2 - 1] + acts_g[n // 2]) / 2)
        self.exp = dict(
            patient_id=pid,
            diagnosis_date=self.d0,
            initial_surgery_date=self.d0,
            first_rait_date=A1,
            lung_met_date=lung_met,
            age_at_diagnosis_years=days(self.birth, self.d0) / Y,
            histology="PTC",
            max_tumor_size_cm=2.5,
            t_stage_max="T3a",
            n_stage_max="N1b",
            t_stage_group="T3+T4",
            metastasis_timing="synchronous" if sync else "metachronous",
            local_disease_status="neither" if n else None,
            ata_risk="high" if sync else "low",
            n_rait_cycles=n,
            rait_group=None if n == 0 else ("o-RAIT" if n == 1 else "m-RAIT"),
            median_activity_gbq=med,
            cumulative_gbq=tot if n else None,
            pd_date=None,
            dtc_surgery=True,
            lung_only_micromets=True,
            avid_on_every_rxwbs=bool(n),
            mets_after_first_rait=False,
            massive_remnant=False,
            early_progression=False,
            n_rait_without_rxwbs=0,
        )
        # the criteria judged at baseline (first RAIT + 14 days): the contract's flags unless the
        # patient's line says otherwise (criterion name -> flag at baseline)
        self.base = {}
        # revision 2: censored at the last disease assessment, the latest imaging study in
        # [A1, last contact]: the DxWBS at An + 180, else the last RxWBS at An + 5
        self.LA = (plus(self.A[-1], 180) if dx is not None else plus(self.A[-1], 5)) if n else None
        self.exp_pfs = (
            None
            if not n
            else dict(
                patient_id=pid,
                start_date=A1,
                end_date=self.LA,
                pfs_months=days(A1, self.LA) / M,
                pfs_event=0,
                event_type="censored",
                follow_up_months=days(A1, self.LC) / M,
            )
        )
        ALL.append(self)

    # ---- editing helpers ----
    def row(self, rid):
        for t, rows in self.rows.items():
            for row in rows:
                if row.get(ID[t]) == rid and (t != "follow_up" or rid == self.pid):
                    if t == "patients" and rid == self.pid:
                        continue
                    return row
        raise KeyError(rid)

    def drop(self, *rids):
        for rid in rids:
            for t, rows in self.rows.items():
                if t in ("patients", "follow_up"):
                    continue
                self.rows[t] = [r for r in rows if r.get(ID[t]) != rid]

    def add(self, table, **row):
        row.setdefault("patient_id", self.pid)
        self.rows[table].append(row)
        return row

    def tg(self, lab_id, date, value, tsh=None, tgab=None, tgab_cutoff=None, tgab_cmp=None, tsh_cmp=None):
        """A Tg sample with optional same-day TSH and TgAb."""
        if tsh is not None:
            self.add(
                "lab_results",
                lab_id=f"{lab_id}t",
                sample_date=D(date),
                analyte="TSH",
                value=str(tsh),
                comparator=tsh_cmp,
                unit="mIU/L",
            )
        if value is not None:
            v, c = lab(value)
            self.add(
                "lab_results", lab_id=lab_id, sample_date=D(date), analyte="Tg", value=v, comparator=c, unit="ng/mL"
            )
        if tgab is not None:
            self.add(
                "lab_results",
                lab_id=f"{lab_id}g",
                sample_date=D(date),
                analyte="TgAb",
                value=str(tgab),
                comparator=tgab_cmp,
                unit="IU/mL",
                tgab_cutoff=tgab_cutoff,
            )

    def cyc(self, k, **kw):
        self.exp_cycles[k - 1].update(kw)

    def resp(self, *pairs):
        for k, (r, b) in enumerate(pairs):
            self.exp_cycles[k].update(response=r, response_basis=b)

    @property
    def A1(self):
        return self.A[0]


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write(path, cols, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([fmt(r.get(c)) for c in cols])


def finish():
    ext, exp = OUT / "edge_extract", OUT / "edge_expected"
    ext.mkdir(parents=True, exist_ok=True)
    exp.mkdir(parents=True, exist_ok=True)
    pats, cycles, pfs, cohort = [], [], [], []
    for p in ALL:
        e = dict(p.exp)
        for c in p.exp_cycles:
            assert c["response"] is not None, (p.pid, c["rait_id"], "response not worked out")
        e["first_response"] = p.exp_cycles[0]["response"] if p.exp_cycles else None
        e["last_response"] = p.exp_cycles[-1]["response"] if p.exp_cycles else None
        fails = [
            s
            for s in STEPS
            if (e[s] if s in ("mets_after_first_rait", "massive_remnant", "early_progression") else not e[s])
        ]
        assert e.get("exclusion_reason", "unset") in ("unset", fails[0] if fails else None), (
            p.pid,
            fails,
            e.get("exclusion_reason"),
        )
        e["is_eligible"] = not fails
        e["exclusion_reason"] = fails[0] if fails else None
        at_baseline = {s: p.base.get(s, e[s]) for s in STEPS}
        fails_at_baseline = [
            s
            for s in STEPS
            if (
                at_baseline[s]
                if s in ("mets_after_first_rait", "massive_remnant", "early_progression")
                else not at_baseline[s]
            )
        ]
        e["is_eligible_at_baseline"] = not fails_at_baseline
        e["baseline_exclusion_reason"] = fails_at_baseline[0] if fails_at_baseline else None
        pats.append(e)
        cycles.extend(p.exp_cycles)
        if p.exp_pfs:
            # revision 1's interval, censored at last contact: the same as pfs_months for an event
            f = p.exp_pfs
            f["pfs_months_last_contact"] = f["pfs_months"] if f["pfs_event"] else days(p.A1, p.LC) / M
            pfs.append(f)
        if not fails:
            row = {c: e.get(c) for c in COH_COLS}
            row["sex"] = p.sex
            for c in ("pfs_months", "pfs_event", "follow_up_months"):
                row[c] = p.exp_pfs[c]
            cohort.append(row)
    write(exp / "patients.csv", PAT_COLS, pats)
    write(exp / "rait_cycles.csv", CYC_COLS, cycles)
    write(exp / "pfs.csv", PFS_COLS, pfs)
    write(exp / "analysis_cohort.csv", COH_COLS, cohort)
    att, remaining = [dict(step=0, criterion="all_patients", n_remaining=len(pats), n_excluded=0)], len(pats)
    for i, s in enumerate(STEPS, 1):
        k = sum(1 for e in pats if e["exclusion_reason"] == s)
        remaining -= k
        att.append(dict(step=i, criterion=s, n_remaining=remaining, n_excluded=k))
    write(exp / "cohort_attrition.csv", ["step", "criterion", "n_remaining", "n_excluded"], att)

    # docs/specification.md section 1 date-order rules: no event after last contact / death, none before
    # birth, no RAIT before the first operation; ids unique
    for p in ALL:
        lc = p.rows["follow_up"][0]["last_contact_date"]
        death = p.rows["follow_up"][0].get("death_date")
        first_op = min(r["surgery_date"] for r in p.rows["surgeries"])
        for t, col in (
            ("surgeries", "surgery_date"),
            ("rait_administrations", "admin_date"),
            ("lab_results", "sample_date"),
            ("imaging_findings", "study_date"),
        ):
            for r in p.rows[t]:
                assert p.birth < r[col] <= lc and (death is None or r[col] <= death), (p.pid, r)
                assert t != "rait_administrations" or r[col] >= first_op, (p.pid, r)
                assert r["patient_id"] == p.pid
        assert lc <= D("2025-06-30")
    for t in TABLES:
        ids = [r[ID[t]] for p in ALL for r in p.rows[t]]
        assert len(ids) == len(set(ids)), t

    files = {}
    for t, cols in TABLES.items():
        rows = [r for p in ALL for r in p.rows[t]]
        write(ext / f"{t}.csv", cols, rows)
        data = (ext / f"{t}.csv").read_bytes()
        files[f"{t}.csv"] = {"rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()}
    (ext / "manifest.json").write_text(
        json.dumps({"extract_id": "edge-cases-v2", "extracted_at": "2025-07-01T00:00:00Z", "files": files}, indent=2)
        + "\n"
    )
    readme = (TOOLS / "readme_head.md").read_text().splitlines()
    for p in ALL:
        readme.append(f"- `{p.pid}`: {p.note}")
    (ext / "README.md").write_text("\n".join(readme) + "\n")
    print(len(ALL), "patients;", {t: files[f"{t}.csv"]["rows"] for t in TABLES})
