"""The study report: files, self-containment, rendering in headless Chromium, numbers equal to results.json.

One report is built per session from the demo warehouse (``demo_warehouse`` fixture) and
opened once in Debian's headless Chromium (``/usr/bin/chromium`` driven by
``/usr/bin/chromedriver``; ``scripts/ensure-chromium.sh`` installs them). Selenium is
given both paths, so Selenium Manager never runs and nothing downloads a browser.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from rait_registry.report import build_report
from rait_registry.report.build import _progress

from .conftest import run_cli

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FIGURES = (
    "fig1_attrition",
    "fig2_response_sankey",
    "fig_forest_or",
    "fig_love_smd",
    "fig_propensity",
    "fig_km_overall",
    "fig3_km_matched",
    "fig4_km_subgroups",
    "fig_forest_centres",  # the demo registry has three centres
    "fig_strategies_km",
)
TABLES = (
    "attrition",
    "table1",
    "table2",
    "table3",
    "survival",
    "balance",
    "balance_baseline",
    "table1_matched",
    "proportional_hazards",
    "centres",
    "centres_table1",
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def report(demo_warehouse, tmp_path_factory):
    """Build the report once (results computed on the way); return (out_dir, results, stderr)."""
    out = tmp_path_factory.mktemp("report")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        path = build_report(demo_warehouse, out)
    assert path == out / "report.html"
    results = json.loads((out / "results.json").read_text())
    return out, results, stderr.getvalue()


@pytest.fixture(scope="session")
def browser():
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.fail(
            "Chromium is not installed: run scripts/ensure-chromium.sh (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="rait-chromium-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


IMAGE_PROBE = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
Promise.all(imgs.map(img => img.decode().then(() => true, () => false))).then(decoded => {
  done(imgs.map((img, i) => {
    const out = {id: img.closest('figure') ? img.closest('figure').id : null, decoded: decoded[i],
                 width: img.naturalWidth, height: img.naturalHeight, src: img.getAttribute('src').slice(0, 22)};
    if (!img.naturalWidth) return out;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let inked = 0, n = 0; const colours = new Set();
    for (let k = 0; k < data.length; k += 4 * 5) {
      n++;
      if (data[k] < 235 || data[k + 1] < 235 || data[k + 2] < 235) inked++;
      if (colours.size < 256) colours.add((data[k] << 16) | (data[k + 1] << 8) | data[k + 2]);
    }
    out.inked = inked / n; out.colours = colours.size;
    return out;
  }));
});
"""

TABLE_PROBE = """
return Array.from(document.querySelectorAll('table.results tbody tr')).map(tr => ({
  table: tr.closest('table').dataset.table,
  attrs: Object.assign({}, tr.dataset),
  cells: Array.from(tr.children).map(c => [c.dataset.col || null, c.innerText.trim()])
}));
"""


@pytest.fixture(scope="session")
def rendered(report, browser):
    """The report as Chromium rendered it: image probes, table cells, page text."""
    out, _, _ = report
    browser.get((out / "report.html").resolve().as_uri())
    images = browser.execute_async_script(IMAGE_PROBE)
    rows = browser.execute_script(TABLE_PROBE)
    text = browser.execute_script("return document.body.innerText")
    return images, rows, text


# --------------------------------------------------------------------------- number reading


NUMBER = re.compile(r"<?-?\d+(?:\.\d+)?")


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def shows(token: str, value: float | None, scale: float = 1.0) -> bool:
    """True when the displayed token is ``value * scale`` rounded to the token's decimals (or '<x' bounds it)."""
    if value is None:
        return False
    if token.startswith("<"):
        return value * scale < float(token[1:])
    decimals = len(token.split(".")[1]) if "." in token else 0
    return abs(float(token) - value * scale) <= 0.5 * 10**-decimals * (1 + 1e-9) + 1e-12


def assert_shows(text: str, values: list[float | None], where: str, scale: float = 1.0) -> None:
    tokens = numbers(text)
    assert len(tokens) == len(values), f"{where}: {text!r} shows {len(tokens)} numbers, expected {len(values)}"
    for token, value in zip(tokens, values):
        assert shows(token, value, scale), f"{where}: {text!r} does not show {value}"


