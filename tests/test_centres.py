"""Multi-centre registries: the centres analysis against R, the centre in the matching, ``synth --centres``.

* ``tests/data/centres_cohort.csv`` is the analysis cohort of ``rait-registry synth --patients 400
  --seed 3 --centres 4`` after a refresh (293 eligible patients in 4 centres; centre C01 has no
  o-RAIT progression, so its HR is not estimable). ``tests/r/centres_references.R`` computed R
  survival's ``survdiff(... + strata(center_id))``, ``coxph(... + strata(center_id))``, each
  centre's ``coxph`` and metafor's ``rma(method = "DL" / "FE")`` on it
  (``tests/data/r_reference/centres.json``), plus a meta-analysis of fixed log HRs whose Q exceeds
  its df (tau-squared > 0).
* A registry built with ``synth --centres 4`` goes through refresh, analyze and report.
"""

from __future__ import annotations

import copy
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from rait_registry.analysis import AnalysisConfig, PropensityMatcher, analyze
from rait_registry.analysis.centres import (
    ONE_CENTRE,
    UNKNOWN_CENTRE,
    CentreAnalysis,
    heterogeneity,
    matching_options,
)
from rait_registry.analysis.wording import forbidden_words
from rait_registry.exceptions import AnalysisError
from rait_registry.synth import simulate

from .conftest import DATA, run_cli
from .frozen_data import read_frozen_csv

REFERENCE = json.loads((DATA / "r_reference" / "centres.json").read_text())
#: R and Python fit the same likelihoods to 1e-12; the comparisons allow for the last digits.
RTOL = 1e-8


@pytest.fixture(scope="module")
def multi_centre():
    return pd.read_csv(DATA / "centres_cohort.csv", float_precision="round_trip")


@pytest.fixture(scope="module")
def fitted(multi_centre):
    return CentreAnalysis().fit(multi_centre)


def test_stratified_logrank_equals_r_survdiff(fitted):
    ref = REFERENCE["logrank"]
    assert fitted.logrank_["df"] == ref["df"] == 1
    assert fitted.logrank_["chi2"] == pytest.approx(ref["chi2"], rel=RTOL)
    assert fitted.logrank_["p"] == pytest.approx(ref["p"], rel=RTOL)


def test_cox_stratified_by_centre_equals_r_coxph(fitted):
    ref = REFERENCE["cox"]
    assert fitted.cox_["strata"] == "center_id" and fitted.cox_["n_strata"] == 4
    assert fitted.cox_["log_hr"] == pytest.approx(ref["log_hr"], rel=RTOL)
    assert fitted.cox_["se_log_hr"] == pytest.approx(ref["se_log_hr"], rel=RTOL)
    assert fitted.cox_["p"] == pytest.approx(ref["p"], rel=1e-6)


def test_per_centre_hazard_ratios_equal_r_and_say_why_one_is_missing(fitted):
    got = fitted.centres_.set_index("center_id")
    for ref in REFERENCE["centres"]:
        row = got.loc[ref["center_id"]]
        assert (row["n"], row["events"]) == (ref["n"], ref["events"])
        if ref["log_hr"] is None:
            assert pd.isna(row["log_hr"]) and "no events in group 'o-RAIT'" in row["reason"]
        else:
            assert row["log_hr"] == pytest.approx(ref["log_hr"], rel=RTOL)
            assert row["se_log_hr"] == pytest.approx(ref["se_log_hr"], rel=RTOL)
            assert row["reason"] is None


