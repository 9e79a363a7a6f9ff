"""The ``rait-registry`` command line (docs/specification.md section 5 exit codes).

0 success (including an unchanged refresh), 1 data problem, 2 usage error,
3 another refresh holds the lock, 4 internal error.

Progress, warnings and errors go to stderr through :mod:`rait_registry.console` (``--log-format``,
``--quiet``, ``--verbose``: global options, accepted before or after the command's name); results
go to stdout.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import sys
import traceback
from pathlib import Path
from typing import Literal, NoReturn

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from . import console
from .console import print_table, print_text
from .exceptions import RaitRegistryError, UsageError
from .warehouse import DEFAULT_DEV_WAREHOUSE, DEFAULT_MAX_AGE_DAYS, DEFAULT_STORAGE_VERSION

#: Global options and whether each takes a value: :class:`_Group` accepts them after the command too.
_GLOBAL_OPTIONS = {
    "--verbose": False,
    "-v": False,
    "--quiet": False,
    "-q": False,
    "--log-format": True,
    "--version": False,
}


def _hoist_global_options(args: list[str]) -> list[str]:
    """Move the global options found after the command's name in front of it
    (``rait-registry refresh --extract X -q`` works as ``rait-registry -q refresh --extract X``)."""
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_OPTIONS or (len(arg) > 2 and arg.startswith("-v") and set(arg[1:]) == {"v"}):
            hoisted.append(arg)
            if _GLOBAL_OPTIONS.get(name) and "=" not in arg and i + 1 < len(args):
                hoisted.append(args[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return hoisted + rest


class _Group(TyperGroup):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _hoist_global_options(args))

    def main(self, *args, **kwargs):
        if not console.is_terminal(sys.stderr):
            self.rich_markup_mode = None  # usage errors as plain lines, not boxes, off a terminal
        return super().main(*args, **kwargs)


LogFormat = Literal[console.LOG_FORMATS]


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    help="Turn a thyroid-cancer RAIT registry extract into study-ready evidence.",
    epilog="Environment: RAIT_WAREHOUSE (default of --warehouse), RAIT_CONFIG (default of --config), "
    "RAIT_LOG_FORMAT (default of --log-format), RAIT_DBT_PROJECT (the dbt project to build instead of the "
    "one shipped), RAIT_DUCKDB_MEMORY_LIMIT (DuckDB memory limit of a refresh), RAIT_DEBUG=1 "
    "(print the traceback of an internal error). Exit codes: 0 success, 1 data problem, 2 usage error, "
    "3 the warehouse is held, 4 internal error (a bug).",
    context_settings={"help_option_names": ["-h", "--help"]},
)
#: Consoles of the commands' own lines (never wrapped off a terminal: soft wrap).
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

WAREHOUSE_OPTION = typer.Option(
    None,
    "--warehouse",
    envvar="RAIT_WAREHOUSE",
    show_envvar=True,
    show_default="warehouse/registry.duckdb",
    help="Published DuckDB file.",
)
CONFIG_OPTION = typer.Option(
    None,
    "--config",
    envvar="RAIT_CONFIG",
    show_envvar=True,
    help="TOML configuration file with the quarantine-share limits (README: Data-quality limits).",
)
MAX_SHARE_OPTION = typer.Option(
    [],
    "--max-quarantine-share",
    metavar="[TABLE=|TABLE.REASON=]SHARE",
    help="Limit of the share of quarantined rows (distinct quarantined rows / rows read): SHARE for every "
    "table, TABLE=SHARE for one table, TABLE.REASON=SHARE for one reason code in a table; 0.05 or 5%; "
    "repeatable, later ones win over earlier ones and the configuration file. Default: 5% per table, no "
    "limit per reason.",
    show_default=False,
)
EXTRACTED_AT_OPTION = typer.Option(
    None,
    "--extracted-at",
    metavar="YYYY-MM-DD",
    help="Date of an extract without manifest.json (or without extracted_at in it); it decides which rows are "
    "dated in the future and is recorded. Without it such an extract is dated by its files' modification times.",
    show_default="manifest.json's extracted_at, else file times",
)


def _warehouse(path: Path | None) -> Path:
    """The ``--warehouse`` path (default ``$RAIT_WAREHOUSE``, else warehouse/registry.duckdb):
    absent or a DuckDB file (:class:`~rait_registry.exceptions.PathError` otherwise)."""
    from .paths import duckdb_file_or_absent
    from .warehouse import default_warehouse

    return duckdb_file_or_absent(Path(path) if path is not None else default_warehouse(), "--warehouse")


def _parse_vars(items: list[str]) -> dict:
    """``--var NAME=VALUE`` items checked against the study-parameter declaration (exit 2 when wrong)."""
    from .params import dbt_vars_json, parse_var_overrides

    return dbt_vars_json(parse_var_overrides(items))


def _parse_date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} takes a date YYYY-MM-DD, not that value.") from None


def _limits(config: Path | None, items: list[str]):
    from .quarantine_limits import resolve_limits

    return resolve_limits(config, items)


def _fail(exc: BaseException) -> NoReturn:
    """End the command for ``exc``: its own exit code for a rait-registry error, 2 for a path that
    cannot be read or written, 4 (a bug, with the advice to report it) for anything else."""
    from .paths import path_error_from

    report = console.reporter()
    problem = exc if isinstance(exc, RaitRegistryError) else path_error_from(exc)
    if problem is not None:
        report.error(str(problem), problem.exit_code)
        raise typer.Exit(problem.exit_code)
    if os.environ.get("RAIT_DEBUG"):
        report.close()
        traceback.print_exc()
    report.error(
        f"{type(exc).__name__}. This is a bug in rait-registry; rerun with RAIT_DEBUG=1 for a traceback and report it.",
        4,
        label="internal error",
    )
    raise typer.Exit(4)


def _warn(message: str) -> None:
    console.reporter().warning(message)


def version_text() -> str:
    """The versions of rait-registry and of the engines it runs on, one per line."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    lines = [f"rait-registry {__version__}"]
    for package in ("dbt-core", "dbt-duckdb", "duckdb"):
        try:
            lines.append(f"{package} {version(package)}")
        except PackageNotFoundError:  # pragma: no cover - all three are dependencies
            lines.append(f"{package} not installed")
    lines.append(f"python {sys.version.split()[0]}")
    return "\n".join(lines)


