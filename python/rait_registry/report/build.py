"""``rait-registry report``: one self-contained HTML study report, plus its figures and tables as files.

:func:`build_report` reads the published warehouse (read-only) and the analysis results
(``results.json``, docs/specification.md section 4) and writes::

    OUT/report.html           self-contained: figures embedded as base64 PNG, CSS inline, no scripts,
                              nothing fetched from the network
    OUT/figures/*.png|svg     publication figures (PNG 300 dpi, SVG)
    OUT/tables/paper_*.csv    the tables as displayed (Tables 1-3, survival, matching, cut-points, attrition)

Numbers come from ``results.json``; the marts supply what the results do not hold (the
patient-level data behind the Kaplan-Meier curves, the Sankey flows, the attrition counts,
the propensity scores refitted with the published matching settings). When no results are
given and ``OUT/results.json`` does not exist, the analysis is run first with
:func:`rait_registry.analysis.analyze_warehouse` (which writes ``results.json`` and its tidy
tables into ``OUT``). Whatever the report had to compute itself, or could not draw, is
listed under "Notes on this report".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__, console
from ..analysis import DEFAULTS, PropensityMatcher, SurvivalComparison, analyze_warehouse, format_p, subgroup_specs
from ..analysis.skips import is_skipped
from ..contract import M_RAIT, O_RAIT, RAIT_GROUPS
from ..exceptions import AnalysisError, StatisticsWarning, UsageError
from ..params import REFRESH_PARAMETERS
from ..warehouse import read_published
from . import figures as F
from .centres import render_centres
from .html import (
    Cell,
    Row,
    TableLayout,
    balance_table,
    baseline_balance_table,
    categorical_agreement_reading,
    categorical_test_note,
    censoring_lines,
    cohort_summary_lines,
    cox_reading,
    cox_table,
    cutpoint_table,
    horizon_response_reading,
    logistic_table,
    paper_table,
    paragraphs,
    ph_table,
    render_figure,
    render_page,
    render_skipped,
    render_table,
    survival_table,
)
from .labels import VARIABLE_LABELS, criterion_labels, level_label, plot_labels
from .sensitivity import render_sensitivity_analyses
from .strategies import render_strategies
from .trial_design import trial_design_html

log = logging.getLogger(__name__)

__all__ = ["ReportData", "build_report", "load_report_data", "study_parameters"]

GROUPS = RAIT_GROUPS


# --------------------------------------------------------------------------- inputs


@dataclass
class ReportData:
    """Everything the report reads: marts, refresh provenance and the analysis results."""

    warehouse: Path
    cohort: pd.DataFrame
    cycles: pd.DataFrame
    attrition: pd.DataFrame
    refresh: dict[str, Any] | None
    n_quarantined_rows: int | None
    results: dict[str, Any]
    results_source: str
    results_sha256: str | None = None
    notes: list[str] = field(default_factory=list)


def load_report_data(
    warehouse: str | Path | None, out_dir: str | Path, results: Mapping[str, Any] | str | Path | None = None
) -> ReportData:
    """Read the marts and provenance from ``warehouse`` and the results (dict, path, or ``out_dir/results.json``).

    Raises
    ------
    WarehouseNotFound
        No published warehouse at the path.
    UsageError
        A marts table the report needs is missing, or the results file is not valid JSON.
    """
    marts = read_published(warehouse)
    path, out_dir = marts.path, Path(out_dir)
    notes: list[str] = []
    if marts.refresh is None:
        notes.append(
            "The warehouse has no refresh history (history.refresh_runs): extract id, manifest hash and "
            "refresh time are unknown; study parameters are listed as the dbt_project.yml defaults."
        )

    sha = None
    if isinstance(results, Mapping):
        loaded, source = dict(results), "passed in by the caller"
    else:
        results_path = Path(results) if results is not None else out_dir / "results.json"
        if results_path.is_file():
            raw = results_path.read_bytes()
            sha = hashlib.sha256(raw).hexdigest()
            try:
                loaded = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise UsageError(
                    f"{results_path} is not valid JSON ({exc.msg} at line {exc.lineno}); rerun `rait-registry analyze`."
                ) from None
            source = str(results_path)
        elif results is not None:
            raise UsageError(f"no results file at {results_path}; run `rait-registry analyze --out DIR` first.")
        else:
            log.info("no results.json in %s: running the analysis first", out_dir)
            with warnings.catch_warnings():  # the report lists the statistics warnings in its notes
                warnings.simplefilter("ignore", StatisticsWarning)
                analysis = analyze_warehouse(path, out_dir)
            loaded = analysis.results
            written = out_dir / "results.json"
            sha = hashlib.sha256(written.read_bytes()).hexdigest() if written.is_file() else None
            source = f"{written} (computed by the report with rait_registry.analysis.analyze_warehouse)"
    for key in ("cohort", "table1", "table2", "logistic"):
        if key not in loaded:
            raise UsageError(
                f"the results lack the '{key}' section (docs/specification.md section 4); rerun `rait-registry analyze`."
            )
    return ReportData(
        path,
        marts.cohort,
        marts.cycles,
        marts.attrition,
        marts.refresh,
        marts.n_quarantined_rows,
        loaded,
        source,
        sha,
        notes,
    )


def _declared_refresh_values() -> dict[str, Any]:
    """The declared dbt var defaults (`rait_registry.params`) as ``dbt_project.yml`` writes them.

    Whole numbers as integers (``micromet_max_mm: 10``), dates as ISO text, so that the
    parameter table and the exclusion labels read as before.
    """
    values = {}
    for p in REFRESH_PARAMETERS:
        value = p.to_dict()["default"]
        values[p.name] = int(value) if isinstance(value, float) and value.is_integer() else value
    return values


def study_parameters(refresh: Mapping[str, Any] | None) -> list[tuple[str, str, str, bool]]:
    """``(name, value in force, default, overridden)`` for every dbt var.

    Defaults come from the study-parameter declaration (`rait_registry.params`); overrides from
    the refresh history (``history.refresh_runs.dbt_vars`` of the run that built the warehouse).
    """
    defaults = _declared_refresh_values()
    overrides = dict((refresh or {}).get("dbt_vars") or {})
    rows = []
    for name in list(defaults) + [k for k in overrides if k not in defaults]:
        default = defaults.get(name)
        value = overrides.get(name, default)
        rows.append(
            (
                name,
                "" if value is None else str(value),
                "" if default is None else str(default),
                name in overrides and overrides[name] != default,
            )
        )
    return rows


def _vars_in_force(refresh: Mapping[str, Any] | None) -> dict[str, Any]:
    values = _declared_refresh_values()
    values.update(dict((refresh or {}).get("dbt_vars") or {}))
    return values


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _fmt_time(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return pd.Timestamp(value).isoformat(timespec="seconds")
    return str(value)


def _provenance(data: ReportData, generated_at: str) -> list[tuple[str, str]]:
    r = data.refresh or {}
    meta = data.results.get("meta") or {}
    rows = [("Warehouse", str(data.warehouse))]
    if data.refresh is not None:
        counts = r.get("table_counts") or {}
        rows += [
            ("Refresh run", f"{r.get('run_id')} ({r.get('status')})"),
            ("Refreshed at", _fmt_time(r.get("finished_at"))),
            ("Extract id", str(r.get("extract_id") or "none (no manifest.json)")),
            ("Extracted at", _fmt_time(r.get("extracted_at"))),
            ("Manifest SHA-256", str(r.get("manifest_sha256") or "none (no manifest.json)")),
            ("dbt invocation id", str(r.get("dbt_invocation_id") or "unknown")),
            ("rait-registry at refresh", str(r.get("package_version") or "unknown")),
        ]
        if r.get("dbt_version"):
            rows.append(("dbt-core at refresh", str(r["dbt_version"])))
        if isinstance(counts, Mapping) and counts:
            read = sum(int(v.get("read", 0)) for v in counts.values() if isinstance(v, Mapping))
            quarantined = sum(int(v.get("quarantined", 0)) for v in counts.values() if isinstance(v, Mapping))
            rows.append(("Extract rows read / quarantined", f"{read} / {quarantined}"))
        hashes = r.get("mart_hashes") or {}
        if isinstance(hashes, Mapping) and hashes.get("analysis_cohort"):
            rows.append(("marts.analysis_cohort content md5", str(hashes["analysis_cohort"])))
    elif data.n_quarantined_rows is not None:
        rows.append(("Quarantined source rows", str(data.n_quarantined_rows)))
    rows += [
        ("Results", data.results_source),
        ("Results SHA-256", data.results_sha256 or "n/a (passed in memory)"),
        ("Analysed at", _fmt_time(meta.get("analyzed_at"))),
        ("Analysis options", json.dumps(meta.get("config"), sort_keys=True) if meta.get("config") else "defaults"),
        ("rait-registry (report)", __version__),
        ("dbt-core / dbt-duckdb (report environment)", f"{_version('dbt-core')} / {_version('dbt-duckdb')}"),
        (
            "lifelines / statsmodels / matplotlib",
            f"{_version('lifelines')} / {_version('statsmodels')} / {_version('matplotlib')}",
        ),
        ("Report generated at", generated_at),
    ]
    return rows


# --------------------------------------------------------------------------- figure inputs


RISK_LABELS = {"neither": "Neither", "local_recurrence": "Recurrence", "local_persistent": "Persistent"}


def _pretty_group(name: str) -> str:
    if name in GROUPS:
        return name
    text = level_label(name).replace(">=", "\u2265").replace("<=", "\u2264")
    return text[:1].upper() + text[1:]


def _risk_label(key: str) -> str:
    """Short row label of the number-at-risk table (the legend carries the full label)."""
    if key in RISK_LABELS:
        return RISK_LABELS[key]
    label = _pretty_group(key)
    for prefix in ("Age ", "Tumour "):
        if label.startswith(prefix):
            return label[len(prefix) :]
    return label


def _groups(frame: pd.DataFrame, labels: pd.Series, order: list[str]) -> list[F.KMGroup]:
    rait = set(order) <= set(GROUPS)
    out = []
    for i, key in enumerate(order):
        sub = frame[labels == key]
        color = F.GROUP_COLORS[key] if rait else F.SERIES_COLORS[i % len(F.SERIES_COLORS)]
        out.append(
            F.KMGroup(
                key,
                _pretty_group(key),
                sub["pfs_months"].to_numpy(dtype=float),
                sub["pfs_event"].to_numpy(dtype=int),
                color,
                _risk_label(key),
            )
        )
    return out


def _check_counts(name: str, groups: list[F.KMGroup], analysis: Mapping[str, Any] | None, notes: list[str]) -> None:
    """Note any group whose size in the figure differs from results.json."""
    if not analysis:
        return
    stated = analysis.get("groups") or {}
    for g in groups:
        n = (stated.get(g.key) or {}).get("n")
        if n is not None and int(n) != len(g.durations):
            notes.append(
                f"{name}: group {g.key} has {len(g.durations)} patients in the warehouse but {n} in "
                "results.json; the results may come from another refresh; rerun `rait-registry analyze`."
            )


def _panel(
    title: str, groups: list[F.KMGroup], analysis: Mapping[str, Any] | None, name: str, notes: list[str]
) -> F.KMPanel:
    note = ""
    missing = not analysis or "logrank_p" not in analysis  # a published null stays null
    if missing and any(len(g.durations) for g in groups):
        computed = F.fallback_survival_stats(groups)
        if computed.get("logrank_p") is not None:
            analysis = {**(analysis or {}), **computed}
            note = "(statistics computed by the report)"
            notes.append(
                f"{name}: results.json has no log-rank/HR; the figure draws lifelines estimates computed by the report."
            )
    _check_counts(name, groups, analysis, notes)
    comparison, reference = (analysis or {}).get("hr_comparison"), (analysis or {}).get("hr_reference")
    if comparison and reference:
        hr_label = f"{_pretty_group(str(comparison))} vs {_pretty_group(str(reference))}"
    elif len(groups) == 2:
        hr_label = f"{groups[1].label} vs {groups[0].label}"
    else:
        hr_label = ""
    return F.KMPanel(title, groups, analysis, hr_label, note)


def _matched_cohort(cohort: pd.DataFrame, matching: Mapping[str, Any] | None) -> pd.DataFrame | None:
    if not matching or not matching.get("pairs"):
        return None
    ids = {str(pid) for pair in matching["pairs"] for pid in pair}
    return cohort[cohort["patient_id"].astype(str).isin(ids)].reset_index(drop=True)


def _propensity(cohort: pd.DataFrame, matching: Mapping[str, Any], notes: list[str]) -> pd.DataFrame | None:
    """Refit the published matching settings to get each patient's propensity score (not in results.json)."""
    kwargs = {
        "covariates": matching.get("covariates"),
        "caliper": matching.get("caliper"),
        "caliper_scale": matching.get("caliper_scale", DEFAULTS.caliper_scale),
        "order": matching.get("order", DEFAULTS.matching_order),
    }
    if kwargs["order"] == "random":
        kwargs["random_state"] = matching.get("random_state", DEFAULTS.random_state)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matcher = PropensityMatcher(**{k: v for k, v in kwargs.items() if v is not None}).fit(cohort)
    except AnalysisError as exc:
        notes.append(f"Propensity-score distributions not drawn: refitting the matching model failed ({exc}).")
        return None
    refit = matcher.to_dict().get("pairs") or []
    if [list(map(str, p)) for p in refit] != [list(map(str, p)) for p in matching.get("pairs") or []]:
        notes.append(
            "Refitting the matching model on the warehouse gave different pairs from results.json; the "
            "propensity-score figure draws the refit. Rerun `rait-registry analyze` on this warehouse."
        )
    ps = matcher.propensity_
    frame = pd.DataFrame({"patient_id": ps.index.astype(str), "propensity": ps.to_numpy(dtype=float)})
    return frame.merge(cohort[["patient_id", "rait_group"]].astype({"patient_id": str}), on="patient_id")


