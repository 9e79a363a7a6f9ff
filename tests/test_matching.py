"""Propensity-score matching: hand-worked cases, a brute-force O(n^2) matcher, and R (MatchIt).

Reference pairs come from MatchIt 4.7.2's own matcher (``tests/r/stats2_references.R``,
``tests/r/matchit_lalonde.R``; Debian's MatchIt 4.5.1 ignores the caliper and is not used), including
MatchIt's lalonde data, whose many identical covariate patterns exercise its tie rule. Pairs are compared exactly,
propensities and standardised mean differences to 1e-6 relative. The cohort-level comparisons run
on both frozen data sets (fixture ``frozen``: the stand-in, r_reference/stats2_frozen_cohort.json,
and the demo warehouse, r_reference/stats2_demo.json).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rait_registry.analysis.matching import (
    DEFAULT_COVARIATES,
    PropensityMatcher,
    baseline_balance,
    greedy_nearest_neighbor_match,
    nearest_neighbor_pairs,
    standardized_mean_difference,
)
from rait_registry.exceptions import MatchingError, StatisticsWarning

DATA = Path(__file__).parent / "data"
CASES = sorted((DATA / "matching_cases").glob("*.json"))
REF = DATA / "r_reference"


def _load(name: str) -> dict:
    return json.loads((REF / name).read_text())


@pytest.fixture(scope="module")
def ffitted(frozen) -> PropensityMatcher:
    return PropensityMatcher().fit(frozen.cohort)


@pytest.fixture(scope="module")
def fitted(cohort) -> PropensityMatcher:
    return PropensityMatcher().fit(cohort)


# --- brute force ------------------------------------------------------------------------------


def scan_pairs(scores, is_focal, caliper, focal_order):
    """O(n^2) statement of MatchIt's kernel (find_control_vec, ratio 1, no replacement), step by step.

    All units sorted by score, ties in data order; from the focal unit's place the scan steps
    alternately below and above (below first), skipping focal units and used controls; on each
    side it stops at the first control it meets (a candidate if within the caliper and not
    farther than a candidate already found); the nearest candidate wins, the first found on a tie.
    """
    scores = np.asarray(scores, dtype=float)
    n = scores.size
    by_score = np.argsort(scores, kind="stable")
    place = np.argsort(by_score)
    cal = math.inf if caliper is None else caliper
    used = np.zeros(n, dtype=bool)
    out = []
    for f in focal_order:
        lo = hi = int(place[f])
        lo_stop = hi_stop = below = False
        found: list[tuple[float, int]] = []
        while not (lo_stop and hi_stop):
            below = True if hi_stop else False if lo_stop else not below
            if below:
                if lo == 0:
                    lo_stop = True
                    continue
                lo -= 1
                u = int(by_score[lo])
            else:
                if hi == n - 1:
                    hi_stop = True
                    continue
                hi += 1
                u = int(by_score[hi])
            if is_focal[u] or used[u]:
                continue
            d = abs(scores[f] - scores[u])
            if d <= cal and not any(prev < d for prev, _ in found):
                found.append((d, u))
            if below:
                lo_stop = True
            else:
                hi_stop = True
        if found:
            best = min(found, key=lambda t: t[0])  # min keeps the first of equal distances
            used[best[1]] = True
            out.append((int(f), best[1]))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_fast_matcher_equals_step_by_step_scan(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 140))
    focal = rng.random(n) < rng.uniform(0.2, 0.6)
    # coarse grids force exact propensity ties and exact distance ties
    decimals = int(rng.choice([1, 2, 3, 12]))
    scores = np.round(np.where(focal, rng.beta(2, 3, n), rng.beta(2, 2, n)), decimals)
    caliper = [0.05, 0.01, 0.2, None][seed % 4]
    fi = np.flatnonzero(focal)
    order = fi[np.argsort(-scores[fi], kind="stable")] if seed % 2 else rng.permutation(fi)
    pf, pc = nearest_neighbor_pairs(scores, focal, caliper, order)
    assert list(zip(pf.tolist(), pc.tolist(), strict=True)) == scan_pairs(scores, focal, caliper, order)


def test_fast_matcher_equals_scan_with_rounding_ties():
    # distinct low scores whose distances to the focal units round to the same double
    base = 0.01
    cs = [base, math.nextafter(base, 1), math.nextafter(math.nextafter(base, 1), 1), 0.2]
    scores = np.array(cs + [0.05, 0.05, 0.05])
    focal = np.array([False] * 4 + [True] * 3)
    order = np.array([4, 5, 6])
    pf, pc = nearest_neighbor_pairs(scores, focal, 0.05, order)
    assert list(zip(pf.tolist(), pc.tolist(), strict=True)) == scan_pairs(scores, focal, 0.05, order)
    assert pc.tolist() == [2, 1, 0]  # the nearest in sort order first, not the lowest score


def test_greedy_match_by_id_equals_scan_on_random_ids():
    rng = np.random.default_rng(7)
    ids = [f"{chr(rng.integers(65, 123))}{rng.integers(0, 1000)}" for _ in range(300)]
    ids = list(dict.fromkeys(ids))
    focal = rng.random(len(ids)) < 0.35
    scores = np.round(rng.random(len(ids)), 2)
    got = greedy_nearest_neighbor_match(ids, focal, scores, 0.05)
    data_order = sorted(range(len(ids)), key=lambda i: ids[i].encode())  # byte order = MatchIt's data order
    s, f = scores[data_order], focal[data_order]
    fi = np.flatnonzero(f)
    exp = scan_pairs(s, f, 0.05, fi[np.argsort(-s[fi], kind="stable")])
    assert list(zip(got["focal_id"], got["control_id"], strict=True)) == [
        (ids[data_order[a]], ids[data_order[b]]) for a, b in exp
    ]
    assert (got["distance"] <= 0.05).all()


def test_matcher_is_o_n_log_n_on_many_ties():
    # 200k units on 50 distinct scores: the union-find never walks a block control by control
    rng = np.random.default_rng(3)
    n = 200_000
    focal = rng.random(n) < 0.3
    scores = rng.integers(0, 50, n) / 50.0
    fi = np.flatnonzero(focal)
    pf, pc = nearest_neighbor_pairs(scores, focal, 0.05, fi[np.argsort(-scores[fi], kind="stable")])
    assert pf.size == fi.size and np.unique(pc).size == pc.size
    assert np.abs(scores[pf] - scores[pc]).max() <= 0.05


# --- hand-worked cases --------------------------------------------------------------------------


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_hand_worked_case(path):
    case = json.loads(path.read_text())
    units = case["units"]
    got = greedy_nearest_neighbor_match(
        [u["patient_id"] for u in units],
        [u["group"] == "o-RAIT" for u in units],
        [u["propensity"] for u in units],
        case["caliper"],
    )
    assert [[a, b] for a, b in zip(got["focal_id"], got["control_id"], strict=True)] == case["expected_pairs"]
    # MatchIt agrees with the hand-worked answer
    ref = _load("stats2_matching_cases.json")["cases"][path.name]
    assert ref["pairs"] == case["expected_pairs"]


def test_hand_worked_cases_present():
    assert len(CASES) >= 9


# --- MatchIt's own lalonde data: many controls of equal propensity -------------------------------

LALONDE_COVARIATES = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]


@pytest.mark.parametrize("scale", ["propensity", "logit_sd"])
def test_lalonde_pairs_equal_matchit(scale):
    """MatchIt 4.7.2 on lalonde (tests/r/matchit_lalonde.R): every pair, in the order formed.

    Before the tie rule was MatchIt's (controls of equal propensity by patient_id), 12 of the 113
    pairs on the propensity scale differed: lalonde has many identical covariate patterns.
    """
    run = _load("matchit_lalonde.json")["matchings"][scale]
    d = pd.read_csv(DATA / "lalonde.csv", float_precision="round_trip", dtype={"treat": str})
    m = PropensityMatcher(
        covariates=LALONDE_COVARIATES,
        caliper=run["caliper"],
        caliper_scale=scale,
        focal_group="1",
        control_group="0",
    ).fit(d, id_col="id", group_col="treat")
    out = m.to_dict()
    assert out["caliper_width"] == pytest.approx(run["caliper_width"], rel=1e-6)
    # MatchIt's glm stops at its default tolerance (1e-8), ours at 1e-12: the scores agree to ~1e-8
    p = m.propensity_.to_numpy()
    score = p if scale == "propensity" else np.log(p / (1 - p))
    np.testing.assert_allclose(score, run["distance"], rtol=1e-6, atol=1e-7)
    assert out["n_pairs"] == run["n_pairs"]
    assert out["pairs"] == run["pairs"]
    # the data exercise the tie rule: pairs whose control shares its score with another control
    control_scores = pd.Series(score, index=m.propensity_.index)[d.set_index("id")["treat"] == "0"]
    shared = control_scores.duplicated(keep=False)
    assert sum(bool(shared[c]) for _, c in out["pairs"]) >= 12


# --- the frozen cohort against R ------------------------------------------------------------------


def test_frozen_cohort_matches_matchit(frozen, ffitted):
    ref = frozen.ref("stats2")
    p_ref = pd.Series(ref["propensity"]["p"], index=ref["propensity"]["patient_id"])
    assert len(p_ref) == len(frozen.cohort)
    np.testing.assert_allclose(ffitted.propensity_.loc[p_ref.index], p_ref, rtol=1e-6)
    out = ffitted.to_dict()
    assert out["pairs"] == ref["matching"]["pairs"]
    assert out["n_pairs"] == ref["matching"]["n_pairs"]
    for mine, theirs in zip(out["balance"], ref["matching"]["balance"], strict=True):
        assert mine["covariate"] == theirs["covariate"]
        assert mine["smd_before"] == pytest.approx(theirs["smd_before"], rel=1e-6, abs=1e-12)
        assert mine["smd_after"] == pytest.approx(theirs["smd_after"], rel=1e-6, abs=1e-12)


def test_baseline_balance_of_every_characteristic_matches_r(frozen, ffitted):
    """SMD of every Table 1 characteristic (level) before and after matching (tests/r/stats3_references.R,
    MatchIt's definition; checked there against summary(matchit, addlvariables = ...))."""
    ref = frozen.ref("stats3")["balance"]
    got = baseline_balance(frozen.cohort, ffitted.matched_cohort_["patient_id"], matching_covariates=DEFAULT_COVARIATES)
    assert len(got) == len(ref)
    for mine, theirs in zip(got.to_dict("records"), ref, strict=True):
        assert (mine["covariate"], mine["level"]) == (theirs["covariate"], theirs.get("level"))
        assert mine["smd_before"] == pytest.approx(theirs["smd_before"], rel=1e-9, abs=1e-12)
        assert mine["smd_after"] == pytest.approx(theirs["smd_after"], rel=1e-9, abs=1e-12)
    assert set(got["covariate"]) >= {"sex", "histology", "max_tumor_size_cm", "t_stage_group", "n_stage_max"}
    flagged = got["smd_after"].abs() > 0.1
    assert (got["imbalanced_after"] == flagged).all()
    assert got.loc[got["covariate"] == "local_disease_status", "matching_covariate"].all()
    assert not got.loc[got["covariate"] == "sex", "matching_covariate"].any()


def test_baseline_balance_treats_unknown_as_missing(cohort, fitted):
    c = cohort.copy()
    c.loc[c.index[:3], "local_disease_status"] = "unknown"  # contract revision 2: unknown = missing
    got = baseline_balance(c, fitted.matched_cohort_["patient_id"]).set_index(["covariate", "level"])
    local = got.loc["local_disease_status"]
    assert list(local.index) == ["neither", "local_recurrence", "local_persistent"]
    assert (local["n_missing_before"] == 3).all()
    ata = got.loc["ata_risk"]
    assert "unknown" not in ata.index
    # a column==value matching covariate marks its column as matched on
    flagged = baseline_balance(cohort, fitted.matched_cohort_["patient_id"], matching_covariates=["sex==F"])
    assert set(flagged.loc[flagged["matching_covariate"], "covariate"]) == {"sex"}


def test_model_coefficients_match_glm(frozen, ffitted):
    coef = frozen.ref("stats2")["propensity"]["coef"]
    np.testing.assert_allclose(np.asarray(ffitted.model_.params), list(coef.values()), rtol=1e-6)


@pytest.mark.parametrize("name", ["stats2_rossi.json", "stats2_rossi_logit_sd.json"])
def test_rossi_matches_matchit(name):
    ref = _load(name)
    mc = ref["config"]["matching"]
    d = pd.read_csv(DATA / "lifelines_rossi.csv", dtype={"fin": str})
    m = PropensityMatcher(
        covariates=mc["covariates"],
        caliper=mc["caliper"],
        caliper_scale=mc["caliper_scale"],
        focal_group="1",
        control_group="0",
    ).fit(d, id_col="id", group_col="fin")
    out = m.to_dict()
    assert out["caliper_width"] == pytest.approx(ref["matching"]["caliper_width"], rel=1e-9)
    assert out["pairs"] == ref["matching"]["pairs"]
    for mine, theirs in zip(out["balance"], ref["matching"]["balance"], strict=True):
        assert mine["smd_before"] == pytest.approx(theirs["smd_before"], rel=1e-6)
        assert mine["smd_after"] == pytest.approx(theirs["smd_after"], rel=1e-6)


# --- behaviour ------------------------------------------------------------------------------------


def test_contract_shape(fitted, cohort):
    out = fitted.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["covariates"] == list(DEFAULT_COVARIATES)
    assert out["caliper"] == 0.05 and out["caliper_scale"] == "propensity"
    assert out["n_pairs"] == len(out["pairs"]) > 0
    groups = cohort.set_index("patient_id")["rait_group"]
    assert all(groups[o] == "o-RAIT" and groups[m] == "m-RAIT" for o, m in out["pairs"])
    ids = [i for pair in out["pairs"] for i in pair]
    assert len(ids) == len(set(ids))  # without replacement
    assert out["n_unmatched"]["o-RAIT"] == (groups == "o-RAIT").sum() - out["n_pairs"]
    assert sorted(out["unmatched"]["o-RAIT"] + [o for o, _ in out["pairs"]]) == sorted(groups.index[groups == "o-RAIT"])
    assert [b["covariate"] for b in out["balance"]] == list(DEFAULT_COVARIATES)
    # every pair lies within the caliper; pairs formed in descending o-RAIT propensity
    assert (fitted.pairs_["distance"] <= 0.05).all()
    assert fitted.pairs_["o_rait_propensity"].is_monotonic_decreasing
    mc = fitted.matched_cohort_
    assert len(mc) == 2 * out["n_pairs"] and set(mc.columns) >= set(cohort.columns) | {"pair_id", "propensity_score"}
    assert (
        mc.groupby("pair_id")["rait_group"].apply(sorted)
        == pd.Series([["m-RAIT", "o-RAIT"]] * out["n_pairs"], index=range(1, out["n_pairs"] + 1))
    ).all()
    json.dumps(out, allow_nan=False)  # JSON-ready


def test_balance_improves_on_frozen_cohort(fitted):
    b = fitted.balance_.set_index("covariate")
    assert (b["smd_after"].abs() < b["smd_before"].abs()).all()


def test_row_order_does_not_change_pairs(cohort, fitted):
    shuffled = cohort.sample(frac=1.0, random_state=3)
    assert PropensityMatcher().fit(shuffled).to_dict()["pairs"] == fitted.to_dict()["pairs"]


def test_identical_covariates_give_identical_propensities():
    rng = np.random.default_rng(11)
    n = 200
    c = pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in range(n)],
            "rait_group": np.where(rng.random(n) < 0.4, "o-RAIT", "m-RAIT"),
            "age_at_diagnosis_years": rng.choice([30.0, 45.5, 61.2], n),
            "local_disease_status": rng.choice(["neither", "local_persistent", "local_recurrence"], n),
            "follow_up_months": rng.choice([24.0, 60.25], n),
        }
    )
    m = PropensityMatcher().fit(c)
    key = c.set_index("patient_id")[["age_at_diagnosis_years", "local_disease_status", "follow_up_months"]]
    key["local_disease_status"] = key["local_disease_status"] == "local_persistent"
    per_pattern = m.propensity_.groupby([key[col] for col in key.columns]).nunique()
    assert (per_pattern == 1).all()  # bit-identical within a covariate pattern
    assert m.to_dict()["n_pairs"] > 0


