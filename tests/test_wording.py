"""The wording rules of generated sentences (``rait_registry.analysis.wording``).

Every sentence branch is rendered from fixtures (each verdict, margins prespecified or not,
biased or not, an undefined interval), and the demo's results.json, report.html and CSV tables
are scanned: no word of proof anywhere, every verdict from the allow-list, every biased
analysis named as such in the sentence that states its result.
"""

from __future__ import annotations

import html.parser
import json
import math
import re
import shutil
from itertools import product

import pandas as pd
import pytest

from rait_registry.analysis import wording
from rait_registry.analysis.sensitivity import (
    HazardRatioEstimate,
    SensitivityAnalyses,
    hr_sentence,
    ni_hr_sentence,
    ni_pfs_sentence,
    non_inferiority_analysis,
)
from rait_registry.analysis.wording import (
    BIASES,
    VERDICT_CONSISTENT,
    VERDICT_INCONCLUSIVE,
    VERDICT_NOT_CONSISTENT,
    VERDICTS,
    forbidden_words,
    ni_verdict,
)
from rait_registry.report import build_report

from .conftest import REPO
from .test_sensitivity import make_data, small_data

MARGIN = 1.5
# (ci_low, ci_high) of the HR (o-RAIT vs m-RAIT) for each verdict at the margin 1.5, and none
HR_CIS = {
    VERDICT_CONSISTENT: (0.5, 1.4),
    VERDICT_NOT_CONSISTENT: (1.6, 3.2),
    VERDICT_INCONCLUSIVE: (0.7, 2.9),
    None: (None, None),
}


def _sentences(text: str) -> list[str]:
    """Sentences of a generated text (a period followed by a space and a capital letter)."""
    return [s for s in re.split(r"(?<=\.)\s+(?=[A-Z])", text) if s]


def _verdicts_in(sentence: str) -> list[str]:
    # the longest first, so "not consistent ..." is not also counted as "consistent ..."
    found, rest = [], sentence
    for v in sorted(VERDICTS, key=len, reverse=True):
        if v in rest:
            found.append(v)
            rest = rest.replace(v, "")
    return found


def _hr_row(verdict, biases) -> dict:
    lo, hi = HR_CIS[verdict]
    hr = None if lo is None else math.sqrt(lo * hi)
    return {
        "hr_o_vs_m": hr,
        "ci_low": lo,
        "ci_high": hi,
        "p_one_sided": None if lo is None else 0.2,
        "verdict": ni_verdict(lo, hi, MARGIN),
        "biases": list(biases),
        "notes": [] if lo is not None else ["no events in o-RAIT"],
    }


# --------------------------------------------------------------------------- the rules


def test_verdicts_at_and_around_the_margin():
    assert VERDICTS == (
        "consistent with non-inferiority at the margin",
        "not consistent with non-inferiority at the margin",
        "inconclusive",
    )
    assert ni_verdict(0.5, 1.4999, 1.5) == VERDICT_CONSISTENT
    assert ni_verdict(0.5, 1.5, 1.5) == VERDICT_INCONCLUSIVE  # the upper limit on the margin
    assert ni_verdict(1.5, 2.0, 1.5) == VERDICT_NOT_CONSISTENT  # the whole interval at or beyond it
    # a difference (o-RAIT minus m-RAIT): worse is lower
    assert ni_verdict(-0.07, 0.1, -0.08, worse="lower") == VERDICT_CONSISTENT
    assert ni_verdict(-0.08, 0.1, -0.08, worse="lower") == VERDICT_INCONCLUSIVE
    assert ni_verdict(-0.3, -0.08, -0.08, worse="lower") == VERDICT_NOT_CONSISTENT
    for undefined in ((None, 1.2, 1.5), (0.5, float("nan"), 1.5), (0.5, 1.2, None)):
        assert ni_verdict(*undefined) == VERDICT_INCONCLUSIVE
    with pytest.raises(ValueError, match="worse"):
        ni_verdict(0.5, 1.2, 1.5, worse="up")