def find_row(rows, table: str, **attrs) -> dict:
    hits = [r for r in rows if r["table"] == table and all(r["attrs"].get(k) == v for k, v in attrs.items())]
    assert len(hits) == 1, f"{table} {attrs}: {len(hits)} rendered rows"
    return {col: text for col, text in hits[0]["cells"] if col}


# --------------------------------------------------------------------------- tests


def test_writes_html_figures_and_tables(report):
    out, _, _ = report
    for name in FIGURES:
        png, svg = out / "figures" / f"{name}.png", out / "figures" / f"{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert int.from_bytes(png.read_bytes()[16:20], "big") > 1000, f"{name}.png is not publication size"
        assert b"<svg" in svg.read_bytes()[:2000], name
    for name in TABLES:
        frame = pd.read_csv(out / "tables" / f"paper_{name}.csv", keep_default_na=False)
        assert len(frame) > 0, name


def test_html_is_self_contained(report):
    out, _, _ = report
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", page), "the report references the network"
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", page)
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert len(sources) == len(FIGURES)
    assert all(s.startswith("data:image/png;base64,") for s in sources)


def test_quiet_without_a_terminal(report):
    _, _, stderr = report
    assert stderr == "", f"the report wrote to a non-terminal stderr: {stderr[:200]!r}"


def test_progress_shows_when_asked():
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), _progress(True) as step:
        step("drawing figure one")
    assert "drawing figure one" in buffer.getvalue() or "report written" in buffer.getvalue()


def test_every_image_decodes_with_ink(rendered):
    images, _, _ = rendered
    assert {i["id"] for i in images} == {f"fig-{name}" for name in FIGURES}
    for image in images:
        assert image["decoded"] and image["width"] > 300 and image["height"] > 200, image
        assert image["src"] == "data:image/png;base64,", image
        assert 0.01 < image["inked"] < 0.9, f"{image['id']} looks blank or solid: {image}"
        assert image["colours"] >= 8, f"{image['id']} has only {image['colours']} colours"


def test_table1_and_table2_numbers_equal_results(rendered, report):
    _, results, _ = report
    _, rows, _ = rendered
    for table in ("table1", "table2"):
        first_of_variable: dict[str, dict] = {}
        for r in results[table]:
            variable, level = r["variable"], r.get("level")
            attrs = {"variable": variable} if level is None else {"variable": variable, "level": str(level)}
            cells = find_row(rows, table, **attrs)
            for col in ("overall", "o_rait", "m_rait"):
                where = f"{table} {variable}/{level} {col}"
                if r[col] is None:
                    assert cells[col] == "\u2013", where
                elif r["statistic"] == "median_iqr":
                    assert_shows(cells[col], [r[col], r[f"{col}_p25"], r[f"{col}_p75"]], where)
                elif r["statistic"] == "n_pct" and r.get(f"{col}_pct") is not None:
                    assert_shows(cells[col], [r[col], r[f"{col}_pct"]], where)
                else:
                    assert_shows(cells[col], [r[col]], where)
            first_of_variable.setdefault(variable, r)
        for variable, r in first_of_variable.items():
            cells = _header(rows, table, variable)  # the single row, or the header row of a categorical block
            if r["p_value"] is None:
                assert cells["p_value"] == "", variable
            else:
                assert_shows(cells["p_value"], [r["p_value"]], f"{table} {variable} p")


def _header(rows, table, variable) -> dict:
    hits = [r for r in rows if r["table"] == table and r["attrs"] == {"variable": variable}]
    assert len(hits) == 1, f"{table} {variable}: no header row"
    return {col: text for col, text in hits[0]["cells"] if col}


def test_table2_five_year_pfs_equals_survival_results(rendered, report):
    _, results, _ = report
    _, rows, _ = rendered
    overall = results["survival"]["overall"]
    cells = find_row(rows, "table2", variable="pfs_5y")
    for col, group in (("o_rait", "o-RAIT"), ("m_rait", "m-RAIT")):
        assert_shows(cells[col], [overall["groups"][group]["pfs_5y"]], f"5-y PFS {group}", scale=100)
    assert_shows(cells["p_value"], [overall["logrank_p"]], "5-y PFS log-rank p")