def _subgroup_panels(
    cohort: pd.DataFrame,
    matched: pd.DataFrame | None,
    survival: Mapping[str, Any],
    config: Mapping[str, Any],
    notes: list[str],
) -> list[F.KMPanel]:
    specs = subgroup_specs(
        float(config.get("age_cut_years", DEFAULTS.age_cut_years)),
        float(config.get("size_cut_cm", DEFAULTS.size_cut_cm)),
    )
    by_name = {s["name"]: s for s in specs}
    entries = list(survival.get("subgroups") or [])
    if not entries:
        entries = [
            {"name": s["name"], "figure": s["figure"], "description": s["description"], "cohort": "matched"}
            for s in specs
        ]
    panels = []
    for entry in entries:
        spec = by_name.get(str(entry.get("name")))
        if spec is None:
            notes.append(f"Subgroup {entry.get('name')!r} of results.json has no known definition; not drawn.")
            continue
        source = matched if entry.get("cohort", "matched") == "matched" else cohort
        if source is None:
            notes.append(f"Fig. {spec['figure']} not drawn: no matched cohort in results.json.")
            continue
        data = source
        if spec["subset"] is not None:
            data = data.loc[spec["subset"](data).fillna(False).astype(bool)]
        labels = spec["group_of"](data)
        data, labels = data.loc[labels.notna()], labels[labels.notna()].astype(str)
        letter = str(entry.get("figure") or spec["figure"])[-1:]
        description = (
            str(entry.get("description") or spec["description"]).replace(">=", "\u2265").replace("<=", "\u2264")
        )
        title = (
            f"{letter}  {description if description.startswith(GROUPS) else description[:1].upper() + description[1:]}"
        )
        analysis = entry if entry.get("groups") or entry.get("logrank_p") is not None else None
        panels.append(
            _panel(title, _groups(data, labels, list(spec["groups"])), analysis, f"Fig. {spec['figure']}", notes)
        )
    return panels