def test_bias_clause_names_every_bias_and_refuses_an_unknown_one():
    assert wording.bias_clause([]) == "" and wording.bias_clause([], short=True) == ""
    both = wording.bias_clause(["immortal_time", "matched_on_follow_up", "immortal_time"])
    assert both.startswith("; biased: ") and both.count("immortal-time bias") == 1
    assert BIASES["matched_on_follow_up"] in both
    assert wording.bias_clause(["immortal_time"], short=True) == " (biased: immortal time)"
    assert set(wording.BIAS_LABELS) == set(BIASES)
    with pytest.raises(ValueError, match="unknown bias"):
        wording.bias_clause(["selection"])


def test_forbidden_words_are_whole_words_and_claims():
    text = (
        "Non-inferiority was demonstrated, proven and established; it confirms the trend; shown. "
        "o-RAIT is non-inferior. Non-inferiority has been met."
    )
    assert [w.lower() for w in forbidden_words(text)] == [
        "demonstrated",
        "proven",
        "established",
        "confirms",
        "shown",
        "is non-inferior",
        "non-inferiority has been met",
    ]
    clean = (
        "The result is inconclusive; provenance; improved; not consistent with non-inferiority at the margin; "
        "the interval includes 1, so it is compatible with both a lower and a higher hazard."
    )
    assert forbidden_words(clean) == []


def test_schema_enumerations_are_the_wording_module():
    schema = json.loads((REPO / "schemas" / "results.schema.json").read_text())
    assert tuple(schema["$defs"]["verdict"]["enum"]) == VERDICTS
    assert set(schema["$defs"]["biases"]["items"]["enum"]) == set(BIASES)


# --------------------------------------------------------------------------- every sentence branch


@pytest.mark.parametrize(
    ("verdict", "prespecified", "biases"),
    list(product(list(HR_CIS), [False, True], [(), ("immortal_time", "matched_on_follow_up")])),
)
def test_ni_hr_sentence_branches(verdict, prespecified, biases):
    row = _hr_row(verdict, biases)
    s = ni_hr_sentence("Matched cohort", row, margin=MARGIN, prespecified=prespecified, alpha=0.025)
    assert forbidden_words(s) == []
    assert _verdicts_in(s) == [row["verdict"]]
    assert row["verdict"] == (verdict or VERDICT_INCONCLUSIVE)
    assert ("(not prespecified)" in s) == (not prespecified) and ("(prespecified)" in s) == prespecified
    assert "HR margin 1.5" in s
    assert len(_sentences(s)) == 1 and s.endswith(".")
    if biases:
        assert "; biased: " in s and all(BIASES[b] in s for b in biases)
    else:
        assert "biased" not in s
    if verdict is None:
        assert "no hazard ratio (no events in o-RAIT)" in s


@pytest.mark.parametrize(
    ("case", "source", "prespecified", "biases"),
    list(
        product(
            ["consistent", "not consistent", "inconclusive", "no interval", "no margin"],
            ["derived", "given"],
            [False, True],
            [(), ("immortal_time",)],
        )
    ),
)
def test_ni_pfs_sentence_branches(case, source, prespecified, biases):
    s_m = None if case == "no margin" else 0.8
    derived = None if s_m is None else s_m**MARGIN - s_m
    margin = -0.10 if source == "given" else derived
    ci = {
        "consistent": (-0.05, 0.12),
        "not consistent": (-0.30, -0.15),
        "inconclusive": (-0.12, 0.10),
        "no interval": (None, None),
        "no margin": (-0.05, 0.12),
    }[case]
    row = {
        "horizon_months": 60.0,
        "biases": list(biases),
        "pfs_m_rait": s_m,
        "difference": None if ci[0] is None else sum(ci) / 2,
        "ci_low": ci[0],
        "ci_high": ci[1],
        "margin": margin,
        "margin_derived": derived,
        "margin_source": source,
        "verdict": ni_verdict(ci[0], ci[1], margin, worse="lower"),
        "notes": ["o-RAIT: follow-up ends at 40.0 months, before 60 months"] if ci[0] is None else [],
    }
    s = ni_pfs_sentence("Matched cohort", row, hr_margin=MARGIN, prespecified=prespecified, alpha=0.025)
    assert forbidden_words(s) == []
    assert _verdicts_in(s) == [row["verdict"]]
    assert ("not prespecified" in s) == (not prespecified)
    assert len(_sentences(s)) == 1
    assert ("; biased: " in s) == bool(biases)
    assert "5-year PFS" in s
    if source == "derived" and s_m is not None:
        # both margins printed: the HR margin and the PFS margin derived from it
        assert "derived from the HR margin 1.5 at the m-RAIT 5-year PFS of 80.0%: 0.800^1.5 - 0.800" in s
        assert f"{100 * derived:+.1f} points" in s
    if source == "given" and s_m is not None:
        assert "-10.0 points (given; the HR margin 1.5 implies -8.4 points" in s
    if case == "no interval" or (case == "no margin" and source == "derived"):
        assert row["verdict"] == VERDICT_INCONCLUSIVE
    if case == "no margin" and source == "derived":
        assert "at a margin that cannot be derived" in s


