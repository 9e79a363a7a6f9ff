"""The sensitivity analyses (``rait_registry.analysis.sensitivity``): landmark, time-varying Cox,
non-inferiority, matching variants, IPTW, E-values and cumulative-dose splines.

R references (``tests/r/beyond_references.R``; R survival 3.5, splines, glm):
* ``beyond_frozen_cohort.json`` - the frozen stand-in cohort: ``tmerge`` counting-process rows
  with the 14-day exposure lag and without it, ``coxph`` on them (m-RAIT status, cycles
  received, adjusted; the unlagged m-RAIT status model), the landmark analyses, the
  fixed-group HR, Greenwood SEs of 5-year PFS, IPTW (glm propensity, stabilised ATE weights,
  ``coxph(robust = TRUE)``, weighted ``survfit``) and ``ns()`` dose-response models;
* ``beyond_demo.json`` - the same on the frozen demo warehouse cohort (tests/data/frozen_demo/);
  the cohort-level comparisons run on both (fixture ``frozen``);
* ``beyond_toy.json`` - ``tmerge`` + ``coxph`` on the hand-made cases of
  ``beyond_toy_input.json`` (same-day cycles, a cycle on the event day with a rounded
  pfs_months, a cycle after progression, tied times), with and without the lag;
* ``lag_toy.json`` - the same on ``lag_toy_input.json``, hand-made cases of the exposure lag (an
  event on the day of the lagged switch, the day before and after, censoring on that day, a
  third cycle within the lag of the second).
Tolerance: 1e-6 relative (agreement is ~1e-11), the IPTW robust SE included: it comes from
``sensitivity.efron_score_residuals`` (lifelines' ``robust=True`` ignores tied times and was 2e-4 off
R on the demo cohort).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from rait_registry.analysis.config import AnalysisConfig
from rait_registry.analysis.cox import COX_FIT_OPTIONS
from rait_registry.analysis.matching import PropensityMatcher
from rait_registry.analysis.sensitivity import (
    DEFAULT_EXPOSURE_LAG_DAYS,
    HazardRatioEstimate,
    MatchingVariant,
    SensitivityAnalyses,
    counting_process,
    cox_robust_covariance,
    derived_pfs_margin,
    e_value,
    e_value_rr,
    efron_score_residuals,
    exposure_lag_days,
    hr_sentence,
    hr_to_rr_common,
    iptw_weights,
    km_at,
    landmark_cohort,
    non_inferiority_hr,
    on_day_grid,
    spline_basis,
    time_varying_cox,
)
from rait_registry.analysis.wording import (
    VERDICT_CONSISTENT,
    VERDICT_INCONCLUSIVE,
    VERDICT_NOT_CONSISTENT,
    VERDICTS,
    forbidden_words,
    ni_verdict,
)
from rait_registry.contract import DAYS_PER_MONTH
from rait_registry.exceptions import AnalysisError, UsageError

from .frozen_data import load_frozen

DATA = Path(__file__).parent / "data"
REF = DATA / "r_reference"
RTOL = 1e-6
SECTIONS = {"landmark", "time_varying_cox", "non_inferiority", "sensitivity", "dose_response"}


def _close(a, b, what: str, rtol: float = RTOL) -> None:
    assert a is not None and b is not None, f"{what}: python {a}, R {b}"
    assert a == pytest.approx(b, rel=rtol, abs=1e-12), f"{what}: python {a!r}, R {b!r}"


@pytest.fixture(scope="module")
def ref(frozen) -> dict:
    return frozen.ref("sensitivity")


@cache
def _fit_frozen(name: str) -> SensitivityAnalyses:
    """One fit per frozen data set, shared by the R comparisons and the stand-in tests."""
    data = load_frozen(name)
    return SensitivityAnalyses().fit(data.cohort, data.cycles)


@pytest.fixture(scope="module")
def ffitted(frozen) -> SensitivityAnalyses:
    return _fit_frozen(frozen.name)


@pytest.fixture(scope="module")
def fsections(ffitted) -> dict:
    return ffitted.to_dict()


def _toy(name: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    inp = json.loads((REF / f"{name}_input.json").read_text())
    out = json.loads((REF / f"{name}.json").read_text())
    assert out["options"]["lag"] == 14
    return pd.DataFrame(inp["cohort"]), pd.DataFrame(inp["cycles"]), out


@pytest.fixture(scope="module")
def toy() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    return _toy("beyond_toy")


@pytest.fixture(scope="module", params=["beyond_toy", "lag_toy"])
def toys(request) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    return _toy(request.param)


@pytest.fixture(scope="module")
def fitted() -> SensitivityAnalyses:
    return _fit_frozen("frozen_cohort")


@pytest.fixture(scope="module")
def sections(fitted) -> dict:
    return fitted.to_dict()


def make_data(patients: dict, start: dt.date = dt.date(2015, 3, 1)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cohort and cycles from {pid: (cycle days, pfs days, event, extra cohort columns)}."""
    rows, cyc = [], []
    for i, (pid, (days, pfs_days, event, *extra)) in enumerate(patients.items()):
        first = start + dt.timedelta(days=11 * i)
        row = {
            "patient_id": pid,
            "rait_group": "o-RAIT" if len(days) == 1 else "m-RAIT",
            "pfs_months": pfs_days / DAYS_PER_MONTH,
            "pfs_event": event,
        }
        if extra:
            row.update(extra[0])
        rows.append(row)
        cum = 0.0
        for k, d in enumerate(days, start=1):
            cum += 5.5
            cyc.append(
                {
                    "patient_id": pid,
                    "cycle_number": k,
                    "admin_date": first + dt.timedelta(days=d),
                    "activity_gbq": 5.5,
                    "cumulative_gbq": cum,
                }
            )
    return pd.DataFrame(rows), pd.DataFrame(cyc)