# --------------------------------------------------------------------------- build


@contextmanager
def _progress(enabled: bool | None) -> Iterator[Callable[[str], console.Phase]]:
    """One progress phase per step of the report (`rait_registry.console`); yields ``step(description)``,
    which ends the previous step and returns the new one's phase.

    ``enabled``: None reports through the command's reporter (silent for a library call); True
    shows the steps on stderr even then (rich on a terminal, plain elsewhere); False hides them.
    """
    reporter = console.reporter()
    own = None
    if enabled is False:
        reporter = console.Reporter()
    elif enabled is True and reporter.format == "silent":
        reporter = own = console.make_reporter("auto", command="report")
    current: list[console.Phase] = []

    def end(exc: BaseException | None = None) -> None:
        if current:
            phase = current.pop()
            phase.__exit__(type(exc) if exc else None, exc, None)

    def step(description: str) -> console.Phase:
        """End the previous step and start this one."""
        log.info("report: %s", description)
        end()
        phase = reporter.phase(description)
        current.append(phase.__enter__())
        return phase

    try:
        yield step
    except BaseException as exc:
        end(exc)
        raise
    else:
        end()
    finally:
        if own is not None:
            own.close()


def _reading(text: str | None) -> str:
    """A generated one-line reading for a clinician (escaped), or nothing."""
    return f'<p class="interpretation">{html.escape(text)}</p>' if text else ""


