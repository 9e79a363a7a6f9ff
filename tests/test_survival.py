"""Kaplan-Meier, log-rank and Cox against R (survival 3.5: survfit conf.type="log-log", survdiff,
coxph Efron), made by ``tests/r/stats2_references.R``.

References in ``tests/data/r_reference/``:
* ``stats2_frozen_cohort.json`` / ``stats2_demo.json`` - the frozen stand-in cohort
  (tests/data/frozen_cohort/) and the frozen demo warehouse cohort (tests/data/frozen_demo/):
  eligible, matched (R's own matching) and the Fig. 4 subgroups of the matched cohort; these
  comparisons run on both (fixture ``frozen``);
* ``stats2_rossi.json`` / ``stats2_waltons.json`` - lifelines' public data sets exported to
  ``tests/data/lifelines_*.csv`` (tied event times: Efron ties, KM with ties).
Tolerance: 1e-6 relative (agreement is ~1e-12 in practice).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi, load_waltons

from rait_registry.analysis.matching import PropensityMatcher
from rait_registry.analysis.survival import SurvivalAnalysis, SurvivalComparison, r_quantile_time, subgroup_specs
from rait_registry.exceptions import AnalysisError

DATA = Path(__file__).parent / "data"
REF = DATA / "r_reference"
RTOL = 1e-6


def _load(name: str) -> dict:
    return json.loads((REF / name).read_text())


@pytest.fixture(scope="module")
def matched(cohort: pd.DataFrame) -> pd.DataFrame:
    return PropensityMatcher().fit(cohort).matched_cohort_


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return pd.read_csv(DATA / "lifelines_rossi.csv", dtype={"fin": str, "prio_group": str})


def _close(a, b, what: str) -> None:
    if b is None:
        assert a is None or (isinstance(a, float) and math.isnan(a)), f"{what}: python {a}, R null"
        return
    assert a is not None, f"{what}: python null, R {b}"
    assert a == pytest.approx(b, rel=RTOL, abs=1e-12), f"{what}: python {a!r}, R {b!r}"


def compare(durations, events, groups, **settings) -> SurvivalComparison:
    """`SurvivalComparison` of hand-made data (lists of times, events and groups)."""
    df = pd.DataFrame({"pfs_months": durations, "pfs_event": events, "rait_group": groups})
    return SurvivalComparison(**settings).fit(df)


def _arr(x) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def assert_matches_r(comp: SurvivalComparison, ref: dict, label: str) -> None:
    """Every number of one analysis against R's (KM curves, landmark, median, tests, HR, at risk)."""
    out = comp.to_dict()
    assert out["n"] == ref["n"] and out["events"] == ref["events"], label
    _close(out["logrank_chi2"], ref.get("logrank_chi2"), f"{label} log-rank chi2")
    _close(out["logrank_p"], ref.get("logrank_p"), f"{label} log-rank p")
    assert out["logrank_df"] == ref.get("logrank_df"), label
    for key in ("hr", "hr_ci_low", "hr_ci_high", "hr_p", "hr_se_log"):
        _close(out[key], ref.get(key), f"{label} {key}")
    for g, rg in ref["groups"].items():
        pg = out["groups"][g]
        assert (pg["n"], pg["events"]) == (rg["n"], rg["events"]), f"{label} {g}"
        assert pg["at_risk"] == rg["at_risk"], f"{label} {g} at risk"
        _close(pg["median_months"], rg.get("median"), f"{label} {g} median")
        _close(pg["pfs_5y"], rg.get("surv_h"), f"{label} {g} landmark survival")
        _close(pg["pfs_5y_ci_low"], rg.get("lower_h"), f"{label} {g} landmark CI low")
        _close(pg["pfs_5y_ci_high"], rg.get("upper_h"), f"{label} {g} landmark CI high")
        if rg["n"] == 0:
            continue
        tab = comp.km_tables_[g]
        km = rg["km"]
        t = _arr(km["time"])
        # R writes 15 significant digits (jsonlite): find each R time among ours to 1e-12
        times = tab["time"].to_numpy(float)
        nearest = np.abs(times[None, :] - t[:, None]).argmin(axis=1)
        np.testing.assert_allclose(times[nearest], t, rtol=1e-12, err_msg=f"{label} {g} KM times")
        sub = tab.iloc[nearest]
        np.testing.assert_allclose(sub["survival"], _arr(km["surv"]), rtol=RTOL, err_msg=f"{label} {g} KM")
        np.testing.assert_allclose(sub["ci_low"], _arr(km["lower"]), rtol=RTOL, err_msg=f"{label} {g} KM lower")
        np.testing.assert_allclose(sub["ci_high"], _arr(km["upper"]), rtol=RTOL, err_msg=f"{label} {g} KM upper")
        np.testing.assert_array_equal(sub["n_at_risk"], _arr(km["n_risk"]), err_msg=f"{label} {g} n.risk")
        np.testing.assert_array_equal(sub["n_events"], _arr(km["n_event"]), err_msg=f"{label} {g} n.event")