# ---------------------------------------------------------------------------------------------
# Counting process (tmerge) and the time-varying Cox model
# ---------------------------------------------------------------------------------------------


def _assert_rows_equal(py: pd.DataFrame, r: dict) -> None:
    rr = pd.DataFrame(r)
    assert list(py["patient_id"]) == list(rr["patient_id"])
    for col in ("start", "stop", "cumulative_gbq"):
        np.testing.assert_allclose(
            py[col].to_numpy(float), rr[col].to_numpy(float), rtol=1e-12, atol=1e-12, err_msg=col
        )
    for col in ("event", "n_cycles", "m_rait"):
        assert py[col].tolist() == rr[col].astype(int).tolist(), col


def test_counting_process_equals_tmerge_on_frozen_cohort(frozen, ref):
    assert ref["options"]["lag"] == 14
    cp = counting_process(frozen.cohort, frozen.cycles)  # the declared default lag, 14 days
    assert len(cp) == {"frozen_cohort": 287, "frozen_demo": 256}[frozen.name]
    _assert_rows_equal(cp, ref["counting_process"])
    unlagged = counting_process(frozen.cohort, frozen.cycles, lag_days=0)
    assert len(unlagged) == {"frozen_cohort": 288, "frozen_demo": 258}[frozen.name]
    _assert_rows_equal(unlagged, ref["counting_process_unlagged"])


def test_counting_process_equals_tmerge_on_hand_made_edge_cases(toys):
    c, y, out = toys
    _assert_rows_equal(counting_process(c, y, lag_days=14), out["counting_process"])
    _assert_rows_equal(counting_process(c, y, lag_days=0), out["counting_process_unlagged"])


def test_counting_process_three_cycles_by_hand():
    c, y = make_data({"A": ([0, 100, 250], 400, 1), "B": ([0], 300, 0)})
    cp = counting_process(c, y, lag_days=0).set_index("patient_id")
    a = cp.loc["A"]
    assert a["start"].tolist() == [0.0, 100 / DAYS_PER_MONTH, 250 / DAYS_PER_MONTH]
    assert a["stop"].tolist() == [100 / DAYS_PER_MONTH, 250 / DAYS_PER_MONTH, 400 / DAYS_PER_MONTH]
    assert a["event"].tolist() == [0, 0, 1]
    assert a["n_cycles"].tolist() == [1, 2, 3]
    assert a["m_rait"].tolist() == [0, 1, 1]
    assert a["cumulative_gbq"].tolist() == [5.5, 11.0, 16.5]
    b = cp.loc[["B"]]
    assert b[["start", "event", "n_cycles", "m_rait"]].values.tolist() == [[0.0, 0, 1, 0]]
    # with the lag every change after the first cycle moves 14 days later, dose included
    lagged = counting_process(c, y, lag_days=14).set_index("patient_id").loc["A"]
    assert lagged["start"].tolist() == [0.0, 114 / DAYS_PER_MONTH, 264 / DAYS_PER_MONTH]
    assert lagged[["n_cycles", "m_rait", "cumulative_gbq"]].values.tolist() == [[1, 0, 5.5], [2, 1, 11.0], [3, 1, 16.5]]


def test_counting_process_lag_boundaries_by_hand():
    # second cycle on day 100; PFS ends on day 113, 114 (the day of the lagged switch) or 115
    c, y = make_data({"D113": ([0, 100], 113, 1), "D114": ([0, 100], 114, 1), "D115": ([0, 100], 115, 1)})
    cp = counting_process(c, y, lag_days=14).groupby("patient_id")
    # an event on exactly admin + 14 days stays with o-RAIT (it is the second cycle's post-therapy scan)
    for pid in ("D113", "D114"):
        assert cp.get_group(pid)[["m_rait", "event"]].values.tolist() == [[0, 1]], pid
    assert cp.get_group("D115")[["m_rait", "event"]].values.tolist() == [[0, 0], [1, 1]]
    # without the lag all three are m-RAIT progressions
    unl = counting_process(c, y, lag_days=0)
    assert unl.loc[unl["event"] == 1, "m_rait"].tolist() == [1, 1, 1]
    with pytest.raises(UsageError, match="rxwbs_window_days"):
        counting_process(c, y, lag_days=-1)


def test_exposure_lag_comes_from_the_refresh_history():
    assert exposure_lag_days({"run_id": "r9", "dbt_vars": {"rxwbs_window_days": 21}}) == (
        21,
        "rxwbs_window_days recorded by refresh r9 (history.refresh_runs dbt_vars)",
    )
    lag, source = exposure_lag_days({"run_id": "r9", "dbt_vars": {"micromet_max_mm": 8}})
    assert lag == DEFAULT_EXPOSURE_LAG_DAYS == 14 and "declared default" in source and "r9" in source
    assert exposure_lag_days({})[0] == 14
    with pytest.raises(UsageError, match="rxwbs_window_days"):
        exposure_lag_days({"dbt_vars": {"rxwbs_window_days": 400}})


