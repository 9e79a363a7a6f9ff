"""Patients of the golden edge extract with their hand-worked expectations."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_edge import D, M, Pt, days, finish, plus

PR_TG = ("PR", "tg_decline")
PR_SCAN = ("PR", "scan_reduction")
SD = ("SD", "no_change")
PD = ("PD", "new_lesion")
CR = ("CR", "no_evidence_of_disease")
NE = ("NE", "insufficient_data")

# ---------------------------------------------------------------- dtc_surgery
p = Pt(
    "E01",
    "template, o-RAIT 150 mCi = 5.55 GBq; Tg 12 -> 6 (delta 0.5): PR tg_decline; eligible",
    acts=[("150", "mCi", 5.55)],
)
p.resp(PR_TG)

p = Pt(
    "E02",
    "total thyroidectomy on 2000-01-01 (first day of the window): dtc_surgery true; 5550 MBq; eligible",
    d0="2000-01-01",
    sex="M",
    acts=[("5550", "MBq", 5.55)],
)
p.resp(PR_TG)

p = Pt(
    "E03",
    "total thyroidectomy on 1999-12-31 (one day before the window): dtc_surgery false -> excluded dtc_surgery",
    d0="1999-12-31",
)
p.resp(PR_TG)
p.exp.update(dtc_surgery=False, exclusion_reason="dtc_surgery")

p = Pt(
    "E04",
    "total thyroidectomy on 2022-12-31 (last day of the window): dtc_surgery true; eligible",
    d0="2022-12-31",
    lc=700,
)
p.resp(PR_TG)

p = Pt(
    "E05", "total thyroidectomy on 2023-01-01 (one day after the window): excluded dtc_surgery", d0="2023-01-01", lc=700
)
p.resp(PR_TG)
p.exp.update(dtc_surgery=False, exclusion_reason="dtc_surgery")

p = Pt(
    "E06",
    "lobectomy (PTC 1.5 cm, T1b N0) then completion thyroidectomy 366 days later (PTC 2.2 cm, T3a N1a, gross "
    "ETE): initial_surgery_date = lobectomy; dtc_surgery true via the completion; max size 2.2, T3a, N1a; "
    "lung 443 days after diagnosis -> metachronous; the completion is outside the ATA window (diagnosis+366) so "
    "its gross ETE is ignored -> ATA low; eligible",
    d0="2009-05-01",
    gap=457,
)
s1 = p.row("E06-S1")
s1.update(
    procedure="lobectomy",
    max_tumor_size_cm="1.5",
    t_stage="T1b",
    n_stage="N0",
    positive_nodes="0",
    largest_node_cm=None,
)
p.add(
    "surgeries",
    surgery_id="E06-S2",
    surgery_date=plus(p.d0, 366),
    procedure="completion_thyroidectomy",
    histology="PTC",
    max_tumor_size_cm="2.2",
    t_stage="T3a",
    n_stage="N1a",
    ete="gross",
    resection="R0",
    vascular_invasion_foci="0",
    positive_nodes="3",
    largest_node_cm="1.0",
    aggressive_variant="false",
)
p.resp(PR_TG)
p.exp.update(
    max_tumor_size_cm=2.2,
    t_stage_max="T3a",
    n_stage_max="N1a",
    t_stage_group="T3+T4",
    metastasis_timing="metachronous",
    ata_risk="low",
)
assert days(p.d0, p.exp["lung_met_date"]) == 443

p = Pt(
    "E07", "only histology 'other' (no PTC/FTC anywhere): dtc_surgery false -> excluded dtc_surgery; histology 'other'"
)
p.row("E07-S1")["histology"] = "other"
p.resp(PR_TG)
p.exp.update(histology="other", dtc_surgery=False, exclusion_reason="dtc_surgery")

p = Pt(
    "E08",
    "lobectomy 1999-06-01 (PTC) + completion thyroidectomy 2000-01-01 without carcinoma (empty histology, NX): "
    "dtc_surgery true (completion in window, PTC on another surgery); diagnosis 1999-06-01; max size only from "
    "the lobectomy; NX ignored; eligible",
    d0="1999-06-01",
    gap=259,
)
assert D("2000-02-15") == p.A1
p.row("E08-S1").update(
    procedure="lobectomy",
    max_tumor_size_cm="1.8",
    t_stage="T2",
    n_stage="N1a",
    resection="R1",
    positive_nodes="1",
    largest_node_cm="0.8",
)
p.add(
    "surgeries",
    surgery_id="E08-S2",
    surgery_date=D("2000-01-01"),
    procedure="completion_thyroidectomy",
    histology=None,
    max_tumor_size_cm=None,
    t_stage=None,
    n_stage="NX",
    ete=None,
    resection="R0",
)
p.resp(PR_TG)
p.exp.update(max_tumor_size_cm=1.8, t_stage_max="T2", n_stage_max="N1a", t_stage_group="T1+T2")
assert p.exp["metastasis_timing"] == "synchronous" and days(p.d0, p.exp["lung_met_date"]) == 245

# ---------------------------------------------------------------- lung_only_micromets
p = Pt(
    "E09",
    "no lung disease (lung rows all 'absent'): lung_met_date NULL, metastasis_timing NULL, ATA low; "
    "post Tg '<0.2' + DxWBS lung 'absent' -> CR; excluded lung_only_micromets (RxWBS lung not avid either)",
    post="<0.2",
    dx="absent",
)
p.row("E09-F0").update(status="absent", max_lesion_mm=None)
p.row("E09-F1L").update(status="absent", rai_avid="false", max_lesion_mm=None)
p.resp(CR)
p.cyc(1, tg_post=0.2, delta_tg=(12 - 0.2) / 12)
p.exp.update(
    lung_met_date=None,
    metastasis_timing=None,
    ata_risk="low",
    lung_only_micromets=False,
    avid_on_every_rxwbs=False,
    exclusion_reason="lung_only_micromets",
)

p = Pt("E10", "lung lesion exactly 10 mm in the baseline period: lung_only_micromets false -> excluded")
p.row("E10-F0")["max_lesion_mm"] = "10"
p.resp(PR_TG)
p.exp.update(lung_only_micromets=False, exclusion_reason="lung_only_micromets")

p = Pt(
    "E11",
    "lung 9.9 mm at baseline; a 12 mm 'increased' lung CT at first RAIT + 15 days is later growth, not an "
    "exclusion: eligible",
)
p.row("E11-F0")["max_lesion_mm"] = "9.9"
p.add(
    "imaging_findings",
    finding_id="E11-F9",
    study_date=plus(p.A1, 15),
    modality="CT",
    site="lung",
    status="increased",
    max_lesion_mm="12",
    confirmation="imaging",
)
p.resp(PR_TG)

p = Pt(
    "E12",
    "a 12 mm lung CT exactly at first RAIT + 14 days (last day of the baseline period): excluded lung_only_micromets",
)
p.add(
    "imaging_findings",
    finding_id="E12-F9",
    study_date=plus(p.A1, 14),
    modality="CT",
    site="lung",
    status="present",
    max_lesion_mm="12",
    confirmation="imaging",
)
p.resp(PR_TG)
p.exp.update(lung_only_micromets=False, exclusion_reason="lung_only_micromets")

p = Pt(
    "E13",
    "every lung size empty (non-measurable micrometastases): lung_only_micromets true; also vocabulary in "
    "other cases/with spaces ('ptc', ' Lung', 'ct', 'gbq', 'RXWBS') which load as contract spelling; eligible",
    acts=[("5.55", "gbq", 5.55)],
)
p.row("E13-F0").update(max_lesion_mm=None, site=" Lung", modality="ct")
p.row("E13-F1L").update(max_lesion_mm=None, modality="RXWBS")
p.row("E13-S1")["histology"] = "ptc"
p.resp(PR_TG)

p = Pt("E14", "bone disease ('present', avid) on the first RxWBS (baseline): excluded lung_only_micromets")
p.add(
    "imaging_findings",
    finding_id="E14-F1B",
    study_date=plus(p.A1, 5),
    modality="RxWBS",
    rait_id="E14-R1",
    site="bone",
    status="present",
    rai_avid="true",
)
p.resp(PR_TG)
p.exp.update(lung_only_micromets=False, exclusion_reason="lung_only_micromets")

p = Pt(
    "E15",
    "new bone lesion at first RAIT + 200 days: after baseline so still lung-only; a new-lesion event -> PD "
    "(new_lesion beats tg_decline), pd_date = A1+200, not early (200 > 183); PFS progression; eligible",
)
p.add(
    "imaging_findings",
    finding_id="E15-F9",
    study_date=plus(p.A1, 200),
    modality="CT",
    site="bone",
    status="new",
    confirmation="imaging",
)
p.resp(PD)
p.exp.update(pd_date=plus(p.A1, 200))
p.exp_pfs.update(end_date=plus(p.A1, 200), pfs_months=200 / M, pfs_event=1, event_type="progression")

p = Pt(
    "E16",
    "no RAIT; lung CT at diagnosis+40; a 'new' brain lesion 15 days later is after the baseline (lung_met+14) "
    "and, without RAIT, no progression event: lung_only true; local_disease_status, rait_group, responses, "
    "pd_date NULL; no pfs row; excluded avid_on_every_rxwbs",
    n=0,
    lung_off=40,
)
p.add(
    "imaging_findings",
    finding_id="E16-F9",
    study_date=plus(p.d0, 55),
    modality="MRI",
    site="brain",
    status="new",
    confirmation="imaging",
)
p.exp.update(exclusion_reason="avid_on_every_rxwbs")
assert p.exp["lung_met_date"] == plus(p.d0, 40) and p.exp["metastasis_timing"] == "synchronous"

p = Pt(
    "E17",
    "no RAIT; liver disease exactly at lung_met_date + 14 (end of baseline without RAIT): excluded lung_only_micromets",
    n=0,
    lung_off=40,
)
p.add(
    "imaging_findings",
    finding_id="E17-F9",
    study_date=plus(p.d0, 54),
    modality="CT",
    site="liver",
    status="present",
    confirmation="imaging",
)
p.exp.update(lung_only_micromets=False, exclusion_reason="lung_only_micromets")

p = Pt(
    "E18",
    "lung disease first seen on the first RxWBS (A1+5): baseline runs to lung_met+14 = A1+19; 'other' site "
    "disease on A1+19 -> excluded lung_only_micromets; mets_after_first_rait false (A1+5 <= A1+14); at "
    "baseline (data up to A1+14) the 'other' disease is not yet known -> eligible at baseline",
)
p.drop("E18-F0")
p.add(
    "imaging_findings",
    finding_id="E18-F9",
    study_date=plus(p.A1, 19),
    modality="CT",
    site="other",
    status="present",
    confirmation="imaging",
)
p.resp(PR_TG)
p.exp.update(lung_met_date=plus(p.A1, 5), lung_only_micromets=False, exclusion_reason="lung_only_micromets")
p.base.update(lung_only_micromets=True)

# ---------------------------------------------------------------- avid_on_every_rxwbs
p = Pt("E19", "RxWBS lung rai_avid false: excluded avid_on_every_rxwbs")
p.row("E19-F1L")["rai_avid"] = "false"
p.resp(PR_TG)
p.exp.update(avid_on_every_rxwbs=False, exclusion_reason="avid_on_every_rxwbs")

p = Pt("E20", "RxWBS lung rai_avid empty (missing evidence is false): excluded avid_on_every_rxwbs")
p.row("E20-F1L")["rai_avid"] = None
p.resp(PR_TG)
p.exp.update(avid_on_every_rxwbs=False, exclusion_reason="avid_on_every_rxwbs")

p = Pt(
    "E21",
    "m-RAIT; the second RxWBS has a thyroid_bed row but no lung row: excluded avid_on_every_rxwbs; cycle 1 "
    "scan_change NULL (no lung row on cycle 2's scan), Tg 12 -> 10: SD; cycle 2 PR; at baseline only the first "
    "(avid) RxWBS is judged -> eligible at baseline",
    n=2,
    pre=[12.0, 10.0],
)
p.drop("E21-F2L")
p.cyc(1, scan_change=None)
p.resp(SD, PR_TG)
p.exp.update(avid_on_every_rxwbs=False, exclusion_reason="avid_on_every_rxwbs")
p.base.update(avid_on_every_rxwbs=True)

p = Pt(
    "E22",
    "m-RAIT 5.55 GBq + 3700 MBq (median 4.625, cumulative 9.25); cycle 2 has no RxWBS at all: a later "
    "judged RAIT without RxWBS is skipped and the earliest judged one (cycle 1) is avid -> avid true; "
    "n_rait_without_rxwbs 1; cycle 1 scan_change NULL: SD; eligible",
    n=2,
    pre=[12.0, 10.0],
    acts=[("5.55", "GBq", 5.55), ("3700", "MBq", 3.7)],
)
p.drop("E22-F2L", "E22-F2T")
p.cyc(1, scan_change=None)
p.resp(SD, PR_TG)
p.exp.update(n_rait_without_rxwbs=1)
assert p.exp["median_activity_gbq"] == (5.55 + 3.7) / 2

p = Pt(
    "E23",
    "RAIT but no RxWBS at all: the earliest judged RAIT has no RxWBS -> excluded avid_on_every_rxwbs; "
    "n_rait_without_rxwbs 1",
)
p.drop("E23-F1L", "E23-F1T")
p.resp(PR_TG)
p.exp.update(avid_on_every_rxwbs=False, exclusion_reason="avid_on_every_rxwbs", n_rait_without_rxwbs=1)

# ---------------------------------------------------------------- mets_after_first_rait
for pid, off in (("E24", 14), ("E25", 15)):
    last = off == 15
    p = Pt(
        pid,
        f"remnant ablation without RxWBS, lung mets first seen on CT at first RAIT + {off} days, second RAIT "
        "with avid RxWBS (n_rait_without_rxwbs 1): "
        + (
            "the remnant ablation is before lung_met_date - 14 = A1+1 and not judged, the second RAIT is the "
            "earliest judged and avid -> avid true; lung_met_date > A1+14 -> excluded mets_after_first_rait"
            if last
            else "the remnant ablation (A1 = lung_met_date - 14) is judged and is the earliest judged RAIT, "
            "without RxWBS -> excluded avid_on_every_rxwbs; mets_after_first_rait false (A1+14 is not after)"
        ),
        n=2,
        pre=[12.0, 10.0],
    )
    p.row(f"{pid}-R1")["intent"] = "remnant_ablation"
    p.drop(f"{pid}-F0", f"{pid}-F1L", f"{pid}-F1T")
    p.add(
        "imaging_findings",
        finding_id=f"{pid}-F9",
        study_date=plus(p.A1, off),
        modality="CT",
        site="lung",
        status="present",
        max_lesion_mm="6",
        confirmation="imaging",
    )
    p.resp(SD, PR_TG)
    p.exp.update(lung_met_date=plus(p.A1, off), n_rait_without_rxwbs=1)
    if last:
        p.exp.update(mets_after_first_rait=True, exclusion_reason="mets_after_first_rait")
    else:
        p.exp.update(avid_on_every_rxwbs=False, exclusion_reason="avid_on_every_rxwbs")

# ---------------------------------------------------------------- massive_remnant
p = Pt("E26", "first RxWBS thyroid_bed remnant_uptake 'massive': excluded massive_remnant")
p.row("E26-F1T")["remnant_uptake"] = "massive"
p.resp(PR_TG)
p.exp.update(massive_remnant=True, exclusion_reason="massive_remnant")

p = Pt(
    "E27", "m-RAIT; 'massive' remnant only on the second RxWBS (only the first counts): eligible", n=2, pre=[12.0, 10.0]
)
p.row("E27-F2T")["remnant_uptake"] = "massive"
p.resp(SD, PR_TG)

# ---------------------------------------------------------------- same-date ties (byte order)
p = Pt(
    "E28",
    "two stimulated Tg on the same date in the tg_pre window: 'E28-L9' = 7 written first, 'E28-L10' = 12 "
    "written second; byte order 'E28-L10' < 'E28-L9' -> tg_pre 12, delta 0.5: PR (7 would give SD)",
)
p.drop("E28-L1b")
p.tg("E28-L9", plus(p.A1, -3), 7.0)
p.tg("E28-L10", plus(p.A1, -3), 12.0)
p.resp(PR_TG)

p = Pt(
    "E29",
    "two surgeries on the same day: 'E29-S2' total thyroidectomy FTC 3.0 cm written first, 'E29-S10' neck "
    "dissection PTC written second; 'E29-S10' < 'E29-S2' -> histology PTC; max size 3.0; T2, N1b; eligible",
)
p.drop("E29-S1")
p.add(
    "surgeries",
    surgery_id="E29-S2",
    surgery_date=p.d0,
    procedure="total_thyroidectomy",
    histology="FTC",
    max_tumor_size_cm="3.0",
    t_stage="T2",
    n_stage="N0",
    ete="none",
    resection="R0",
    vascular_invasion_foci="3",
    positive_nodes="0",
    aggressive_variant="false",
)
p.add(
    "surgeries",
    surgery_id="E29-S10",
    surgery_date=p.d0,
    procedure="neck_dissection",
    histology="PTC",
    max_tumor_size_cm="1.0",
    n_stage="N1b",
    vascular_invasion_foci="0",
    positive_nodes="4",
    largest_node_cm="2.0",
)
p.resp(PR_TG)
p.exp.update(histology="PTC", max_tumor_size_cm=3.0, t_stage_max="T2", n_stage_max="N1b", t_stage_group="T1+T2")

p = Pt(
    "E30",
    "m-RAIT; cycle 2's RxWBS has two lung rows: 'E30-Fa' stable (written first), 'E30-FB' reduced; byte "
    "order 'B' < 'a' -> scan_change reduced; Tg 12 -> 10 (1/6): cycle 1 PR scan_reduction; eligible",
    n=2,
    pre=[12.0, 10.0],
)
p.drop("E30-F2L")
p.add(
    "imaging_findings",
    finding_id="E30-Fa",
    study_date=plus(p.A[1], 5),
    modality="RxWBS",
    rait_id="E30-R2",
    site="lung",
    status="stable",
    rai_avid="true",
)
p.add(
    "imaging_findings",
    finding_id="E30-FB",
    study_date=plus(p.A[1], 5),
    modality="RxWBS",
    rait_id="E30-R2",
    site="lung",
    status="reduced",
    rai_avid="true",
)
p.cyc(1, scan_change="reduced")
p.resp(PR_SCAN, PR_TG)

# ---------------------------------------------------------------- Tg: stimulation, TgAb, windows
p = Pt(
    "E31",
    "pre-RAIT Tg with same-day TSH 29.9 is not stimulated; TSH 80 the next day has no Tg; a stimulated Tg "
    "at A1-31 is outside the window -> tg_pre NULL, delta NULL; DxWBS reduced: PR scan_reduction",
)
p.row("E31-L1a")["value"] = "29.9"
p.add("lab_results", lab_id="E31-X1", sample_date=plus(p.A1, -2), analyte="TSH", value="80", unit="uIU/mL")
p.tg("E31-X2", plus(p.A1, -31), 99.0, tsh=90)
p.cyc(1, tg_pre=None, delta_tg=None)
p.resp(PR_SCAN)

p = Pt(
    "E32",
    "TgAb: Tg on A1 with TgAb exactly 115 (default cut-off, positive), on A1-1 with TgAb 60 >= its row "
    "cut-off 40 (positive), on A1-2 with TgAb '<200' (above the cut-off 115: indeterminate, not interpretable), "
    "on A1-3 with TgAb '<100' (below: negative) -> tg_pre = 16 (A1-3); delta 0.625: PR",
)
p.drop("E32-L1a", "E32-L1b", "E32-L1c")
p.tg("E32-Xa", p.A1, 50.0, tsh=80, tgab=115)
p.tg("E32-Xb", plus(p.A1, -1), 40.0, tsh=80, tgab=60, tgab_cutoff="40")
p.tg("E32-Xc", plus(p.A1, -2), 20.0, tsh=80, tgab=200, tgab_cmp="<")
p.tg("E32-Xd", plus(p.A1, -3), 16.0, tsh=80, tgab=100, tgab_cmp="<")
p.cyc(1, tg_pre=16.0, delta_tg=(16 - 6) / 16)
p.resp(PR_TG)

p = Pt(
    "E33",
    "TSH boundaries: Tg 9 with TSH 29.99 (A1-1) not stimulated; Tg 10 with TSH exactly 30 (A1-5) is "
    "tg_pre; post Tg 7.5 with TSH '>100' stimulated; delta exactly 0.25 -> PR tg_decline",
)
p.drop("E33-L1a", "E33-L1b", "E33-L1c", "E33-LPa", "E33-LPb")
p.tg("E33-Xa", plus(p.A1, -1), 9.0, tsh="29.99")
p.tg("E33-Xb", plus(p.A1, -5), 10.0, tsh="30")
p.tg("E33-Xc", plus(p.A1, 180), 7.5, tsh="100", tsh_cmp=">")
p.cyc(1, tg_pre=10.0, tg_post=7.5, delta_tg=0.25)
p.resp(PR_TG)

p = Pt("E34", "Tg 4 -> 3.01: delta 0.2475 < 0.25; DxWBS stable -> SD no_change", pre=[4.0], post=3.01, dx="stable")
p.resp(SD)

p = Pt(
    "E35",
    "windows: stimulated Tg at A1-30 (10, in) and A1-31 (99, out) -> tg_pre 10; A1+89 (1, out), A1+90 (8, "
    "in, earliest) -> tg_post 8; DxWBS reduced at A1+89 (out), stable at A1+180 -> delta 0.2: SD",
    dx="stable",
)
p.drop("E35-L1a", "E35-L1b", "E35-L1c", "E35-LPa", "E35-LPb")
p.tg("E35-Xa", plus(p.A1, -30), 10.0, tsh=80)
p.tg("E35-Xb", plus(p.A1, -31), 99.0, tsh=80)
p.tg("E35-Xc", plus(p.A1, 89), 1.0, tsh=80)
p.tg("E35-Xd", plus(p.A1, 90), 8.0, tsh=80)
p.tg("E35-Xe", plus(p.A1, 180), 0.5, tsh=80)
p.add(
    "imaging_findings",
    finding_id="E35-FX",
    study_date=plus(p.A1, 89),
    modality="DxWBS",
    site="lung",
    status="reduced",
    rai_avid="true",
)
p.cyc(1, tg_pre=10.0, tg_post=8.0, delta_tg=0.2)
p.resp(SD)

p = Pt(
    "E36",
    "post-RAIT Tg and DxWBS only at A1+731 (one day past the window): tg_post and scan_change NULL -> NE "
    "insufficient_data (first = last = NE); the DxWBS is still a disease assessment: censored at A1+731; "
    "eligible",
    post=None,
    dx=None,
)
p.tg("E36-Xa", plus(p.A1, 731), 2.0, tsh=80)
p.add(
    "imaging_findings",
    finding_id="E36-FX",
    study_date=plus(p.A1, 731),
    modality="DxWBS",
    site="lung",
    status="reduced",
    rai_avid="true",
)
p.resp(NE)
p.exp_pfs.update(end_date=plus(p.A1, 731), pfs_months=731 / M)

p = Pt(
    "E37",
    "post Tg '<0.5' (X <= cr_tg_max 1.0) and DxWBS lung 'absent', both on A1+730 (last day of the window): CR "
    "no_evidence_of_disease (before tg_decline); censored at the DxWBS (A1+730); eligible",
    post=None,
    dx=None,
)
p.tg("E37-Xa", plus(p.A1, 730), "<0.5", tsh=80)
p.add(
    "imaging_findings",
    finding_id="E37-FX",
    study_date=plus(p.A1, 730),
    modality="DxWBS",
    site="lung",
    status="absent",
    rai_avid="false",
)
p.cyc(1, tg_post=0.5, tg_post_comparator="<", delta_tg=(12 - 0.5) / 12, scan_change="absent")
p.resp(CR)
p.exp_pfs.update(end_date=plus(p.A1, 730), pfs_months=730 / M)

p = Pt("E38", "post Tg '<0.2' but DxWBS lung 'stable': not CR; delta 0.983 -> PR tg_decline", post="<0.2", dx="stable")
p.resp(PR_TG)

p = Pt(
    "E39",
    "tg_pre reported '>500' (above the range): no delta_tg (revision 1 read 500: delta 0.8); DxWBS reduced -> "
    "PR scan_reduction",
    pre=[">500"],
    post=100.0,
)
p.resp(PR_SCAN)

p = Pt(
    "E40",
    "tg_pre = 0 (no delta when tg_pre is not > 0); post 0.5, DxWBS stable -> SD",
    pre=[0.0],
    post=0.5,
    dx="stable",
)
p.resp(SD)

# ---------------------------------------------------------------- responses across cycles
p = Pt("E41", "last cycle without any post-treatment Tg; DxWBS stable -> SD no_change", post=None, dx="stable")
p.resp(SD)

p = Pt(
    "E42",
    "m-RAIT 3 cycles 150 mCi / 3700 MBq / 7.4 GBq (median 5.55, cumulative 5.55, 9.25, 16.65; 180 and 250 "
    "days apart); Tg 12 -> 8 -> 7: cycle 1 PR tg_decline, cycle 2 SD (delta 0.125, scan stable), last cycle "
    "without post Tg or DxWBS: NE; eligible",
    n=3,
    cgap=[180, 250],
    pre=[12.0, 8.0, 7.0],
    rx=["present", "reduced", "stable"],
    post=None,
    dx=None,
    acts=[("150", "mCi", 5.55), ("3700", "MBq", 3.7), ("7.4", "GBq", 7.4)],
)
p.resp(PR_TG, SD, NE)
assert [c["cumulative_gbq"] for c in p.exp_cycles] == [5.55, 5.55 + 3.7, 5.55 + 3.7 + 7.4]

p = Pt(
    "E43",
    "no fallback: cycle 2's pre-RAIT Tg is not stimulated (TSH 20), so cycle 1's tg_post is NULL although a "
    "stimulated Tg (1) and a DxWBS 'resolved' exist between the cycles; scan_change from cycle 2's RxWBS "
    "(stable): cycle 1 SD; cycle 2 tg_pre NULL, DxWBS reduced: PR scan_reduction; eligible",
    n=2,
    pre=[12.0, 10.0],
)
p.row("E43-L2a")["value"] = "20"
p.tg("E43-Xa", plus(p.A1, 120), 1.0, tsh=80)
p.add(
    "imaging_findings",
    finding_id="E43-FX",
    study_date=plus(p.A1, 120),
    modality="DxWBS",
    site="lung",
    status="resolved",
    rai_avid="true",
)
p.cyc(1, tg_post=None, delta_tg=None)
p.cyc(2, tg_pre=None, delta_tg=None)
p.resp(SD, PR_SCAN)

p = Pt(
    "E44",
    "m-RAIT 180 days apart; a 'new' neck-node lesion on cycle 2's RxWBS (A2+5 = A1+185) falls in cycle 1's "
    "window (A1+14, A2+14]: cycle 1 PD, not early (185 > 183); pd_date A1+185; PFS progression; eligible",
    n=2,
    cgap=180,
    pre=[12.0, 10.0],
)
p.add(
    "imaging_findings",
    finding_id="E44-F2N",
    study_date=plus(p.A[1], 5),
    modality="RxWBS",
    rait_id="E44-R2",
    site="neck_nodes",
    status="new",
    rai_avid="true",
)
p.resp(PD, PR_TG)
p.exp.update(pd_date=plus(p.A1, 185))
p.exp_pfs.update(end_date=plus(p.A1, 185), pfs_months=185 / M, pfs_event=1, event_type="progression")

for pid, off in (("E45", 183), ("E46", 184)):
    p = Pt(
        pid,
        f"new neck-node lesion at first RAIT + {off} days: PD; "
        + ("within 183 days -> excluded early_progression" if off == 183 else "184 > 183 days -> not early; eligible"),
        sex="M",
    )
    p.add(
        "imaging_findings",
        finding_id=f"{pid}-FN",
        study_date=plus(p.A1, off),
        modality="US",
        site="neck_nodes",
        status="new",
        confirmation="cytology",
    )
    p.resp(PD)
    p.exp.update(pd_date=plus(p.A1, off))
    p.exp_pfs.update(end_date=plus(p.A1, off), pfs_months=off / M, pfs_event=1, event_type="progression")
    if off == 183:
        p.exp.update(early_progression=True, exclusion_reason="early_progression")

p = Pt(
    "E47",
    "'new' findings that are baseline: thyroid_bed 'new' on the first RxWBS (A1+5) and a 'new' neck node on "
    "A1+14 (not more than 14 days after): no new-lesion event, pd_date NULL; PR; eligible",
)
p.row("E47-F1T")["status"] = "new"
p.add(
    "imaging_findings",
    finding_id="E47-FN",
    study_date=plus(p.A1, 14),
    modality="US",
    site="neck_nodes",
    status="new",
    confirmation="cytology",
)
p.resp(PR_TG)

p = Pt(
    "E48",
    "m-RAIT 200 days apart; 'new' other-site lesion at A2+10 (cycle 1's window, 210 days after A1: not "
    "early) and 'new' neck node at A2+100 (cycle 2's window, 100 days after A2: early) -> both cycles PD; "
    "pd_date A2+10; excluded early_progression; at baseline only the 183 days after A1 count (both events are "
    "later) -> eligible at baseline",
    n=2,
    pre=[12.0, 10.0],
)
p.add(
    "imaging_findings",
    finding_id="E48-FM",
    study_date=plus(p.A[1], 10),
    modality="CT",
    site="other",
    status="new",
    confirmation="imaging",
)
p.add(
    "imaging_findings",
    finding_id="E48-FN",
    study_date=plus(p.A[1], 100),
    modality="US",
    site="neck_nodes",
    status="new",
    confirmation="cytology",
)
p.resp(PD, PD)
p.exp.update(pd_date=plus(p.A1, 210), early_progression=True, exclusion_reason="early_progression")
p.base.update(early_progression=False)
p.exp_pfs.update(end_date=plus(p.A1, 210), pfs_months=210 / M, pfs_event=1, event_type="progression")

# ---------------------------------------------------------------- PFS and death
p = Pt(
    "E49",
    "dead without progression; death_date (A1+1000) after last_contact_date (A1+900, registry linkage): "
    "PFS event death at the death date; follow-up to death; eligible",
    lc=900,
)
p.rows["follow_up"][0].update(vital_status="dead", death_date=plus(p.A1, 1000))
p.resp(PR_TG)
p.exp_pfs.update(
    end_date=plus(p.A1, 1000), pfs_months=1000 / M, pfs_event=1, event_type="death", follow_up_months=1000 / M
)

p = Pt(
    "E50",
    "progression (new neck node) on the day of death (A1+400 = last contact): event_type progression; eligible",
    lc=400,
)
p.rows["follow_up"][0].update(vital_status="dead", death_date=plus(p.A1, 400))
p.add(
    "imaging_findings",
    finding_id="E50-FN",
    study_date=plus(p.A1, 400),
    modality="US",
    site="neck_nodes",
    status="new",
    confirmation="cytology",
)
p.resp(PD)
p.exp.update(pd_date=plus(p.A1, 400))
p.exp_pfs.update(
    end_date=plus(p.A1, 400), pfs_months=400 / M, pfs_event=1, event_type="progression", follow_up_months=400 / M
)

p = Pt(
    "E51", "progression at A1+300, death at A1+600: progression at A1+300; follow_up_months to death; eligible", lc=600
)
p.rows["follow_up"][0].update(vital_status="dead", death_date=plus(p.A1, 600))
p.add(
    "imaging_findings",
    finding_id="E51-FN",
    study_date=plus(p.A1, 300),
    modality="US",
    site="neck_nodes",
    status="new",
    confirmation="cytology",
)
p.resp(PD)
p.exp.update(pd_date=plus(p.A1, 300))
p.exp_pfs.update(
    end_date=plus(p.A1, 300), pfs_months=300 / M, pfs_event=1, event_type="progression", follow_up_months=600 / M
)

# ---------------------------------------------------------------- local_disease_status
p = Pt(
    "E52",
    "neck-node disease confirmed by imaging only (d0+100, ignored) and by cytology at exactly surgery + 365 "
    "days, before RAIT (d0+400): local_persistent; lung at d0+386 -> metachronous, ATA low; eligible",
    gap=400,
)
p.add(
    "imaging_findings",
    finding_id="E52-FI",
    study_date=plus(p.d0, 100),
    modality="US",
    site="neck_nodes",
    status="present",
    confirmation="imaging",
)
p.add(
    "imaging_findings",
    finding_id="E52-FC",
    study_date=plus(p.d0, 365),
    modality="US",
    site="neck_nodes",
    status="present",
    confirmation="cytology",
)
p.resp(PR_TG)
p.exp.update(local_disease_status="local_persistent")
assert p.exp["metastasis_timing"] == "metachronous" and p.exp["ata_risk"] == "low"

p = Pt(
    "E53",
    "cytology-confirmed thyroid-bed disease on the surgery day and neck-node disease on the first RAIT day "
    "are outside (strict bounds); histology-confirmed 'new' thyroid-bed disease at surgery + 366 days: "
    "local_recurrence; metachronous, ATA low; eligible",
    gap=400,
)
p.add(
    "imaging_findings",
    finding_id="E53-F0d",
    study_date=p.d0,
    modality="US",
    site="thyroid_bed",
    status="present",
    confirmation="cytology",
)
p.add(
    "imaging_findings",
    finding_id="E53-FH",
    study_date=plus(p.d0, 366),
    modality="US",
    site="thyroid_bed",
    status="new",
    confirmation="histology",
)
p.add(
    "imaging_findings",
    finding_id="E53-FA",
    study_date=p.A1,
    modality="US",
    site="neck_nodes",
    status="present",
    confirmation="cytology",
)
p.resp(PR_TG)
p.exp.update(local_disease_status="local_recurrence")

p = Pt(
    "E54",
    "lobectomy, cytology-confirmed neck-node disease 200 days later, completion thyroidectomy (no carcinoma) "
    "at d0+300, RAIT at d0+350: initial_surgery_date is the lobectomy -> local_persistent; eligible",
    gap=350,
)
p.row("E54-S1")["procedure"] = "lobectomy"
p.add(
    "surgeries", surgery_id="E54-S2", surgery_date=plus(p.d0, 300), procedure="completion_thyroidectomy", resection="R0"
)
p.add(
    "imaging_findings",
    finding_id="E54-FC",
    study_date=plus(p.d0, 200),
    modality="US",
    site="neck_nodes",
    status="present",
    confirmation="cytology",
)
p.resp(PR_TG)
p.exp.update(local_disease_status="local_persistent")
assert p.exp["metastasis_timing"] == "synchronous"

# ---------------------------------------------------------------- ATA risk (metachronous: not high by timing)
ata = [
    ("E55", "gross ETE -> high", {"ete": "gross"}, "high", None),
    ("E56", "R2 resection -> high", {"resection": "R2"}, "high", None),
    ("E57", "largest node 3.1 cm (> 3) -> high", {"largest_node_cm": "3.1"}, "high", None),
    (
        "E58",
        "largest node exactly 3.0 cm and exactly 5 positive nodes (neither counts) -> low",
        {"largest_node_cm": "3.0", "positive_nodes": "5"},
        "low",
        None,
    ),
    (
        "E59",
        "FTC with 5 vascular invasion foci (> 4) -> high",
        {"histology": "FTC", "vascular_invasion_foci": "5"},
        "high",
        "FTC",
    ),
    (
        "E60",
        "FTC with 4 foci: not high, and the PTC foci rule does not apply to FTC -> low",
        {"histology": "FTC", "vascular_invasion_foci": "4"},
        "low",
        "FTC",
    ),
    ("E61", "microscopic ETE -> intermediate", {"ete": "microscopic"}, "intermediate", None),
    ("E62", "aggressive variant -> intermediate", {"aggressive_variant": "true"}, "intermediate", None),
    (
        "E63",
        "PTC with 1 vascular invasion focus -> intermediate",
        {"vascular_invasion_foci": "1"},
        "intermediate",
        None,
    ),
    ("E64", "6 positive nodes (> 5) -> intermediate", {"positive_nodes": "6"}, "intermediate", None),
]
for pid, what, change, risk, hist in ata:
    p = Pt(pid, f"metachronous (lung at diagnosis+436), ATA: {what}; eligible", gap=450, sex="M")
    p.row(f"{pid}-S1").update(change)
    p.resp(PR_TG)
    assert p.exp["metastasis_timing"] == "metachronous"
    p.exp.update(ata_risk=risk)
    if hist:
        p.exp.update(histology=hist)

p = Pt(
    "E65",
    "only TX / NX staged: t_stage_max, n_stage_max, t_stage_group NULL; N not known -> ATA unknown; "
    "metachronous; eligible",
    gap=450,
)
p.row("E65-S1").update(t_stage="TX", n_stage="NX")
p.resp(PR_TG)
p.exp.update(t_stage_max=None, n_stage_max=None, t_stage_group=None, ata_risk="unknown")

p = Pt(
    "E66",
    "ATA low from facts known on different surgeries: ETE on the thyroidectomy (resection and N empty), "
    "resection R0 and N1a on a neck dissection at diagnosis+60; n_stage_max N1a; metachronous; eligible",
    gap=450,
)
p.row("E66-S1").update(resection=None, n_stage=None)
p.add(
    "surgeries",
    surgery_id="E66-S2",
    surgery_date=plus(p.d0, 60),
    procedure="neck_dissection",
    histology="PTC",
    n_stage="N1a",
    resection="R0",
)
p.resp(PR_TG)
p.exp.update(n_stage_max="N1a", ata_risk="low")

p = Pt(
    "E67",
    "neck dissection with R2 exactly at diagnosis + 365 days is inside the ATA window -> high; metachronous; eligible",
    gap=450,
)
p.add(
    "surgeries",
    surgery_id="E67-S2",
    surgery_date=plus(p.d0, 365),
    procedure="neck_dissection",
    histology="PTC",
    n_stage="N1b",
    resection="R2",
)
p.resp(PR_TG)
p.exp.update(ata_risk="high")

# ---------------------------------------------------------------- metastasis_timing
p = Pt("E68", "lung_met_date exactly diagnosis + 365 days: synchronous (ATA high); eligible", gap=379)
p.resp(PR_TG)
assert days(p.d0, p.exp["lung_met_date"]) == 365 and p.exp["metastasis_timing"] == "synchronous"

p = Pt("E69", "lung_met_date diagnosis + 366 days: metachronous (ATA low); eligible", gap=380)
p.resp(PR_TG)
assert days(p.d0, p.exp["lung_met_date"]) == 366 and p.exp["metastasis_timing"] == "metachronous"

p = Pt(
    "E70",
    "lung disease seen on CT 10 days before the operation (negative interval): synchronous; lung_met_date "
    "before diagnosis_date; eligible",
    lung_off=-60,
)
p.resp(PR_TG)
assert p.exp["lung_met_date"] == plus(p.d0, -10) and p.exp["metastasis_timing"] == "synchronous"

p = Pt(
    "E71",
    "thyroidectomy T2 N1a 2.5 cm + neck dissection (no carcinoma: empty histology, 4.0 cm recorded, TX, NX): "
    "TX/NX ignored -> T2, N1a, T1+T2; size only from histology surgeries -> 2.5; eligible",
)
p.row("E71-S1").update(t_stage="T2", n_stage="N1a")
p.add(
    "surgeries",
    surgery_id="E71-S2",
    surgery_date=plus(p.d0, 30),
    procedure="neck_dissection",
    max_tumor_size_cm="4.0",
    t_stage="TX",
    n_stage="NX",
    resection="R0",
)
p.resp(PR_TG)
p.exp.update(t_stage_max="T2", n_stage_max="N1a", t_stage_group="T1+T2")

# ---------------------------------------------------------------- revision 2: comparator values
p = Pt(
    "E72",
    "TSH comparators: Tg 9 with TSH '<30' (A1-1) is never stimulated (revision 1 read 30 and took it as "
    "tg_pre); Tg 11 with TSH '>29' (A1-2) is not (the TSH may be 29.5); Tg 12 with TSH '>30' (A1-4) is "
    "stimulated -> tg_pre 12; post 6: delta 0.5 PR tg_decline; eligible",
)
p.drop("E72-L1a", "E72-L1b", "E72-L1c")
p.tg("E72-Xa", plus(p.A1, -1), 9.0, tsh="30", tsh_cmp="<")
p.tg("E72-Xb", plus(p.A1, -2), 11.0, tsh="29", tsh_cmp=">")
p.tg("E72-Xc", plus(p.A1, -4), 12.0, tsh="30", tsh_cmp=">")
p.resp(PR_TG)

p = Pt(
    "E73",
    "TgAb indeterminate: Tg 50 on A1 with TgAb '>100' (below the default cut-off 115, may be above it), Tg 40 "
    "on A1-1 with TgAb '>30' (below its row cut-off 40) and Tg 30 on A1-2 with TgAb '<60' (above its row "
    "cut-off 40) are not interpretable; Tg 16 on A1-3 with TgAb '<40' (at its row cut-off: negative) is tg_pre "
    "(revision 1: 50); delta 0.625: PR tg_decline; eligible",
)
p.drop("E73-L1a", "E73-L1b", "E73-L1c")
p.tg("E73-Xa", p.A1, 50.0, tsh=80, tgab=100, tgab_cmp=">")
p.tg("E73-Xb", plus(p.A1, -1), 40.0, tsh=80, tgab=30, tgab_cmp=">", tgab_cutoff="40")
p.tg("E73-Xc", plus(p.A1, -2), 30.0, tsh=80, tgab=60, tgab_cmp="<", tgab_cutoff="40")
p.tg("E73-Xd", plus(p.A1, -3), 16.0, tsh=80, tgab=40, tgab_cmp="<", tgab_cutoff="40")
p.cyc(1, tg_pre=16.0, delta_tg=(16 - 6) / 16)
p.resp(PR_TG)

p = Pt(
    "E74",
    "tg_pre reported '<0.5' (below detection), exact post 0.3, DxWBS stable: no delta_tg, since no decline "
    "is measurable from below detection (revision 1: 0.4, PR) -> SD no_change; eligible",
    pre=["<0.5"],
    post=0.3,
    dx="stable",
)
p.resp(SD)

p = Pt(
    "E75",
    "exact tg_pre 300, post reported '>100' (above the range): no delta_tg (revision 1: 0.667, PR); DxWBS "
    "stable -> SD no_change; eligible",
    pre=[300.0],
    post=">100",
    dx="stable",
)
p.resp(SD)

# ---------------------------------------------------------------- revision 2: CR below cr_tg_max
for pid, post, dx, response, note in (
    (
        "E76",
        0.99,
        "absent",
        CR,
        "exact 0.99 (< cr_tg_max 1.0) and DxWBS absent -> CR (revision 1 needed a '<' value: PR tg_decline)",
    ),
    (
        "E77",
        1.0,
        "resolved",
        PR_TG,
        "exact 1.0 (not below cr_tg_max 1.0) with DxWBS resolved: not CR; delta 0.917 -> PR tg_decline",
    ),
    ("E78", "<1.0", "resolved", CR, "'<1.0' (X = cr_tg_max 1.0) and DxWBS resolved -> CR no_evidence_of_disease"),
    (
        "E79",
        "<1.5",
        "absent",
        PR_TG,
        "'<1.5' (X > cr_tg_max 1.0: the value may be 1.2) with DxWBS absent: not CR (revision 1: CR); "
        "delta 0.875 (X used) -> PR tg_decline",
    ),
):
    p = Pt(pid, f"post Tg {note}; eligible", post=post, dx=dx)
    p.resp(response)

# ---------------------------------------------------------------- revision 2: avidity from the lung metastases on
p = Pt(
    "E80",
    "remnant ablation at A1 with an RxWBS showing no lung disease (lung row 'absent', not avid), lung "
    "metastases first seen on CT at A1+100, second RAIT (A1+200) with an avid RxWBS: the remnant ablation is "
    "before lung_met_date - 14 = A1+86 and not judged, the second RAIT is the earliest judged and avid -> avid "
    "true (revision 1: false, excluded at step 3); lung_met_date > A1+14 -> excluded mets_after_first_rait; "
    "cycle 1 Tg 12 -> 10, scan stable: SD",
    n=2,
    pre=[12.0, 10.0],
)
p.row("E80-R1")["intent"] = "remnant_ablation"
p.drop("E80-F0")
p.row("E80-F1L").update(status="absent", rai_avid="false", max_lesion_mm=None)
p.add(
    "imaging_findings",
    finding_id="E80-F9",
    study_date=plus(p.A1, 100),
    modality="CT",
    site="lung",
    status="present",
    max_lesion_mm="6",
    confirmation="imaging",
)
p.resp(SD, PR_TG)
p.exp.update(lung_met_date=plus(p.A1, 100), mets_after_first_rait=True, exclusion_reason="mets_after_first_rait")
assert p.exp["metastasis_timing"] == "synchronous" and days(p.d0, plus(p.A1, 100)) == 150

# ---------------------------------------------------------------- revision 2: local disease anchor
p = Pt(
    "E81",
    "only a completion thyroidectomy (PTC) on record, no initial operation: initial_surgery_date NULL, "
    "diagnosis = d0; local disease is anchored on the diagnosis: cytology-confirmed neck-node disease at "
    "d0+100, before the RAIT at d0+200 -> local_persistent (revision 1: neither); dtc_surgery true via the "
    "completion; eligible",
    gap=200,
)
p.row("E81-S1")["procedure"] = "completion_thyroidectomy"
p.add(
    "imaging_findings",
    finding_id="E81-FC",
    study_date=plus(p.d0, 100),
    modality="US",
    site="neck_nodes",
    status="present",
    confirmation="cytology",
)
p.resp(PR_TG)
p.exp.update(initial_surgery_date=None, local_disease_status="local_persistent")
assert p.exp["metastasis_timing"] == "synchronous"

p = Pt(
    "E82",
    "only a neck dissection without carcinoma on record (no histology, no initial operation): diagnosis_date "
    "and initial_surgery_date NULL -> local_disease_status unknown (revision 1: neither); age, histology, size, "
    "T stage, metastasis_timing NULL, ATA unknown, N1b from the neck dissection; excluded dtc_surgery",
)
p.row("E82-S1").update(procedure="neck_dissection", histology=None, max_tumor_size_cm=None, t_stage=None)
p.resp(PR_TG)
p.exp.update(
    diagnosis_date=None,
    initial_surgery_date=None,
    age_at_diagnosis_years=None,
    histology=None,
    max_tumor_size_cm=None,
    t_stage_max=None,
    t_stage_group=None,
    metastasis_timing=None,
    ata_risk="unknown",
    local_disease_status="unknown",
    dtc_surgery=False,
    exclusion_reason="dtc_surgery",
)

# ---------------------------------------------------------------- revision 2: PFS censored at the last assessment
p = Pt(
    "E83",
    "no imaging after the first RAIT (no RxWBS, no DxWBS): censored at the first RAIT, pfs_months 0 "
    "(pfs_months_last_contact: 1200 days to last contact); the only RAIT has no RxWBS -> n_rait_without_rxwbs 1, "
    "excluded avid_on_every_rxwbs; post Tg 6 without a scan: delta 0.5, PR tg_decline",
    dx=None,
)
p.drop("E83-F1L", "E83-F1T")
p.resp(PR_TG)
p.exp.update(avid_on_every_rxwbs=False, exclusion_reason="avid_on_every_rxwbs", n_rait_without_rxwbs=1)
p.exp_pfs.update(end_date=p.A1, pfs_months=0.0)

p = Pt(
    "E84",
    "a neck ultrasound ('absent') on the day of last contact (A1+1200) is the last disease assessment (both "
    "ends of [first RAIT, last contact] count): censored at last contact, pfs_months = pfs_months_last_contact; "
    "eligible",
)
p.add(
    "imaging_findings",
    finding_id="E84-FU",
    study_date=p.LC,
    modality="US",
    site="neck_nodes",
    status="absent",
    confirmation="imaging",
)
p.resp(PR_TG)
p.exp_pfs.update(end_date=p.LC, pfs_months=1200 / M)

# ---------------------------------------------------------------- eligibility at baseline (first RAIT + 14 days)
for pid, offset, verdict in (
    ("E85", 15, "not known at baseline (A1+14) -> excluded dtc_surgery at baseline (eligible under the contract)"),
    ("E86", 14, "on the last baseline day -> eligible at baseline too"),
):
    p = Pt(
        pid,
        f"lobectomy (PTC) at d0, completion thyroidectomy without carcinoma at A1+{offset}: dtc_surgery true "
        f"(completion in the window, PTC on the lobectomy); eligible; the completion is {verdict}",
    )
    p.row(f"{pid}-S1")["procedure"] = "lobectomy"
    p.add(
        "surgeries",
        surgery_id=f"{pid}-S2",
        surgery_date=plus(p.A1, offset),
        procedure="completion_thyroidectomy",
    )
    p.resp(PR_TG)
    if offset > 14:
        p.base.update(dtc_surgery=False)

p = Pt(
    "E87",
    "the first RxWBS (avid lung, minor remnant) dated A1+15: avid_on_every_rxwbs true (the contract does not "
    "date the scan); eligible; at baseline its rows are after A1+14 -> excluded avid_on_every_rxwbs at baseline",
)
for rid in ("E87-F1L", "E87-F1T"):
    p.row(rid)["study_date"] = plus(p.A1, 15)
p.resp(PR_TG)
p.base.update(avid_on_every_rxwbs=False)

p = Pt(
    "E88",
    "the first RxWBS dated A1+14 (the last baseline day) with a massive remnant: excluded massive_remnant, also "
    "at baseline (its avid lung row counts at baseline)",
)
for rid in ("E88-F1L", "E88-F1T"):
    p.row(rid)["study_date"] = plus(p.A1, 14)
p.row("E88-F1T")["remnant_uptake"] = "massive"
p.resp(PR_TG)
p.exp.update(massive_remnant=True, exclusion_reason="massive_remnant")

for pid, offset, verdict in (
    ("E89", 184, "184 days after A1: not early at baseline -> eligible at baseline"),
    ("E90", 183, "183 days after A1: early at baseline too -> excluded early_progression at baseline"),
):
    p = Pt(
        pid,
        f"m-RAIT 100 days apart, Tg 12 -> 10; a 'new' other-site lesion at A1+{offset} = A2+{offset - 100} "
        f"(cycle 2's window, <= 183 days after A2): cycle 1 SD (delta 0.167, scan stable), cycle 2 PD; pd_date "
        f"A1+{offset}; excluded early_progression; {verdict}",
        n=2,
        cgap=100,
        pre=[12.0, 10.0],
    )
    p.add(
        "imaging_findings",
        finding_id=f"{pid}-FN",
        study_date=plus(p.A1, offset),
        modality="CT",
        site="other",
        status="new",
        confirmation="imaging",
    )
    p.resp(SD, PD)
    p.exp.update(pd_date=plus(p.A1, offset), early_progression=True, exclusion_reason="early_progression")
    p.exp_pfs.update(end_date=plus(p.A1, offset), pfs_months=offset / M, pfs_event=1, event_type="progression")
    if offset > 183:
        p.base.update(early_progression=False)

finish()
