"""Cohorts too small for an analysis: that analysis is skipped with its reason, the rest runs.

In-process on subsets of the frozen demo cohort (no eligible patient, one patient, one group, no
progression event), and end to end on a real 3-patient registry (synth -> refresh -> analyze ->
report), where the logistic model cannot be fitted.
"""

from __future__ import annotations

import json
import re
import warnings

import jsonschema
import pytest

from rait_registry.analysis import analyze, validate_results
from rait_registry.analysis.sensitivity import SECTIONS as SENSITIVITY_SECTIONS
from rait_registry.analysis.skips import is_skipped

from .conftest import run_cli
from .frozen_data import read_frozen_csv
from .test_operator import ANSI, STAMP, run_in_pty

PAPER_SECTIONS = ("table1", "table2", "logistic", "cox_risk_factors", "matching", "survival", "cutpoints", "centres")
#: Sections that need progression events but not both groups (the prospective trial's design).
EVENT_ONLY_SECTIONS = ("cutpoints", "trial_design")
ALL_SECTIONS = PAPER_SECTIONS + SENSITIVITY_SECTIONS


@pytest.fixture(scope="module")
def demo():
    return read_frozen_csv("frozen_demo", "analysis_cohort"), read_frozen_csv("frozen_demo", "rait_cycles")


def _run(cohort, cycles):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(cohort, cycles[cycles["patient_id"].isin(cohort["patient_id"])])