def test_counting_process_same_day_and_after_end_cycles(toy):
    c, y, _ = toy
    cp = counting_process(c, y, lag_days=0).groupby("patient_id")
    # second cycle on the day of the first: m-RAIT from time 0
    assert cp.get_group("T03")[["start", "n_cycles", "m_rait"]].values.tolist() == [[0.0, 2, 1]]
    # second cycle on the event day (pfs_months rounded up to 6.6037): no change before the event
    t04 = cp.get_group("T04")
    assert len(t04) == 1 and t04["m_rait"].iloc[0] == 0 and t04["event"].iloc[0] == 1
    assert t04["stop"].iloc[0] == 201 / DAYS_PER_MONTH
    # second cycle after progression: never m-RAIT in the model
    assert cp.get_group("T05")["m_rait"].tolist() == [0]
    # two cycles on one later day: one split, count jumps by two
    assert cp.get_group("T06")["n_cycles"].tolist() == [1, 3]
    # with the lag, the same-day second cycle changes the exposure 14 days later
    lagged = counting_process(c, y, lag_days=14).groupby("patient_id").get_group("T03")
    assert lagged[["start", "n_cycles", "m_rait"]].values.tolist() == [[0.0, 1, 0], [14 / DAYS_PER_MONTH, 2, 1]]


def test_on_day_grid_snaps_only_whole_days():
    assert on_day_grid([round(365 / DAYS_PER_MONTH, 4)])[0] == 365 / DAYS_PER_MONTH
    assert on_day_grid([12.0])[0] == 12.0 and on_day_grid([10.5])[0] == 10.5  # 365.25 / 319.6 days: left alone


@pytest.mark.parametrize("name", ["m_rait_status", "cycles_received", "m_rait_status_adjusted"])
def test_time_varying_cox_matches_r_coxph_on_tmerge(frozen, fsections, ref, name):
    section = fsections["time_varying_cox"]
    assert section["exposure_lag_days"] == 14
    model = next(m for m in section["models"] if m["name"] == name)
    assert model["exposure_lag_days"] == 14 and model["biases"] == []
    r = ref["time_varying"][name]
    for key in ("hr", "ci_low", "ci_high", "p", "se_log_hr"):
        _close(model[key], r[key], f"{name} {key}")
    assert model["n_patients"] == len(frozen.cohort) == 117
    assert model["events"] == frozen.cohort["pfs_event"].sum() == {"frozen_cohort": 28, "frozen_demo": 24}[frozen.name]


def test_unlagged_model_is_a_sensitivity_row_matching_r(frozen, fsections, ffitted, ref):
    section = fsections["time_varying_cox"]
    unl = section["unlagged_sensitivity"]
    assert unl["name"] == "m_rait_status_unlagged" and unl["exposure_lag_days"] == 0
    assert unl["biases"] == ["unlagged_exposure"]
    for key in ("hr", "ci_low", "ci_high", "p", "se_log_hr"):
        _close(unl[key], ref["time_varying_unlagged"]["m_rait_status"][key], f"unlagged {key}")
    assert section["events_by_exposure"] == ref["events_by_exposure"]
    assert unl["events_by_exposure"] == ref["events_by_exposure_unlagged"]
    moved = ref["events_by_exposure_unlagged"]["m-RAIT"] - ref["events_by_exposure"]["m-RAIT"]
    assert unl["n_events_credited_to_m_rait"] == moved
    if frozen.name == "frozen_demo":
        assert moved == 2  # two progressions found on the second cycle's post-therapy scan
    # primary models first, the unlagged one last and labelled as a biased sensitivity row
    table = ffitted.tables_["time_varying_cox"]
    assert table["role"].tolist()[-1] == "sensitivity (unlagged, biased)"
    assert set(table["role"].iloc[:-1]) == {"primary"}
    assert table["exposure_lag_days"].tolist() == [14, 14, 14, 0]
    assert "credits" in section["interpretation"] and "biased:" in section["interpretation"]
    # the NI and E-value analyses use the lagged HR, never the unlagged one
    tv = next(r for r in fsections["non_inferiority"]["hr"] if r["analysis"] == "time_varying")
    assert tv["hr_o_vs_m"] == pytest.approx(1 / section["models"][0]["hr"], rel=1e-12)


def test_unlagged_row_is_skipped_without_a_lag(cohort, cycles):
    out = SensitivityAnalyses(exposure_lag_days=0, landmark_sensitivity_months=()).fit(cohort, cycles).to_dict()
    tv = out["time_varying_cox"]
    assert tv["exposure_lag_days"] == 0
    assert set(tv["unlagged_sensitivity"]) == {"skipped", "reason"} and tv["unlagged_sensitivity"]["skipped"] is True
    assert "Unlagged" not in tv["interpretation"]


@pytest.mark.parametrize("name", ["m_rait_status", "cycles_received"])
def test_time_varying_cox_matches_r_on_hand_made_cases(toys, name):
    c, y, out = toys
    for lag, key in ((14, "time_varying"), (0, "time_varying_unlagged")):
        models, fitters = time_varying_cox(c, counting_process(c, y, lag_days=lag))
        assert [m["name"] for m in models] == ["m_rait_status", "cycles_received"]
        model = next(m for m in models if m["name"] == name)
        for k in ("hr", "ci_low", "ci_high", "p", "se_log_hr"):
            _close(model[k], out[key][name][k], f"toy lag {lag} {name} {k}")


def test_fixed_group_hr_differs_from_time_varying(fsections, ref):
    tv = fsections["time_varying_cox"]
    _close(tv["fixed_group_hr"]["hr"], ref["fixed_group"]["hr"], "fixed-group HR")
    assert tv["fixed_group_hr"]["biases"] == ["immortal_time"]
    # immortal time inflates the fixed-group contrast on this cohort
    assert tv["fixed_group_hr"]["hr"] > tv["models"][0]["hr"]
    rows = pd.DataFrame(ref["counting_process"])
    assert tv["n_switched_before_end"] == rows.loc[rows["m_rait"] == 1, "patient_id"].nunique()


# ---------------------------------------------------------------------------------------------
# Landmark
# ---------------------------------------------------------------------------------------------


