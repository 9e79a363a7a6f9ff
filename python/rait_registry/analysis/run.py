"""``rait-registry analyze``: run the study's statistics on the marts and write the results.

`analyze` takes the marts as DataFrames and returns an `AnalysisResult` (the fitted analyses,
``results.json`` - docs/specification.md section 4, validated against the shipped JSON Schema
``rait_registry/schemas/results.schema.json`` - and tidy tables); `analyze_warehouse` reads them
from a published warehouse first (`rait_registry.warehouse.read_published`) and writes ``results.json`` and ``tables/*.csv``. The
statistics themselves live in the sibling modules; this module only orchestrates and writes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..console import reporter
from ..warehouse import PublishedMarts, read_published
from .centres import CentreAnalysis, matching_options
from .config import DEFAULTS, AnalysisConfig
from .cutpoints import CutpointScan
from .follow_up import censoring_rule, cohort_summary, last_contact_sensitivity, with_pfs
from .jsonutil import jsonable
from .logistic import LogisticAnalysis
from .matching import PropensityMatcher, baseline_balance, baseline_balance_section
from .missing import MISSING_CODES, as_missing, missing_code_counts
from .proportional_hazards import ph_table, proportional_hazards_section
from .risk_factors_cox import CoxRiskFactorAnalysis
from .sensitivity import SECTIONS as SENSITIVITY_SECTIONS
from .sensitivity import SensitivityAnalyses, exposure_lag_days
from .sensitivity.matching_variants import matched_biases
from .sensitivity.results import HazardRatioEstimate
from .skips import cohort_problem, run_section, skipped
from .strategies import TargetTrialEmulation
from .survival import SurvivalAnalysis
from .tables import Table1, Table2, cohort_section
from .trial_design import NonInferiorityTrialDesign, with_first_rait_date


@dataclass
class AnalysisResult:
    """Everything `analyze` produced: the fitted analyses, results.json and the tidy tables.

    Attributes
    ----------
    config : AnalysisConfig
    table1, table2 : Table1, Table2 or None
    logistic : LogisticAnalysis or None
    matching : PropensityMatcher or None
    survival : SurvivalAnalysis or None
    cutpoints : CutpointScan or None
    sensitivity : SensitivityAnalyses or None
        None with ``sensitivity_analyses=False``.
    results : dict
        results.json (JSON-ready, validated against the shipped schema).
    tables : dict of str -> DataFrame
        The tidy tables ``write`` puts under ``tables/``.
    skipped : dict of str -> str
        The analyses the cohort is too small for, by results.json section, with the reason
        (`rait_registry.analysis.skips`); their attribute above is None and their section
        ``{"skipped": true, "reason": ...}``.
    cox_risk_factors : CoxRiskFactorAnalysis or None
        Table 3's Cox counterpart; None when it could not run (results.json says why).
    trial_design : NonInferiorityTrialDesign or None
        The prospective trial sized with the registry's hazard and accrual; None when it could not run.
    strategies : TargetTrialEmulation or None
        The target-trial emulation of treatment strategies; None when it could not run.

    Examples
    --------
    >>> from rait_registry.analysis import analyze
    >>> result = analyze(cohort, cycles)
    >>> result.matching.to_dict()["n_pairs"], sorted(result.sensitivity.to_dict())[:2]
    (35, ['dose_response', 'landmark'])
    >>> path = result.write(tmp_path)  # doctest: +SKIP
    """

    config: AnalysisConfig
    table1: Table1 | None
    table2: Table2 | None
    logistic: LogisticAnalysis | None
    matching: PropensityMatcher | None
    survival: SurvivalAnalysis | None
    cutpoints: CutpointScan | None
    sensitivity: SensitivityAnalyses | None
    results: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    cox_risk_factors: CoxRiskFactorAnalysis | None = None
    trial_design: NonInferiorityTrialDesign | None = None
    strategies: TargetTrialEmulation | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """Every hazard ratio of m-RAIT vs o-RAIT, one row per analysis: the eligible (``overall``) and
        matched cohorts of the survival section (the matched HR with the SE robust to the pairs, then
        the pair-stratified model, ``matched_pair_stratified``), then those the sensitivity analyses add."""
        cols = ["n", "events", "hr", "ci_low", "ci_high", "p"]
        if self.survival is None:
            return pd.DataFrame(columns=cols)
        surv = self.survival.summary.loc[["overall", "matched"]]
        surv = surv.rename(columns={"hr_ci_low": "ci_low", "hr_ci_high": "ci_high", "hr_p": "p"})[cols]
        matched = self.survival.matched_
        strat = None if matched is None else matched.stratified_hr_
        if strat is not None:
            row = {c: strat.get(c) for c in cols if c not in ("n", "events")}
            row.update(n=matched.n_, events=matched.events_)
            surv = pd.concat([surv, pd.DataFrame([row], index=pd.Index(["matched_pair_stratified"], name="analysis"))])
            surv = surv[cols]
        if self.sensitivity is None:
            return surv
        more = self.sensitivity.summary.drop(index=["eligible_fixed_groups", "matched"], errors="ignore")
        return pd.concat([surv, more[cols]])

    def to_dict(self) -> dict[str, Any]:
        """results.json."""
        return self.results

    def write(self, out_dir: str | Path) -> Path:
        """Write ``results.json`` and ``tables/*.csv`` under ``out_dir``; return the results path."""
        return write_results(self, Path(out_dir))


def warehouse_meta(marts: PublishedMarts, warehouse: str | Path | None = None) -> dict[str, Any]:
    """results.json ``meta`` of the refresh the marts come from: run, extract, manifest, time, dbt vars."""
    meta: dict[str, Any] = {"warehouse": str(warehouse) if warehouse else None}
    run = marts.refresh
    if run:
        finished = run.get("finished_at")
        meta.update(
            run_id=run.get("run_id"),
            extract_id=run.get("extract_id"),
            manifest_sha256=run.get("manifest_sha256"),
            refreshed_at=None if pd.isna(finished) else str(finished),
            dbt_invocation_id=run.get("dbt_invocation_id"),
            dbt_vars=run.get("dbt_vars") or {},
        )
        if run.get("contract_revision") is not None and not pd.isna(run.get("contract_revision")):
            meta["contract_revision"] = int(run["contract_revision"])
    return meta


#: Where a missing-data code leaves its patients out (results.json ``missing_data``).
MISSING_DATA_HANDLING: dict[str, list[str]] = {
    "local_disease_status": [
        "Table 1: counted in the missing row, never a level, left out of the test",
        "Table 3 logistic and Cox models that use local disease status (complete cases)",
        "propensity-score matching (its covariates use local disease status)",
        "survival subgroups by local disease status, and the sensitivity analyses' adjusted models",
    ]
}


def missing_data_section(cohort: pd.DataFrame) -> dict[str, Any]:
    """results.json ``missing_data``: per coded column, its missing-data codes, the patients holding
    one, and where they are left out (never a level or a reference)."""
    counts = missing_code_counts(cohort)
    return {
        column: {
            "codes": list(codes),
            "n_patients": counts.get(column, 0),
            "left_out_of": MISSING_DATA_HANDLING.get(column, []),
        }
        for column, codes in MISSING_CODES.items()
        if column in cohort.columns
    }


def analyze(
    cohort: pd.DataFrame,
    cycles: pd.DataFrame,
    config: AnalysisConfig | None = None,
    *,
    meta: dict[str, Any] | None = None,
    pfs: pd.DataFrame | None = None,
    baseline_cohort: pd.DataFrame | None = None,
    strategy_months: pd.DataFrame | None = None,
    strategy_cohort: pd.DataFrame | None = None,
) -> AnalysisResult:
    """Run the study's analyses on the marts given as DataFrames.

    Parameters
    ----------
    cohort : DataFrame
        ``marts.analysis_cohort`` (eligible patients).
    cycles : DataFrame
        ``marts.rait_cycles`` (at least the cohort's patients).
    config : AnalysisConfig, optional
        The options; default: the declared defaults.
    meta : dict, optional
        Provenance to record in results.json ``meta`` (the refresh read: `warehouse_meta`); its
        ``contract_revision`` and ``dbt_vars`` say how PFS was censored (`censoring_rule`), and
        ``dbt_vars`` give the exposure lag of the time-varying models (``rxwbs_window_days``,
        `exposure_lag_days`; the declared default without them).
    pfs : DataFrame, optional
        ``marts.pfs``: the deaths (``cohort_summary``) and ``pfs_months_last_contact`` (the
        censoring sensitivity analysis); without it those parts are skipped with a reason.
    baseline_cohort : DataFrame, optional
        The patients eligible at baseline, shaped like ``cohort``
        (`rait_registry.warehouse.read_baseline_eligible_cohort`): results.json
        ``survival.baseline_eligible``, the PFS comparison on them as a sensitivity analysis;
        without it that entry is skipped with a reason.
    strategy_months, strategy_cohort : DataFrame, optional
        ``marts.strategy_evidence_monthly`` and the target-trial emulation's eligible patients
        (default: ``cohort``); without the months the ``strategies`` section is skipped.

    Returns
    -------
    AnalysisResult

    Examples
    --------
    >>> from rait_registry.analysis import AnalysisConfig, analyze
    >>> result = analyze(cohort, cycles, AnalysisConfig(sensitivity_analyses=False))
    >>> result.results["cohort"]
    {'n_eligible': 117, 'n_o_rait': 38, 'n_m_rait': 79}
    >>> result.summary.round(2)
                               n  events    hr  ci_low  ci_high     p
    analysis
    overall                  117      24  2.24    0.77     6.56  0.14
    matched                   70       8  1.46    0.42     5.14  0.55
    matched_pair_stratified   70       8  2.00    0.37    10.92  0.42
    """
    config = config or DEFAULTS
    meta = dict(meta or {})
    censoring = censoring_rule(meta)
    meta["contract_revision"] = censoring["contract_revision"]
    cohort_pfs = with_pfs(cohort, pfs)
    meta.update(
        package_version=__version__,
        analyzed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        config=jsonable(config.to_dict()),
    )
    progress = reporter()
    skips: dict[str, str] = {}

    def section(name: str, compute, label: str | None = None, **needs: bool):
        """Run one analysis as a progress phase; skipped (None) when the cohort cannot support it."""
        with progress.phase(label or name) as phase:
            result = run_section(name, compute, skips, cohort_problem(cohort, **needs), n_patients=len(cohort))
            if result is None:
                phase.skip(skips[name])
        return result

    t1 = section("table1", lambda: Table1(test_rule=config.test_rule).fit(cohort), both_groups=True)
    t2 = section("table2", lambda: Table2(test_rule=config.test_rule).fit(cohort, cycles), both_groups=True)
    logistic = section(
        "logistic",
        lambda: LogisticAnalysis(threshold=config.selection_threshold, age_cut=config.age_cut_years).fit(cohort),
        both_groups=True,  # the group is a term of the model
        events=True,
    )
    cox = section(
        "cox_risk_factors",
        lambda: CoxRiskFactorAnalysis(threshold=config.selection_threshold, age_cut=config.age_cut_years).fit(cohort),
        both_groups=True,
        events=True,
    )
    matcher = section(
        "matching",
        lambda: PropensityMatcher(
            **matching_options(config),
            caliper=config.caliper,
            caliper_scale=config.caliper_scale,
            order=config.matching_order,
            random_state=config.random_state,
        ).fit(cohort),
        both_groups=True,
    )
    # the tables, models and matching handle missing-data codes themselves (with warnings); the
    # survival subgroups and the sensitivity analyses read them as nulls
    known = as_missing(cohort)
    matched = None if matcher is None else matcher.matched_cohort_
    survival = section(
        "survival",
        lambda: SurvivalAnalysis(
            age_cut_years=config.age_cut_years,
            size_cut_cm=config.size_cut_cm,
            subgroup_cohort=config.subgroup_cohort,
            subgroup_min_patients=config.subgroup_min_patients,
            subgroup_min_events=config.subgroup_min_events,
        ).fit(known, matched, baseline_cohort=None if baseline_cohort is None else as_missing(baseline_cohort)),
        both_groups=True,
    )
    cutpoints = section("cutpoints", lambda: CutpointScan().fit(cohort), events=True)
    trial = section(
        "trial_design",
        lambda: NonInferiorityTrialDesign.from_config(config).fit(with_first_rait_date(cohort, cycles)),
        "trial design",
        events=True,
    )
    centres = section("centres", lambda: CentreAnalysis(alpha=config.alpha).fit(cohort), both_groups=True)
    strategies = (  # without its mart (analyze given only the paper's marts) the section says so
        None
        if strategy_months is None
        else section(
            "strategies",
            lambda: TargetTrialEmulation.from_config(config).fit(
                known if strategy_cohort is None else as_missing(strategy_cohort), strategy_months
            ),
            "strategies (target-trial emulation)",
            events=True,
        )
    )
    t1_matched = balance = None
    if matcher is not None:
        t1_matched = section(
            "table1_matched", lambda: Table1(test_rule=config.test_rule).fit(matched), "table1 (matched)"
        )
        balance = baseline_balance(
            cohort, matched["patient_id"], threshold=config.smd_threshold, matching_covariates=matcher.covariates
        )
    results: dict[str, Any] = {
        "meta": meta,
        "cohort": cohort_section(cohort),
        "cohort_summary": cohort_summary(cohort_pfs),
        "missing_data": missing_data_section(cohort),
        "table1": _section(t1, "table1", skips),
        "table1_matched": _section(t1_matched, "table1_matched", skips)
        if matcher is not None
        else skipped(f"matching was skipped: {skips['matching']}"),
        "table2": _section(t2, "table2", skips),
        "logistic": _section(logistic, "logistic", skips),
        "cox_risk_factors": _section(cox, "cox_risk_factors", skips),
        "matching": _section(matcher, "matching", skips),
        "survival": _section(survival, "survival", skips),
        "pfs_censoring": {
            **censoring,
            "last_contact_sensitivity": last_contact_sensitivity(
                cohort_pfs, matched, censoring["rule"], horizon=config.horizon_months
            ),
        },
        "cutpoints": _section(cutpoints, "cutpoints", skips),
        "trial_design": _section(trial, "trial_design", skips),
        "centres": _section(centres, "centres", skips),
        "strategies": _section(strategies, "strategies", skips)
        if strategy_months is not None
        else skipped("no person-months of marts.strategy_evidence_monthly were given; rerun `rait-registry refresh`"),
    }
    if survival is not None and matcher is None:
        results["survival"]["matched"] = skipped(f"matching was skipped: {skips['matching']}")
    tables: dict[str, Any] = {}
    if t1 is not None:
        tables["table1"] = t1.table_
    if t2 is not None:
        tables["table2"] = t2.table_
    if logistic is not None:
        tables.update(logistic_univariable=logistic.univariable_, logistic_multivariable=logistic.multivariable_)
    if matcher is not None:
        tables["matching_balance"] = matcher.balance_
        tables["matching_balance_baseline"] = balance
        results["matching"]["balance_baseline"] = baseline_balance_section(balance, config.smd_threshold)
    if t1_matched is not None:
        tables["table1_matched"] = t1_matched.table_
    if cutpoints is not None:
        tables["cutpoints"] = pd.DataFrame(results["cutpoints"])
    if centres is not None:
        tables.update(centres.tables_)
    tables["cohort_summary"] = summary_table(results["cohort_summary"])
    if trial is not None:
        tables["trial_design"] = trial.summary
    if strategies is not None:
        tables.update(strategies=strategies.summary.reset_index(), strategies_protocol=strategies.protocol_frame())
    sensitivity = None
    if config.sensitivity_analyses:
        lag, lag_source = exposure_lag_days(meta)
        analyses = SensitivityAnalyses(config, exposure_lag_days=lag, exposure_lag_source=lag_source)
        results["sensitivity_options"] = analyses.options_dict()
        with progress.phase("sensitivity analyses", total=SensitivityAnalyses.STEPS, unit="analyses") as phase:
            problem = cohort_problem(cohort, both_groups=True, events=True)
            if problem is None and matcher is None:
                problem = f"the sensitivity analyses build on the matching, which was skipped: {skips['matching']}"
            sensitivity = run_section(
                "sensitivity",
                lambda: analyses.fit(
                    known,
                    cycles,
                    matcher,
                    matched_hr=_pair_aware_matched_hr(survival, matcher),
                    on_step=lambda step: phase.advance(item=step),
                ),
                skips,
                problem,
                n_patients=len(cohort),
            )
            if sensitivity is None:
                phase.skip(skips["sensitivity"])
        if sensitivity is None:
            reason = skips.pop("sensitivity")
            for name in SENSITIVITY_SECTIONS:
                skips[name] = reason
                results[name] = skipped(reason)
        else:
            results.update(sensitivity.to_dict())
            tables.update(sensitivity.tables_)
    if cox is not None:
        tables.update(cox_univariable=cox.univariable_, cox_multivariable=cox.multivariable_)
    if survival is not None:
        results["proportional_hazards"] = proportional_hazards_section(
            survival, sensitivity, alpha=config.ph_test_alpha
        )
        tables["proportional_hazards"] = ph_table(results["proportional_hazards"])
        tables["survival_hazard_ratios"] = survival_hr_table(results["survival"])
    else:
        results["proportional_hazards"] = skipped(f"survival was skipped: {skips['survival']}")
    results = jsonable(results)
    validate_results(results)
    return AnalysisResult(
        config,
        t1,
        t2,
        logistic,
        matcher,
        survival,
        cutpoints,
        sensitivity,
        results,
        tables,
        skipped=skips,
        cox_risk_factors=cox,
        trial_design=trial,
        strategies=strategies,
    )


def _pair_aware_matched_hr(survival: SurvivalAnalysis | None, matcher: Any) -> HazardRatioEstimate | None:
    """The matched cohort's HR (m-RAIT vs o-RAIT) with its SE robust to the pairs, for the
    non-inferiority test; None when there is no matched comparison or no estimate."""
    comparison = None if survival is None else survival.matched_
    if comparison is None or comparison.hr_.get("log_hr") is None:
        return None
    return HazardRatioEstimate.from_fit(
        "matched",
        "matched cohort (Cox HR, SE robust to the pairs)",
        comparison.hr_,
        data=matcher.matched_cohort_,
        biases=matched_biases(matcher.covariates),
    )


def _section(fitted: Any, name: str, skips: dict[str, str]) -> Any:
    """The results.json section of a fitted analysis, or its skipped shape."""
    return skipped(skips[name]) if fitted is None else fitted.to_dict()


def survival_hr_table(section: dict[str, Any]) -> pd.DataFrame:
    """Every hazard ratio of the ``survival`` section, one row each (the CSV ``survival_hazard_ratios``).

    The eligible cohort, the patients eligible at baseline (a sensitivity row), the matched cohort
    (the matched HR with the SE robust to the pairs, then the pair-stratified model as a
    sensitivity row) and the Fig. 4 panels with their interaction test; a missing HR carries its
    reason.
    """
    rows = []

    def row(analysis: str, entry: dict[str, Any], **extra: Any) -> None:
        rows.append(
            {
                "analysis": analysis,
                "comparison": f"{entry.get('hr_comparison')} vs {entry.get('hr_reference')}"
                if entry.get("hr_comparison")
                else None,
                "n": entry.get("n"),
                "events": entry.get("events"),
                "hr": entry.get("hr"),
                "ci_low": entry.get("hr_ci_low"),
                "ci_high": entry.get("hr_ci_high"),
                "p": entry.get("hr_p"),
                "se_method": entry.get("hr_se_method"),
                "reason": entry.get("hr_reason"),
                **extra,
            }
        )

    row("overall", section["overall"])
    baseline = section.get("baseline_eligible") or {}
    if baseline and not baseline.get("skipped"):
        row("baseline_eligible", baseline)
    matched = section.get("matched")
    if matched:
        row("matched", matched)
        strat = matched.get("hr_stratified")
        if strat is not None:
            rows.append(
                {
                    "analysis": "matched_pair_stratified",
                    "comparison": f"{matched.get('hr_comparison')} vs {matched.get('hr_reference')}",
                    "n": matched.get("n"),
                    "events": strat.get("events"),
                    "hr": strat.get("hr"),
                    "ci_low": strat.get("ci_low"),
                    "ci_high": strat.get("ci_high"),
                    "p": strat.get("p"),
                    "se_method": strat.get("se_method"),
                    "reason": strat.get("reason"),
                }
            )
    for sub in section.get("subgroups") or []:
        inter = sub.get("interaction") or {}
        row(
            sub["name"],
            sub,
            interaction_chi2=inter.get("chi2"),
            interaction_df=inter.get("df"),
            interaction_p=inter.get("p"),
            interaction_reason=inter.get("reason"),
        )
    return pd.DataFrame(rows)


def analyze_warehouse(
    warehouse: str | Path | None = None,
    out_dir: str | Path | None = None,
    config: AnalysisConfig | None = None,
) -> AnalysisResult:
    """Read the published marts (`read_published`), `analyze` them and, with ``out_dir``, write the results.

    Progress goes to `rait_registry.console.reporter`: reading, one phase per analysis (with its
    reason when skipped) and writing.
    """
    progress = reporter()
    with progress.phase("read warehouse") as phase:
        marts = read_published(warehouse)
        phase.update(patients=len(marts.cohort), cycles=len(marts.cycles))
    result = analyze(
        marts.cohort,
        marts.cycles,
        config,
        meta=warehouse_meta(marts, warehouse),
        pfs=marts.pfs,
        baseline_cohort=marts.baseline_cohort,
        strategy_months=marts.strategy_months,
        strategy_cohort=marts.strategy_cohort,
    )
    if out_dir is not None:
        with progress.phase("write results") as phase:
            result.write(out_dir)
            phase.update(tables=len(result.tables))
    return result


def summary_table(summary: dict[str, Any]) -> pd.DataFrame:
    """``tables/cohort_summary.csv``: one row per quantity and group (median, range or count)."""
    rows = [{"quantity": "rait_cycles", "group": "m-RAIT", **summary["m_rait_cycles"]}]
    names = {
        "overall": "overall",
        "o_rait": "o-RAIT",
        "m_rait": "m-RAIT",
        "ending_pfs": "overall, before any progression",
    }
    rows += [{"quantity": "follow_up_months", "group": names[k], **v} for k, v in summary["follow_up_months"].items()]
    deaths = summary["deaths"]
    if not deaths.get("skipped"):
        rows += [{"quantity": "deaths", "group": names.get(k, k), "n": v} for k, v in deaths.items()]
    return pd.DataFrame(rows, columns=["quantity", "group", "n", "median", "min", "max"])


def validate_results(results: dict) -> None:
    """Validate ``results`` against the shipped JSON Schema (raises ``jsonschema.ValidationError``)."""
    import jsonschema

    schema = json.loads(resources.files("rait_registry.schemas").joinpath("results.schema.json").read_text())
    jsonschema.validate(results, schema)


def write_results(result: AnalysisResult, out_dir: Path) -> Path:
    """Write ``results.json`` and ``tables/*.csv`` under ``out_dir``; return the results path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tables").mkdir(exist_ok=True)
    for name, frame in result.tables.items():
        if isinstance(frame, pd.DataFrame):
            frame.to_csv(out_dir / "tables" / f"{name}.csv", index=False)
    path = out_dir / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.results, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    return path
