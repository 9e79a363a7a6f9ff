"""The ``rait-registry`` command line (contract section 5 exit codes).

0 success (including an unchanged refresh), 1 data problem, 2 usage error,
3 another refresh holds the lock, 4 internal error.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .exceptions import RaitRegistryError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turn a thyroid-cancer RAIT registry extract into study-ready evidence.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console()
err = Console(stderr=True)

WAREHOUSE_OPTION = typer.Option(
    None, "--warehouse", help="Published DuckDB file [default: $RAIT_WAREHOUSE or warehouse/registry.duckdb]."
)


def _warehouse(path: Path | None) -> Path:
    from .warehouse import default_warehouse

    return Path(path) if path is not None else default_warehouse()


def _parse_vars(items: list[str]) -> dict:
    """``--var NAME=VALUE`` items checked against the study-parameter declaration (exit 2 when wrong)."""
    from .params import dbt_vars_json, parse_var_overrides

    return dbt_vars_json(parse_var_overrides(items))


def _fail(exc: BaseException) -> None:
    if isinstance(exc, RaitRegistryError):
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        raise typer.Exit(exc.exit_code)
    if os.environ.get("RAIT_DEBUG"):
        traceback.print_exc()
    err.print(
        f"[bold red]internal error:[/] {type(exc).__name__}. This is a bug in rait-registry; "
        "rerun with RAIT_DEBUG=1 for a traceback and report it.",
        highlight=False,
    )
    raise typer.Exit(4)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress to stderr.")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@app.command()
def synth(
    patients: int = typer.Option(160, "--patients", min=1, help="Number of patients to simulate."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same bytes)."),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the extract into."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    messy: bool = typer.Option(
        False,
        "--messy",
        help="Inject every fault class of rait_registry.messy; writes an answer key beside the tables.",
    ),
    messy_rate: float = typer.Option(
        0.02, "--messy-rate", min=0.0, max=0.2, help="Share of eligible rows broken per fault class (with --messy)."
    ),
) -> None:
    """Write a synthetic registry extract (raw events only) in the contract format."""
    if fmt not in ("csv", "parquet"):
        err.print("error: --format must be csv or parquet")
        raise typer.Exit(2)
    try:
        if messy:
            from .messy import write_messy_extract

            path, injected = write_messy_extract(out_dir, n_patients=patients, seed=seed, rate=messy_rate, fmt=fmt)
        else:
            from .synth import write_extract

            path = write_extract(out_dir, n_patients=patients, seed=seed, fmt=fmt)
    except Exception as exc:
        _fail(exc)
    out.print(f"wrote a synthetic extract of {patients} patients (seed {seed}) to {path}")
    if messy:
        broken = sum(injected.counts.values())
        out.print(
            f"messy: {broken} row(s) broken in {sum(1 for n in injected.counts.values() if n)} fault classes "
            f"(rate {messy_rate:g}); {len(injected.expected)} row(s) must be quarantined, cascades included; "
            f"answer key {path / 'messy_expected_quarantine.csv'}",
            highlight=False,
        )


@app.command()
def refresh(
    extract: Path = typer.Option(..., "--extract", help="Extract folder (CSV or Parquet files + manifest.json)."),
    warehouse: Path | None = WAREHOUSE_OPTION,
    var: list[str] = typer.Option([], "--var", help="Study parameter override NAME=VALUE (repeatable)."),
    threads: int = typer.Option(2, "--threads", min=1, help="dbt threads."),
    unit_tests: bool = typer.Option(False, "--unit-tests", help="Also run the dbt unit tests of the SQL rules."),
    force: bool = typer.Option(False, "--force", help="Publish an extract taken before the published one."),
    max_age_days: int = typer.Option(31, "--max-age-days", min=0, help="Warn when the extract is older than this."),
) -> None:
    """Ingest an extract, build the warehouse with dbt and publish it atomically."""
    from .refresh import refresh as do_refresh

    target = _warehouse(warehouse)
    try:
        dbt_vars = _parse_vars(var)
        result = do_refresh(
            extract,
            target,
            dbt_vars=dbt_vars,
            threads=threads,
            with_unit_tests=unit_tests,
            force=force,
            max_age_days=max_age_days,
        )
    except Exception as exc:
        _fail(exc)
    for warning in result.warnings:
        err.print(f"warning: {warning}", highlight=False)
    table = Table(title=f"refresh {result.run_id}: {result.status}")
    for column in ("table", "read", "staged", "quarantined"):
        table.add_column(column, justify="right" if column != "table" else "left")
    for load in result.ingest.tables.values():
        table.add_row(load.table, str(load.rows_read), str(load.rows_staged), str(load.rows_quarantined))
    out.print(table)
    for warning in result.ingest.warnings:
        err.print(f"warning: {warning}", highlight=False)
    if result.ingest.tgab_positive_samples:
        out.print(
            f"TgAb-positive samples kept (their same-day Tg is not interpretable): {result.ingest.tgab_positive_samples}",
            highlight=False,
        )
    marts = ", ".join(f"{name} {rows}" for name, rows in result.mart_rows.items())
    out.print(f"marts: {marts}", highlight=False)
    _print_change_summary(result)
    timings = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in result.timings_s.items())
    verb = "unchanged, republished" if result.is_unchanged else "published"
    out.print(f"{verb} {result.warehouse} ({timings})", highlight=False)


def _print_change_summary(result) -> None:
    summary = result.change_summary or {}
    if summary.get("first_refresh", True):
        out.print("change summary: first refresh of this warehouse")
        return
    if result.is_unchanged:
        out.print("change summary: marts identical to the last published refresh")
        return
    shifts = ", ".join(
        f"{group} {value['previous']:.3f} -> {value['current']:.3f}"
        for group, value in summary["pfs_5y_shift"].items()
        if value.get("previous") is not None and value.get("current") is not None
    )
    out.print(
        "change summary: "
        f"{len(summary['patients_entering_cohort'])} patients entered and "
        f"{len(summary['patients_leaving_cohort'])} left the eligible cohort; "
        f"{len(summary['new_progression_events'])} new progression events; "
        f"{summary['response_changes']['n_cycles']} cycle responses changed; "
        f"5-year PFS {shifts or 'n/a'}",
        highlight=False,
    )
    attribution = summary.get("attribution") or {}
    if attribution.get("cause") not in (None, "unknown"):
        revision = attribution.get("contract_revision") or {}
        out.print(
            f"cause of the differences: {attribution['cause'].replace('_', ' ')} "
            f"(contract revision {revision.get('previous')} -> {revision.get('current')}, "
            f"extract {'changed' if attribution.get('extract_changed') else 'unchanged'})",
            highlight=False,
        )


@app.command()
def validate(
    extract: Path = typer.Option(..., "--extract", help="Extract folder (CSV or Parquet files + manifest.json)."),
    top: int = typer.Option(10, "--top", min=1, help="Show this many of the most frequent reasons."),
) -> None:
    """Check an extract without building: per-table counts and the top quarantine reasons.

    Exit code 0 when every row would be accepted, 1 when rows would be quarantined or the
    extract is refused.
    """
    from .validate import validate_extract

    try:
        report = validate_extract(extract)
    except Exception as exc:
        _fail(exc)
    if report.refused is not None:
        err.print(f"[bold red]error:[/] {report.refused}", highlight=False, markup=True)
        err.print("the extract would be refused; nothing was checked row by row.", highlight=False)
        raise typer.Exit(1)
    table = Table(title=f"validate {extract}")
    for column in ("table", "read", "accepted", "quarantined"):
        table.add_column(column, justify="right" if column != "table" else "left")
    for load in report.ingest.tables.values():
        table.add_row(load.table, str(load.rows_read), str(load.rows_staged), str(load.rows_quarantined))
    out.print(table)
    for warning in report.ingest.warnings:
        err.print(f"warning: {warning}", highlight=False)
    if report.reasons:
        reasons = Table(title=f"top reasons (distinct rows; {len(report.reasons)} in all)")
        for column in ("table", "reason_code", "column", "rows"):
            reasons.add_column(column, justify="right" if column == "rows" else "left")
        for reason in report.reasons[:top]:
            reasons.add_row(reason.table, reason.reason_code, reason.column or "", str(reason.rows))
        out.print(reasons)
        out.print(
            f"{report.rows_quarantined} row(s) would be quarantined; see docs/quarantine-reasons.md, or refresh "
            "and query quarantine.rejected_rows for each row.",
            highlight=False,
        )
        raise typer.Exit(1)
    out.print("clean: every row would be accepted.", highlight=False)


@app.command()
def query(
    sql: str = typer.Argument(..., help="SQL to run on the published warehouse (read-only)."),
    warehouse: Path | None = WAREHOUSE_OPTION,
    max_rows: int = typer.Option(200, "--max-rows", help="Print at most this many rows."),
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
) -> None:
    """Run SQL on a read-only connection to the published warehouse and print the result."""
    import duckdb

    from .warehouse import connect_read_only

    try:
        con = connect_read_only(_warehouse(warehouse))
    except Exception as exc:
        _fail(exc)
    try:
        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            err.print(f"error: the query failed: {exc}", highlight=False, markup=False)
            raise typer.Exit(2) from None
        if cursor.description is None:
            return
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(max_rows + 1)
    finally:
        con.close()
    if csv:
        import csv as csv_module

        writer = csv_module.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows(rows[:max_rows])
        return
    table = Table()
    for name in names:
        table.add_column(name)
    for row in rows[:max_rows]:
        table.add_row(*["" if value is None else str(value) for value in row])
    out.print(table)
    if len(rows) > max_rows:
        err.print(f"(more than {max_rows} rows; showing the first {max_rows}; use --max-rows)")


@app.command()
def analyze(
    warehouse: Path | None = WAREHOUSE_OPTION,
    out_dir: Path = typer.Option(Path("out"), "--out", help="Folder for results.json and tables/*.csv."),
    age_cut: float = typer.Option(45.0, "--age-cut", help="Age cut (years) for Table 3 and the subgroups."),
    size_cut: float = typer.Option(4.0, "--size-cut", help="Tumour size cut (cm) for the subgroups."),
    threshold: float = typer.Option(
        0.1, "--selection-threshold", help="Univariable p below which a variable enters the multivariable model."
    ),
    caliper: float = typer.Option(0.05, "--caliper", help="Matching caliper."),
    caliper_scale: str = typer.Option("propensity", "--caliper-scale", help="propensity or logit_sd."),
    landmark: float = typer.Option(
        12.0, "--landmark-months", help="Landmark (months after first RAIT) of the immortal-time analysis."
    ),
    ni_hr_margin: float = typer.Option(
        1.5, "--ni-hr-margin", help="Non-inferiority margin for the HR of o-RAIT vs m-RAIT."
    ),
    ni_pfs_margin: float = typer.Option(
        0.10, "--ni-pfs-margin", help="Non-inferiority margin for the 5-year PFS difference."
    ),
    beyond: bool = typer.Option(True, "--beyond/--paper-only", help="Also run the analyses beyond the paper."),
) -> None:
    """Run the study's statistics on the published marts and write results.json + tables."""
    from .analysis.run import AnalysisConfig
    from .analysis.run import analyze as run_analysis

    if caliper_scale not in ("propensity", "logit_sd"):
        err.print("error: --caliper-scale must be propensity or logit_sd")
        raise typer.Exit(2)
    config = AnalysisConfig(
        age_cut_years=age_cut,
        size_cut_cm=size_cut,
        selection_threshold=threshold,
        caliper=caliper,
        caliper_scale=caliper_scale,
        beyond=beyond,
        landmark_months=landmark,
        ni_hr_margin=ni_hr_margin,
        ni_pfs_margin=ni_pfs_margin,
    )
    import warnings

    from .exceptions import StatisticsWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticsWarning)  # printed below from results.json
            result = run_analysis(_warehouse(warehouse), out_dir, config)
    except Exception as exc:
        _fail(exc)
    cohort = result.results["cohort"]
    out.print(
        f"cohort: {cohort['n_eligible']} eligible ({cohort['n_o_rait']} o-RAIT, {cohort['n_m_rait']} m-RAIT)",
        highlight=False,
    )
    for warning in result.results.get("logistic", {}).get("warnings", []):
        err.print(f"warning: {warning}", highlight=False)
    out.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'tables'}/", highlight=False)


@app.command()
def report(
    warehouse: Path | None = WAREHOUSE_OPTION,
    out_dir: Path = typer.Option(Path("out"), "--out", help="Folder for report.html, figures/ and tables/."),
    results: Path | None = typer.Option(
        None,
        "--results",
        help="results.json to report (default: OUT/results.json; the analysis runs first when it is missing).",
    ),
) -> None:
    """Write the self-contained HTML study report with its figures (PNG, SVG) and tables (CSV)."""
    from .report import build_report

    try:
        path = build_report(_warehouse(warehouse), out_dir, results)
    except Exception as exc:
        _fail(exc)
    out.print(f"wrote {path} (figures in {out_dir / 'figures'}/, tables in {out_dir / 'tables'}/)", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