def test_landmark_boundary_assignment():
    # 16 months = 487 days exactly, so boundaries fall on whole days
    c, y = make_data(
        {
            "A": ([0, 487], 900, 0),  # second cycle exactly at the landmark: m-RAIT
            "B": ([0, 488], 900, 1),  # one day after: o-RAIT at the landmark
            "C": ([0, 200], 487, 0),  # follow-up ends exactly at the landmark: not at risk
            "D": ([0], 488, 1),  # progression one day after: at risk, event
            "E": ([0, 100], 300, 1),  # progression before the landmark
        }
    )
    data, counts = landmark_cohort(c, y, 16.0)
    assert data["patient_id"].tolist() == ["A", "B", "D"]
    assert data.set_index("patient_id")["landmark_group"].to_dict() == {"A": "m-RAIT", "B": "o-RAIT", "D": "o-RAIT"}
    assert data.set_index("patient_id")["cycles_by_landmark"].to_dict() == {"A": 2, "B": 1, "D": 1}
    assert counts["n_event_before"] == 1 and counts["n_censored_before"] == 1 and counts["n_at_landmark"] == 3
    assert counts["reclassified"]["m-RAIT at the end, o-RAIT at the landmark"] == 1
    np.testing.assert_allclose(data["months_from_landmark"], np.array([900, 900, 488]) / DAYS_PER_MONTH - 16.0)


def test_landmark_counts_a_later_cycle_from_its_exposure_lag():
    # 16 months = 487 days; with a 14-day lag a second cycle counts from admin + 14 days, as the
    # time-varying models switch exposure: day 473 counts by the landmark, day 474 does not
    c, y = make_data({"A": ([0, 473], 900, 0), "B": ([0, 474], 900, 0), "C": ([0, 487], 900, 0)})
    data, counts = landmark_cohort(c, y, 16.0, lag_days=14)
    assert data.set_index("patient_id")["landmark_group"].to_dict() == {"A": "m-RAIT", "B": "o-RAIT", "C": "o-RAIT"}
    assert counts["reclassified"]["m-RAIT at the end, o-RAIT at the landmark"] == 2
    # the first cycle is time zero, never lagged
    data0, _ = landmark_cohort(c, y, 16.0, lag_days=0)
    assert set(data0.loc[data0["landmark_group"] == "m-RAIT", "patient_id"]) == {"A", "B", "C"}


def test_landmark_twelve_months_is_365_25_days():
    c, y = make_data({"A": ([0, 365], 800, 0), "B": ([0, 366], 800, 0)})
    data, _ = landmark_cohort(c, y, 12.0)
    assert data.set_index("patient_id")["landmark_group"].to_dict() == {"A": "m-RAIT", "B": "o-RAIT"}


def test_landmark_matches_r(frozen, fsections, ffitted, ref):
    lm, r = fsections["landmark"], ref["landmark"]
    assert lm["n_at_landmark"] == r["n_at_landmark"] == {"frozen_cohort": 107, "frozen_demo": 108}[frozen.name]
    assert lm["groups"] == {"o-RAIT": r["n_o_rait"], "m-RAIT": r["n_m_rait"]}
    data = ffitted.landmark_data_.sort_values("patient_id")
    assert data["patient_id"].tolist() == r["patient_ids"]
    assert (data["landmark_group"] == "m-RAIT").astype(int).tolist() == r["m_rait"]
    a = lm["analysis"]
    _close(a["logrank_chi2"], r["logrank_chi2"], "landmark log-rank")
    for k_py, k_r in (("hr", "hr"), ("hr_ci_low", "ci_low"), ("hr_ci_high", "ci_high"), ("hr_p", "p")):
        _close(a[k_py], r["cox"][k_r], f"landmark {k_py}")
    for k in ("hr", "ci_low", "ci_high", "p"):
        _close(lm["hr_adjusted"][k], r["cox_adjusted"][k], f"landmark adjusted {k}")
    six = next(row for row in lm["by_landmark"] if row["landmark_months"] == 6.0)
    r6 = ref["landmark_6"]
    assert (six["n_o_rait"], six["n_m_rait"]) == (r6["n_o_rait"], r6["n_m_rait"])
    _close(six["hr"], r6["cox"]["hr"], "landmark 6 HR")
    _close(six["logrank_p"], r6["logrank_p"], "landmark 6 log-rank p")
    km = ffitted.tables_["landmark_km_o-RAIT"]
    np.testing.assert_allclose(km["months_since_first_rait"], km["time"] + 12.0)


# ---------------------------------------------------------------------------------------------
# Non-inferiority
# ---------------------------------------------------------------------------------------------


def test_non_inferiority_hr_by_hand():
    # HR 1, SE 0.2: 95% upper limit exp(1.96 * 0.2) = 1.48 < 1.5, z = -ln(1.5) / 0.2
    res = non_inferiority_hr(0.0, 0.2, margin=1.5, alpha=0.025)
    assert res["ci_high"] == pytest.approx(math.exp(1.959963984540054 * 0.2), rel=1e-12)
    assert res["z"] == pytest.approx(-math.log(1.5) / 0.2, rel=1e-12)
    assert res["p_one_sided"] == pytest.approx(0.0213146, abs=1e-7)  # Phi(-2.02733)
    assert res["verdict"] == VERDICT_CONSISTENT
    assert non_inferiority_hr(0.0, 0.25, margin=1.5)["verdict"] == VERDICT_INCONCLUSIVE
    # the whole interval above the margin: exp(1.0 - 1.96 * 0.2) = 1.84 >= 1.5
    assert non_inferiority_hr(1.0, 0.2, margin=1.5)["verdict"] == VERDICT_NOT_CONSISTENT


