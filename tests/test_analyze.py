"""``rait-registry analyze`` end to end on the demo warehouse, and the calibration check.

The calibration bands are stated around the paper's headline figures (Shi et al. 2025): the
seed-0 synthetic registry must look like the study, within the bands below, when it goes
through the same rules as a real registry. They are tolerance bands for a simulator of 160
patients, not reproductions of the paper's numbers.
"""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import pandas as pd
import pytest
import typer.main
from typer.testing import CliRunner

from rait_registry import params
from rait_registry.analysis import AnalysisConfig, analyze, read_published, validate_results, warehouse_meta
from rait_registry.analysis.sensitivity import OPTION_NAMES
from rait_registry.analysis.wording import ni_verdict
from rait_registry.cli import app
from rait_registry.exceptions import UsageError

from .conftest import run_cli


@pytest.fixture(scope="module")
def results(demo_results):
    return json.loads((demo_results / "results.json").read_text())


def test_results_json_follows_the_shipped_schema(results):
    validate_results(results)
    broken = dict(results, cohort={"n_eligible": "117"})
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)


def test_every_contract_section_is_present(results, demo_results):
    assert {"cohort", "table1", "table2", "logistic", "matching", "survival", "cutpoints"} <= set(results)
    assert {"overall", "matched", "subgroups"} <= set(results["survival"])
    for name in ("table1", "table2", "logistic_univariable", "logistic_multivariable", "matching_balance"):
        assert (demo_results / "tables" / f"{name}.csv").stat().st_size > 0


def test_cohort_counts_equal_the_published_cohort(results, demo_con):
    counts = dict(demo_con.execute("select rait_group, count(*) from marts.analysis_cohort group by 1").fetchall())
    assert results["cohort"] == {
        "n_eligible": counts["o-RAIT"] + counts["m-RAIT"],
        "n_o_rait": counts["o-RAIT"],
        "n_m_rait": counts["m-RAIT"],
    }


def test_matched_pairs_are_o_then_m_and_disjoint(results, demo_con):
    groups = dict(demo_con.execute("select patient_id, rait_group from marts.analysis_cohort").fetchall())
    pairs = results["matching"]["pairs"]
    assert len(pairs) == results["matching"]["n_pairs"] > 0
    assert all(groups[o] == "o-RAIT" and groups[m] == "m-RAIT" for o, m in pairs)
    flat = [pid for pair in pairs for pid in pair]
    assert len(flat) == len(set(flat))


@pytest.mark.filterwarnings("ignore::rait_registry.exceptions.StatisticsWarning")
def test_the_python_api_gives_the_results_of_the_command(results, demo_warehouse):
    marts = read_published(demo_warehouse)
    result = analyze(
        marts.cohort,
        marts.cycles,
        meta=warehouse_meta(marts, demo_warehouse),
        pfs=marts.pfs,
        baseline_cohort=marts.baseline_cohort,
        strategy_months=marts.strategy_months,
        strategy_cohort=marts.strategy_cohort,
    )
    ours = {k: v for k, v in result.to_dict().items() if k != "meta"}
    assert ours == {k: v for k, v in results.items() if k != "meta"}
    for key in ("config", "run_id", "refreshed_at", "dbt_vars", "warehouse"):
        assert result.results["meta"][key] == results["meta"][key], key
    assert list(result.summary.index) == [
        "overall",
        "matched",
        "matched_pair_stratified",
        "landmark",
        "time_varying",
        "iptw",
    ]


def test_sensitivity_tables_are_named_after_their_section(results, demo_results):
    sections = ("landmark", "time_varying_cox", "non_inferiority", "sensitivity", "dose_response")
    written = [p.stem for p in (demo_results / "tables").glob("*.csv")]
    assert not [name for name in written if name.startswith("beyond")]
    assert {"landmark_hr_by_time", "sensitivity_e_values", "sensitivity_iptw_balance"} <= set(written)
    assert "sensitivity_options" in results and "beyond_options" not in results
    for name in sections:
        assert any(stem.startswith(name) for stem in written), name


# --- the options: declared once (rait_registry.params) ----------------------------------------