def _print_version(value: bool) -> None:
    if value:
        print_text(version_text())
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        show_default=False,
        help="More on stderr: -v adds a line per table read, dbt node run and analysis section, and "
        "rait-registry's INFO log records; -vv also its DEBUG records.",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="No progress and no informational lines on stderr; warnings, errors and results stay.",
    ),
    log_format: LogFormat = typer.Option(
        "auto",
        "--log-format",
        envvar="RAIT_LOG_FORMAT",
        show_envvar=True,
        help="How progress and logs look on stderr: rich (a live display), plain (one timestamped line per "
        "phase with its duration and counts, never wrapped: for cron logs), json (one object per line: for "
        "log shippers); auto is rich on a terminal, else plain.",
    ),
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print the versions of rait-registry, dbt-core, dbt-duckdb, DuckDB and Python, and exit.",
    ),
) -> None:
    """Global options (accepted before or after the command's name)."""
    console.configure(log_format, verbose, quiet, command=ctx.invoked_subcommand)
    ctx.call_on_close(console.reset)


@app.command()
def synth(
    patients: int = typer.Option(160, "--patients", min=1, help="Number of patients to simulate."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same bytes)."),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the extract into."),
    fmt: Literal["csv", "parquet"] = typer.Option("csv", "--format", help="csv or parquet."),
    messy: bool = typer.Option(
        False,
        "--messy",
        help="Inject every fault class of rait_registry.messy; writes an answer key beside the tables.",
    ),
    messy_rate: float = typer.Option(
        0.02, "--messy-rate", min=0.0, max=0.2, help="Share of eligible rows broken per fault class (with --messy)."
    ),
    centres: int | None = typer.Option(
        None,
        "--centres",
        min=1,
        max=99,
        help="Pool N centres (C01..CN) with centre effects: frailty on progression, RAIT practice, case-mix. "
        "Default: the demo registry, three centres without effects.",
    ),
) -> None:
    """Write a synthetic registry extract (raw events only) in the contract format."""
    from .paths import writable_folder

    try:
        writable_folder(out_dir, "--out")
        if messy:
            from .messy import write_messy_extract

            path, injected = write_messy_extract(
                out_dir, n_patients=patients, seed=seed, rate=messy_rate, fmt=fmt, centres=centres
            )
        else:
            from .synth import write_extract

            path = write_extract(out_dir, n_patients=patients, seed=seed, fmt=fmt, centres=centres)
    except Exception as exc:
        _fail(exc)
    in_centres = "" if centres is None else f" in {centres} centre{'s' if centres > 1 else ''}"
    print_text(f"wrote a synthetic extract of {patients} patients{in_centres} (seed {seed}) to {path}")
    if messy:
        broken = sum(injected.counts.values())
        print_text(
            f"messy: {broken} row(s) broken in {sum(1 for n in injected.counts.values() if n)} fault classes "
            f"(rate {messy_rate:g}); {len(injected.expected)} row(s) must be quarantined, cascades included; "
            f"answer key {path / 'messy_expected_quarantine.csv'}"
        )