def test_non_inferiority_ci_and_test_agree():
    rng = np.random.default_rng(7)
    for log_hr, se in zip(rng.normal(0, 0.5, 200), rng.uniform(0.05, 1.0, 200), strict=True):
        res = non_inferiority_hr(float(log_hr), float(se), 1.5, 0.025)
        assert res["verdict"] in VERDICTS
        if abs(res["p_one_sided"] - 0.025) > 1e-9:
            assert (res["verdict"] == VERDICT_CONSISTENT) == (res["p_one_sided"] < 0.025)
        if abs(res["p_one_sided"] - 0.975) > 1e-9:
            assert (res["verdict"] == VERDICT_NOT_CONSISTENT) == (res["p_one_sided"] > 0.975)


def test_non_inferiority_direction_is_o_vs_m(sections):
    ni = sections["non_inferiority"]
    assert "o-RAIT versus m-RAIT" in ni["direction"] and ni["hr_margin"] == 1.5 and ni["alpha_one_sided"] == 0.025
    assert ni["margins_prespecified"] is False and ni["margin_status"] == "not prespecified"
    tv_hr = sections["time_varying_cox"]["models"][0]
    row = next(r for r in ni["hr"] if r["analysis"] == "time_varying")
    assert row["hr_o_vs_m"] == pytest.approx(1 / tv_hr["hr"], rel=1e-12)
    assert row["ci_high"] == pytest.approx(1 / tv_hr["ci_low"], rel=1e-9)
    assert row["verdict"] == ni_verdict(row["ci_low"], row["ci_high"], 1.5)
    matched = next(r for r in ni["hr"] if r["analysis"] == "matched")
    assert matched["verdict"] == VERDICT_INCONCLUSIVE and matched["ci_low"] < 1.5 < matched["ci_high"]
    assert matched["biases"] == ["immortal_time", "matched_on_follow_up"]
    assert "the result is inconclusive; biased: groups are defined" in ni["interpretation"]
    assert "(not prespecified)" in ni["interpretation"] and "(not prespecified)" in ni["reading"]
    assert "tests equality, not non-inferiority" in ni["interpretation"]
    # the biased analyses say so in the sentence that states their verdict
    for sentence in ni["interpretation"].split(". "):
        if sentence.startswith("Matched cohort"):
            assert "biased: groups are defined by the number of RAITs" in sentence
            assert "matching on a post-baseline variable" in sentence


def test_pfs_difference_greenwood_matches_r(fsections, ref):
    rows = {r["analysis"]: r for r in fsections["non_inferiority"]["pfs_difference"]}
    el = rows["eligible_fixed_groups"]
    _close(el["pfs_o_rait"], ref["pfs_eligible"]["o_rait"]["surv"], "5y PFS o")
    _close(el["se_o_rait"], ref["pfs_eligible"]["o_rait"]["se"], "Greenwood SE o")
    _close(el["se_m_rait"], ref["pfs_eligible"]["m_rait"]["se"], "Greenwood SE m")
    lm = rows["landmark"]
    assert lm["horizon_months"] == 48.0
    _close(lm["pfs_m_rait"], ref["landmark"]["pfs_m_rait"]["surv"], "landmark PFS m")
    _close(lm["se_o_rait"], ref["landmark"]["pfs_o_rait"]["se"], "landmark SE o")
    se = math.hypot(el["se_o_rait"], el["se_m_rait"])
    assert el["ci_low"] == pytest.approx(el["difference"] - 1.959963984540054 * se, rel=1e-12)
    # the margin is the one the HR margin implies at the m-RAIT 5-year PFS: S_m^1.5 - S_m
    s_m = ref["pfs_eligible"]["m_rait"]["surv"]
    for row in rows.values():
        assert row["margin_source"] == "derived" and row["margin"] == row["margin_derived"]
        assert row["margin"] == pytest.approx(row["pfs_m_rait"] ** 1.5 - row["pfs_m_rait"], rel=1e-12)
        assert row["verdict"] == ni_verdict(row["ci_low"], row["ci_high"], row["margin"], worse="lower")
        assert row["p_one_sided"] == pytest.approx(
            float(norm.sf((row["difference"] - row["margin"]) / row["se"])), rel=1e-12
        )
    _close(el["margin"], s_m**1.5 - s_m, "derived PFS margin")


def test_derived_pfs_margin_by_hand_and_a_given_margin(cohort, cycles):
    assert derived_pfs_margin(0.8, 1.5) == pytest.approx(0.8**1.5 - 0.8, rel=1e-15)
    assert derived_pfs_margin(1.0, 1.5) == 0.0 and derived_pfs_margin(None, 1.5) is None
    out = SensitivityAnalyses(ni_pfs_margin=0.10, ni_margins_prespecified=True, landmark_sensitivity_months=())
    ni = out.fit(cohort, cycles).to_dict()["non_inferiority"]
    assert ni["margins_prespecified"] is True and ni["margin_status"] == "prespecified"
    assert "not prespecified" not in ni["interpretation"] and "(prespecified)" in ni["interpretation"]
    matched = next(r for r in ni["pfs_difference"] if r["analysis"] == "matched")
    assert matched["margin_source"] == "given" and matched["margin"] == -0.10
    assert matched["margin"] < matched["margin_derived"]
    assert "is looser than the" in ni["interpretation"] and "do not state the same hypothesis" in ni["interpretation"]