def test_analysis_config_is_the_declaration():
    """AnalysisConfig's fields, their order and defaults are the analysis parameters of rait_registry.params."""
    fields = dataclasses.fields(AnalysisConfig)
    assert [f.name for f in fields] == [p.name for p in params.ANALYSIS_PARAMETERS]
    for f, p in zip(fields, params.ANALYSIS_PARAMETERS):
        assert f.default == p.default, p.name


def test_every_sensitivity_option_is_in_the_config():
    names = {f.name for f in dataclasses.fields(AnalysisConfig)}
    assert set(OPTION_NAMES) - {"matching_variants"} <= names


def test_config_values_are_checked_against_the_declaration():
    assert AnalysisConfig(age_cut_years=50).age_cut_years == 50.0
    with pytest.raises(UsageError, match="caliper_scale must be one of propensity, logit_sd"):
        AnalysisConfig(caliper_scale="sd")
    with pytest.raises(UsageError, match="landmark_months"):
        AnalysisConfig(landmark_months=72)
    with pytest.raises(UsageError, match="unknown analysis option"):
        AnalysisConfig.from_mapping({"age_cut": 45})


def test_analyze_options_are_generated_from_the_declaration():
    command = typer.main.get_command(app).commands["analyze"]
    flags = {name for option in command.params for name in (*option.opts, *option.secondary_opts)}
    for p in params.ANALYSIS_PARAMETERS:
        assert set(p.cli.split("/")) <= flags, p.name
        assert set(p.aliases) <= flags, p.name
    # every option name of 0.1.0 still works
    old = {"--age-cut", "--size-cut", "--selection-threshold", "--caliper", "--caliper-scale", "--landmark-months"}
    assert old | {"--ni-hr-margin", "--ni-pfs-margin", "--beyond", "--paper-only"} <= flags
    hidden = {name for option in command.params if option.hidden for name in option.opts}
    assert hidden == {"--beyond"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {}),
        (
            ["--age-cut", "50", "--caliper", "none", "--landmark-sensitivity-months", "6,9", "--paper-only"],
            {
                "age_cut_years": 50.0,
                "caliper": None,
                "landmark_sensitivity_months": (6.0, 9.0),
                "sensitivity_analyses": False,
            },
        ),
        (["--paper-only", "--beyond"], {"sensitivity_analyses": True}),
        (
            ["--adjust-covariates", "age_at_diagnosis_years", "--no-iptw-stabilized", "--evalue-rare-outcome", "true"],
            {"adjust_covariates": ("age_at_diagnosis_years",), "iptw_stabilized": False, "evalue_rare_outcome": True},
        ),
    ],
)
def test_analyze_options_reach_the_config(monkeypatch, tmp_path, args, expected):
    import rait_registry.analysis.run as run

    seen = {}

    def stop(warehouse, out_dir, config):
        seen["config"] = config
        raise UsageError("stopped after reading the options")

    monkeypatch.setattr(run, "analyze_warehouse", stop)
    proc = CliRunner().invoke(app, ["analyze", "--warehouse", str(tmp_path / "w.duckdb"), *args])
    assert proc.exit_code == 2 and "stopped after reading the options" in proc.output
    assert seen["config"] == AnalysisConfig(**expected)


def test_a_bad_option_value_is_a_usage_error(tmp_path):
    proc = run_cli("analyze", "--warehouse", str(tmp_path / "w.duckdb"), "--ni-hr-margin", "0.9")
    assert proc.returncode == 2
    assert "ni_hr_margin must be > 1" in proc.stderr


def test_the_analysis_and_the_report_read_the_warehouse_alike(tmp_path, demo_warehouse):
    """One reader (rait_registry.warehouse.read_published) for both: a missing mart is a usage error
    for each; a warehouse without refresh history still reads, with no refresh."""
    import duckdb

    broken = tmp_path / "broken.duckdb"
    con = duckdb.connect(str(broken))
    con.execute("create schema marts")
    con.execute("create table marts.analysis_cohort as select 1 as patient_id")
    con.close()
    for command in ("analyze", "report"):
        proc = run_cli(command, "--warehouse", str(broken), "--out", str(tmp_path / command))
        message = " ".join(proc.stderr.split())  # rich wraps lines
        assert proc.returncode == 2, command
        assert "has no marts.rait_cycles; run `rait-registry refresh`" in message, command

    bare = tmp_path / "bare.duckdb"
    con = duckdb.connect(str(bare))
    con.execute(f"attach '{demo_warehouse}' as demo (read_only)")
    con.execute("create schema marts")
    for mart in ("analysis_cohort", "rait_cycles", "cohort_attrition"):
        con.execute(f"create table marts.{mart} as select * from demo.marts.{mart}")
    con.close()
    published = read_published(demo_warehouse)
    marts = read_published(bare)
    assert marts.refresh is None and marts.n_quarantined_rows is None
    assert published.refresh["run_id"] and isinstance(published.refresh["dbt_vars"], dict)
    pd.testing.assert_frame_equal(marts.cohort, published.cohort)
    assert warehouse_meta(marts, bare) == {"warehouse": str(bare)}


