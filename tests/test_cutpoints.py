"""Maximally selected log-rank statistics against R maxstat 0.7
(``maxstat.test(Surv(t, e) ~ x, smethod = "LogRank", pmethod = "Lau94", minprop = 0.1,
maxprop = 0.9)``), references made by ``tests/r/stats2_references.R``. Tolerance 1e-6 relative.
The cohort-level comparison runs on both frozen data sets (fixture ``frozen``: the stand-in,
r_reference/stats2_frozen_cohort.json, and the demo warehouse, r_reference/stats2_demo.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rait_registry.analysis.cutpoints import (
    DEFAULT_VARIABLES,
    CutpointScan,
    MaxstatCutpoint,
    logrank_scores,
    p_lausen94,
)
from rait_registry.exceptions import AnalysisError, InsufficientDataError

DATA = Path(__file__).parent / "data"
REF = DATA / "r_reference"


def _load(name: str) -> dict:
    return json.loads((REF / name).read_text())


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return pd.read_csv(DATA / "lifelines_rossi.csv")


def _assert_row(est: MaxstatCutpoint, ref: dict) -> None:
    assert est.cutpoint_ == pytest.approx(ref["cutpoint"], rel=1e-12)
    assert est.statistic_ == pytest.approx(ref["statistic"], rel=1e-6)
    assert est.p_value_ == pytest.approx(ref["p_value"], rel=1e-6)
    np.testing.assert_allclose(est.cuts_["cutpoint"], np.atleast_1d(ref["cuts"]), rtol=1e-12)
    np.testing.assert_allclose(est.cuts_["statistic"], np.atleast_1d(ref["stats"]), rtol=1e-6)


def test_frozen_cohort_matches_maxstat(frozen):
    cohort = frozen.cohort
    ref = {r["variable"]: r for r in frozen.ref("stats2")["cutpoints"]}
    for var in DEFAULT_VARIABLES:
        est = MaxstatCutpoint().fit(cohort["pfs_months"], cohort["pfs_event"], cohort[var])
        _assert_row(est, ref[var])
    rows = CutpointScan().fit(cohort).to_dict()
    assert [r["variable"] for r in rows] == list(DEFAULT_VARIABLES)
    for r in rows:
        assert set(r) >= {"variable", "cutpoint", "statistic", "p_value", "method"}
        assert r["p_value"] == pytest.approx(ref[r["variable"]]["p_value"], rel=1e-6)
    json.dumps(rows, allow_nan=False)


@pytest.mark.parametrize("var", ["age", "prio", "noise_x"])
def test_rossi_matches_maxstat(rossi, var):
    ref = {r["variable"]: r for r in _load("stats2_rossi.json")["cutpoints"]}[var]
    est = MaxstatCutpoint().fit(rossi["week"], rossi["arrest"], rossi[var])
    _assert_row(est, ref)


def test_lau94_p_value_is_not_capped(rossi):
    # noise_x is unrelated to the outcome: the Lau94 bound exceeds 1, and R reports it as is
    ref = {r["variable"]: r for r in _load("stats2_rossi.json")["cutpoints"]}["noise_x"]
    assert ref["p_value"] > 1
    est = MaxstatCutpoint().fit(rossi["week"], rossi["arrest"], rossi["noise_x"])
    assert est.p_value_ == pytest.approx(ref["p_value"], rel=1e-6) and est.p_value_ > 1


def test_logrank_scores_match_exactranktests(rossi):
    ref = _load("stats2_rossi.json")["logrank_scores"]
    d = rossi.set_index("id").loc[ref["id"]]
    np.testing.assert_allclose(logrank_scores(d["week"], d["arrest"]), ref["scores"], rtol=1e-9, atol=1e-12)


def test_logrank_scores_with_ties_by_hand():
    # times 3,1,2,2,2,5; events 1,1,1,0,1,0. Ranks with ties at max: 5,1,4,4,4,6 (N = 6).
    # increments d/(N - r + 1) in time order: 1/6 (t=1), 1/3, 0, 1/3 (t=2), 1/2 (t=3), 0 (t=5)
    # cumulative at each patient's rank: t=3 -> 4/3, t=1 -> 1/6, t=2 -> 5/6, t=5 -> 4/3
    s = logrank_scores([3, 1, 2, 2, 2, 5], [1, 1, 1, 0, 1, 0])
    np.testing.assert_allclose(s, [1 - 4 / 3, 1 - 1 / 6, 1 - 5 / 6, 0 - 5 / 6, 1 - 5 / 6, 0 - 4 / 3])


def test_cutpoint_defines_lower_group_and_respects_minprop():
    rng = np.random.default_rng(2)
    n = 50
    x = np.round(rng.uniform(20, 70, n), 0)
    t = rng.exponential(50, n)
    e = (rng.random(n) < 0.6).astype(int)
    est = MaxstatCutpoint().fit(t, e, x)
    # every candidate leaves between floor(0.1 N) and floor(0.9 N) patients in the lower group
    assert est.cuts_["n_below"].between(5, 45).all()
    assert all((x <= c).sum() == m for c, m in zip(est.cuts_["cutpoint"], est.cuts_["n_below"], strict=True))
    # the statistic is the maximum over candidates; the cut-point is the first maximiser
    assert est.statistic_ == est.cuts_["statistic"].max()
    assert est.cutpoint_ == est.cuts_["cutpoint"][est.cuts_["statistic"].idxmax()]
    # invariant to row order
    perm = rng.permutation(n)
    other = MaxstatCutpoint().fit(t[perm], e[perm], x[perm])
    assert other.statistic_ == pytest.approx(est.statistic_, rel=1e-12) and other.cutpoint_ == est.cutpoint_


def test_p_lausen94_single_cut_is_two_sided_normal():
    from scipy.stats import norm

    assert p_lausen94(1.96, 100, np.array([50])) == pytest.approx(2 * norm.sf(1.96), rel=1e-9)


def test_missing_values_are_dropped(cohort):
    assert cohort["max_tumor_size_cm"].isna().any()
    est = MaxstatCutpoint().fit(cohort["pfs_months"], cohort["pfs_event"], cohort["max_tumor_size_cm"])
    assert est.n_ == int(cohort["max_tumor_size_cm"].notna().sum())


def test_unscannable_variables_give_null_rows_with_reason():
    c = pd.DataFrame(
        {"pfs_months": [1.0, 2, 3, 4, 5, 6], "pfs_event": [1, 0, 1, 0, 1, 0], "x": [1.0] * 6, "y": [1.0, 2, 3, 4, 5, 6]}
    )
    with pytest.raises(InsufficientDataError, match="no cut-point"):
        MaxstatCutpoint().fit(c["pfs_months"], c["pfs_event"], c["x"])
    rows = CutpointScan(["x", "y"]).fit(c.assign(pfs_event=0)).to_dict()
    assert rows[0]["cutpoint"] is None and "no cut-point" in rows[0]["reason"]
    assert rows[1]["statistic"] is None and "no events" in rows[1]["reason"]
    with pytest.raises(AnalysisError, match="lacks column"):
        CutpointScan(["nope"]).fit(c)
    with pytest.raises(AnalysisError, match="minprop"):
        MaxstatCutpoint(minprop=0.9, maxprop=0.1)
