"""``rait-registry analyze``: read the published marts, run the study's statistics, write results.

Writes ``results.json`` (contract section 4; validated against the shipped JSON Schema
``rait_registry/schemas/results.schema.json``) and tidy CSVs under ``tables/``. The statistics
themselves live in the sibling modules; this module only reads, orchestrates and writes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..warehouse import connect_read_only
from .jsonutil import jsonable as _jsonable


@dataclass
class AnalysisConfig:
    """Options of the analysis (contract section 4 defaults)."""

    age_cut_years: float = 45.0
    size_cut_cm: float = 4.0
    selection_threshold: float = 0.1
    matching_covariates: tuple[str, ...] = ("age_at_diagnosis_years", "local_persistent_disease", "follow_up_months")
    caliper: float = 0.05
    caliper_scale: str = "propensity"
    matching_order: str = "largest"
    random_state: int | None = None
    subgroup_cohort: str = "matched"
    sensitivity_analyses: bool = True
    landmark_months: float = 12.0
    ni_hr_margin: float = 1.5
    ni_pfs_margin: float = 0.10


@dataclass
class AnalysisResult:
    """Everything ``analyze`` produced: the results dict and the tidy tables."""

    results: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)


def load_marts(warehouse: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Read the marts the analysis needs from the published warehouse (read-only)."""
    con = connect_read_only(warehouse)
    try:
        marts = {
            "analysis_cohort": con.execute("select * from marts.analysis_cohort order by patient_id").df(),
            "rait_cycles": con.execute(
                "select cycles.* from marts.rait_cycles as cycles "
                "join marts.analysis_cohort as cohort using (patient_id) order by patient_id, cycle_number"
            ).df(),
            "cohort_attrition": con.execute("select * from marts.cohort_attrition order by step").df(),
        }
        meta = {"warehouse": str(warehouse) if warehouse else None}
        has_history = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'history' and table_name = 'refresh_runs'"
        ).fetchone()[0]
        if has_history:
            row = con.execute(
                "select run_id, extract_id, manifest_sha256, finished_at, dbt_invocation_id, dbt_vars "
                "from history.refresh_runs order by started_at desc limit 1"
            ).fetchone()
            if row:
                meta.update(
                    run_id=row[0],
                    extract_id=row[1],
                    manifest_sha256=row[2],
                    refreshed_at=str(row[3]),
                    dbt_invocation_id=row[4],
                    dbt_vars=json.loads(row[5]) if row[5] else {},
                )
        marts["_meta"] = meta
    finally:
        con.close()
    return marts


def analyze(
    warehouse: str | Path | None = None,
    out_dir: str | Path | None = None,
    config: AnalysisConfig | None = None,
    marts: dict | None = None,
) -> AnalysisResult:
    """Run the study's analyses on the published marts and (optionally) write them to ``out_dir``."""
    from . import logistic, tables

    config = config or AnalysisConfig()
    marts = marts if marts is not None else load_marts(warehouse)
    cohort, cycles = marts["analysis_cohort"], marts["rait_cycles"]
    meta = dict(marts.get("_meta", {}))
    meta.update(
        package_version=__version__,
        analyzed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        config=_jsonable(asdict(config)),
    )

    out_tables: dict[str, pd.DataFrame] = {}
    objects: dict[str, Any] = {}
    results: dict[str, Any] = {"meta": meta, "cohort": tables.cohort_section(cohort)}

    out_tables["table1"] = tables.table1(cohort)
    out_tables["table2"] = tables.table2(cohort, cycles)
    results["table1"] = tables.records(out_tables["table1"])
    results["table2"] = tables.records(out_tables["table2"])

    fitted = logistic.LogisticAnalysis(threshold=config.selection_threshold, age_cut=config.age_cut_years).fit(cohort)
    objects["logistic"] = fitted
    results["logistic"] = fitted.to_dict()
    out_tables["logistic_univariable"] = fitted.univariable_
    out_tables["logistic_multivariable"] = fitted.multivariable_

    _stats_two(results, out_tables, objects, cohort, config)

    if config.sensitivity_analyses and "matching" in objects:
        _sensitivity(results, out_tables, objects, cohort, cycles, config)

    results = _jsonable(results)
    validate_results(results)
    result = AnalysisResult(results=results, tables=out_tables, objects=objects)
    if out_dir is not None:
        write_results(result, Path(out_dir))
    return result


def _stats_two(results: dict, out_tables: dict, objects: dict, cohort: pd.DataFrame, config: AnalysisConfig) -> None:
    """Matching, survival and cut-points (Statistics II)."""
    try:
        from . import cutpoints, matching, survival
    except ImportError:  # pragma: no cover - lands with the Statistics II issue
        return
    matcher = matching.PropensityMatcher(
        covariates=list(config.matching_covariates),
        caliper=config.caliper,
        caliper_scale=config.caliper_scale,
        order=config.matching_order,
        random_state=config.random_state,
    ).fit(cohort)
    objects["matching"] = matcher
    results["matching"] = matcher.to_dict()
    out_tables["matching_balance"] = matcher.balance_
    fitted = survival.survival_analyses(
        cohort,
        matcher.matched_cohort_,
        age_cut=config.age_cut_years,
        size_cut=config.size_cut_cm,
        subgroup_cohort=config.subgroup_cohort,
    )
    objects["survival"] = fitted
    results["survival"] = survival.section_from_analyses(fitted)
    results["cutpoints"] = cutpoints.cutpoint_section(cohort)
    out_tables["cutpoints"] = pd.DataFrame(results["cutpoints"])


def _sensitivity(results: dict, out_tables: dict, objects: dict, cohort, cycles, config: AnalysisConfig) -> None:
    """Sensitivity analyses: landmark, time-varying Cox, non-inferiority, matching/IPTW/E-values, dose-response."""
    from .sensitivity import SensitivityAnalyses, SensitivityOptions

    fitted = SensitivityAnalyses(
        SensitivityOptions(
            landmark_months=config.landmark_months,
            ni_hr_margin=config.ni_hr_margin,
            ni_pfs_margin=config.ni_pfs_margin,
        )
    ).fit(cohort, cycles, objects["matching"])
    objects["sensitivity"] = fitted
    results["sensitivity_options"] = fitted.options_dict()
    results.update(fitted.to_dict())
    out_tables.update(fitted.tables_)


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
