"""The proportional-hazards test (R survival's cox.zph) of every kind of Cox model the analysis reports.

References from ``tests/r/stats3_references.R`` (R 4.2, survival 3.5; ``cox.zph(fit, transform =
"km", terms = TRUE)``): on both frozen cohorts (fixture ``frozen``) the eligible (fixed), matched
(cluster-robust), pair-stratified, IPTW-weighted, time-varying (counting process) and spline
dose-response models and the Fig. 4 panels; on lifelines' rossi data a multi-covariate, a
weighted, a stratified, a spline, a counting-process and a matched model; on waltons a model with
heavily tied times. Tolerance 1e-6 relative (agreement is ~1e-12 in practice).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rait_registry.analysis import AnalysisConfig, analyze
from rait_registry.analysis.cox import COX_FIT_OPTIONS, fit_cox, fit_cox_time_varying, score_residuals
from rait_registry.analysis.matching import PropensityMatcher
from rait_registry.analysis.proportional_hazards import (
    ProportionalHazardsTest,
    ph_test,
    proportional_hazards_section,
    skipped,
)
from rait_registry.analysis.sensitivity import counting_process, iptw_analysis
from rait_registry.analysis.sensitivity.dose_response import dose_response_analysis, spline_basis, spline_knots
from rait_registry.analysis.sensitivity.time_varying import time_varying_cox
from rait_registry.analysis.survival import SurvivalAnalysis, SurvivalComparison
from rait_registry.exceptions import AnalysisError

DATA = Path(__file__).parent / "data"
REF = DATA / "r_reference"
RTOL = 1e-6
ADJUST = ["age_at_diagnosis_years", "local_persistent_disease"]


def _load(name: str) -> dict:
    return json.loads((REF / name).read_text())


def assert_zph(ours: dict, ref: dict, what: str) -> None:
    """Per term (in order) and global: chisq, df, p against R's table."""
    assert not ours.get("skipped"), f"{what}: skipped ({ours.get('reason')})"
    assert len(ours["terms"]) == len(ref["terms"]), what
    for mine, theirs in [*zip(ours["terms"], ref["terms"], strict=True), (ours["global"], ref["global"])]:
        assert mine["df"] == theirs["df"], f"{what} df"
        assert mine["chisq"] == pytest.approx(theirs["chisq"], rel=RTOL, abs=1e-12), f"{what} chisq"
        assert mine["p"] == pytest.approx(theirs["p"], rel=RTOL, abs=1e-12), f"{what} p"


def assert_hr(ours: dict, ref: dict, what: str) -> None:
    for key in ("hr", "ci_low", "ci_high", "p", "log_hr", "se_log_hr"):
        assert ours[key] == pytest.approx(ref[key], rel=RTOL, abs=1e-12), f"{what} {key}"


@pytest.fixture(scope="module")
def fitted(frozen):
    """The survival analyses of one frozen cohort without minimum panel sizes (every model R fits)."""
    matcher = PropensityMatcher().fit(frozen.cohort)
    return matcher, SurvivalAnalysis(subgroup_min_patients=1, subgroup_min_events=1).fit(
        frozen.cohort, matcher.matched_cohort_
    )


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return pd.read_csv(DATA / "lifelines_rossi.csv", dtype={"id": str})


# --- the frozen cohorts -----------------------------------------------------------------------------


def test_fixed_matched_and_stratified_models_match_r(frozen, fitted):
    ref = frozen.ref("stats3")
    matcher, surv = fitted
    assert matcher.to_dict()["pairs"] and sorted(map(sorted, matcher.to_dict()["pairs"])) == sorted(
        map(sorted, ref["pairs"])
    )
    assert_zph(surv.overall_.ph_tests_["cox"], ref["fixed"]["zph"], "eligible")
    m = surv.matched_
    # cluster-robust marginal HR (coxph cluster = pair); cox.zph ignores the robust variance
    assert_hr(m.hr_, ref["matched"]["hr"], "matched robust")
    assert_zph(m.ph_tests_["cox"], ref["matched"]["zph"], "matched")
    assert_hr(m.stratified_hr_, ref["stratified"]["hr"], "pair-stratified")
    assert m.stratified_.log_likelihood_ == pytest.approx(ref["stratified"]["loglik"], rel=1e-9)
    assert_zph(m.ph_tests_["stratified"], ref["stratified"]["zph"], "pair-stratified")


