"""Target-trial emulation of treatment strategies (rait_registry.analysis.strategies; issue 17 item 1).

R references: tests/r/strategies_references.R refits the committed clone and censoring-model data
sets of the demo cohort (tests/data/strategies/, written by make_demo_references.py).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter, KaplanMeierFitter

from rait_registry.analysis.cox import COX_FIT_OPTIONS, score_residuals
from rait_registry.analysis.missing import as_missing
from rait_registry.analysis.run import analyze_warehouse
from rait_registry.analysis.strategies import (
    ARMS,
    TargetTrialEmulation,
    _weighted_km_influence,
    weighted_km_at,
)
from rait_registry.analysis.wording import forbidden_words
from rait_registry.exceptions import AnalysisError
from rait_registry.warehouse import read_published

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "strategies"
R_REF = json.loads((REPO / "tests" / "data" / "r_reference" / "strategies_demo.json").read_text())


def _calibration_module():
    spec = importlib.util.spec_from_file_location(
        "strategies_calibration", REPO / "benchmarks" / "strategies_calibration.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["strategies_calibration"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def clones() -> pd.DataFrame:
    return pd.read_csv(DATA / "demo_clones.csv.gz", float_precision="round_trip")


# ------------------------------------------------------------------------- estimators vs lifelines and R


def test_weighted_km_at_equals_lifelines_with_entry_and_weights():
    rng = np.random.default_rng(3)
    n = 400
    start = rng.uniform(0, 10, n).round(1)
    stop = start + rng.exponential(20, n).round(2) + 0.01
    event = rng.random(n) < 0.6
    weight = rng.uniform(0.2, 3.0, n)
    times = np.array([5.0, 12.0, 24.0, 30.0])
    ours = weighted_km_at(start, stop, event, weight, times)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = KaplanMeierFitter().fit(stop, event, entry=start, weights=weight)
    np.testing.assert_allclose(ours, km.survival_function_at_times(times).to_numpy(), rtol=1e-10)
    assert np.isnan(weighted_km_at(start, stop, event, weight, np.array([stop.max() + 1]))[0])


def test_weighted_km_and_its_sandwich_se_equal_r_survfit_robust(clones):
    for arm in ARMS:
        rows = clones[clones["arm"] == arm]
        args = [rows[c].to_numpy(float) for c in ("start", "stop", "event", "weight")]
        ref = R_REF["km"][arm]
        np.testing.assert_allclose(weighted_km_at(*args, np.array(ref["times"])), ref["surv"], rtol=1e-10)
        patient = pd.factorize(rows["patient_id"])[0]
        for time, surv, se in zip(ref["times"], ref["surv"], ref["std_err"], strict=True):
            s, influence = _weighted_km_influence(*args, time)
            assert s == pytest.approx(surv, rel=1e-10)
            assert np.sqrt(np.sum(np.bincount(patient, weights=influence) ** 2)) == pytest.approx(se, rel=1e-8)


def test_weighted_cox_equals_r_coxph(clones):
    data = clones.assign(second_rait=(clones["arm"] == ARMS[1]).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph = CoxPHFitter().fit(
            data[["start", "stop", "event", "weight", "second_rait"]],
            duration_col="stop",
            event_col="event",
            entry_col="start",
            weights_col="weight",
            fit_options=dict(COX_FIT_OPTIONS),
        )
    row = cph.summary.loc["second_rait"]
    assert row["coef"] == pytest.approx(R_REF["cox"]["coef"], abs=1e-6)
    assert row["se(coef)"] == pytest.approx(R_REF["cox"]["se_naive"], rel=1e-5)


def test_weighted_cox_robust_se_equals_r_coxph_cluster(clones):
    """The HR's SE: R coxph(Surv(start, stop, event) ~ arm, weights = w, cluster = patient_id, ties = "efron")."""
    tte = TargetTrialEmulation(n_bootstrap=0)
    tte.clones_ = clones
    hr = tte._cox()
    assert hr["log_hr"] == pytest.approx(R_REF["cox"]["coef"], abs=1e-9)
    assert hr["se"] == pytest.approx(R_REF["cox"]["se_robust"], rel=1e-6)
    assert hr["se_model_based"] == pytest.approx(R_REF["cox"]["se_naive"], rel=1e-6)
    assert hr["se"] != pytest.approx(hr["se_model_based"], rel=0.05)  # the two clones of a patient matter here
    assert hr["ci_low"] < hr["hr"] < hr["ci_high"] and "cluster-robust" in hr["se_method"]