def test_smd_formula_matches_matchit_definitions():
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 12.0])
    focal = np.array([True, True, True, False, False, False])
    # continuous: (mean_f - mean_c) / sd_focal (n - 1)
    assert standardized_mean_difference(x, focal) == pytest.approx((2.0 - 26 / 3) / 1.0)
    b = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    # binary: sd = sqrt(p (1 - p)) of the focal group
    p = 1 / 3
    assert standardized_mean_difference(b, focal) == pytest.approx((p - 2 / 3) / math.sqrt(p * (1 - p)))
    # after matching: means over selected units, the same (focal, before) denominator
    sel = np.array([True, True, False, True, False, True])
    assert standardized_mean_difference(x, focal, sel) == pytest.approx((1.5 - 8.0) / 1.0)
    # focal SD zero -> pooled SD (proportional), as MatchIt
    z = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    pooled = math.sqrt((0 + 2 * (1 - 2 / 3)) / 6)
    assert standardized_mean_difference(z, focal) == pytest.approx((0 - 2 / 3) / pooled)
    # no difference: the raw difference (0), not a division
    assert standardized_mean_difference(np.ones(6), focal) == 0.0


def test_caliper_none_pairs_every_focal_unit_when_enough_controls(cohort):
    m = PropensityMatcher(caliper=None).fit(cohort)
    assert m.to_dict()["n_pairs"] == int((cohort["rait_group"] == "o-RAIT").sum())