def test_subgroup_panels_and_interactions_match_r(frozen, fitted):
    ref = frozen.ref("stats3")
    _, surv = fitted
    panels = {spec["name"]: (comp, info) for spec, comp, info in surv.subgroups_}
    assert ref["subgroups"], "the reference has panels with an HR"
    for name, r in ref["subgroups"].items():
        comp, _ = panels[name]
        if r is None:
            continue
        assert comp.hr_["hr"] == pytest.approx(r["hr"]["hr"], rel=RTOL), name
        assert_zph(comp.ph_tests_["cox"], r["zph"], name)
    factor_of = {
        "age": "age",
        "tumour_size": "tumour_size",
        "local_disease_status": "local_disease_status",
        "rait_group_in_local_persistent": "local_persistent",
    }
    for panel, factor in factor_of.items():
        ours, theirs = panels[panel][1]["interaction"], ref["interactions"][factor]
        if not theirs["testable"]:
            assert ours.get("skipped") and "no events among" in ours["reason"], panel
            continue
        assert ours["df"] == theirs["df"] and ours["n"] == theirs["n"] and ours["events"] == theirs["events"]
        assert ours["chi2"] == pytest.approx(theirs["chi2"], rel=RTOL, abs=1e-10), panel
        assert ours["p"] == pytest.approx(theirs["p"], rel=RTOL), panel
    # panels A and D test the same interaction (age group), B and E (tumour size)
    assert panels["age"][1]["interaction"] == panels["rait_group_in_age_ge_45"][1]["interaction"]
    assert panels["tumour_size"][1]["interaction"] == panels["rait_group_in_tumour_gt_4cm"][1]["interaction"]


def test_weighted_time_varying_and_spline_models_match_r(frozen):
    ref = frozen.ref("stats3")
    cohort, cycles = frozen.cohort, frozen.cycles
    iptw = iptw_analysis(cohort, covariates=ADJUST, estimand="ATE", stabilized=True, horizon_months=60.0)
    assert iptw.fitted["cox"].fit_data_.weights_col == "w"
    assert_zph(ph_test(iptw.fitted["cox"]), ref["weighted"]["zph"], "IPTW")
    cp = counting_process(cohort, cycles)
    _, models = time_varying_cox(cohort, cp, adjust_covariates=ADJUST)
    assert_zph(ph_test(models["m_rait_status"]), ref["time_varying"]["zph"], "time-varying")
    assert_zph(ph_test(models["m_rait_status_adjusted"]), ref["time_varying_adjusted"]["zph"], "time-varying adj")
    dose = dose_response_analysis(
        cohort, cp, reference_gbq=5.55, spline_df=3, grid_points=25, adjust_covariates=ADJUST
    ).fitted
    for name, key in (("time_fixed_spline", "spline_time_fixed"), ("time_varying_spline", "spline_time_varying")):
        model = dose[name]
        spline = [c for c in model.params_.index if c.startswith("gbq_s")]
        terms = {"spline": spline, **{c: [c] for c in model.params_.index if c not in spline}}
        # a natural spline with the knots of R's ns(): the same function space, so the same test
        assert_zph(ph_test(model, terms=terms), ref[key]["zph"], name)


def test_results_json_section_lists_every_reported_model(frozen):
    result = analyze(frozen.cohort, frozen.cycles, AnalysisConfig(subgroup_min_patients=1, subgroup_min_events=1))
    section = result.results["proportional_hazards"]
    ref = frozen.ref("stats3")
    models = section["models"]
    for key, r in (
        ("survival.overall", ref["fixed"]),
        ("survival.matched", ref["matched"]),
        ("survival.matched.hr_stratified", ref["stratified"]),
        ("sensitivity.iptw", ref["weighted"]),
        ("time_varying_cox.models.m_rait_status", ref["time_varying"]),
        ("dose_response.time_fixed.spline", ref["spline_time_fixed"]),
    ):
        assert_zph(models[key], r["zph"], key)
    assert {"landmark.analysis", "landmark.hr_adjusted", "dose_response.time_varying.spline"} <= set(models)
    assert "survival.subgroups.local_disease_status" not in models  # three groups: no HR, no model
    for entry in models.values():
        assert set(entry) >= ({"description", "skipped", "reason"} if entry.get("skipped") else {"terms", "global"})
    assert section["violations"] == [k for k, v in models.items() if not v.get("skipped") and v["violated"]]
    assert "cox.zph" in section["interpretation"] and "shown" not in section["interpretation"]
    table = result.tables["proportional_hazards"]
    assert set(table["model"]) == set(models)
    json.dumps(section, allow_nan=False)