@app.command()
def refresh(
    extract: Path = typer.Option(..., "--extract", help="Extract folder (CSV or Parquet files + manifest.json)."),
    warehouse: Path | None = WAREHOUSE_OPTION,
    var: list[str] = typer.Option(
        [],
        "--var",
        metavar="NAME=VALUE",
        help="Study parameter of the derivation rules (repeatable); `rait-registry params --scope refresh` "
        "lists them with their types, ranges and defaults.",
    ),
    threads: int = typer.Option(2, "--threads", min=1, help="dbt threads."),
    unit_tests: bool = typer.Option(False, "--unit-tests", help="Also run the dbt unit tests of the SQL rules."),
    force: bool = typer.Option(False, "--force", help="Publish an extract taken before the published one."),
    full_refresh: bool = typer.Option(
        False,
        "--full-refresh",
        help="Recompute every patient; without it only the patients whose records changed since the published "
        "refresh are recomputed, when the dbt project, study parameters and versions are unchanged.",
    ),
    max_age_days: int = typer.Option(
        DEFAULT_MAX_AGE_DAYS, "--max-age-days", min=0, help="Warn when the extract is older than this."
    ),
    storage_version: str = typer.Option(
        DEFAULT_STORAGE_VERSION,
        "--storage-version",
        help="DuckDB storage format of the published file: the oldest DuckDB release that must open it "
        "(v1.1.0: DuckDB 1.1 and later) or latest (this DuckDB's newest format; older clients cannot open it).",
    ),
    max_share: list[str] = MAX_SHARE_OPTION,
    config: Path | None = CONFIG_OPTION,
    extracted_at: str | None = EXTRACTED_AT_OPTION,
) -> None:
    """Ingest an extract, build the warehouse with dbt and publish it atomically.

    Nothing is published (exit code 1, the previous publication stays) when the extract is
    refused, a quarantine share is over its limit, a dbt test or a mart check fails.
    """
    from .dbt_runner import require_project
    from .paths import readable_folder, writable_file
    from .refresh import refresh as do_refresh

    try:
        dbt_vars = _parse_vars(var)
        limits = _limits(config, max_share)
        date = _parse_date(extracted_at, "--extracted-at")
        readable_folder(extract, "--extract")
        target = writable_file(_warehouse(warehouse), "--warehouse")
        require_project()  # $RAIT_DBT_PROJECT checked before any work
        result = do_refresh(
            extract,
            target,
            dbt_vars=dbt_vars,
            threads=threads,
            with_unit_tests=unit_tests,
            force=force,
            max_age_days=max_age_days,
            storage_version=storage_version,
            limits=limits,
            extracted_at=date,
            full_refresh=full_refresh,
        )
    except Exception as exc:
        _fail(exc)
    report = console.reporter()
    report.close()
    for warning in [*result.warnings, *result.ingest.warnings]:
        _warn(warning)
    print_table(
        ["table", "read", "staged", "quarantined", "share", "limit"],
        _load_rows(result.ingest, result.quarantine_shares),
        title=f"refresh {result.run_id}: {result.status}",
    )
    if result.ingest.tgab_positive_samples:
        print_text(
            f"TgAb-positive samples kept (their same-day Tg is not interpretable): {result.ingest.tgab_positive_samples}"
        )
    marts = ", ".join(f"{name} {rows}" for name, rows in result.mart_rows.items())
    print_text(f"marts: {marts}")
    _print_change_summary(result)
    build = result.build
    if build is not None:
        why = f" ({build.reason})" if build.reason else ""
        print_text(
            f"build: {build.kind}{why}; {build.n_patients_changed} patient(s) changed, "
            f"{build.n_patients_recomputed} recomputed"
        )
    timings = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in result.timings_s.items())
    verb = "unchanged, republished" if result.is_unchanged else "published"
    print_text(f"{verb} {result.warehouse} ({timings})")