def test_table3_odds_ratios_equal_results(rendered, report):
    _, results, _ = report
    _, rows, _ = rendered
    logistic = results["logistic"]
    multi = {r["term"]: r for r in logistic["multivariable"]}
    assert logistic["univariable"], "no univariable rows to check"
    for r in logistic["univariable"]:
        cells = find_row(rows, "table3", term=r["term"])
        for prefix, row in (("uni", r), ("multi", multi.get(r["term"]))):
            if row is None:
                assert cells[f"{prefix}_or"] == "", r["term"]
                continue
            if row["or"] is None:
                assert cells[f"{prefix}_or"] == "not estimable"
                continue
            assert_shows(cells[f"{prefix}_or"], [row["or"], row["ci_low"], row["ci_high"]], f"{r['term']} {prefix}")
            assert cells[f"{prefix}_or"].endswith("\u2020") == (row.get("method") == "firth")
            assert_shows(cells[f"{prefix}_p"], [row["p_value"]], f"{r['term']} {prefix} p")


def test_survival_table_equals_results(rendered, report):
    _, results, _ = report
    _, rows, _ = rendered
    survival = results["survival"]
    analyses = [("overall", survival["overall"]), ("matched", survival["matched"])]
    analyses += [(s["name"], s) for s in survival["subgroups"]]
    assert len(analyses) == 8
    for key, analysis in analyses:
        for i, (name, group) in enumerate(analysis["groups"].items()):
            cells = find_row(rows, "survival", analysis=key, group=name)
            assert_shows(cells["n"], [group["n"]], f"{key} {name} n")
            assert_shows(cells["events"], [group["events"]], f"{key} {name} events")
            if group["median_months"] is None:
                assert cells["median_months"] == "NR"
            else:
                assert_shows(cells["median_months"], [group["median_months"]], f"{key} {name} median")
            if group["pfs_5y"] is not None and group["pfs_5y_ci_low"] is not None:
                assert_shows(
                    cells["pfs_5y"],
                    [group["pfs_5y"], group["pfs_5y_ci_low"], group["pfs_5y_ci_high"]],
                    f"{key} {name} 5-y PFS",
                    scale=100,
                )
            if i == 0 and analysis["logrank_p"] is not None:
                assert_shows(cells["logrank_p"], [analysis["logrank_p"]], f"{key} log-rank p")
            if i == 0 and analysis["hr"] is not None:
                hr_numbers = numbers(cells["hr"].split("[")[0])
                for token, value in zip(hr_numbers, (analysis["hr"], analysis["hr_ci_low"], analysis["hr_ci_high"])):
                    assert shows(token, value), f"{key} HR {cells['hr']!r} vs {value}"


def test_matching_and_cutpoint_tables_equal_results(rendered, report):
    _, results, _ = report
    images, rows, text = rendered
    for r in results["matching"]["balance"]:
        cells = find_row(rows, "balance", covariate=r["covariate"])
        assert_shows(cells["smd_before"], [r["smd_before"]], r["covariate"])
        assert_shows(cells["smd_after"], [r["smd_after"]], r["covariate"])
    for r in results.get("cutpoints") or []:
        cells = find_row(rows, "cutpoints", variable=r["variable"])
        assert_shows(cells["cutpoint"], [r["cutpoint"]], r["variable"])
        assert_shows(cells["p_value"], [r["p_value"]], r["variable"])
    cohort = results["cohort"]
    for value, label in (
        (cohort["n_eligible"], "eligible patients"),
        (cohort["n_o_rait"], "o-RAIT"),
        (cohort["n_m_rait"], "m-RAIT"),
        (results["matching"]["n_pairs"], "matched pairs"),
    ):
        assert re.search(rf"\b{value}\s*\n\s*{re.escape(label)}", text), f"summary {label} != {value}"