# --- public data sets -------------------------------------------------------------------------------


def _fit(df: pd.DataFrame, cols: list[str], **kw) -> object:
    cph, note = fit_cox(df[["week", "arrest", *cols]], "week", "arrest", **kw)
    assert cph is not None, note
    return cph


def test_rossi_fixed_weighted_stratified_and_spline_match_r(rossi):
    ref = _load("stats3_rossi.json")
    assert_zph(ph_test(_fit(rossi, ["fin", "age", "prio", "race"])), ref["fixed"]["zph"], "fixed")
    w = rossi.assign(w=1 + (rossi["prio"] % 3) / 2)
    assert_zph(ph_test(_fit(w, ["fin", "age", "w"], weights_col="w")), ref["weighted"]["zph"], "weighted")
    from lifelines import CoxPHFitter

    strat = CoxPHFitter().fit(
        rossi[["week", "arrest", "fin", "age", "wexp"]], "week", "arrest", strata=["wexp"],
        fit_options=dict(COX_FIT_OPTIONS),
    )  # fmt: skip
    test = ProportionalHazardsTest().fit(rossi, "week", "arrest", strat.params_, strata_col="wexp")
    assert_zph(test.to_dict(), ref["stratified"]["zph"], "stratified")
    knots, df_eff, _ = spline_knots(rossi["age"].to_numpy(float), rossi["age"].to_numpy(float), 3)
    assert df_eff == 3 and knots["interior"] == pytest.approx(ref["spline"]["interior_knots"], rel=1e-12)
    basis = spline_basis(rossi["age"].to_numpy(float), knots, float(rossi["age"].median()))
    sp = _fit(pd.concat([rossi, basis], axis=1), [*basis.columns, "fin"])
    assert_zph(ph_test(sp, terms={"age spline": list(basis.columns), "fin": ["fin"]}), ref["spline"]["zph"], "spline")


def test_rossi_counting_process_matches_r(rossi):
    ref = _load("stats3_rossi.json")
    rows = []
    for r in rossi.itertuples(index=False):
        bounds = [0.0, *[c for c in ref["counting_process"]["cut"] if c < r.week], float(r.week)]
        for ep, (a, b) in enumerate(itertools.pairwise(bounds), start=1):
            last = b == r.week
            rows.append((r.id, a, b, int(r.arrest) if last else 0, r.fin, r.age, float(r.fin) * (ep >= 3)))
    split = pd.DataFrame(rows, columns=["id", "start", "stop", "event", "fin", "age", "late"])
    ctv, note = fit_cox_time_varying(split, id_col="id")
    assert ctv is not None, note
    assert_zph(ph_test(ctv), ref["counting_process"]["zph"], "counting process")


def test_rossi_matched_pairs_robust_and_stratified_match_r(rossi):
    ref = _load("stats3_rossi.json")
    m = PropensityMatcher(
        covariates=["age", "prio", "wexp", "mar"], caliper=0.05, focal_group="1", control_group="0"
    ).fit(rossi.astype({"fin": str}), id_col="id", group_col="fin")
    assert sorted(map(sorted, m.to_dict()["pairs"])) == sorted(map(sorted, ref["matched_pairs"]))
    comp = SurvivalComparison(["0", "1"]).fit(
        m.matched_cohort_, duration_col="week", event_col="arrest", group_col="fin", cluster_col="pair_id"
    )
    assert_hr(comp.hr_, ref["matched"]["hr"], "rossi matched robust")
    assert_zph(comp.ph_tests_["cox"], ref["matched"]["zph"], "rossi matched")
    assert_hr(comp.stratified_hr_, ref["matched_stratified"]["hr"], "rossi pair-stratified")
    assert_zph(comp.ph_tests_["stratified"], ref["matched_stratified"]["zph"], "rossi pair-stratified")


def test_waltons_heavy_ties_match_r():
    ref = _load("stats3_waltons.json")
    d = pd.read_csv(DATA / "lifelines_waltons.csv")
    comp = SurvivalComparison(["control", "miR-137"]).fit(d, duration_col="T", event_col="E", group_col="group")
    assert_zph(comp.ph_tests_["cox"], ref["fixed"]["zph"], "waltons")


# --- behaviour ----------------------------------------------------------------------------------------