def _check_meta(got: dict, ref: dict) -> None:
    assert (got["n_centres"], got["df"]) == (ref["n_centres"], ref["df"])
    for key in ("q", "p", "i2", "tau2"):
        assert got[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key
    for model in ("fixed", "random"):
        for key in ("log_hr", "se_log_hr"):
            assert got[model][key] == pytest.approx(ref[model][key], rel=1e-9), (model, key)
        assert got[model]["hr"] == pytest.approx(math.exp(ref[model]["log_hr"]), rel=1e-9)


def test_heterogeneity_equals_metafor_with_q_below_its_df(fitted):
    # Q < df: metafor truncates I-squared and tau-squared at 0 and the random-effects estimate is the fixed one
    _check_meta(fitted.heterogeneity_, REFERENCE["heterogeneity"])
    assert fitted.heterogeneity_["centres"] == ["C02", "C03", "C04"]


def test_heterogeneity_equals_metafor_when_tau2_is_positive():
    ref = REFERENCE["heterogeneity_toy"]
    got = heterogeneity(np.array(ref["log_hr"]), np.array(ref["se_log_hr"]), list("ABCD"))
    assert got["tau2"] > 0.5 and got["random"]["se_log_hr"] > 2 * got["fixed"]["se_log_hr"]
    _check_meta(got, ref)


def test_the_heterogeneity_sentence_follows_i2(fitted):
    low = fitted.sentences()["heterogeneity"]
    assert "I-squared is 0%" in low and "does not rule out differences between centres" in low
    ref = REFERENCE["heterogeneity_toy"]
    high = copy.copy(fitted)
    high.heterogeneity_ = heterogeneity(np.array(ref["log_hr"]), np.array(ref["se_log_hr"]), list("ABCD"))
    text = high.sentences()["heterogeneity"]
    assert "I-squared is 82%" in text and "vary more than chance alone readily explains" in text
    assert forbidden_words(text) == []


def test_heterogeneity_is_skipped_below_two_centres_with_events(multi_centre):
    # only C04 keeps its events: one centre with events, no heterogeneity, the stratified model still runs
    cohort = multi_centre.assign(pfs_event=np.where(multi_centre["center_id"] == "C04", multi_centre["pfs_event"], 0))
    ca = CentreAnalysis().fit(cohort)
    assert ca.heterogeneity_ == {
        "skipped": True,
        "reason": "1 centre(s) with progression events: the heterogeneity across centres needs at least 2",
    }
    assert ca.cox_["hr"] is not None and ca.logrank_["p"] is not None
    assert "Heterogeneity across centres not assessed" in ca.sentences()["heterogeneity"]


def test_one_centre_is_skipped_with_the_reason():
    cohort = read_frozen_csv("frozen_demo", "analysis_cohort").assign(center_id="C01")
    with pytest.raises(AnalysisError, match=ONE_CENTRE):
        CentreAnalysis().fit(cohort)
    cycles = read_frozen_csv("frozen_demo", "rait_cycles")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analyze(cohort, cycles, AnalysisConfig(sensitivity_analyses=False))
    assert result.results["centres"] == {"skipped": True, "reason": "one centre: stratified analyses not applicable"}
    assert "centres_hazard_ratios" not in result.tables


def test_a_missing_centre_is_the_stratum_unknown(multi_centre):
    cohort = multi_centre.copy()
    cohort.loc[cohort.index[:25], "center_id"] = None
    ca = CentreAnalysis().fit(cohort)
    assert ca.n_unknown_ == 25
    assert UNKNOWN_CENTRE in set(ca.centres_["center_id"])
    assert "25 patient(s) without a centre form the stratum 'unknown'" in ca.sentences()["stratified"]


def test_sentences_and_tables_follow_the_wording_rules(fitted):
    section = fitted.to_dict()
    text = json.dumps(section) + " ".join(f.to_csv() for f in fitted.tables_.values())
    assert forbidden_words(text) == []
    assert "immortal-time bias" in section["sentences"]["stratified"]
    assert "does not rule out differences between centres" in section["sentences"]["heterogeneity"]
    hr = fitted.tables_["centres_hazard_ratios"]
    assert list(hr["center_id"]) == ["C01", "C02", "C03", "C04", "stratified"]
    t1 = fitted.tables_["centres_table1"]
    assert list(t1.columns[4:]) == ["overall", "C01", "C02", "C03", "C04"]
    assert t1.loc[t1["variable"] == "n", ["C01", "C04"]].to_numpy().tolist() == [["28", "153"]]


# ---------------------------------------------------------------------------------- the centre in the matching


def test_matching_within_centre_pairs_only_inside_a_centre(multi_centre):
    cohort = multi_centre
    matcher = PropensityMatcher(**matching_options(AnalysisConfig(centre_in_matching="within_centre"))).fit(cohort)
    centre = cohort.set_index("patient_id")["center_id"]
    pairs = matcher.pairs_
    assert len(pairs) > 40
    assert (
        centre.loc[pairs["o_rait_patient_id"]].to_numpy() == centre.loc[pairs["m_rait_patient_id"]].to_numpy()
    ).all()
    assert "exact = ~center_id" in matcher.to_dict()["method"]
    # one stratum is no restriction: the pairs are those of the plain matching, in the same order
    one = cohort.assign(center_id="C01")
    plain = PropensityMatcher().fit(one).pairs_
    exact = PropensityMatcher(exact="center_id").fit(one).pairs_
    pd.testing.assert_frame_equal(plain, exact)
    # the plain matching pairs across centres here, so the restriction is real
    across = PropensityMatcher().fit(cohort).pairs_
    assert (
        centre.loc[across["o_rait_patient_id"]].to_numpy() != centre.loc[across["m_rait_patient_id"]].to_numpy()
    ).any()


def test_centre_as_a_term_of_the_propensity_model(multi_centre):
    options = matching_options(AnalysisConfig(centre_in_matching="propensity"))
    assert options["exact"] is None and options["covariates"][-1] == "center_id"
    matcher = PropensityMatcher(**options).fit(multi_centre)
    assert [c for c in matcher.model_columns_ if c.startswith("center_id=")] == [
        "center_id=C02",
        "center_id=C03",
        "center_id=C04",
    ]
    assert matching_options(AnalysisConfig()) == {"covariates": AnalysisConfig().matching_covariates, "exact": None}


# ---------------------------------------------------------------------------------- synth --centres


def test_one_centre_draws_from_its_own_stream_and_moves_nothing_else():
    default, one = simulate(300, seed=5), simulate(300, seed=5, centres=1)
    assert set(default["patients"]["center_id"]) == {"C01", "C02", "C03"}
    assert set(one["patients"]["center_id"]) == {"C01"}
    for table in default:
        a, b = default[table], one[table]
        if table == "patients":
            a, b = a.drop(columns="center_id"), b.drop(columns="center_id")
        pd.testing.assert_frame_equal(a, b)


def test_centre_effects_differ_between_centres_and_are_reproducible():
    tables = simulate(3000, seed=2, centres=4)
    again = simulate(3000, seed=2, centres=4)
    pd.testing.assert_frame_equal(tables["patients"], again["patients"])
    patients = tables["patients"]
    assert set(patients["center_id"]) == {"C01", "C02", "C03", "C04"}
    cycles = tables["rait_administrations"].groupby("patient_id").size()
    repeated = (
        patients.set_index("patient_id")["center_id"]
        .to_frame()
        .assign(repeated=cycles.reindex(patients["patient_id"]).fillna(0).to_numpy() > 1)
    )
    share = repeated.groupby("center_id")["repeated"].mean()
    assert share.max() - share.min() > 0.1, share  # RAIT practice differs between centres


def test_synth_refuses_a_bad_number_of_centres(tmp_path):
    proc = run_cli("synth", "--patients", "10", "--centres", "0", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "--centres" in proc.stderr


# ---------------------------------------------------------------------------------- end to end


def test_a_multi_centre_registry_from_synth_to_report(tmp_path):
    extract, warehouse, out = tmp_path / "extract", tmp_path / "registry.duckdb", tmp_path / "out"
    run_cli("synth", "--patients", "300", "--seed", "3", "--centres", "4", "--out", str(extract), check=True)
    run_cli("refresh", "--extract", str(extract), "--warehouse", str(warehouse), check=True)
    run_cli("analyze", "--warehouse", str(warehouse), "--out", str(out), check=True)
    section = json.loads((out / "results.json").read_text())["centres"]
    assert section["n_centres"] == 4 and section["n_unknown"] == 0
    assert section["n"] > 150 and section["events"] > 10
    assert 0 < section["cox_stratified"]["hr"] < 100 and 0 <= section["logrank_stratified"]["p"] <= 1
    assert not section["heterogeneity"].get("skipped"), section["heterogeneity"]
    assert 0 <= section["heterogeneity"]["i2"] <= 1
    hr = pd.read_csv(out / "tables" / "centres_hazard_ratios.csv")
    assert list(hr["center_id"]) == ["C01", "C02", "C03", "C04", "stratified"]
    run_cli("report", "--warehouse", str(warehouse), "--out", str(out), check=True)
    page = (out / "report.html").read_text()
    assert 'id="table-centres"' in page and 'id="table-centres_table1"' in page
    assert 'id="fig-fig_forest_centres"' in page
    assert (out / "tables" / "paper_centres_table1.csv").exists()
    assert forbidden_words(json.dumps(section)) == []