def _load_rows(ingest_report, shares) -> list[list]:
    """Per table: read, staged, quarantined, share and limit."""
    from .quarantine_limits import percent

    limits = {check.table: check for check in (shares.checks if shares else []) if check.reason_code is None}
    rows = []
    for load in ingest_report.tables.values():
        check = limits.get(load.table)
        rows.append(
            [
                load.table,
                load.rows_read,
                load.rows_staged,
                load.rows_quarantined,
                percent(check.share) if check else None,
                percent(check.limit) if check else None,
            ]
        )
    return rows


def _print_change_summary(result) -> None:
    summary = result.change_summary or {}
    if summary.get("first_refresh", True):
        print_text("change summary: first refresh of this warehouse")
        return
    if result.is_unchanged:
        print_text("change summary: marts identical to the last published refresh")
        return
    shifts = ", ".join(
        f"{group} {value['previous']:.3f} -> {value['current']:.3f}"
        for group, value in summary["pfs_5y_shift"].items()
        if value.get("previous") is not None and value.get("current") is not None
    )
    print_text(
        "change summary: "
        f"{len(summary['patients_entering_cohort'])} patients entered and "
        f"{len(summary['patients_leaving_cohort'])} left the eligible cohort; "
        f"{len(summary['new_progression_events'])} new progression events; "
        f"{summary['response_changes']['n_cycles']} cycle responses changed; "
        f"5-year PFS {shifts or 'n/a'}"
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
    max_share: list[str] = MAX_SHARE_OPTION,
    config: Path | None = CONFIG_OPTION,
    extracted_at: str | None = EXTRACTED_AT_OPTION,
) -> None:
    """Check an extract without building: per-table counts, the top quarantine reasons and each
    quarantine share against its limit (pass or FAIL, as a refresh would judge it).

    Exit code 0 when every row would be accepted, 1 when rows would be quarantined (whether or not a
    limit is exceeded) or the extract is refused.
    """
    from .paths import readable_folder
    from .quarantine_limits import percent
    from .validate import validate_extract

    try:
        limits = _limits(config, max_share)
        date = _parse_date(extracted_at, "--extracted-at")
        readable_folder(extract, "--extract")
        report = validate_extract(extract, limits=limits, extracted_at=date)
    except Exception as exc:
        _fail(exc)
    progress = console.reporter()
    progress.close()
    if report.refused is not None:
        progress.error(report.refused, 1)
        progress.error("the extract would be refused; nothing was checked row by row.", 1)
        raise typer.Exit(1)
    for warning in report.ingest.warnings:
        _warn(warning)
    print_table(
        ["table", "read", "accepted", "quarantined"],
        [
            [load.table, load.rows_read, load.rows_staged, load.rows_quarantined]
            for load in report.ingest.tables.values()
        ],
        title=f"validate {extract}",
    )
    if report.reasons:
        print_table(
            ["table", "reason_code", "column", "rows"],
            [[reason.table, reason.reason_code, reason.column, reason.rows] for reason in report.reasons[:top]],
            title=f"top reasons (distinct rows; {len(report.reasons)} in all)",
        )
    print_table(
        ["table", "reason_code", "rows", "read", "share", "limit", "result"],
        [
            [
                check.table,
                check.reason_code or "(all)",
                check.rows,
                check.rows_read,
                percent(check.share),
                percent(check.limit),
                "-" if check.limit is None else "pass" if check.passed else "FAIL",
            ]
            for check in report.shares.checks
        ],
        title="quarantine shares (distinct quarantined rows / rows read) and their limits",
    )
    failures = report.shares.failures
    if failures:
        print_text(
            f"{len(failures)} limit(s) exceeded ({', '.join(check.label for check in failures)}): a refresh would "
            "stop with exit code 1 and keep the published warehouse."
        )
    if report.reasons:
        print_text(
            f"{report.rows_quarantined} row(s) would be quarantined; see docs/quarantine-reasons.md, or refresh "
            "and query quarantine.rejected_rows for each row."
        )
        raise typer.Exit(1)
    print_text("clean: every row would be accepted.")