def test_score_residuals_equal_the_event_time_loop():
    """The O(n log n) Efron score residuals against the direct loop over event times."""
    rng = np.random.default_rng(5)
    n = 300
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)])
    T = rng.integers(1, 25, n).astype(float)  # heavy ties, censorings at event times
    E = (rng.random(n) < 0.5).astype(float)
    w = rng.uniform(0.5, 2.0, n)
    beta = np.array([0.3, -0.4])
    r = np.exp(X @ beta)
    expected = np.zeros_like(X)
    for t in np.unique(T[E == 1]):
        risk, dead = t <= T, (t == T) & (E == 1)
        alive = risk & ~dead
        d = dead.sum()
        s0, s1 = (w * r)[risk].sum(), (w * r)[risk] @ X[risk]
        s0d, s1d = (w * r)[dead].sum(), (w * r)[dead] @ X[dead]
        for k in range(d):
            f = k / d
            xbar = (s1 - f * s1d) / (s0 - f * s0d)
            h = w[dead].sum() / d / (s0 - f * s0d)
            expected[alive] -= (r[alive] * h)[:, None] * (X[alive] - xbar)
            expected[dead] += (1 / d - r[dead] * (1 - f) * h)[:, None] * (X[dead] - xbar)
    np.testing.assert_allclose(score_residuals(X, T, E, w, beta), expected * w[:, None], rtol=1e-10, atol=1e-12)


def test_test_is_unchanged_by_centring_and_basis_of_a_term(rossi):
    cph = _fit(rossi, ["fin", "age"])
    base = ProportionalHazardsTest().fit_model(cph).summary
    shifted = rossi.assign(age=rossi["age"] - 40.0)
    again = ProportionalHazardsTest().fit(shifted, "week", "arrest", cph.params_).summary
    pd.testing.assert_frame_equal(base, again, rtol=1e-9)
    # a two-column term: the statistic does not depend on how its columns are combined
    two = rossi.assign(a=rossi["fin"] + rossi["age"], b=rossi["fin"] - rossi["age"])
    params = pd.Series(
        {"a": (cph.params_["fin"] + cph.params_["age"]) / 2, "b": (cph.params_["fin"] - cph.params_["age"]) / 2}
    )
    term = ProportionalHazardsTest().fit(two, "week", "arrest", params, terms={"ab": ["a", "b"]}).summary
    assert term.loc["ab", "chisq"] == pytest.approx(base.loc["GLOBAL", "chisq"], rel=1e-9)


def test_transforms_and_skipped_shapes(rossi):
    cph = _fit(rossi, ["fin"])
    for transform in ("identity", "rank", "log"):
        out = ProportionalHazardsTest(transform=transform).fit_model(cph).to_dict()
        assert math.isfinite(out["global"]["chisq"]) and out["terms"][0]["term"] == "fin"
    with pytest.raises(AnalysisError, match="transform"):
        ProportionalHazardsTest(transform="spline")
    assert ph_test(None, reason="no events") == skipped("no events") == {"skipped": True, "reason": "no events"}
    with pytest.raises(AnalysisError, match="no events"):
        ProportionalHazardsTest().fit(rossi.assign(arrest=0), "week", "arrest", cph.params_)
    constant = rossi.assign(fin=1.0)  # constant covariate: singular information, the test is not defined
    out = ph_test(type("Model", (), {"params_": cph.params_, "fit_data_": cph.fit_data_.__class__(
        constant, "week", "arrest", ("fin",))})())  # fmt: skip
    assert out["skipped"] and "singular" in out["reason"]
    with pytest.raises(AnalysisError, match="partition"):
        ProportionalHazardsTest().fit(rossi, "week", "arrest", cph.params_, terms={"x": ["age"]})


def test_section_without_sensitivity_and_violation_flag(cohort):
    matcher = PropensityMatcher().fit(cohort)
    surv = SurvivalAnalysis().fit(cohort, matcher.matched_cohort_)
    strict = proportional_hazards_section(surv, alpha=0.5)
    lax = proportional_hazards_section(surv, alpha=1e-9)
    assert set(strict["models"]) == set(lax["models"]) >= {"survival.overall", "survival.matched"}
    assert lax["violations"] == [] and "no test had p < 1e-09" in lax["interpretation"]
    tested = [k for k, v in strict["models"].items() if not v.get("skipped")]
    assert strict["violations"] == [k for k in tested if strict["models"][k]["global"]["p"] < 0.5 or any(
        t["p"] < 0.5 for t in strict["models"][k]["terms"])]  # fmt: skip
    # panels D-F of the demo are too small for an HR: no model, the reason given
    small = strict["models"]["survival.subgroups.rait_group_in_local_persistent"]
    assert small["skipped"] and "fewer than 5 patients" in small["reason"]