CASES = {
    # name: (subset, {skipped section: words of its reason}, sections that must run)
    "no eligible patient": (
        lambda c: c.head(0),
        dict.fromkeys(ALL_SECTIONS + ("trial_design",), "no eligible patient"),
        (),
    ),
    "one patient": (
        lambda c: c[(c["rait_group"] == "o-RAIT") & (c["pfs_event"] == 0)].head(1),
        {
            **dict.fromkeys(ALL_SECTIONS, "needs patients in both groups; the cohort has 1 o-RAIT and 0 m-RAIT"),
            **dict.fromkeys(EVENT_ONLY_SECTIONS, "no progression event among the 1 eligible patients"),
        },
        (),
    ),
    "one group": (
        lambda c: c[c["rait_group"] == "o-RAIT"],
        dict.fromkeys(
            (
                "table1",
                "table2",
                "logistic",
                "cox_risk_factors",
                "matching",
                "survival",
                "centres",
                *SENSITIVITY_SECTIONS,
            ),
            "the cohort has 38 o-RAIT and 0 m-RAIT",
        ),
        EVENT_ONLY_SECTIONS,
    ),
    "no progression event": (
        lambda c: c[c["pfs_event"] == 0],
        {
            **dict.fromkeys(
                ("logistic", "cox_risk_factors", *EVENT_ONLY_SECTIONS, *SENSITIVITY_SECTIONS),
                "no progression event among the 93",
            ),
            "centres": "the cohort has no center_id column",  # the frozen demo predates it
        },
        ("table1", "table2", "matching", "survival"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_small_cohort_skips_what_it_cannot_support_and_runs_the_rest(demo, case):
    subset, expected, ran = CASES[case]
    cohort, cycles = demo
    result = _run(subset(cohort), cycles)  # analyze validates results.json against the schema
    assert set(result.skipped) == set(expected)
    for name, words in expected.items():
        assert result.results[name] == {"skipped": True, "reason": result.skipped[name]}
        assert words in result.skipped[name], (name, result.skipped[name])
        assert getattr(result, name, None) is None or name in SENSITIVITY_SECTIONS
    for name in ran:
        assert not is_skipped(result.results[name]) and result.results[name], name
    assert result.results["cohort"]["n_eligible"] == len(subset(cohort))


def test_the_matched_survival_analysis_is_skipped_with_the_matching(demo, monkeypatch):
    from rait_registry.analysis import run
    from rait_registry.exceptions import MatchingError

    def refuse(self, cohort):
        raise MatchingError("no pair within the caliper; widen --caliper")

    monkeypatch.setattr(run.PropensityMatcher, "fit", refuse)
    result = _run(*demo)
    assert result.results["matching"] == {"skipped": True, "reason": "no pair within the caliper; widen --caliper"}
    assert result.results["survival"]["matched"] == {
        "skipped": True,
        "reason": "matching was skipped: no pair within the caliper; widen --caliper",
    }
    assert not is_skipped(result.results["survival"]["overall"])
    assert all("the sensitivity analyses build on the matching" in result.skipped[s] for s in SENSITIVITY_SECTIONS)
    assert not is_skipped(result.results["logistic"]) and not is_skipped(result.results["table1"])


def test_the_skipped_shape_is_checked_by_the_schema(demo):
    result = _run(demo[0].head(0), demo[1])
    results = json.loads(json.dumps(result.results))
    validate_results(results)
    for bad in ({"skipped": True}, {"skipped": True, "reason": ""}, {"skipped": True, "reason": "x", "n": 1}):
        broken = {**results, "table1": bad}
        with pytest.raises(jsonschema.ValidationError):
            validate_results(broken)


def test_a_genuine_bug_in_an_analysis_is_not_taken_for_a_small_cohort(demo, monkeypatch):
    from rait_registry.analysis import run

    def broken(self, cohort, cycles):
        raise KeyError("response")

    monkeypatch.setattr(run.Table2, "fit", broken)
    with pytest.raises(KeyError):
        _run(*demo)


@pytest.fixture(scope="module")
def three_patients(tmp_path_factory):
    """A real registry of three patients (synth seed 107), refreshed: 1 o-RAIT and 2 m-RAIT eligible.

    (Seed 0 served until revision 2 of the rules: censored at its last disease assessment, its
    o-RAIT patient leaves the risk set before the only progression, and no hazard ratio exists.)"""
    root = tmp_path_factory.mktemp("three")
    run_cli("synth", "--patients", "3", "--seed", "107", "--out", str(root / "extract"), check=True)
    warehouse = root / "wh" / "registry.duckdb"
    run_cli("refresh", "--extract", str(root / "extract"), "--warehouse", str(warehouse), check=True)
    return warehouse


def test_analyze_and_report_on_a_three_patient_registry(three_patients, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("analyze", "--warehouse", str(three_patients), "--out", str(out), env={"COLUMNS": "40"})
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["cohort"]["n_eligible"] == 3
    skipped = {name: value["reason"] for name, value in results.items() if is_skipped(value)}
    assert "logistic" in skipped  # its model cannot be fitted on three patients
    assert not is_skipped(results["table1"]) and not is_skipped(results["survival"])
    lines = proc.stderr.splitlines()
    assert all(re.match(STAMP + " rait-registry analyze: ", line) for line in lines), lines
    assert any(f"warning: logistic skipped: {skipped['logistic']}" in line for line in lines)
    phases = [re.search(r"analyze: (.+?) (done|skipped) in \d+\.\d s", line) for line in lines]
    assert [(m.group(1), m.group(2)) for m in phases if m][:4] == [
        ("read warehouse", "done"),
        ("table1", "done"),
        ("table2", "done"),
        ("logistic", "skipped"),
    ]
    assert any(re.search(r"sensitivity analyses done in \d+\.\d s \(7/7 analyses\)", line) for line in lines)
    assert "logistic" in proc.stdout and "skipped" in proc.stdout

    proc = run_cli("report", "--warehouse", str(three_patients), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f'<p class="skipped">Not estimated: {skipped["logistic"]}' in page.replace("&#x27;", "'")
    assert re.search(STAMP + r" rait-registry report: forest plot \(Table 3\) skipped in", proc.stderr)
    assert re.search(STAMP + r" rait-registry report: HTML done in", proc.stderr)


def test_analyze_on_a_terminal_shows_each_section(three_patients, tmp_path):
    code, output = run_in_pty(["analyze", "--warehouse", str(three_patients), "--out", str(tmp_path / "out")])
    assert code == 0, output
    text = ANSI.sub("", output)
    for section in ("read warehouse", "table1", "matching", "survival", "sensitivity analyses", "write results"):
        assert section in text, section
    assert "logistic skipped" in text and "7/7 analyses" in text
    assert re.search(r"\d:\d{2}:\d{2}", text)