# --- the frozen cohorts (stand-in and demo) -----------------------------------------------------


def test_frozen_cohort_overall_matches_r(frozen):
    ref = frozen.ref("stats2")["survival"]["overall"]
    comp = SurvivalComparison(["o-RAIT", "m-RAIT"]).fit(
        frozen.cohort, duration_col="pfs_months", event_col="pfs_event", group_col="rait_group"
    )
    assert_matches_r(comp, ref, "overall")
    assert comp.to_dict()["hr_reference"] == "o-RAIT" and comp.to_dict()["hr_comparison"] == "m-RAIT"


def test_frozen_cohort_matched_and_subgroups_match_r(frozen):
    cohort = frozen.cohort
    matched = PropensityMatcher().fit(cohort).matched_cohort_
    ref = frozen.ref("stats2")
    ref_ids = sorted(i for pair in ref["matching"]["pairs"] for i in pair)
    assert sorted(matched["patient_id"]) == ref_ids  # the same matched cohort as R's
    # no minimum panel size here: every HR R estimates is compared (the minimums: test_small_panels_*)
    fitted = SurvivalAnalysis(subgroup_min_patients=1, subgroup_min_events=1).fit(cohort, matched)
    assert_matches_r(fitted.matched_, ref["survival"]["matched"], "matched")
    names = [spec["name"] for spec, _, _ in fitted.subgroups_]
    assert names == list(ref["survival"]["subgroups"])
    assert list(fitted.summary.index) == ["overall", "matched", *names]
    for spec, comp, _ in fitted.subgroups_:
        assert_matches_r(comp, ref["survival"]["subgroups"][spec["name"]], spec["name"])


def test_small_panels_report_no_hazard_ratio_but_keep_the_curves(cohort, matched):
    fitted = SurvivalAnalysis(subgroup_min_patients=5, subgroup_min_events=5).fit(cohort, matched)
    sec = {s["name"]: s for s in fitted.to_dict()["subgroups"]}
    panel = sec["rait_group_in_local_persistent"]  # 3 o-RAIT and 3 m-RAIT patients on the demo
    assert panel["hr"] is None and panel["hr_ci_low"] is None
    assert panel["hr_reason"].startswith("an arm has fewer than 5 patients (o-RAIT: 3, m-RAIT: 3)")
    assert panel["logrank_p"] is not None  # the test and the curves remain
    comp = next(c for spec, c, _ in fitted.subgroups_ if spec["name"] == "rait_group_in_local_persistent")
    assert set(comp.km_tables_) == {"o-RAIT", "m-RAIT"} and all(len(t) for t in comp.km_tables_.values())
    assert comp.ph_tests_["cox"] == {"skipped": True, "reason": panel["hr_reason"]}
    # too few events: the events rule
    few = SurvivalComparison(["o-RAIT", "m-RAIT"], min_group_n=1, min_events=9).fit(matched)
    assert few.to_dict()["hr"] is None and "8 events, fewer than 9" in few.to_dict()["hr_reason"]
    # no minimum: the HR is there
    assert SurvivalComparison(["o-RAIT", "m-RAIT"]).fit(matched).to_dict()["hr"] is not None


