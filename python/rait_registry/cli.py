"""The ``rait-registry`` command line (docs/specification.md section 5 exit codes).

0 success (including an unchanged refresh), 1 data problem, 2 usage error,
3 another refresh holds the lock, 4 internal error.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import traceback
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .exceptions import RaitRegistryError
from .warehouse import DEFAULT_DEV_WAREHOUSE, DEFAULT_STORAGE_VERSION

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
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
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
    storage_version: str = typer.Option(
        DEFAULT_STORAGE_VERSION,
        "--storage-version",
        help="DuckDB storage format of the published file: the oldest DuckDB release that must open it "
        "(v1.1.0: DuckDB 1.1 and later) or latest (this DuckDB's newest format; older clients cannot open it).",
    ),
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
            storage_version=storage_version,
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
def load(
    extract: Path = typer.Option(..., "--extract", help="Extract folder (CSV or Parquet files + manifest.json)."),
    warehouse: Path = typer.Option(
        DEFAULT_DEV_WAREHOUSE,
        "--warehouse",
        help="Development DuckDB file, the one dbt_project/profiles.yml targets by default (never a published one).",
    ),
) -> None:
    """Check an extract and load it into a development warehouse for dbt (no dbt build, nothing published).

    Then: cd dbt_project && dbt build (and dbt docs generate, dbt docs serve).
    """
    from .load import load as do_load

    try:
        report = do_load(extract, warehouse)
    except Exception as exc:
        _fail(exc)
    for table in report.tables.values():
        out.print(
            f"{table.table}: {table.rows_read} read, {table.rows_staged} loaded into raw.{table.table}, "
            f"{table.rows_quarantined} quarantined",
            highlight=False,
        )
    for warning in report.warnings:
        err.print(f"warning: {warning}", highlight=False)
    out.print(
        f"loaded {warehouse}; rows that broke a rule are in quarantine.rejected_rows. Next: cd dbt_project && dbt build"
        + (
            ""
            if warehouse.resolve() == DEFAULT_DEV_WAREHOUSE.resolve()
            else f" (with RAIT_DBT_DATABASE={warehouse.resolve()})"
        ),
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
    sql: str | None = typer.Argument(
        None, help="SQL to run (read-only); @FILE reads it from a file, - from standard input.", show_default=False
    ),
    file: Path | None = typer.Option(None, "--file", "-f", help="Read the SQL from this file."),
    warehouse: Path | None = WAREHOUSE_OPTION,
    fmt: str | None = typer.Option(
        None,
        "--format",
        help="table (the terminal), csv, jsonl (one object a line), json (one array) or parquet; exports hold "
        "the whole result [default: table, or from the --output file's extension]",
        show_default=False,
    ),
    csv: bool = typer.Option(False, "--csv", help="Same as --format csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the export to this file."),
    max_rows: int = typer.Option(
        200, "--max-rows", min=1, help="Rows the terminal table shows (it says how many it hid); exports are whole."
    ),
) -> None:
    """Run SQL on a read-only connection to the published warehouse: print a table, or export the whole result."""
    from .query import export_to_file, export_to_stream, preview, read_sql, resolve_format
    from .warehouse import connect_read_only

    try:
        text = read_sql(sql, file)
        export_format = resolve_format(fmt, csv, output)
        con = connect_read_only(_warehouse(warehouse))
    except Exception as exc:
        _fail(exc)
    try:
        if output is not None:
            rows = export_to_file(con, text, export_format, output)
            err.print(f"wrote {rows} row(s) to {output} ({export_format})", highlight=False)
            return
        if export_format != "table":
            sys.stdout.flush()
            export_to_stream(con, text, export_format, sys.stdout.buffer)
            return
        result = preview(con, text, max_rows)
    except Exception as exc:
        _fail(exc)
    finally:
        con.close()
    if result is None:
        return
    table = Table()
    for name in result.columns:
        table.add_column(name)
    for row in result.rows:
        table.add_row(*[Text("" if value is None else value) for value in row])
    out.print(table)
    hidden = result.total - len(result.rows)
    if hidden:
        err.print(
            f"({len(result.rows)} of {result.total} rows shown, {hidden} hidden: raise --max-rows, or export every "
            "row with --format csv|jsonl|json|parquet [--output FILE])",
            highlight=False,
        )


def _analysis_options() -> list[inspect.Parameter]:
    """One option per analysis parameter of `rait_registry.params`, named by its ``cli`` (and hidden aliases).

    A boolean is an on/off flag; every other value is read as text and checked by the declaration
    (`Parameter.parse`: a wrong type or range ends with exit code 2 before any work starts).
    """
    from .params import ANALYSIS_PARAMETERS

    options = []
    for p in ANALYSIS_PARAMETERS:
        unit = f" [{p.unit}]" if p.unit else ""
        if p.type == "boolean" and not p.nullable:
            decl = p.cli if "/" in p.cli else f"{p.cli}/--no-{p.cli[2:]}"
            option = typer.Option(p.default, decl, help=p.meaning)
            options.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=bool))
            for k, alias in enumerate(p.aliases):
                hidden = typer.Option(None, alias, hidden=True)
                options.append(
                    inspect.Parameter(
                        f"{p.name}__alias{k}", inspect.Parameter.KEYWORD_ONLY, default=hidden, annotation=bool | None
                    )
                )
            continue
        default = p.to_dict()["default"]
        shown = "none" if default is None else ",".join(map(str, default)) if isinstance(default, list) else default
        option = typer.Option(
            None,
            p.cli,
            *p.aliases,
            help=f"{p.meaning}{unit}" + (f" Allowed: {p.range_text}." if p.type in ("integer", "number") else ""),
            metavar=_METAVARS[p.type] if p.type != "choice" else "|".join(p.choices or ()),
            show_default=f"{shown:g}" if isinstance(shown, float) else str(shown),
        )
        options.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=str | None))
    return options


_METAVARS = {
    "integer": "INTEGER",
    "number": "NUMBER",
    "boolean": "true|false|none",
    "number_list": "N,N,...",
    "text_list": "NAME,NAME,...",
    "date": "YYYY-MM-DD",
}


def _analysis_config(values: dict):
    """The `AnalysisConfig` of the ``analyze`` options given (declared defaults for the others)."""
    from .analysis.config import AnalysisConfig
    from .params import ANALYSIS_PARAMETERS

    chosen = {}
    for p in ANALYSIS_PARAMETERS:
        value = values.get(p.name)
        if p.type == "boolean" and not p.nullable:
            aliases = [values[f"{p.name}__alias{k}"] for k in range(len(p.aliases))]
            chosen[p.name] = next((a for a in aliases if a is not None), value)
        elif value is not None:
            chosen[p.name] = p.parse(value)
    return AnalysisConfig(**chosen)


def analyze(warehouse: Path | None, out_dir: Path, **options) -> None:
    """Run the study's statistics on the published marts and write results.json + tables.

    Every option is a study parameter (`rait-registry params`); unset ones take their declared default.
    """
    import warnings

    from .analysis.run import analyze_warehouse
    from .exceptions import StatisticsWarning

    try:
        config = _analysis_config(options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticsWarning)  # printed below from results.json
            result = analyze_warehouse(_warehouse(warehouse), out_dir, config)
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


analyze.__signature__ = inspect.Signature(
    [
        inspect.Parameter(
            "warehouse", inspect.Parameter.KEYWORD_ONLY, default=WAREHOUSE_OPTION, annotation=Path | None
        ),
        inspect.Parameter(
            "out_dir",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(Path("out"), "--out", help="Folder for results.json and tables/*.csv."),
            annotation=Path,
        ),
        *_analysis_options(),
    ]
)
app.command("analyze")(analyze)


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


@app.command()
def schema(
    out_file: Path | None = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help="Write datapackage.json here (a file, or a folder to hold it) instead of to stdout.",
    ),
) -> None:
    """Write the extract format as a Frictionless Data Package (datapackage.json, Table Schema).

    One resource per table (<table>.csv) with types, formats, required values, vocabularies,
    ranges, keys and references, generated from the specification. Put it in an extract folder
    and check the files with any Frictionless tool: frictionless validate DIR/datapackage.json.
    """
    from . import datapackage

    try:
        if out_file is None:
            sys.stdout.write(datapackage.to_json())
            return
        path = datapackage.write(out_file)
    except Exception as exc:
        _fail(exc)
    out.print(f"wrote {path}", highlight=False, soft_wrap=True)


@app.command()
def manifest(
    extract_dir: Path = typer.Argument(..., metavar="DIR", help="Extract folder holding the six table files."),
    extracted_at: str | None = typer.Option(
        None,
        "--extracted-at",
        metavar="DATE",
        help="Date the data were exported, YYYY-MM-DD (default: the modification date of the newest file).",
    ),
    extract_id: str | None = typer.Option(
        None, "--extract-id", metavar="ID", help="Name of the extract (default: the folder's name)."
    ),
) -> None:
    """Write DIR/manifest.json: extract id, extract date, and the row count and sha256 of every table file.

    A refresh verifies it: a file changed or truncated after the manifest was written refuses the extract.
    """
    from .manifest import parse_date, write_manifest

    try:
        date = parse_date(extracted_at) if extracted_at is not None else None
        path = write_manifest(extract_dir, extracted_at=date, extract_id=extract_id)
    except Exception as exc:
        _fail(exc)
    out.print(f"wrote {path}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    app()