@pytest.mark.parametrize(
    ("ci", "biases"), list(product([(0.4, 2.1), (1.2, 3.0), (0.2, 0.8), None], [(), ("immortal_time",)]))
)
def test_hr_sentence_branches(ci, biases):
    lo, hi = ci or (None, None)
    hr = None if ci is None else math.sqrt(lo * hi)
    s = hr_sentence("X", hr, lo, hi, reason="no events" if ci is None else None, biases=biases)
    assert forbidden_words(s) == [] and len(_sentences(s)) == 1
    assert ("; biased: " in s) == bool(biases)
    if ci == (0.4, 2.1):
        assert "compatible with both a lower and a higher hazard of progression with m-RAIT" in s
    elif ci is not None:
        side = "higher" if lo > 1 else "lower"
        assert f"excludes 1 (a {side} hazard of progression with m-RAIT in this observational comparison)" in s


def _estimate(name: str, hr: float, se: float, biases=()) -> HazardRatioEstimate:
    return HazardRatioEstimate(name, name, hr=hr, log_hr=math.log(hr), se_log_hr=se, biases=tuple(biases))


@pytest.mark.parametrize("prespecified", [False, True])
def test_non_inferiority_section_states_each_verdict(prespecified):
    # HR m-RAIT vs o-RAIT; the test is of its inverse against 1.5
    estimates = {
        "matched": _estimate("matched", 1.0, 0.15, ("immortal_time", "matched_on_follow_up")),  # CI 0.75-1.34
        "time_varying": _estimate("time_varying", 0.4, 0.1),  # o vs m 2.5, CI 2.05-3.04
        "landmark": _estimate("landmark", 1.0, 0.6),  # CI 0.31-3.2
        "eligible_fixed_groups": HazardRatioEstimate("eligible_fixed_groups", "x", biases=("immortal_time",)),
    }
    c, _ = make_data({f"P{i}": ([0] if i % 2 else [0, 100], 500 + 200 * i, i % 3 == 0) for i in range(12)})
    section = non_inferiority_analysis(
        estimates,
        [("matched", c, "pfs_months", "rait_group", 60.0)],
        0.6,
        hr_margin=MARGIN,
        alpha=0.025,
        horizon_months=60.0,
        prespecified=prespecified,
    ).to_dict()
    verdicts = {r["analysis"]: r["verdict"] for r in section["hr"]}
    assert verdicts == {
        "matched": VERDICT_CONSISTENT,
        "time_varying": VERDICT_NOT_CONSISTENT,
        "landmark": VERDICT_INCONCLUSIVE,
        "eligible_fixed_groups": VERDICT_INCONCLUSIVE,
    }
    for text in (section["interpretation"], section["reading"]):
        assert forbidden_words(text) == []
        assert ("not prespecified" in text) == (not prespecified)
    for sentence in _sentences(section["interpretation"]):
        if "margin" in sentence:
            assert len(_verdicts_in(sentence)) == 1, sentence
        if sentence.startswith("Matched cohort"):
            assert "; biased: groups are defined by the number of RAITs" in sentence
    assert section["reading"] == (
        f"o-RAIT vs m-RAIT at the HR margin 1.5 ({wording.margin_status(prespecified)}): "
        f"{VERDICT_NOT_CONSISTENT} in the time-varying analysis; {VERDICT_CONSISTENT} in the study's matched "
        "analysis (biased: immortal time; matched on follow-up time)."
    )