def test_baseline_balance_ph_and_subgroup_tests_equal_results(rendered, report):
    out, results, _ = report
    _, rows, text = rendered
    section = results["matching"]["balance_baseline"]
    for r in section["rows"]:
        cells = find_row(rows, "balance_baseline", covariate=r["covariate"], level=str(r["level"]))
        assert_shows(cells["smd_before"], [r["smd_before"]], f"{r['covariate']} {r['level']}")
        assert_shows(cells["smd_after"], [r["smd_after"]], f"{r['covariate']} {r['level']}")
        assert bool(cells["imbalanced_after"]) == r["imbalanced_after"]
    assert section["interpretation"] in text
    assert find_row(rows, "table1_matched", variable="age_at_diagnosis_years")
    ph = results["proportional_hazards"]
    for key, entry in ph["models"].items():
        cells = find_row(rows, "proportional_hazards", model=key)
        if entry.get("skipped"):
            assert cells["terms"].startswith("not tested")
            continue
        assert shows(numbers(cells["global_p"])[0], entry["global"]["p"]), key
        assert cells["global_p"].endswith("*") == entry["violated"], key
    assert ph["interpretation"] in text
    for key in ph["violations"]:
        assert f"({key}): cox.zph global P" in text  # a warning in the notes
    survival = results["survival"]
    for sub in survival["subgroups"]:
        first = next(iter(sub["groups"]))
        cells = find_row(rows, "survival", analysis=sub["name"], group=first)
        inter = sub["interaction"]
        if inter.get("skipped"):
            assert cells["interaction_p"] == "not testable"
        else:
            assert shows(numbers(cells["interaction_p"])[0], inter["p"]), sub["name"]
        if sub["hr"] is None and len(sub["groups"]) == 2:
            assert cells["hr"] == f"not reported: {sub['hr_reason']}" or sub["hr_reason"] is None
    strat = survival["matched"]["hr_stratified"]
    cells = find_row(rows, "survival", analysis="matched_pair_stratified", group="pairs")
    if not strat.get("skipped"):
        assert_shows(cells["hr"], [strat["hr"], strat["ci_low"], strat["ci_high"]], "pair-stratified HR")
    for reading in survival["interpretation"].values():
        assert reading in text
    for name in ("balance_baseline", "table1_matched", "proportional_hazards"):
        assert len(pd.read_csv(out / "tables" / f"paper_{name}.csv", keep_default_na=False)) > 0, name


def test_attrition_table_equals_the_mart(rendered, demo_warehouse):
    _, rows, _ = rendered
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        mart = con.execute("select step, n_excluded, n_remaining from marts.cohort_attrition order by step").fetchall()
    finally:
        con.close()
    for step, excluded, remaining in mart:
        cells = find_row(rows, "attrition", step=str(step))
        assert (int(cells["n_excluded"]), int(cells["n_remaining"])) == (excluded, remaining)


def test_csv_tables_equal_the_rendered_tables(rendered, report):
    out, _, _ = report
    _, rows, _ = rendered
    for table in TABLES:
        frame = pd.read_csv(out / "tables" / f"paper_{table}.csv", dtype=str, keep_default_na=False)
        shown = [[text for _, text in r["cells"]] for r in rows if r["table"] == table]
        written = [[cell.strip() for cell in record] for record in frame.itertuples(index=False)]
        assert written == shown, table


def test_provenance_shows_the_refresh_and_parameters(rendered, demo_warehouse):
    _, _, text = rendered
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        run_id, invocation = con.execute(
            "select run_id, dbt_invocation_id from history.refresh_runs order by started_at desc limit 1"
        ).fetchone()
    finally:
        con.close()
    assert run_id in text and invocation in text
    assert re.search(r"micromet_max_mm\s+10\s+10", text), "study parameters (dbt vars) not shown"
    assert "Manifest SHA-256" in text and "Results SHA-256" in text