def test_matched_comparison_uses_the_pairs(matched):
    comp = SurvivalComparison(["o-RAIT", "m-RAIT"]).fit(matched, cluster_col="pair_id")
    plain = SurvivalComparison(["o-RAIT", "m-RAIT"]).fit(matched)
    out = comp.to_dict()
    assert out["hr"] == pytest.approx(plain.to_dict()["hr"], rel=1e-12)  # the same marginal estimate
    assert out["hr_se_log"] != pytest.approx(plain.to_dict()["hr_se_log"], rel=1e-3)  # another SE
    assert "cluster-robust" in out["hr_se_method"]
    strat = out["hr_stratified"]
    assert strat["strata"] == "pair_id" and strat["n_strata"] == matched["pair_id"].nunique()
    assert 0 < strat["n_informative_strata"] <= strat["n_strata"]
    # every informative progression in one group: no finite estimate, the skipped shape
    one_sided = matched.copy()
    one_sided.loc[one_sided["rait_group"] == "o-RAIT", "pfs_event"] = 0
    res = SurvivalComparison(["o-RAIT", "m-RAIT"]).fit(one_sided, cluster_col="pair_id").to_dict()
    assert res["hr"] is None and res["hr_reason"].startswith("no events in group 'o-RAIT'")
    assert res["hr_stratified"] == {
        "skipped": True,
        "reason": "every informative progression (4) is in group 'm-RAIT': the stratified partial likelihood "
        "has no finite maximum, so the hazard ratio is not estimable",
    }


def test_interaction_test_and_unknown_local_status(cohort, matched):
    from rait_registry.analysis.survival import interaction_test

    m = matched.copy()
    m.loc[m.index[:4], "local_disease_status"] = "unknown"  # contract revision 2: unknown = missing
    fitted = SurvivalAnalysis(subgroup_min_patients=1, subgroup_min_events=1).fit(cohort, m)
    local = next(c for spec, c, _ in fitted.subgroups_ if spec["name"] == "local_disease_status")
    assert sum(local.group_results_[g]["n"] for g in local.groups_) == len(m) - 4
    # a factor without two levels: skipped with the reason
    out = interaction_test(m, pd.Series("x", index=m.index), ["x"], reference="o-RAIT", comparison="m-RAIT")
    assert out == {
        "skipped": True,
        "reason": "fewer than two levels of the subgroup have patients: no interaction to test",
    }


def test_survival_section_shape_and_json(cohort, matched):
    sec = SurvivalAnalysis().fit(cohort, matched).to_dict()
    assert set(sec) == {"overall", "matched", "subgroups", "baseline_eligible", "interpretation"}
    assert set(sec["interpretation"]) == {"matched", "subgroups", "baseline_eligible"}
    assert sec["baseline_eligible"]["skipped"] is True  # no baseline cohort given
    assert "shown" not in sec["interpretation"]["subgroups"]
    json.dumps(sec, allow_nan=False)  # JSON-ready: no NaN, no numpy types
    assert [s["figure"] for s in sec["subgroups"]] == ["4A", "4B", "4C", "4D", "4E", "4F"]
    for analysis in [sec["overall"], sec["matched"], *sec["subgroups"]]:
        for key in ("logrank_chi2", "logrank_df", "logrank_p", "hr", "hr_ci_low", "hr_ci_high", "groups"):
            assert key in analysis
        for g in analysis["groups"].values():
            for key in ("n", "events", "median_months", "pfs_5y", "pfs_5y_ci_low", "pfs_5y_ci_high", "at_risk"):
                assert key in g
    local = next(s for s in sec["subgroups"] if s["name"] == "local_disease_status")
    assert local["logrank_df"] == 2 and local["hr"] is None
    assert list(local["groups"]) == ["neither", "local_recurrence", "local_persistent"]
    assert sec["matched"]["n"] == 2 * PropensityMatcher().fit(cohort).to_dict()["n_pairs"]