def test_small_data_sentences_follow_the_rules():
    out = SensitivityAnalyses().fit(*small_data()).to_dict()
    for name, section in out.items():
        for key in ("interpretation", "reading"):
            if key in section:
                assert forbidden_words(section[key]) == [], (name, key)
    ni = out["non_inferiority"]
    assert {r["verdict"] for r in ni["hr"] + ni["pfs_difference"]} == {VERDICT_INCONCLUSIVE}
    assert "non-inferiority at the HR margin 1.5 (not prespecified) is inconclusive" in ni["interpretation"]


# --------------------------------------------------------------------------- the demo's outputs


@pytest.fixture(scope="module")
def demo_outputs(demo_results, demo_warehouse, tmp_path_factory):
    """The demo's ``analyze`` output plus the report built from it (results.json, report.html, tables/)."""
    out = tmp_path_factory.mktemp("wording") / "out"
    shutil.copytree(demo_results, out)
    build_report(demo_warehouse, out, progress=False)
    return out


class _Text(html.parser.HTMLParser):
    """Text nodes and attribute values of a page (embedded images left out), and its table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.cells: list[tuple[str | None, str | None, list[str]]] = []  # (table, col, text parts)
        self._table: str | None = None
        self._cell: tuple[str | None, str | None, list[str]] | None = None
        self._skip = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.texts += [v for k, v in attrs if v and not v.startswith("data:") and k != "style"]
        if tag == "table":
            self._table = a.get("data-table")
        if tag in ("td", "th") and self._table:
            self._cell = (self._table, a.get("data-col"), [])
            self.cells.append(self._cell)
        self._skip = tag == "style"

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None
        if tag == "table":
            self._table = None
        self._skip = False

    def handle_data(self, data):
        if self._skip:
            return
        self.texts.append(data)
        if self._cell is not None:
            self._cell[2].append(data)


def _strings(x):
    if isinstance(x, dict):
        for k, v in x.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)
    elif isinstance(x, str):
        yield x


def _verdict_fields(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "verdict":
                yield v
            else:
                yield from _verdict_fields(v)
    elif isinstance(x, list):
        for v in x:
            yield from _verdict_fields(v)


def test_demo_outputs_use_no_word_of_proof(demo_outputs):
    results = json.loads((demo_outputs / "results.json").read_text())
    bad = [(s[:80], forbidden_words(s)) for s in _strings(results) if forbidden_words(s)]
    assert bad == [], "results.json"
    csvs = sorted((demo_outputs / "tables").glob("*.csv"))
    assert {"time_varying_cox.csv", "non_inferiority_hr.csv", "paper_non_inferiority_pfs.csv"} <= {p.name for p in csvs}
    for path in csvs:
        assert forbidden_words(path.read_text()) == [], path.name
    page = _Text()
    page.feed((demo_outputs / "report.html").read_text(encoding="utf-8"))
    assert [t for t in page.texts if forbidden_words(t)] == [], "report.html"


def test_demo_verdicts_come_from_the_allow_list(demo_outputs):
    results = json.loads((demo_outputs / "results.json").read_text())
    verdicts = list(_verdict_fields(results))
    assert len(verdicts) == len(results["non_inferiority"]["hr"]) + len(results["non_inferiority"]["pfs_difference"])
    assert set(verdicts) <= set(VERDICTS)
    for name in ("non_inferiority_hr", "non_inferiority_pfs", "paper_non_inferiority", "paper_non_inferiority_pfs"):
        frame = pd.read_csv(demo_outputs / "tables" / f"{name}.csv", keep_default_na=False)
        column = "verdict" if "verdict" in frame.columns else "Verdict"
        assert len(frame) > 0 and set(frame[column]) <= set(VERDICTS), name
    page = _Text()
    page.feed((demo_outputs / "report.html").read_text(encoding="utf-8"))
    cells = ["".join(parts).strip() for _, col, parts in page.cells if col == "verdict"]
    assert len(cells) == len(verdicts) and set(cells) <= set(VERDICTS)
    # every generated sentence about a margin states exactly one verdict of the list
    for section in ("non_inferiority", "time_varying_cox", "landmark", "sensitivity", "dose_response"):
        for key in ("interpretation", "reading"):
            for sentence in _sentences(results[section].get(key, "")):
                if "margin" in sentence:
                    assert len(_verdicts_in(sentence)) == 1, sentence


def test_demo_biased_analyses_say_so_in_their_sentence(demo_outputs):
    results = json.loads((demo_outputs / "results.json").read_text())
    ni = results["non_inferiority"]
    assert results["matching"]["covariates"].count("follow_up_months") == 1
    matched = next(r for r in ni["hr"] if r["analysis"] == "matched")
    assert matched["biases"] == ["immortal_time", "matched_on_follow_up"]
    fixed = next(r for r in ni["hr"] if r["analysis"] == "eligible_fixed_groups")
    assert fixed["biases"] == ["immortal_time"]
    starts = {
        ("non_inferiority", "Matched cohort"): ("immortal_time", "matched_on_follow_up"),
        ("time_varying_cox", "Unlagged sensitivity model"): ("unlagged_exposure",),
        ("time_varying_cox", "Fixed groups by the final number of cycles"): ("immortal_time",),
        ("sensitivity", "Across "): ("immortal_time", "matched_on_follow_up"),
        ("sensitivity", "IPTW"): ("immortal_time",),
        ("dose_response", "Time-fixed total activity"): ("total_activity",),
    }
    for (section, start), biases in starts.items():
        found = [s for s in _sentences(results[section]["interpretation"]) if s.startswith(start)]
        assert found, (section, start)
        for sentence in found:
            assert all(BIASES[b] in sentence for b in biases), sentence
    assert "(biased: immortal time; matched on follow-up time)" in ni["reading"]


def test_demo_report_shows_the_lag_and_the_non_inferiority_tables(demo_outputs):
    results = json.loads((demo_outputs / "results.json").read_text())
    page_text = (demo_outputs / "report.html").read_text(encoding="utf-8")
    tv, ni = results["time_varying_cox"], results["non_inferiority"]
    assert tv["exposure_lag_days"] == 14 and results["sensitivity_options"]["exposure_lag_days"] == 14
    assert "declared default of rxwbs_window_days, in force in refresh" in tv["exposure_lag_source"]
    for section in (tv, ni):
        assert f"<b>Reading:</b> {html.escape(section['reading'])}</p>" in page_text
    page = _Text()
    page.feed(page_text)
    # the report's tables are the CSVs, cell for cell
    for table in ("time_varying_cox", "non_inferiority", "non_inferiority_pfs"):
        frame = pd.read_csv(demo_outputs / "tables" / f"paper_{table}.csv", dtype=str, keep_default_na=False)
        cells = ["".join(parts).strip() for t, _, parts in page.cells if t == table]
        n_cols = len(frame.columns)
        body = cells[n_cols:]  # header cells first
        assert cells[:n_cols] == list(frame.columns), table
        assert body == [c.strip() for row in frame.itertuples(index=False) for c in row], table
    paper_tv = pd.read_csv(demo_outputs / "tables" / "paper_time_varying_cox.csv", keep_default_na=False)
    assert paper_tv["Role"].tolist() == ["primary"] * 3 + ["sensitivity (unlagged)"]
    assert paper_tv["Lag (days)"].tolist() == [14, 14, 14, 0]
    pfs = pd.read_csv(demo_outputs / "tables" / "paper_non_inferiority_pfs.csv", keep_default_na=False)
    assert all("^1.5" in m for m in pfs["Margin, points"])  # the derived margin, with its derivation