def test_non_inferiority_takes_the_matched_hr_as_an_argument(cohort, cycles):
    # the seam for the pair-aware (cluster-robust) matched HR: whatever HR and SE are passed are tested
    pair_aware = HazardRatioEstimate(
        "matched",
        "matched cohort, cluster-robust SE (pairs)",
        hr=0.5,
        log_hr=math.log(0.5),
        se_log_hr=0.1,
        biases=("immortal_time",),
    )
    fitted = SensitivityAnalyses(landmark_sensitivity_months=()).fit(cohort, cycles, matched_hr=pair_aware)
    ni = fitted.to_dict()["non_inferiority"]
    row = next(r for r in ni["hr"] if r["analysis"] == "matched")
    assert row["hr_o_vs_m"] == pytest.approx(2.0, rel=1e-12)
    assert row["ci_low"] == pytest.approx(math.exp(math.log(2.0) - 1.959963984540054 * 0.1), rel=1e-12)
    assert row["verdict"] == VERDICT_NOT_CONSISTENT and row["biases"] == ["immortal_time"]
    assert ni["matched_hr"]["description"] == "matched cohort, cluster-robust SE (pairs)"


def test_km_at_undefined_before_horizon_and_one_without_events():
    assert km_at(np.array([10.0, 20.0]), np.array([1, 0]), 60.0)[0] is None
    assert km_at(np.array([70.0, 80.0]), np.array([0, 1]), 60.0)[:2] == (1.0, 0.0)


# ---------------------------------------------------------------------------------------------
# Sensitivity: matching variants, IPTW, E-values
# ---------------------------------------------------------------------------------------------


def test_matching_variants(sections, fitted):
    rows = sections["sensitivity"]["matching"]
    assert len(rows) == 4  # primary (= caliper 0.05 with follow-up) + 3 further specifications
    assert rows[0]["label"].startswith("primary") and "= caliper 0.05 (propensity), with follow-up" in rows[0]["label"]
    without = [r for r in rows if "without follow-up" in r["label"]]
    assert len(without) == 2 and all("follow_up_months" not in r["covariates"] for r in without)
    for v, m, _ in fitted.matching_variants_:
        if v.caliper_scale == "logit_sd":
            lp = np.log(m.propensity_ / (1 - m.propensity_))
            assert m.caliper_width_ == pytest.approx(0.2 * lp.std(ddof=1), rel=1e-12)


def test_iptw_weight_sums_with_a_saturated_propensity_model():
    # one binary covariate: the logistic model is saturated, so 1/e sums to n exactly
    pats = {}
    flags = [1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0]
    groups = [1, 1, 2, 1, 2, 2, 1, 2, 2, 1, 1, 2]  # cycles: 1 = o-RAIT
    for i, (f, g) in enumerate(zip(flags, groups, strict=True)):
        days = [0] if g == 1 else [0, 150]
        pats[f"P{i:02d}"] = (days, 400 + 30 * i, i % 3 == 0, {"x": f})
    c, _ = make_data(pats)
    pm = PropensityMatcher(covariates=["x"], caliper=None).fit(c)
    e = pm.propensity_.reindex(c["patient_id"]).to_numpy()
    focal = (c["rait_group"] == "o-RAIT").to_numpy()
    n, n1 = len(c), int(focal.sum())
    w = iptw_weights(e, focal, "ATE", stabilized=False)
    assert w[focal].sum() == pytest.approx(n, rel=1e-9) and w[~focal].sum() == pytest.approx(n, rel=1e-9)
    ws = iptw_weights(e, focal, "ATE", stabilized=True)
    assert ws[focal].sum() == pytest.approx(n1, rel=1e-9) and ws[~focal].sum() == pytest.approx(n - n1, rel=1e-9)
    wt = iptw_weights(e, focal, "ATT")
    assert (wt[focal] == 1).all() and wt[~focal].sum() == pytest.approx(n1, rel=1e-9)
    with pytest.raises(AnalysisError, match="separation"):
        iptw_weights(np.array([0.5, 1.0]), np.array([True, False]))


def test_iptw_matches_r(fsections, ffitted, ref):
    ip, r = fsections["sensitivity"]["iptw"], ref["iptw"]
    assert ip["estimand"] == "ATE" and ip["stabilized"] is True and "sandwich" in ip["se_method"]
    w = ffitted.iptw_["weights"].reindex(r["patient_id"]).to_numpy()
    np.testing.assert_allclose(w, r["weights"], rtol=1e-9)
    _close(ip["hr"], r["cox"]["hr"], "IPTW HR")
    for k_py, k_r in (("se_log_hr", "se_log_hr"), ("hr_ci_low", "ci_low"), ("hr_ci_high", "ci_high"), ("hr_p", "p")):
        _close(ip[k_py], r["cox"][k_r], f"IPTW robust {k_py}")
    _close(ip["pfs_5y_weighted"]["o-RAIT"], r["pfs_o_rait"]["surv"], "weighted KM o")
    _close(ip["pfs_5y_weighted"]["m-RAIT"], r["pfs_m_rait"]["surv"], "weighted KM m")
    bal = {b["covariate"]: b for b in ip["balance"]}
    assert abs(bal["local_persistent_disease"]["smd_weighted"]) < abs(bal["local_persistent_disease"]["smd_unweighted"])


