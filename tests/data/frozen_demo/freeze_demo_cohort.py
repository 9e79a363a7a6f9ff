"""Freeze the demo warehouse's ``marts.analysis_cohort`` and ``marts.rait_cycles`` as CSV.

Writes ``analysis_cohort.csv`` (ordered by patient_id) and ``rait_cycles.csv`` (the cycles of
the cohort's patients, ordered by patient_id, cycle_number) with exactly the columns of the
stand-in CSVs in ``tests/data/frozen_cohort/``. Floats are written with pandas' default
(shortest repr, round-trip exact) formatting; nullable integer columns stay integers.

Usage (from the repository root)::

    rait-registry synth --patients 160 --seed 0 --out /tmp/fz/extract
    rait-registry refresh --extract /tmp/fz/extract --warehouse /tmp/fz/registry.duckdb
    python tests/data/frozen_demo/freeze_demo_cohort.py /tmp/fz/registry.duckdb [tests/data/frozen_demo]

The output is frozen: R reference values are computed from these exact bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pandas as pd

HERE = Path(__file__).resolve().parent
STANDIN = HERE.parent / "frozen_cohort"


INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}


def _export(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], where: str, order: str) -> pd.DataFrame:
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = ?",
            [table],
        ).fetchall()
    )
    missing = [c for c in columns if c not in types]
    if missing:
        raise SystemExit(f"marts.{table} lacks column(s) {missing}: is this a current warehouse?")
    df = con.execute(f"select {', '.join(columns)} from marts.{table} {where} order by {order}").df()
    for col in columns:
        if types[col] in INTEGER_TYPES:
            df[col] = df[col].astype("Int64")  # NULLs would otherwise turn the column into floats
        elif types[col] == "DATE":
            df[col] = pd.to_datetime(df[col]).dt.strftime("%Y-%m-%d")
    return df


def main(warehouse: str, out: Path) -> None:
    co_cols = pd.read_csv(STANDIN / "analysis_cohort.csv", nrows=0).columns.tolist()
    cy_cols = pd.read_csv(STANDIN / "rait_cycles.csv", nrows=0).columns.tolist()
    con = duckdb.connect(warehouse, read_only=True)
    try:
        cohort = _export(con, "analysis_cohort", co_cols, "", "patient_id")
        cycles = _export(
            con,
            "rait_cycles",
            cy_cols,
            "where patient_id in (select patient_id from marts.analysis_cohort)",
            "patient_id, cycle_number",
        )
    finally:
        con.close()
    out.mkdir(parents=True, exist_ok=True)
    cohort.to_csv(out / "analysis_cohort.csv", index=False, float_format=None)
    cycles.to_csv(out / "rait_cycles.csv", index=False, float_format=None)
    print(f"wrote {len(cohort)} patients, {len(cycles)} cycles to {out}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else HERE)