def test_random_order_is_seeded_and_respects_the_caliper(cohort):
    a = PropensityMatcher(order="random", random_state=5).fit(cohort)
    b = PropensityMatcher(order="random", random_state=5).fit(cohort)
    assert a.to_dict()["pairs"] == b.to_dict()["pairs"]
    assert (a.pairs_["distance"] <= 0.05).all()


def test_categorical_covariate_and_indicator_syntax(cohort):
    m = PropensityMatcher(covariates=["age_at_diagnosis_years", "sex", "metastasis_timing==synchronous"]).fit(cohort)
    names = [b["covariate"] for b in m.to_dict()["balance"]]
    assert names == ["age_at_diagnosis_years", "sex=F", "sex=M", "metastasis_timing==synchronous"]
    assert m.model_columns_ == ["age_at_diagnosis_years", "sex=M", "metastasis_timing==synchronous"]


def test_errors_say_what_to_do(cohort):
    with pytest.raises(MatchingError, match="missing for 1 patient"):
        c = cohort.copy()
        c.loc[c.index[0], "age_at_diagnosis_years"] = np.nan
        PropensityMatcher().fit(c)
    with pytest.raises(MatchingError, match="lacks"):
        PropensityMatcher(covariates=["no_such_column"]).fit(cohort)
    with pytest.raises(MatchingError, match="more than once"):
        PropensityMatcher().fit(pd.concat([cohort, cohort.iloc[:1]]))
    with pytest.raises(MatchingError, match="other than"):
        c = cohort.copy()
        c.loc[c.index[0], "rait_group"] = "x-RAIT"
        PropensityMatcher().fit(c)
    with pytest.raises(MatchingError, match="no m-RAIT"):
        PropensityMatcher().fit(cohort[cohort["rait_group"] == "o-RAIT"])
    with pytest.raises(MatchingError, match="caliper_scale"):
        PropensityMatcher(caliper_scale="sd")
    with pytest.raises(MatchingError, match="fit"):
        PropensityMatcher().to_dict()


def test_warns_when_fewer_controls(cohort):
    few = pd.concat([cohort[cohort["rait_group"] == "o-RAIT"], cohort[cohort["rait_group"] == "m-RAIT"].head(10)])
    with pytest.warns(StatisticsWarning, match="fewer m-RAIT"):
        m = PropensityMatcher().fit(few)
    assert m.to_dict()["n_pairs"] <= 10