def test_cli_reports_a_missing_warehouse_as_usage_error(tmp_path):
    proc = run_cli("report", "--warehouse", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "rait-registry refresh" in proc.stderr
    assert not (tmp_path / "out" / "report.html").exists()


def test_cli_refuses_results_that_are_not_json(demo_warehouse, tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    proc = run_cli("report", "--warehouse", str(demo_warehouse), "--out", str(tmp_path / "out"), "--results", str(bad))
    assert proc.returncode == 2
    assert "not valid JSON" in proc.stderr and "rait-registry analyze" in proc.stderr


def test_fallback_survival_statistics_agree_with_the_analysis(report, demo_warehouse):
    """When results.json lacks an analysis the panel's numbers come from figures.fallback_survival_stats:
    they must equal what rait_registry.analysis.survival published (log-rank chi2 and Cox HR)."""
    import numpy as np

    from rait_registry.report.figures import KMGroup, fallback_survival_stats

    _, results, _ = report
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        cohort = con.execute("select rait_group, pfs_months, pfs_event from marts.analysis_cohort").df()
    finally:
        con.close()
    groups = [
        KMGroup(
            g,
            g,
            cohort.loc[cohort.rait_group == g, "pfs_months"].to_numpy(float),
            cohort.loc[cohort.rait_group == g, "pfs_event"].to_numpy(int),
            "#000000",
        )
        for g in ("o-RAIT", "m-RAIT")
    ]
    ours, published = fallback_survival_stats(groups), results["survival"]["overall"]
    for key in ("logrank_chi2", "logrank_p", "hr", "hr_ci_low", "hr_ci_high"):
        assert math.isclose(ours[key], published[key], rel_tol=1e-6), key
    assert ours["logrank_df"] == published["logrank_df"] == 1
    assert np.isfinite(ours["hr"])


def test_study_parameters_mark_overrides():
    from rait_registry.report import study_parameters

    rows = {
        name: (value, default, overridden)
        for name, value, default, overridden in study_parameters({"dbt_vars": {"micromet_max_mm": 8}})
    }
    assert rows["micromet_max_mm"] == ("8", "10", True)
    assert rows["early_pd_exclusion_days"] == ("183", "183", False)
    assert all(not o for _, _, o in (v for k, v in rows.items() if k != "micromet_max_mm"))


def test_table3_cox_hazard_ratios_equal_results(rendered, report):
    _, results, _ = report
    _, rows, _ = rendered
    cox = results["cox_risk_factors"]
    multi = {r["term"]: r for r in cox["multivariable"]} if isinstance(cox["multivariable"], list) else {}
    assert cox["univariable"], "no univariable Cox rows to check"
    for r in cox["univariable"]:
        cells = find_row(rows, "table3_cox", term=r["term"])
        for prefix, row in (("uni", r), ("multi", multi.get(r["term"]))):
            if row is None:
                assert cells[f"{prefix}_hr"] == "", r["term"]
            elif row["hr"] is None:
                assert cells[f"{prefix}_hr"] == "not estimable", r["term"]
            else:
                assert_shows(cells[f"{prefix}_hr"], [row["hr"], row["ci_low"], row["ci_high"]], f"{r['term']} {prefix}")
                assert_shows(cells[f"{prefix}_p"], [row["p_value"]], f"{r['term']} {prefix} p")
    _, _, text = rendered
    assert cox["interpretation"] in text  # which model accounts for unequal follow-up
    reading = next(line for line in text.splitlines() if line.startswith("Reading (") and "Cox model" in line)
    assert "shown" not in reading
    for r in multi.values():
        if r["hr"] is not None:
            assert f"HR {r['hr']:.2f}" in reading, r["term"]


def test_cohort_summary_and_censoring_rule_are_stated(rendered, report, demo_con):
    _, results, _ = report
    _, rows, text = rendered
    summary = results["cohort_summary"]
    cycles, follow = summary["m_rait_cycles"], summary["follow_up_months"]["overall"]
    assert f"median of {cycles['median']:.0f} (range {cycles['min']:.0f}\u2013{cycles['max']:.0f}) RAIT cycles" in text
    assert f"{follow['median']:.1f} (range {follow['min']:.1f}\u2013{follow['max']:.1f}) months" in text
    (dead,) = demo_con.execute(
        "select count(*) from marts.pfs join marts.analysis_cohort using (patient_id) where death_date is not null"
    ).fetchone()
    assert summary["deaths"]["overall"] == dead and f"deaths: {dead} (" in text
    censoring = results["pfs_censoring"]
    assert f"pfs_censoring = {censoring['rule']}" in text
    sensitivity = censoring["last_contact_sensitivity"]
    if sensitivity.get("skipped"):
        assert sensitivity["reason"] in text
    else:
        for key in ("eligible", "matched"):
            for group, g in sensitivity[key]["groups"].items():
                cells = find_row(rows, "survival", analysis=f"last_contact_{key}", group=group)
                assert_shows(cells["pfs_5y"].split("(")[0], [g["pfs_5y"]], f"{key} {group}", scale=100)


def test_categorical_agreement_reading_flags_rows_the_choice_of_test_decides():
    from rait_registry.report.html import categorical_agreement_reading

    timing = {"variable": "metastasis_timing", "label": "Timing", "p_chi_square": 0.022, "p_chi_square_yates": 0.0647}
    timing.update(p_g_test=0.0105, p_fisher_exact=0.0351)
    sex = {"variable": "sex", "label": "Sex", "p_chi_square": 0.51, "p_chi_square_yates": 0.65, "p_fisher_exact": 0.55}
    age = {"variable": "age_at_diagnosis_years", "label": "Age", "p_chi_square": None}
    text = categorical_agreement_reading([timing, dict(timing, level="x"), sex, age])
    assert text.count("Timing") == 1 and "Sex" not in text and "Age" not in text
    assert "Timing (Pearson 0.022, Yates 0.065, likelihood ratio 0.011, Fisher 0.035)" in text
    assert "same side" in categorical_agreement_reading([sex, age])


def test_horizon_response_reading_sets_each_comparison_beside_its_full_window_p_value():
    from rait_registry.analysis.wording import forbidden_words
    from rait_registry.report.html import horizon_response_reading

    rows = [
        {"variable": "first_response", "level": "CR", "p_value": 0.012},
        {"variable": "first_response", "level": "PR", "p_value": 0.012},
        {"variable": "last_response", "level": "CR", "p_value": 0.2},
        {"variable": "m_rait_first_vs_last", "level": "improved", "p_value": 0.0004},
    ]
    assert horizon_response_reading(rows) is None  # a warehouse without response_at_horizon
    rows += [
        {"variable": "first_response_at_horizon", "level": "CR", "p_value": 0.43},
        {"variable": "last_response_at_horizon", "level": "CR", "p_value": None},
        {"variable": "m_rait_first_vs_last_at_horizon", "level": "improved", "p_value": 0.051},
    ]
    text = horizon_response_reading(rows)
    assert "o-RAIT vs m-RAIT: P 0.430 (full windows: P 0.012)" in text
    assert "last-RAIT response: not tested (full windows: P 0.200)" in text
    assert "m-RAIT first vs last: P 0.051 (full windows: P < 0.001)" in text
    assert "consistent with" in text and forbidden_words(text) == []


def test_censoring_reading_says_whether_the_rule_changes_the_comparison():
    from rait_registry.report.html import censoring_lines

    def analysis(hr, low, high):
        return {"hr": hr, "hr_ci_low": low, "hr_ci_high": high, "groups": {"o-RAIT": {"pfs_5y": 0.9}}}

    base = {"description": "censored at X", "rule": "last_assessment", "source": "the refresh", "contract_revision": 2}
    rule, reading = censoring_lines(
        {**base, "last_contact_sensitivity": {"eligible": analysis(1.9, 0.9, 4)}}, analysis(2.1, 1.1, 4)
    )
    assert rule.startswith("PFS without progression or death is censored at X (pfs_censoring = last_assessment")
    assert "HR 2.10 (1.10\u20134.00)" in reading and "1.90 (0.90\u20134.00)" in reading
    assert "depends on the censoring rule" in reading and "o-RAIT 90.0% vs 90.0%" in reading
    _, same = censoring_lines(
        {**base, "last_contact_sensitivity": {"eligible": analysis(1.9, 0.9, 4)}}, analysis(1.5, 0.8, 3)
    )
    assert "both intervals include 1" in same and "shown" not in same
    skipped = censoring_lines({**base, "last_contact_sensitivity": {"skipped": True, "reason": "no column"}}, None)
    assert skipped[1] == "Sensitivity analysis with PFS censored at last contact: not run (no column)."
