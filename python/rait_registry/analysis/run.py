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
from ..warehouse import PublishedMarts, read_published
from .config import DEFAULTS, AnalysisConfig
from .cutpoints import CutpointScan
from .jsonutil import jsonable
from .logistic import LogisticAnalysis
from .matching import PropensityMatcher, baseline_balance, baseline_balance_section
from .proportional_hazards import ph_table, proportional_hazards_section
from .sensitivity import SensitivityAnalyses
from .survival import SurvivalAnalysis
from .tables import Table1, Table2, cohort_section


@dataclass
class AnalysisResult:
    """Everything `analyze` produced: the fitted analyses, results.json and the tidy tables.

    Attributes
    ----------
    config : AnalysisConfig
    table1, table2 : Table1, Table2
    logistic : LogisticAnalysis
    matching : PropensityMatcher
    survival : SurvivalAnalysis
    cutpoints : CutpointScan
    sensitivity : SensitivityAnalyses or None
        None with ``sensitivity_analyses=False``.
    results : dict
        results.json (JSON-ready, validated against the shipped schema).
    tables : dict of str -> DataFrame
        The tidy tables ``write`` puts under ``tables/``.

    Examples
    --------
    >>> from rait_registry.analysis import analyze
    >>> result = analyze(cohort, cycles)
    >>> result.matching.to_dict()["n_pairs"], sorted(result.sensitivity.to_dict())[:2]
    (35, ['dose_response', 'landmark'])
    >>> path = result.write(tmp_path)  # doctest: +SKIP
    """

    config: AnalysisConfig
    table1: Table1
    table2: Table2
    logistic: LogisticAnalysis
    matching: PropensityMatcher
    survival: SurvivalAnalysis
    cutpoints: CutpointScan
    sensitivity: SensitivityAnalyses | None
    results: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """Every hazard ratio of m-RAIT vs o-RAIT, one row per analysis: the eligible (``overall``) and
        matched cohorts of the survival section (the matched HR with the SE robust to the pairs, then
        the pair-stratified model, ``matched_pair_stratified``), then those the sensitivity analyses add."""
        cols = ["n", "events", "hr", "ci_low", "ci_high", "p"]
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
    return meta


def analyze(
    cohort: pd.DataFrame,
    cycles: pd.DataFrame,
    config: AnalysisConfig | None = None,
    *,
    meta: dict[str, Any] | None = None,
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
        Provenance to record in results.json ``meta`` (the refresh read: `warehouse_meta`).

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
    meta.update(
        package_version=__version__,
        analyzed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        config=jsonable(config.to_dict()),
    )
    t1 = Table1().fit(cohort)
    t2 = Table2().fit(cohort, cycles)
    logistic = LogisticAnalysis(threshold=config.selection_threshold, age_cut=config.age_cut_years).fit(cohort)
    matcher = PropensityMatcher(
        covariates=config.matching_covariates,
        caliper=config.caliper,
        caliper_scale=config.caliper_scale,
        order=config.matching_order,
        random_state=config.random_state,
    ).fit(cohort)
    survival = SurvivalAnalysis(
        age_cut_years=config.age_cut_years,
        size_cut_cm=config.size_cut_cm,
        subgroup_cohort=config.subgroup_cohort,
        subgroup_min_patients=config.subgroup_min_patients,
        subgroup_min_events=config.subgroup_min_events,
    ).fit(cohort, matcher.matched_cohort_)
    cutpoints = CutpointScan().fit(cohort)
    matched = matcher.matched_cohort_
    t1_matched = Table1().fit(matched)
    balance = baseline_balance(
        cohort, matched["patient_id"], threshold=config.smd_threshold, matching_covariates=matcher.covariates
    )
    matching = matcher.to_dict()
    matching["balance_baseline"] = baseline_balance_section(balance, config.smd_threshold)
    results: dict[str, Any] = {
        "meta": meta,
        "cohort": cohort_section(cohort),
        "table1": t1.to_dict(),
        "table1_matched": t1_matched.to_dict(),
        "table2": t2.to_dict(),
        "logistic": logistic.to_dict(),
        "matching": matching,
        "survival": survival.to_dict(),
        "cutpoints": cutpoints.to_dict(),
    }
    tables = {
        "table1": t1.table_,
        "table1_matched": t1_matched.table_,
        "table2": t2.table_,
        "logistic_univariable": logistic.univariable_,
        "logistic_multivariable": logistic.multivariable_,
        "matching_balance": matcher.balance_,
        "matching_balance_baseline": balance,
        "cutpoints": pd.DataFrame(results["cutpoints"]),
    }
    sensitivity = None
    if config.sensitivity_analyses:
        sensitivity = SensitivityAnalyses(config).fit(cohort, cycles, matcher)
        results["sensitivity_options"] = sensitivity.options_dict()
        results.update(sensitivity.to_dict())
        tables.update(sensitivity.tables_)
    results["proportional_hazards"] = proportional_hazards_section(survival, sensitivity, alpha=config.ph_test_alpha)
    tables["proportional_hazards"] = ph_table(results["proportional_hazards"])
    tables["survival_hazard_ratios"] = survival_hr_table(results["survival"])
    results = jsonable(results)
    validate_results(results)
    return AnalysisResult(config, t1, t2, logistic, matcher, survival, cutpoints, sensitivity, results, tables)


def survival_hr_table(section: dict[str, Any]) -> pd.DataFrame:
    """Every hazard ratio of the ``survival`` section, one row each (the CSV ``survival_hazard_ratios``).

    The eligible and matched cohorts (the matched HR with the SE robust to the pairs, then the
    pair-stratified model as a sensitivity row) and the Fig. 4 panels with their interaction
    test; a missing HR carries its reason.
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
    """Read the published marts (`read_published`), `analyze` them and, with ``out_dir``, write the results."""
    marts = read_published(warehouse)
    result = analyze(marts.cohort, marts.cycles, config, meta=warehouse_meta(marts, warehouse))
    if out_dir is not None:
        result.write(out_dir)
    return result


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