def test_robust_covariance_equals_lifelines_without_ties_and_scores_sum_to_zero():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(3)
    n = 60
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.integers(0, 2, n).astype(float),
            "T": rng.permutation(n) + rng.uniform(1, 2, n),
            "E": (rng.random(n) < 0.6).astype(float),
            "w": rng.uniform(0.5, 2.0, n),
        }
    )
    cph = CoxPHFitter().fit(df, "T", "E", weights_col="w", robust=True, fit_options=dict(COX_FIT_OPTIONS))
    U = efron_score_residuals(df[["x", "z"]].to_numpy(), df["T"], df["E"], df["w"], cph.params_.to_numpy())
    np.testing.assert_allclose(U.sum(axis=0), 0.0, atol=1e-9)  # the score vanishes at the MLE
    # no tied times: lifelines' robust SE is right, and ours equals it
    cov = cox_robust_covariance(cph, df, "T", "E", "w")
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), cph.standard_errors_[["x", "z"]], rtol=1e-9)
    # a censoring tied with an event time: lifelines drops it from the event's risk set (row order)
    ev = df.index[df["E"] == 1][3]
    tied = df.assign(T=lambda d: d["T"].where(d.index != ev + 1, d.loc[ev, "T"]))
    tied.loc[ev + 1, "E"] = 0.0
    tied = pd.concat([tied.loc[[ev + 1]], tied.drop(index=ev + 1)])  # the censored row first
    ct = CoxPHFitter().fit(tied, "T", "E", weights_col="w", robust=True, fit_options=dict(COX_FIT_OPTIONS))
    ours = np.sqrt(np.diag(cox_robust_covariance(ct, tied, "T", "E", "w")))
    # (ours agrees with R coxph there: test_iptw_matches_r on the demo cohort, which has such ties)
    assert np.abs(ours / ct.standard_errors_[["x", "z"]].to_numpy() - 1).max() > 1e-6, (
        "lifelines' robust SE now handles tied times: cox_robust_covariance may be replaced by robust=True"
    )


def test_e_values_known_values():
    # VanderWeele & Ding (2017): RR 3.9 (95% CI 1.8 to 8.7) -> E-values 7.26 and 3.00
    ev = e_value(3.9, 1.8, 8.7, measure="RR")
    assert ev["e_value_estimate"] == pytest.approx(3.9 + math.sqrt(3.9 * 2.9), rel=1e-12)
    assert round(ev["e_value_estimate"], 2) == 7.26 and ev["e_value_ci"] == pytest.approx(3.0, rel=1e-12)
    # protective estimates are inverted; a CI including 1 gives 1
    assert e_value_rr(1 / 3.9) == pytest.approx(e_value_rr(3.9), rel=1e-12)
    assert e_value(0.8, 0.5, 1.3)["e_value_ci"] == 1.0
    assert e_value(0.5, 0.3, 0.8, rare=True)["e_value_ci"] == pytest.approx(e_value_rr(1 / 0.8), rel=1e-12)
    # common outcome: HR 4 -> RR (1 - 0.5**2) / (1 - 0.5**0.5) = 0.75 / 0.292893 = 2.560660,
    # E = 2.560660 + sqrt(2.560660 * 1.560660) = 2.560660 + 1.999080 = 4.559740
    assert hr_to_rr_common(4.0) == pytest.approx(2.560660, rel=1e-6)
    assert e_value(4.0, rare=False)["e_value_estimate"] == pytest.approx(4.559740, rel=1e-6)
    assert hr_to_rr_common(1.0) == 1.0
    assert hr_to_rr_common(0.25) == pytest.approx(1 / hr_to_rr_common(4.0), rel=1e-12)


def test_e_values_section(sections):
    rows = {r["analysis"]: r for r in sections["sensitivity"]["e_values"]}
    assert set(rows) == {"matched", "iptw", "time_varying", "landmark"}
    tv = rows["time_varying"]
    # 28 events among 117, KM cumulative incidence 41%: a common outcome
    assert tv["outcome_rare"] is False and "square-root" in tv["transformation"]
    assert tv["e_value_estimate"] == pytest.approx(e_value(tv["hr"], rare=False)["e_value_estimate"], rel=1e-12)
    assert tv["e_value_ci"] == 1.0  # the CI includes 1


# ---------------------------------------------------------------------------------------------
# Dose-response
# ---------------------------------------------------------------------------------------------


def test_spline_basis_is_a_natural_spline_zero_at_reference():
    knots = {"interior": [8.0, 15.0], "boundary": [4.0, 30.0]}
    x = np.linspace(4.0, 30.0, 40)
    B = spline_basis(x, knots, 5.55).to_numpy()
    assert B.shape == (40, 3)
    np.testing.assert_allclose(spline_basis(np.array([5.55]), knots, 5.55).to_numpy(), 0.0, atol=1e-12)
    # linear functions lie in the span (a natural spline), so x - 5.55 is fitted exactly
    coef, *_ = np.linalg.lstsq(B, x - 5.55, rcond=None)
    np.testing.assert_allclose(B @ coef, x - 5.55, atol=1e-9)
    # linear beyond the boundary knots
    out = spline_basis(np.array([31.0, 32.0, 33.0, 1.0, 2.0, 3.0]), knots, 5.55).to_numpy()
    np.testing.assert_allclose(out[0] - 2 * out[1] + out[2], 0.0, atol=1e-9)
    np.testing.assert_allclose(out[3] - 2 * out[4] + out[5], 0.0, atol=1e-9)


@pytest.mark.parametrize("model", ["time_fixed", "time_varying"])
def test_dose_response_matches_r_ns(fsections, ref, model):
    dr, r = fsections["dose_response"], ref["dose"]
    np.testing.assert_allclose(dr["spline"]["interior_knots"], r["interior_knots"], rtol=1e-12)
    np.testing.assert_allclose(dr["spline"]["boundary_knots"], r["boundary_knots"], rtol=1e-12)
    py, rr = dr[model], r[model]
    _close(py["linear"]["hr_per_gbq"], rr["linear"]["hr"], f"{model} linear HR")
    _close(py["nonlinearity"]["chi2"], rr["nonlinearity_chi2"], f"{model} non-linearity LRT")
    _close(py["overall"]["chi2"], rr["overall_chi2"], f"{model} overall LRT")
    assert py["nonlinearity"]["df"] == 2 and py["overall"]["df"] == 3
    curve = pd.DataFrame(py["curve"])
    np.testing.assert_allclose(curve["gbq"], rr["curve"]["gbq"], rtol=1e-12)
    for k in ("hr", "ci_low", "ci_high"):
        np.testing.assert_allclose(curve[k], rr["curve"][k], rtol=RTOL, err_msg=f"{model} curve {k}")
    assert curve.loc[np.isclose(curve["gbq"], 5.55), "hr"].item() == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Sections, sentences, small data, options