@app.command()
def params(
    scope: Literal["refresh", "analysis"] | None = typer.Option(None, "--scope", help="Only this scope's parameters."),
    fmt: Literal["table", "json"] = typer.Option("table", "--format", help="table or json."),
) -> None:
    """List the study parameters: type, unit, allowed range, default, meaning and the rules each drives.

    Refresh parameters are set with `refresh --var NAME=VALUE`, analysis parameters with the
    `analyze` option in the option column.
    """
    import json

    from . import params as declaration

    rows = declaration.table(scope)
    console.reporter().close()
    if fmt == "json":
        print_text(json.dumps(rows, indent=2))
        return
    print_table(
        ["name", "scope", "type", "unit", "range", "default", "set with", "meaning", "drives"],
        [
            [
                row["name"],
                row["scope"],
                row["type"],
                row["unit"] or "",
                row["range"],
                _default_text(row["default"]),
                row["cli"] or f"--var {row['name']}=VALUE",
                row["meaning"],
                ", ".join(row["drives"]),
            ]
            for row in rows
        ],
        right=(),
    )


def _default_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ", ".join(f"{item:g}" if isinstance(item, float) else str(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


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
    print_table(result.columns, result.rows)
    hidden = result.total - len(result.rows)
    if hidden:
        err.print(
            f"({len(result.rows)} of {result.total} rows printed, {hidden} hidden: raise --max-rows, or export every "
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

    # one BLAS thread unless the user says otherwise, set before numpy loads OpenBLAS: the strategies'
    # bootstrap refits a logistic model hundreds of times, and BLAS threads competing for busy cores
    # made a replicate 30 times slower (benchmarks/README.md)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    from .analysis.run import analyze_warehouse
    from .exceptions import StatisticsWarning
    from .paths import writable_folder

    try:
        config = _analysis_config(options)
        writable_folder(out_dir, "--out")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticsWarning)  # printed below from results.json
            result = analyze_warehouse(_warehouse(warehouse), out_dir, config)
    except Exception as exc:
        _fail(exc)
    console.reporter().close()
    cohort = result.results["cohort"]
    print_text(f"cohort: {cohort['n_eligible']} eligible ({cohort['n_o_rait']} o-RAIT, {cohort['n_m_rait']} m-RAIT)")
    for warning in (result.results.get("logistic") or {}).get("warnings", []):
        _warn(warning)
    for section, reason in result.skipped.items():
        _warn(f"{section} skipped: {reason}")
    if result.skipped:
        print_text(f"skipped (too few patients or events; see results.json): {', '.join(result.skipped)}")
    print_text(f"wrote {out_dir / 'results.json'} and {out_dir / 'tables'}/")


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
    from .paths import writable_folder
    from .report import build_report

    try:
        writable_folder(out_dir, "--out")
        path = build_report(_warehouse(warehouse), out_dir, results)
    except Exception as exc:
        _fail(exc)
    console.reporter().close()
    print_text(f"wrote {path} (figures in {out_dir / 'figures'}/, tables in {out_dir / 'tables'}/)")


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
    from .paths import readable_folder

    try:
        readable_folder(extract_dir, "DIR")
        date = parse_date(extracted_at) if extracted_at is not None else None
        path = write_manifest(extract_dir, extracted_at=date, extract_id=extract_id)
    except Exception as exc:
        _fail(exc)
    out.print(f"wrote {path}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    app()