def test_cut_values_are_configurable(cohort, matched):
    sec = SurvivalAnalysis(age_cut_years=40, size_cut_cm=2.5, subgroup_cohort="eligible").fit(cohort, matched).to_dict()
    age = sec["subgroups"][0]
    assert list(age["groups"]) == ["age < 40", "age >= 40"]
    assert age["groups"]["age >= 40"]["n"] == int((cohort["age_at_diagnosis_years"] >= 40).sum())
    size = sec["subgroups"][1]
    assert size["groups"]["tumour > 2.5 cm"]["n"] == int((cohort["max_tumor_size_cm"] > 2.5).sum())
    assert size["n_excluded_missing"] == int(cohort["max_tumor_size_cm"].isna().sum())
    assert sec["subgroups"][3]["name"] == "rait_group_in_age_ge_40"


# --- public data sets -------------------------------------------------------------------------


def test_exported_csvs_equal_lifelines_datasets(rossi):
    r = load_rossi()
    pd.testing.assert_frame_equal(
        rossi[list(r.columns)].assign(fin=lambda d: d["fin"].astype(int)), r, check_dtype=False
    )
    prio_group = np.where(r.prio == 0, "0", np.where(r.prio <= 2, "1-2", "3+"))
    assert (rossi["prio_group"].to_numpy() == prio_group).all()
    w = pd.read_csv(DATA / "lifelines_waltons.csv")
    pd.testing.assert_frame_equal(w[["T", "E", "group"]], load_waltons(), check_dtype=False)


@pytest.mark.parametrize(("name", "levels"), [("fin", ["0", "1"]), ("prio_group", ["0", "1-2", "3+"])])
def test_rossi_matches_r(rossi, name, levels):
    ref = _load("stats2_rossi.json")
    comp = SurvivalComparison(levels, horizon=26, at_risk_every=13).fit(
        rossi, duration_col="week", event_col="arrest", group_col=name
    )
    assert_matches_r(comp, ref["survival"][name], f"rossi {name}")


def test_waltons_matches_r():
    w = pd.read_csv(DATA / "lifelines_waltons.csv")
    ref = _load("stats2_waltons.json")
    comp = SurvivalComparison(["control", "miR-137"], horizon=30, at_risk_every=10).fit(
        w, duration_col="T", event_col="E", group_col="group"
    )
    assert_matches_r(comp, ref["survival"]["group"], "waltons")


# --- rules and edge cases ---------------------------------------------------------------------


def test_median_follows_r_rule_on_plateau():
    # S = .75, .5, .25, 0 at 1..4: S = 0.5 on [2, 3) -> R takes the midpoint 2.5 (lifelines: 2)
    comp = compare([1, 2, 3, 4], [1, 1, 1, 1], ["a"] * 4)
    assert comp.group_results_["a"]["median_months"] == 2.5
    assert comp.kmf_["a"].median_survival_time_ == 2.0
    # S stays at 0.5 until the last time (4): midpoint of 2 and 4
    comp = compare([1, 2, 3, 4], [1, 1, 0, 0], ["a"] * 4)
    assert comp.group_results_["a"]["median_months"] == 3.0
    assert r_quantile_time(np.array([0.0, 5.0]), np.array([1.0, 0.8])) is None


def test_landmark_is_step_value_at_or_before_horizon():
    # event exactly at 60 counts; censored at 70 keeps follow-up past the horizon
    comp = compare([10, 60, 70, 80], [1, 1, 0, 0], ["g"] * 4)
    r = comp.group_results_["g"]
    assert r["pfs_5y"] == pytest.approx(0.75 * 2 / 3)
    assert r["pfs_5y_ci_low"] < r["pfs_5y"] < r["pfs_5y_ci_high"]
    comp = compare([10, 59.9, 70, 80], [1, 1, 0, 0], ["g"] * 4)
    assert comp.group_results_["g"]["pfs_5y"] == pytest.approx(0.5)