def test_analyze_without_a_warehouse_is_a_usage_error(tmp_path):
    proc = run_cli("analyze", "--warehouse", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "refresh" in proc.stderr


# --- calibration: the seed-0 registry against the paper's headline figures -----------------


def _row(table, variable, level=None):
    rows = [r for r in table if r["variable"] == variable and (level is None or r["level"] == level)]
    assert rows, (variable, level)
    return rows[0]


def test_calibration_group_sizes(results):
    cohort = results["cohort"]  # paper: 117 = 38 o-RAIT + 79 m-RAIT
    assert 105 <= cohort["n_eligible"] <= 130
    assert 0.25 <= cohort["n_o_rait"] / cohort["n_eligible"] <= 0.40


def test_calibration_table1_proportions(results):
    t1 = results["table1"]
    n = results["cohort"]["n_eligible"]
    # paper: median age 29.9; local persistent 25.6% overall, 7.9% o-RAIT vs 34.2% m-RAIT; synchronous 87.2%
    assert 24 <= _row(t1, "age_at_diagnosis_years")["overall"] <= 36
    persistent = _row(t1, "local_disease_status", "local_persistent")
    assert 0.15 <= persistent["overall"] / n <= 0.35
    assert persistent["m_rait"] / results["cohort"]["n_m_rait"] > persistent["o_rait"] / results["cohort"]["n_o_rait"]
    assert 0.78 <= _row(t1, "metastasis_timing", "synchronous")["overall"] / n <= 0.95
    assert _row(t1, "sex", "F")["overall"] / n == pytest.approx(0.615, abs=0.12)


def test_calibration_events_and_pfs(results):
    overall = results["survival"]["overall"]["groups"]
    events = sum(group["events"] for group in overall.values())
    assert 16 <= events <= 32  # paper: 24 PD events (4 o-RAIT, 20 m-RAIT)
    assert overall["o-RAIT"]["pfs_5y"] > overall["m-RAIT"]["pfs_5y"]  # paper: 84.8% vs 72.9%
    assert 0.75 <= overall["o-RAIT"]["pfs_5y"] <= 0.95
    assert 0.60 <= overall["m-RAIT"]["pfs_5y"] <= 0.85


def test_calibration_first_response_distribution(results):
    t2 = results["table2"]
    first = {level: _row(t2, "first_response", level)["overall"] for level in ("PR", "SD", "PD")}
    total = sum(first.values())
    # paper: PR 49.6%, SD 41.0%, PD 9.4%
    assert 0.35 <= first["PR"] / total <= 0.65
    assert 0.25 <= first["SD"] / total <= 0.55
    assert first["PD"] / total <= 0.2


def test_calibration_multivariable_risk_factors(results):
    terms = {row["term"]: row for row in results["logistic"]["multivariable"]}
    age = next(row for term, row in terms.items() if term.startswith("age") and ">=" in term)
    persistent = next(row for term, row in terms.items() if term.endswith("local_persistent"))
    # paper: OR 8.5 (age >= 45) and 9.1 (local persistent); both well above 1
    assert age["or"] > 2.5 and persistent["or"] > 2.5


def test_sensitivity_sections_carry_numbers_and_interpretations(results):
    for section in ("landmark", "time_varying_cox", "non_inferiority", "sensitivity", "dose_response"):
        assert results[section]["interpretation"], section
    ni = results["non_inferiority"]
    assert ni["hr_margin"] == 1.5
    for row in ni["hr"]:
        if row["ci_high"] is not None:
            # the verdict is the CI statement, never a reading of a non-significant log-rank test
            assert row["verdict"] == ni_verdict(row["ci_low"], row["ci_high"], ni["hr_margin"])