def test_score_residuals_with_entries_at_zero_are_the_right_censored_ones():
    rng = np.random.default_rng(5)
    n = 300
    x = rng.normal(size=(n, 2))
    stop = rng.exponential(10, n).round(1) + 0.1  # rounded: tied event times (Efron)
    event = rng.random(n) < 0.7
    weight = rng.uniform(0.5, 2.0, n)
    beta = np.array([0.3, -0.2])
    plain = score_residuals(x, stop, event, weight, beta)
    np.testing.assert_allclose(score_residuals(x, stop, event, weight, beta, np.zeros(n)), plain, atol=1e-12)
    # splitting every row at an interior time into (0, s] and (s, stop] leaves each row's summed residual
    split = stop / 2
    both = score_residuals(
        np.vstack([x, x]),
        np.r_[split, stop],
        np.r_[np.zeros(n, bool), event],
        np.r_[weight, weight],
        beta,
        np.r_[np.zeros(n), split],
    )
    np.testing.assert_allclose(both[:n] + both[n:], plain, atol=1e-10)


def test_censoring_model_equals_r_glm():
    design = pd.read_csv(DATA / "demo_design.csv.gz", float_precision="round_trip")
    y, x = design["y"].to_numpy(float), design.drop(columns="y").to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(y, x, family=sm.families.Binomial()).fit(tol=1e-12, maxiter=200)
    assert fit.deviance == pytest.approx(R_REF["glm"]["deviance"], abs=1e-5)
    ref = np.array(R_REF["glm"]["coef"])
    identified = np.abs(ref) < 10  # separated terms (no second RAIT where they are 1) are not identified
    assert identified.sum() >= 10
    np.testing.assert_allclose(fit.params[identified], ref[identified], rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------- the demo warehouse


@pytest.fixture(scope="module")
def demo_marts(demo_warehouse):
    return read_published(demo_warehouse)


def test_mart_months_end_at_pfs(demo_con):
    ends = demo_con.execute(
        "select pfs.pfs_months, months.stop_months, months.pfs_event_in_month, pfs.pfs_event "
        "from marts.pfs as pfs join marts.strategy_evidence_monthly as months using (patient_id) "
        "where months.is_last_month"
    ).df()
    n_pfs = demo_con.execute("select count(*) from marts.pfs").fetchone()[0]
    assert len(ends) == n_pfs  # one last month per treated patient
    np.testing.assert_allclose(ends["stop_months"], ends["pfs_months"], atol=1e-9)
    assert (ends["pfs_event_in_month"] == (ends["pfs_event"] == 1)).all()
    rait2 = demo_con.execute(
        "select count(*) from marts.strategy_evidence_monthly where second_rait_in_month"
    ).fetchone()[0]
    assert 0 < rait2 <= demo_con.execute("select count(*) from marts.rait_cycles where cycle_number = 2").fetchone()[0]


def test_demo_clones_are_the_committed_r_input(demo_marts):
    tte = TargetTrialEmulation(n_bootstrap=0).fit(as_missing(demo_marts.strategy_cohort), demo_marts.strategy_months)
    committed = pd.read_csv(DATA / "demo_clones.csv.gz", float_precision="round_trip")
    assert list(tte.clones_.columns) == list(committed.columns)
    pd.testing.assert_frame_equal(
        tte.clones_.reset_index(drop=True), committed, check_exact=False, check_dtype=False, rtol=1e-12
    )
    # the A clone is never followed past a second RAIT, the B clone never past the grace period without one
    months = demo_marts.strategy_months
    second = months[months["second_rait_in_month"]].set_index("patient_id")["start_months"]
    a = tte.clones_[tte.clones_["arm"] == ARMS[0]].groupby("patient_id")["stop"].max()
    joined = pd.concat([a.rename("stop"), second.rename("second")], axis=1, join="inner")
    assert len(joined) > 0 and (joined["stop"] <= joined["second"] + 1e-9).all()
    b = tte.clones_[tte.clones_["arm"] == ARMS[1]]
    untreated = set(months["patient_id"]) - set(second[second < 12].index)
    # the last grace month (11) is the deadline: a clone untreated at its start has deviated then
    assert b[b["patient_id"].isin(untreated)]["stop"].max() <= 11 + 1e-9
    assert tte.hr_["se"] == pytest.approx(R_REF["cox"]["se_robust"], rel=1e-6)


def test_bootstrap_is_seeded_and_brackets_the_estimate(demo_marts):
    cohort, months = as_missing(demo_marts.strategy_cohort), demo_marts.strategy_months
    one = TargetTrialEmulation(n_bootstrap=40, random_state=7).fit(cohort, months)
    two = TargetTrialEmulation(n_bootstrap=40, random_state=7).fit(cohort, months)
    three = TargetTrialEmulation(n_bootstrap=40, random_state=8).fit(cohort, months)
    assert one is not None and isinstance(one.summary, pd.DataFrame)
    np.testing.assert_array_equal(one.bootstrap_, two.bootstrap_)
    assert not np.array_equal(one.bootstrap_, three.bootstrap_)
    diff = one.estimates_["60"]["difference"]
    assert diff["ci_low"] < diff["ci_high"]
    assert one.to_dict()["ci_method"] == "percentile bootstrap"
    weights = one.clones_["weight"]
    assert weights.max() <= one.truncation_value_ + 1e-12 and (weights > 0).all()


def test_analyze_writes_the_strategies_section_table_and_sentence(demo_warehouse, tmp_path):
    from rait_registry.analysis import AnalysisConfig

    result = analyze_warehouse(demo_warehouse, tmp_path, AnalysisConfig(bootstrap=30, sensitivity_analyses=False))
    section = result.results["strategies"]
    assert section["n_bootstrap"] == 30 and section["grace_months"] == 12
    assert [row["component"] for row in section["protocol"]][:4] == [
        "Eligibility",
        "Treatment strategies",
        "Assignment",
        "Time zero",
    ]
    sentence = section["sentence"]
    assert "no unmeasured confounding" in sentence and "5-year PFS" in sentence and sentence.count(".") >= 1
    assert forbidden_words(sentence) == []
    table = pd.read_csv(tmp_path / "tables" / "strategies.csv")
    assert "pfs_60m_difference" in set(table["quantity"])


def test_without_the_mart_the_section_is_skipped_with_what_to_do():
    with pytest.raises(AnalysisError, match="rait-registry refresh"):
        TargetTrialEmulation().fit(pd.DataFrame({"patient_id": ["A"]}), None)


# ------------------------------------------------------------------------- calibration (small version)


def test_stabilisation_leaves_both_arms_km_unchanged():
    """A stabilising numerator must be the same for every clone of an arm at a time, so the weighted
    KM of each arm is that of the unstabilised weights (a numerator on arm B's deadline-treated
    clones alone biased S_B by -0.025 in the calibration simulation, benchmarks/README.md)."""
    sc = _calibration_module()
    cohort, months = sc.simulate(1500, 4, 1.0)
    tte = TargetTrialEmulation(n_bootstrap=0, covariates=("age_at_diagnosis_years", "sex")).fit(cohort, months)
    d = tte.design_
    h_num, h_den, _, _ = tte._hazards(d, None)
    stabilised = tte._weights(d, h_num, h_den)
    plain = tte._weights(d, np.zeros_like(h_num), h_den)  # numerator 1 (arm A), 1 / h at the deadline (arm B)
    deadline = d.treated_in_month & (d.month == tte.grace_months - 1)
    assert deadline.sum() > 10
    assert not np.allclose(stabilised["w_b"], plain["w_b"]) and not np.allclose(stabilised["w_a"], plain["w_a"])
    np.testing.assert_allclose(tte._survival(d, stabilised, None), tte._survival(d, plain, None), rtol=1e-12)
    # arm B after the deadline: c / h for the clones treated in the last grace month (they stand for every
    # clone untreated then), c for those treated before it, one numerator c for all
    hd = np.zeros(len(d.pid))
    hd[d.at_risk] = h_den
    t_month = pd.Series(d.month[d.treated_in_month], index=d.pid[d.treated_in_month]).groupby(level=0).min()
    t_row = t_month.reindex(d.pid).to_numpy()
    after = stabilised["in_b"] & (d.month >= tte.grace_months - 1)
    c = np.unique(stabilised["w_b"][after & (t_row < tte.grace_months - 1)])
    assert len(c) == 1 and 0 < c[0] < 1
    at_deadline = after & (t_row == tte.grace_months - 1)
    deadline_h = pd.Series(hd[deadline], index=d.pid[deadline]).reindex(d.pid[at_deadline]).to_numpy()
    np.testing.assert_allclose(stabilised["w_b"][at_deadline] * deadline_h, c[0], rtol=1e-12)


@pytest.mark.slow
def test_ccw_recovers_the_simulated_effect_and_the_naive_contrast_misses_it():
    """Three seeds of benchmarks/strategies_calibration.py (a second RAIT with HR 0.6 decided on a
    prognostic marker; 50 seeds in benchmarks/README.md): the clone-censor-weight estimate of the
    5-year PFS difference is near the truth and most of its bootstrap CIs cover it; the naive
    contrast by number of RAITs falls outside the truth's Monte Carlo interval."""
    sc = _calibration_module()
    true, se = sc.truth(0.6, n=200_000)
    assert -0.12 < true < -0.06 and se < 0.001  # the stated effect is a real difference
    results = [sc.one_seed((seed, 0.6, 2000, 40)) for seed in (1, 2, 3)]
    estimates = np.array([r["estimate"] for r in results])
    assert abs(estimates.mean() - true) < 0.035
    assert sum(r["ci_low"] <= true <= r["ci_high"] for r in results) >= 2
    assert all(abs(r["naive"] - true) > 1.96 * se for r in results)