# ---------------------------------------------------------------------------------------------


def test_sections_are_json_ready_with_interpretations(cohort, cycles):
    out = SensitivityAnalyses(landmark_months=12).fit(cohort, cycles, PropensityMatcher().fit(cohort)).to_dict()
    assert set(out) == SECTIONS
    json.dumps(out, allow_nan=False)
    for name in SECTIONS:
        assert isinstance(out[name]["interpretation"], str) and out[name]["interpretation"]
    lm = out["landmark"]["analysis"]
    assert f"{lm['hr']:.2f}" in out["landmark"]["interpretation"]


def test_hr_sentence_does_not_overclaim():
    s = hr_sentence("X", 1.2, 0.4, 2.1)
    assert "0.40 to 2.10" in s and "compatible with both a lower and a higher hazard" in s
    assert "higher hazard of progression with m-RAIT" in hr_sentence("X", 2.5, 1.2, 5.0)
    assert "could not be estimated" in hr_sentence("X", None, None, None)
    assert not forbidden_words(s + hr_sentence("X", 2.5, 1.2, 5.0))
    biased = hr_sentence("X", None, None, None, reason="no events", biases=["immortal_time"])
    assert biased.startswith("X: the hazard ratio could not be estimated (no events); biased: groups are defined")


def small_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Five patients, no o-RAIT events, follow-up shorter than 5 years: undefined HRs and intervals."""
    c, y = make_data(
        {
            "A": ([0], 900, 0, {"age_at_diagnosis_years": 30.0, "local_disease_status": "neither"}),
            "B": ([0], 950, 0, {"age_at_diagnosis_years": 50.0, "local_disease_status": "local_persistent"}),
            "C": ([0, 150], 700, 1, {"age_at_diagnosis_years": 40.0, "local_disease_status": "neither"}),
            "D": ([0, 160], 800, 0, {"age_at_diagnosis_years": 35.0, "local_disease_status": "local_persistent"}),
            "E": ([0, 170], 500, 1, {"age_at_diagnosis_years": 45.0, "local_disease_status": "neither"}),
        }
    )
    c["follow_up_months"] = c["pfs_months"]
    c["cumulative_gbq"] = c["patient_id"].map(y.groupby("patient_id")["cumulative_gbq"].max())
    return c, y


def test_small_data_gives_nulls_with_reasons():
    # no o-RAIT events: HRs are not estimable; nothing raises
    out = SensitivityAnalyses().fit(*small_data()).to_dict()
    assert set(out) == SECTIONS
    json.dumps(out, allow_nan=False)
    assert out["landmark"]["analysis"]["hr"] is None
    assert any("no events" in n for n in out["landmark"]["analysis"]["notes"])
    # a separated weighted Cox model is refused, not reported as an HR of 1e16
    assert out["sensitivity"]["iptw"]["hr"] is None
    assert any("no finite maximum" in n for n in out["sensitivity"]["iptw"]["notes"])
    assert out["time_varying_cox"]["models"][0]["hr"] is None
    assert "could not be estimated (no events with m_rait = 0" in out["time_varying_cox"]["interpretation"]
    ni = {r["analysis"]: r for r in out["non_inferiority"]["hr"]}
    assert ni["landmark"]["verdict"] == VERDICT_INCONCLUSIVE and ni["landmark"]["hr_o_vs_m"] is None
    assert ni["landmark"]["notes"]


def test_options_are_validated():
    with pytest.raises(UsageError, match="ni_hr_margin must be > 1"):
        SensitivityAnalyses(AnalysisConfig(ni_hr_margin=0.8))
    with pytest.raises(UsageError, match="landmark_months"):
        SensitivityAnalyses(landmark_months=60.0)
    with pytest.raises(UsageError, match="iptw_estimand"):
        SensitivityAnalyses(iptw_estimand="ATC")
    with pytest.raises(UsageError, match="unknown analysis option"):
        SensitivityAnalyses(landmark=12)


def test_missing_cycles_are_refused(cohort, cycles):
    with pytest.raises(AnalysisError, match="no rows in rait_cycles"):
        counting_process(cohort, cycles.loc[cycles["patient_id"] != "SP0002"])


def test_custom_matching_variant_and_att(cohort, cycles):
    fitted = SensitivityAnalyses(
        matching_variants=(MatchingVariant("age only, 0.2 SD", ("age_at_diagnosis_years",), 0.2, "logit_sd"),),
        iptw_estimand="ATT",
        landmark_sensitivity_months=(),
    ).fit(cohort, cycles)
    out = fitted.to_dict()
    assert fitted.options_dict()["matching_variants"][0]["label"] == "age only, 0.2 SD"
    rows = out["sensitivity"]["matching"]
    assert [r["label"] for r in rows][1:] == ["age only, 0.2 SD"]
    assert out["sensitivity"]["iptw"]["estimand"] == "ATT" and out["sensitivity"]["iptw"]["stabilized"] is False
    assert [r["landmark_months"] for r in out["landmark"]["by_landmark"]] == [12.0]