def test_undefined_ci_and_short_follow_up_give_null_with_reason():
    comp = compare([61, 70, 80, 5, 10, 20], [0, 0, 0, 1, 1, 0], ["none", "none", "none", "short", "short", "short"])
    none = comp.group_results_["none"]
    assert none["pfs_5y"] == 1.0 and none["pfs_5y_ci_low"] is None and none["pfs_5y_ci_high"] is None
    assert any("S = 1" in n for n in none["notes"])
    assert none["median_months"] is None and "median not reached" in none["notes"]
    short = comp.group_results_["short"]
    assert short["pfs_5y"] is None and any("before 60" in n for n in short["notes"])
    assert comp.hr_["hr"] is None and any("no events in group" in n for n in comp.notes_)
    assert comp.logrank_["chi2"] is not None  # the log-rank test is still defined
    # KM table: S = 1 rows have no CI (as R), others do
    tab = comp.km_tables_["none"]
    assert tab["ci_low"].isna().all()


def test_empty_group_and_no_events_do_not_raise():
    comp = compare([5, 8], [1, 0], ["o-RAIT", "o-RAIT"], group_order=["o-RAIT", "m-RAIT"])
    d = comp.to_dict()
    assert d["groups"]["m-RAIT"]["n"] == 0 and d["groups"]["m-RAIT"]["pfs_5y"] is None
    assert d["logrank_chi2"] is None and d["hr"] is None
    assert any("no patients" in n for n in d["notes"])
    comp = compare([5, 8, 9], [0, 0, 0], ["a", "b", "b"], group_order=["a", "b"])
    assert comp.logrank_["chi2"] is None and any("no events" in n for n in comp.notes_)
    json.dumps(comp.to_dict(), allow_nan=False)


def test_three_group_comparison_with_one_empty_group_uses_the_others():
    comp = compare([1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1], list("xxxyyy"), group_order=["x", "y", "z"])
    two = compare([1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1], list("xxxyyy"), group_order=["x", "y"])
    assert comp.logrank_["df"] == 1
    assert comp.logrank_["chi2"] == pytest.approx(two.logrank_["chi2"], rel=1e-12)
    assert comp.hr_["hr"] is None  # three groups were asked for


def test_matched_subgroups_need_a_matched_cohort(cohort):
    sec = SurvivalAnalysis().fit(cohort).to_dict()
    assert sec["matched"] is None
    assert all(s["logrank_chi2"] is None and s["notes"] for s in sec["subgroups"])
    sec = SurvivalAnalysis(subgroup_cohort="eligible").fit(cohort).to_dict()
    assert sec["subgroups"][0]["logrank_chi2"] is not None


def test_bad_input_raises_analysis_error():
    with pytest.raises(AnalysisError, match=">= 0"):
        compare([-1, 2], [1, 0], ["a", "b"])
    with pytest.raises(AnalysisError, match="0/1"):
        compare([1, 2], [2, 0], ["a", "b"])
    with pytest.raises(AnalysisError, match="group_order"):
        compare([1, 2], [1, 0], ["a", "b"], group_order=["a"])
    with pytest.raises(AnalysisError, match="lacks column"):
        SurvivalComparison().fit(pd.DataFrame({"pfs_months": [1.0]}))


def test_subgroup_specs_define_paper_groups():
    specs = {s["name"]: s for s in subgroup_specs(45, 4)}
    c = pd.DataFrame(
        {
            "age_at_diagnosis_years": [44.99, 45.0, np.nan],
            "max_tumor_size_cm": [4.0, 4.01, np.nan],
            "local_disease_status": ["neither", "local_persistent", "local_recurrence"],
            "rait_group": ["o-RAIT", "m-RAIT", "o-RAIT"],
        }
    )
    assert specs["age"]["group_of"](c).tolist() == ["age < 45", "age >= 45", None]
    assert specs["tumour_size"]["group_of"](c).tolist() == ["tumour <= 4 cm", "tumour > 4 cm", None]
    assert specs["rait_group_in_age_ge_45"]["subset"](c).tolist() == [False, True, False]
    assert specs["rait_group_in_tumour_gt_4cm"]["subset"](c).tolist() == [False, True, False]
    assert specs["rait_group_in_local_persistent"]["subset"](c).tolist() == [False, True, False]
