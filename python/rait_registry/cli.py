"""The ``rait-registry`` command line (contract section 5 exit codes).

0 success (including an unchanged refresh), 1 data problem, 2 usage error,
3 another refresh holds the lock, 4 internal error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Optional

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


def _warehouse(path: Optional[Path]) -> Path:
    from .warehouse import default_warehouse

    return Path(path) if path is not None else default_warehouse()


def _parse_vars(items: list[str]) -> dict:
    parsed: dict = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"--var expects NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        try:
            parsed[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            parsed[name.strip()] = value
    return parsed


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
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def synth(
    patients: int = typer.Option(160, "--patients", min=1, help="Number of patients to simulate."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same bytes)."),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the extract into."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
) -> None:
    """Write a synthetic registry extract (raw events only) in the contract format."""
    if fmt not in ("csv", "parquet"):
        err.print("error: --format must be csv or parquet")
        raise typer.Exit(2)
    try:
        from .synth import write_extract

        path = write_extract(out_dir, n_patients=patients, seed=seed, fmt=fmt)
    except Exception as exc:  # noqa: BLE001 - mapped to exit codes
        _fail(exc)
    out.print(f"wrote a synthetic extract of {patients} patients (seed {seed}) to {path}")


@app.command()
def refresh(
    extract: Path = typer.Option(..., "--extract", help="Extract folder (CSV or Parquet files + manifest.json)."),
    warehouse: Optional[Path] = WAREHOUSE_OPTION,
    var: list[str] = typer.Option([], "--var", help="Study parameter override NAME=VALUE (repeatable)."),
    threads: int = typer.Option(2, "--threads", min=1, help="dbt threads."),
) -> None:
    """Ingest an extract, build the warehouse with dbt and publish it atomically."""
    from .refresh import refresh as do_refresh

    target = _warehouse(warehouse)
    try:
        result = do_refresh(extract, target, dbt_vars=_parse_vars(var), threads=threads)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
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


@app.command()
def query(
    sql: str = typer.Argument(..., help="SQL to run on the published warehouse (read-only)."),
    warehouse: Optional[Path] = WAREHOUSE_OPTION,
    max_rows: int = typer.Option(200, "--max-rows", help="Print at most this many rows."),
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
) -> None:
    """Run SQL on a read-only connection to the published warehouse and print the result."""
    import duckdb

    from .warehouse import connect_read_only

    try:
        con = connect_read_only(_warehouse(warehouse))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    try:
        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            err.print(f"error: the query failed: {exc}", highlight=False, markup=False)
            raise typer.Exit(2)
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


if __name__ == "__main__":  # pragma: no cover
    app()