def _five_year_row(cohort: pd.DataFrame, overall: Mapping[str, Any] | None, notes: list[str]) -> Row | None:
    """Table 2's "5-year PFS rate (%)" line: the groups from results.json, the pooled cohort computed here."""
    if not overall:
        return None
    groups = overall.get("groups") or {}

    def pct(g: Mapping[str, Any] | None) -> str:
        s = F.finite_or_none((g or {}).get("pfs_5y"))
        return "\u2013" if s is None else f"{100 * s:.1f}"

    pooled = "\u2013"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            comp = SurvivalComparison(["all"]).fit(cohort.assign(_all="all"), group_col="_all").to_dict()
        pooled = pct((comp.get("groups") or {}).get("all"))
        notes.append(
            "Table 2, 5-year PFS of the whole cohort: computed by the report with "
            "rait_registry.analysis.survival (results.json holds it per group only)."
        )
    except AnalysisError:
        notes.append("Table 2, 5-year PFS of the whole cohort: not available.")
    p = F.finite_or_none(overall.get("logrank_p"))
    return Row(
        [
            Cell("5-year PFS rate (%)", "label"),
            Cell(pooled, "overall", "num"),
            Cell(pct(groups.get(O_RAIT)), "o_rait", "num"),
            Cell(pct(groups.get(M_RAIT)), "m_rait", "num"),
            Cell(format_p(p) if p is not None else "", "p_value", "num"),
            Cell("log-rank", "test", "test"),
        ],
        {"variable": "pfs_5y"},
        "single",
    )


def _summary_boxes(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Header boxes from results.json ``cohort_summary``: median follow-up and deaths."""
    boxes = []
    median = F.finite_or_none(((summary.get("follow_up_months") or {}).get("overall") or {}).get("median"))
    if median is not None:
        boxes.append(("median follow-up, months", f"{median:.1f}"))
    deaths = summary.get("deaths") or {}
    if deaths and not deaths.get("skipped"):
        boxes.append(("deaths", str(deaths.get("overall"))))
    return boxes


def _attrition_table(attrition: pd.DataFrame, labels: Mapping[str, str]) -> TableLayout:
    rows = []
    for r in attrition.itertuples(index=False):
        reason = "all patients of the extract" if int(r.step) == 0 else labels.get(str(r.criterion), str(r.criterion))
        rows.append(
            Row(
                [
                    Cell(str(int(r.step)), "step"),
                    Cell(str(r.criterion), "criterion"),
                    Cell(reason, "reason"),
                    Cell(str(int(r.n_excluded)), "n_excluded", "num"),
                    Cell(str(int(r.n_remaining)), "n_remaining", "num"),
                ],
                {"step": str(int(r.step))},
                "single",
            )
        )
    return TableLayout(
        "attrition",
        "Cohort attrition (marts.cohort_attrition)",
        ["Step", "Criterion", "Excluded when", "Excluded", "Remaining"],
        rows,
    )


def build_report(
    warehouse: str | Path | None = None,
    out_dir: str | Path = "out",
    results: Mapping[str, Any] | str | Path | None = None,
    *,
    progress: bool | None = None,
) -> Path:
    """Write ``out_dir/report.html`` with its figures (``figures/``) and tables (``tables/``); return the HTML path.

    Parameters
    ----------
    warehouse : path, optional
        Published DuckDB file (default ``$RAIT_WAREHOUSE`` or ``warehouse/registry.duckdb``).
    out_dir : path
        Output folder (created).
    results : dict or path, optional
        The analysis results; default ``out_dir/results.json``, or, when that does not exist,
        the analysis is run first (:func:`rait_registry.analysis.analyze_warehouse`).
    progress : bool, optional
        Show a progress bar; default: only when stderr is a terminal.

    Raises
    ------
    WarehouseNotFound, UsageError
        No warehouse, a missing mart or unusable results (exit code 2).
    AnalysisError
        The analysis failed on this cohort (exit code 4 unless a subclass says otherwise).
    """
    out_dir = Path(out_dir)
    fig_dir, tab_dir = out_dir / "figures", out_dir / "tables"
    generated_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with _progress(progress) as step:
        step("reading the warehouse and results")
        data = load_report_data(warehouse, out_dir, results)
        fig_dir.mkdir(parents=True, exist_ok=True)
        tab_dir.mkdir(parents=True, exist_ok=True)
        res, notes = data.results, list(data.notes)
        skipped = {name: value["reason"] for name, value in res.items() if is_skipped(value)}
        res = {name: None if is_skipped(value) else value for name, value in res.items()}
        cohort, vars_now = data.cohort, _vars_in_force(data.refresh)
        counts = res["cohort"]
        if int(counts.get("n_eligible", -1)) != len(cohort):
            notes.append(
                f"results.json describes {counts.get('n_eligible')} eligible patients but the warehouse has "
                f"{len(cohort)}: the results come from another refresh. Rerun `rait-registry analyze`."
            )
        for column, entry in (res.get("missing_data") or {}).items():
            if entry.get("n_patients"):
                notes.append(
                    f"{entry['n_patients']} patient(s) with {column} {' or '.join(entry.get('codes') or [])} "
                    "are missing data, left out of: " + "; ".join(entry.get("left_out_of") or []) + "."
                )
        matching = res.get("matching") or None
        survival = res.get("survival") or {}
        if is_skipped(survival.get("matched")):
            survival = {**survival, "matched": None}
        config = (res.get("meta") or {}).get("config") or {}
        matched = _matched_cohort(cohort, matching)
        labels = plot_labels()
        crit = criterion_labels(vars_now)
        figs: dict[str, str] = {}

        step("Fig. 1 attrition")
        group_n = {g: int((cohort["rait_group"] == g).sum()) for g in GROUPS}
        match_info = None
        if matching:
            um = matching.get("n_unmatched") or {
                g: len(v) if isinstance(v, list) else int(v) for g, v in (matching.get("unmatched") or {}).items()
            }
            match_info = {"n_pairs": matching.get("n_pairs", len(matching.get("pairs") or [])), "unmatched": um}
        f = F.save_figure(F.attrition_figure(data.attrition, crit, group_n, match_info), fig_dir, "fig1_attrition")
        figs["attrition"] = render_figure(
            f,
            "Fig. 1",
            "Patient selection: the six eligibility criteria applied in "
            "order (specification section 2) and the patients lost to matching.",
            "Flow diagram of cohort attrition",
            scale=0.8,
        )

        step("Fig. 2 response Sankey")
        f = F.save_figure(F.sankey_figure(cohort), fig_dir, "fig2_response_sankey")
        figs["sankey"] = render_figure(
            f,
            "Fig. 2",
            "Response to the first and the last RAIT (CACA 2025 criteria for "
            "non-target disease) in o-RAIT and m-RAIT; for o-RAIT the single RAIT is both.",
            "Alluvial diagram of first to last RAIT response per group",
        )

        phase = step("forest plot (Table 3)")
        logistic = res["logistic"]
        if logistic is None:
            phase.skip(f"logistic skipped: {skipped['logistic']}")
        else:
            f = F.save_figure(
                F.forest_figure(
                    logistic.get("univariable") or [],
                    logistic.get("multivariable") or [],
                    labels,
                    "Odds ratio of progression after RAIT",
                ),
                fig_dir,
                "fig_forest_or",
            )
            figs["forest"] = render_figure(
                f,
                "Fig. S1",
                "Univariable and multivariable odds ratios of progression (Table 3), 95% CI, log scale.",
                "Forest plot of odds ratios",
            )

        phase = step("Love plot")
        if "matching" in skipped:
            phase.skip(f"matching skipped: {skipped['matching']}")
        elif matching and matching.get("balance"):
            f = F.save_figure(F.love_figure(matching["balance"], labels), fig_dir, "fig_love_smd")
            figs["love"] = render_figure(
                f,
                "Fig. S2",
                "Absolute standardised mean differences of the matching covariates before and after matching.",
                "Love plot",
            )
        else:
            notes.append(
                "No matching results in results.json: Love plot, propensity-score, Fig. 3 and Fig. 4 not drawn."
            )

        step("propensity-score distributions")
        if matching and matching.get("covariates"):
            ps = _propensity(cohort, matching, notes)
            if ps is not None:
                f = F.save_figure(
                    F.propensity_figure(
                        ps,
                        matched["patient_id"] if matched is not None else [],
                        str(matching.get("focal_group", O_RAIT)),
                    ),
                    fig_dir,
                    "fig_propensity",
                )
                figs["propensity"] = render_figure(
                    f,
                    "Fig. S3",
                    "Propensity-score distributions by group before and after matching (score = "
                    f"estimated probability of {matching.get('focal_group', O_RAIT)} given the matching covariates, "
                    "refitted with the published settings).",
                    "Mirrored histograms of propensity scores",
                )

        phase = step("Kaplan-Meier, whole cohort")
        if "survival" in skipped:
            phase.skip(f"survival skipped: {skipped['survival']}")
        panel = _panel(
            "Eligible cohort",
            _groups(cohort, cohort["rait_group"], list(GROUPS)),
            survival.get("overall"),
            "Kaplan-Meier (eligible cohort)",
            notes,
        )
        f = F.save_figure(F.km_figure(panel), fig_dir, "fig_km_overall")
        figs["km_overall"] = render_figure(
            f,
            "Fig. S4",
            "Kaplan-Meier estimate of progression-free survival, o-RAIT "
            "vs m-RAIT, whole eligible cohort; shaded: 95% CI; ticks: censored.",
            "Kaplan-Meier curves, eligible cohort",
        )

        step("Fig. 3 matched cohort")
        if matched is not None:
            panel = _panel(
                f"Matched cohort (n = {len(matched)})",
                _groups(matched, matched["rait_group"], list(GROUPS)),
                survival.get("matched"),
                "Fig. 3",
                notes,
            )
            f = F.save_figure(F.km_figure(panel), fig_dir, "fig3_km_matched")
            figs["km_matched"] = render_figure(
                f,
                "Fig. 3",
                "Kaplan-Meier estimate of progression-free survival of "
                "matched o-RAIT and m-RAIT patients; shaded: 95% CI; ticks: censored.",
                "Kaplan-Meier curves, matched cohort",
            )

        step("Fig. 4 subgroups")
        if matched is not None or any(s.get("cohort") == "eligible" for s in survival.get("subgroups") or []):
            panels = _subgroup_panels(cohort, matched, survival, config, notes)
            if panels:
                f = F.save_figure(F.km_grid_figure(panels), fig_dir, "fig4_km_subgroups")
                figs["km_subgroups"] = render_figure(
                    f,
                    "Fig. 4",
                    "Kaplan-Meier estimates of progression-free survival in subgroups of the matched "
                    "cohort: A age, B tumour size, C local disease before RAIT, D-F o-RAIT vs m-RAIT within the "
                    "high-risk subgroups.",
                    "Six Kaplan-Meier panels of subgroups",
                )

        step("tables")
        layouts: list[TableLayout] = []
        t1 = (
            None
            if res["table1"] is None
            else paper_table(
                res["table1"],
                counts,
                "table1",
                "Table 1. Clinicopathological characteristics of the cohort, o-RAIT vs m-RAIT",
                footnotes=[
                    "Median (P25, P75) or n (%); percentages among patients with a known value.",
                    categorical_test_note(config.get("test_rule", DEFAULTS.test_rule)),
                ],
            )
        )
        extra = [r for r in [_five_year_row(cohort, survival.get("overall"), notes)] if r is not None]
        t2 = (
            None
            if res["table2"] is None
            else paper_table(
                res["table2"],
                counts,
                "table2",
                "Table 2. RAIT characteristics and response, o-RAIT vs m-RAIT",
                extra_rows=extra,
                footnotes=[
                    "Responses by the CACA 2025 criteria (CR < PR < SD < PD); NE is listed but left "
                    "out of the tests. Last response of o-RAIT = its only RAIT.",
                    categorical_test_note(config.get("test_rule", DEFAULTS.test_rule)),
                ],
            )
        )
        t3 = (
            None
            if logistic is None
            else logistic_table(
                logistic,
                counts.get("n_eligible"),
                "Table 3. Univariable and multivariable logistic regression of progression after RAIT",
            )
        )
        cox = res.get("cox_risk_factors") or {}
        t3_cox = (
            cox_table(
                cox,
                "Table 3 (time to event). Univariable and multivariable Cox regression of progression-free survival",
            )
            if cox and not cox.get("skipped")
            else None
        )
        layouts += [t for t in (t1, t2, t3) if t is not None]
        analyses: list[tuple[str, str, Mapping[str, Any]]] = []
        if survival.get("overall"):
            analyses.append(("overall", "Eligible cohort, o-RAIT vs m-RAIT", survival["overall"]))
        baseline = survival.get("baseline_eligible") or {}
        if baseline and not baseline.get("skipped"):
            analyses.append(("baseline_eligible", "Eligible at baseline, o-RAIT vs m-RAIT (sensitivity)", baseline))
        if survival.get("matched"):
            analyses.append(("matched", "Matched cohort, o-RAIT vs m-RAIT", survival["matched"]))
        for s in survival.get("subgroups") or []:
            analyses.append(
                (str(s.get("name")), f"Fig. {s.get('figure', '')}: {s.get('description', s.get('name'))}", s)
            )
        censoring = res.get("pfs_censoring") or {}
        last_contact = censoring.get("last_contact_sensitivity") or {}
        for key, title in (("eligible", "Eligible cohort"), ("matched", "Matched cohort")):
            entry = last_contact.get(key) or {}
            if entry and not entry.get("skipped"):
                analyses.append((f"last_contact_{key}", f"{title}, censored at last contact (sensitivity)", entry))
        t_surv = survival_table(analyses, "Progression-free survival") if analyses else None
        t_bal = (
            balance_table(matching, "Covariate balance before and after matching", dict(VARIABLE_LABELS))
            if matching
            else None
        )
        t_bal_all, t1_matched = None, None
        if matching and matching.get("balance_baseline"):
            t_bal_all = baseline_balance_table(
                matching["balance_baseline"],
                "Balance of every baseline characteristic before and after matching",
                dict(VARIABLE_LABELS),
            )
        if res.get("table1_matched"):
            n_pairs = int(matching.get("n_pairs") or 0) if matching else 0
            t1_matched = paper_table(
                res["table1_matched"],
                {"n_eligible": 2 * n_pairs, "n_o_rait": n_pairs, "n_m_rait": n_pairs},
                "table1_matched",
                "Table 1 of the matched cohort: characteristics of the matched o-RAIT and m-RAIT patients",
                footnotes=[
                    "As Table 1, on the matched patients. The tests treat the groups as independent and are given "
                    "for comparison with the paper; balance is judged by the standardised mean differences below."
                ],
            )
        ph = res.get("proportional_hazards") or None
        t_ph = ph_table(ph, "Proportional hazards of every reported Cox model (R cox.zph)") if ph else None
        t_cut = (
            cutpoint_table(res.get("cutpoints") or [], "Optimal cut-points (maximally selected rank statistics)")
            if res.get("cutpoints")
            else None
        )
        t_att = _attrition_table(data.attrition, crit)
        for layout in [t_att, t1, t2, t3, t3_cox, t_surv, t_bal, t_bal_all, t1_matched, t_ph, t_cut]:
            if layout is not None:
                layout.to_frame().to_csv(tab_dir / f"paper_{layout.table_id}.csv", index=False)

        step("HTML")
        warn = [f"Table 3: {w}" for w in (logistic or {}).get("warnings") or []]
        warn += [f"Table 3 (Cox): {w}" for w in cox.get("warnings") or []]
        for _key, title, analysis in analyses:
            warn += [f"{title}: {n}" for n in analysis.get("notes") or []]
        if ph:
            for key in ph.get("violations") or []:
                entry = ph["models"][key]
                low = [t["term"] for t in entry["terms"] if t["p"] < ph["alpha"]]
                warn.append(
                    f"Proportional hazards: {entry['description']} ({key}): cox.zph global P = "
                    f"{format_p(entry['global']['p'])}"
                    + (f", terms {', '.join(low)}" if low else "")
                    + f" < {ph['alpha']:g}; its hazard ratio averages an effect that changes over follow-up."
                )
        warn += [f"{name} was not estimated: {reason}." for name, reason in skipped.items()]

        def table_or_reason(layout: TableLayout | None, name: str) -> str:
            return render_skipped(skipped[name]) if name in skipped else render_table(layout) if layout else ""

        sections = [
            (
                "cohort",
                "Study cohort",
                figs["attrition"]
                + render_table(t_att)
                + (paragraphs(cohort_summary_lines(res["cohort_summary"])) if res.get("cohort_summary") else ""),
            ),
            (
                "table1",
                "Patient characteristics (Table 1)",
                table_or_reason(t1, "table1")
                + (paragraphs([categorical_agreement_reading(res["table1"])]) if res["table1"] else ""),
            ),
            (
                "table2",
                "RAIT and response (Table 2, Fig. 2)",
                table_or_reason(t2, "table2")
                + (paragraphs([categorical_agreement_reading(res["table2"])]) if res["table2"] else "")
                + (
                    paragraphs([horizon])
                    if res["table2"] and (horizon := horizon_response_reading(res["table2"]))
                    else ""
                )
                + figs["sankey"],
            ),
            (
                "table3",
                "Risk factors for progression (Table 3)",
                table_or_reason(t3, "logistic")
                + figs.get("forest", "")
                + (render_table(t3_cox) if t3_cox else "")
                + (paragraphs([cox_reading(cox)]) if cox else ""),
            ),
        ]
        if "matching" in skipped:
            sections.append(("matching", "Propensity-score matching", render_skipped(skipped["matching"])))
        elif matching:
            balance_text = (matching.get("balance_baseline") or {}).get("interpretation")
            sections.append(
                (
                    "matching",
                    "Propensity-score matching",
                    (render_table(t_bal) if t_bal else "")
                    + _reading(balance_text)
                    + (render_table(t_bal_all) if t_bal_all else "")
                    + (render_table(t1_matched) if t1_matched else "")
                    + figs.get("love", "")
                    + figs.get("propensity", ""),
                )
            )
        readings = survival.get("interpretation") or {}
        sections.append(
            (
                "survival",
                "Progression-free survival (Figs. 3-4)",
                (render_skipped(skipped["survival"]) if "survival" in skipped else "")
                + (paragraphs(censoring_lines(censoring, survival.get("overall"))) if censoring else "")
                + _reading(readings.get("matched"))
                + _reading(readings.get("baseline_eligible"))
                + _reading(readings.get("subgroups"))
                + (render_table(t_surv) if t_surv else "")
                + figs["km_overall"]
                + figs.get("km_matched", "")
                + figs.get("km_subgroups", ""),
            )
        )
        if t_ph is not None:
            sections.append(
                (
                    "proportional_hazards",
                    "Proportional hazards",
                    _reading(ph.get("interpretation")) + render_table(t_ph),
                )
            )
        if t_cut or "cutpoints" in skipped:
            sections.append(("cutpoints", "Cut-points", table_or_reason(t_cut, "cutpoints")))
        sensitivity_html, sensitivity_tables = render_sensitivity_analyses(data.results)
        if sensitivity_tables or "landmark" in res:
            sections.append(
                ("beyond", "Beyond the paper: immortal time, non-inferiority, sensitivity", sensitivity_html)
            )
        trial_html, t_trial = trial_design_html(res.get("trial_design"), skipped.get("trial_design"))
        if trial_html:
            sections.append(("trial_design", "Designing the prospective trial", trial_html))
        for layout in [*sensitivity_tables, t_trial]:
            if layout is not None:
                layout.to_frame().to_csv(tab_dir / f"paper_{layout.table_id}.csv", index=False)
        sections += render_centres(data.results.get("centres"), cohort, fig_dir, tab_dir)
        if res.get("strategies") or "strategies" in skipped:
            sections.append(
                (
                    "strategies",
                    "Beyond the paper: treatment strategies in an emulated target trial",
                    render_skipped(skipped["strategies"])
                    if "strategies" in skipped
                    else render_strategies(res["strategies"], fig_dir, tab_dir),
                )
            )
        refreshed = _fmt_time((data.refresh or {}).get("finished_at")) if data.refresh else "unknown"
        page = render_page(
            title="RAIT registry study report: once vs multiple radioactive iodine therapy",
            subtitle=(
                f"RAI-avid pulmonary micrometastatic DTC. Warehouse refreshed {refreshed}; "
                f"report generated {generated_at} by rait-registry {__version__}."
            ),
            summary=[
                ("eligible patients", str(counts.get("n_eligible"))),
                (O_RAIT, str(counts.get("n_o_rait"))),
                (M_RAIT, str(counts.get("n_m_rait"))),
                ("progression events", str(int(pd.to_numeric(cohort["pfs_event"]).sum()))),
            ]
            + _summary_boxes(res.get("cohort_summary") or {})
            + ([("matched pairs", str(matching.get("n_pairs")))] if matching else []),
            sections=sections,
            provenance=_provenance(data, generated_at),
            parameters=study_parameters(data.refresh),
            notes=notes + warn,
        )
        path = out_dir / "report.html"
        tmp = path.with_suffix(".html.tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(path)
    return path
