"""Build the dbt project on PostgreSQL or Apache Spark instead of DuckDB.

The DuckDB build (:mod:`rait_registry.refresh`) stays the reference. For a registry that
outgrows one DuckDB file, the same models run on an existing engine:

1. the extract is verified and loaded with the usual ingest (:func:`rait_registry.ingest.ingest`)
   into a throwaway in-memory DuckDB, so exactly the same rows are accepted or quarantined;
2. the accepted, typed ``raw.*`` tables (with ``source_row``) are copied to the ``raw``
   schema of the engine (PostgreSQL ``COPY``; Spark ``saveAsTable``);
3. ``dbt build --target postgres|spark`` builds the seeds, staging views, intermediate and mart
   tables and snapshots there and runs the data tests and unit tests (on Spark without the
   snapshots, which need a Delta/Iceberg/Hudi table format there);
4. the marts can be read back as pandas DataFrames (:func:`read_marts_postgres`,
   :func:`read_marts_spark`) and compared with a DuckDB build.

The dbt profile (``dbt_project/profiles.yml``) reads PostgreSQL settings from the standard
libpq variables (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``,
``PGSSLMODE``); :class:`PostgresTarget` sets them for the dbt run. Spark runs through dbt-spark's
``session`` method in this Python process: :func:`spark_session` starts (or reuses) the local
session that dbt then picks up. See ``docs/other-engines.md``.

Optional dependencies: ``dbt-postgres`` (with ``psycopg2``) for PostgreSQL, ``dbt-spark[session]``
(with ``pyspark`` and a Java 17 runtime) for Spark.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .dbt_runner import DbtResult, require_success, run_dbt
from .exceptions import RaitRegistryError
from .ingest import IngestReport, ingest
from .warehouse import MARTS

if TYPE_CHECKING:  # pragma: no cover - imported for annotations only
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import SparkSession

ENGINES = ("postgres", "spark")


#: Arrow type of a raw column -> PostgreSQL / Spark SQL type.
_POSTGRES_TYPES = {
    "string": "text",
    "large_string": "text",
    "int64": "bigint",
    "int32": "integer",
    "double": "double precision",
    "date32[day]": "date",
    "bool": "boolean",
}
_SPARK_TYPES = {
    "string": "string",
    "large_string": "string",
    "int64": "bigint",
    "int32": "int",
    "double": "double",
    "date32[day]": "date",
    "bool": "boolean",
}


@dataclass
class EngineBuild:
    """What one build on another engine did.

    Attributes
    ----------
    engine
        ``postgres`` or ``spark``.
    ingest
        The ingest report (rows read / staged / quarantined per table).
    dbt
        The ``dbt build`` outcome (node counts by status, invocation id).
    timings_s
        Seconds per step: ``ingest``, ``load_raw``, ``dbt_build``.
    """

    engine: str
    ingest: IngestReport
    dbt: DbtResult
    timings_s: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Raw tables
# --------------------------------------------------------------------------------------


def ingest_extract(extract_dir: str | Path) -> tuple[IngestReport, dict[str, pa.Table]]:
    """Verify and load an extract with the usual ingest; return the accepted raw tables.

    The ingest runs in a throwaway in-memory DuckDB, so the rows accepted and quarantined are
    exactly those of a DuckDB refresh.

    Returns
    -------
    report, tables
        The :class:`~rait_registry.ingest.IngestReport` and ``raw.<table>`` as Arrow tables
        (accepted rows, typed, plus ``source_row``), in ingest order.

    Raises
    ------
    ExtractRefused
        As :func:`rait_registry.ingest.ingest`.
    """
    con = duckdb.connect()
    try:
        report = ingest(extract_dir, con)
        tables = {name: _fetch_arrow(con, f'select * from raw."{name}" order by source_row') for name in report.tables}
        return report, tables
    finally:
        con.close()


def _fetch_arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """A query result as an Arrow table (``to_arrow_table`` in DuckDB 2, ``arrow`` before)."""
    cursor = con.cursor()  # DuckDB 2 refuses new work while an earlier execute() result is unread
    try:
        relation = cursor.sql(sql)
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
        return fetch()
    finally:
        cursor.close()


def _column_types(table: pa.Table, mapping: Mapping[str, str], engine: str, name: str) -> list[tuple[str, str]]:
    columns = []
    for column in table.schema:
        type_name = str(column.type)
        if type_name not in mapping:
            raise RaitRegistryError(
                f"raw.{name}.{column.name} has type {type_name}, which rait_registry.engines cannot copy to "
                f"{engine}; raw tables hold text, date, double, integer and boolean columns (is the ingest newer than engines.py?)."
            )
        columns.append((column.name, mapping[type_name]))
    return columns


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _timed_build(engine: str, extract_dir: str | Path, load_raw, dbt_build) -> EngineBuild:
    """Ingest ``extract_dir``, ``load_raw(tables)`` on the engine, then ``dbt_build()``; each step timed."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    report, tables = ingest_extract(extract_dir)
    timings["ingest"] = time.perf_counter() - started
    started = time.perf_counter()
    load_raw(tables)
    timings["load_raw"] = time.perf_counter() - started
    started = time.perf_counter()
    result = dbt_build()
    timings["dbt_build"] = time.perf_counter() - started
    return EngineBuild(engine=engine, ingest=report, dbt=result, timings_s=timings)


def _copy_text(value: Any) -> str:
    """One field in PostgreSQL COPY text format."""
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# --------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------


@dataclass
class PostgresTarget:
    """Connection settings of the PostgreSQL database to build in.

    The project creates the schemas of :data:`rait_registry.warehouse.PROJECT_SCHEMAS` there (and
    replaces the objects it owns in them): give it a database of its own.
    """

    host: str = "localhost"
    port: int = 5432
    user: str = "rait"
    password: str = ""
    dbname: str = "rait"
    sslmode: str = "prefer"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PostgresTarget:
        """Settings from the libpq variables ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``,
        ``PGDATABASE`` and ``PGSSLMODE`` (defaults: localhost, 5432, rait, empty, rait, prefer)."""
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("PGHOST", cls.host),
            port=int(env.get("PGPORT", cls.port)),
            user=env.get("PGUSER", cls.user),
            password=env.get("PGPASSWORD", cls.password),
            dbname=env.get("PGDATABASE", cls.dbname),
            sslmode=env.get("PGSSLMODE", cls.sslmode),
        )

    def dbt_env(self) -> dict[str, str]:
        """The variables the ``postgres`` output of ``profiles.yml`` reads."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.dbname,
            "PGSSLMODE": self.sslmode,
        }

    def connect(self):
        """A new psycopg2 connection (autocommit off)."""
        psycopg2 = _import_optional("psycopg2", "postgres")
        try:
            return psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password or None,
                dbname=self.dbname,
                sslmode=self.sslmode,
                connect_timeout=30,
                application_name="rait-registry",
            )
        except psycopg2.OperationalError as exc:
            raise RaitRegistryError(
                f"cannot connect to PostgreSQL at {self.host}:{self.port} (database {self.dbname}, user "
                f"{self.user}): {str(exc).strip()}. Check PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE."
            ) from exc


def load_raw_postgres(tables: Mapping[str, pa.Table], target: PostgresTarget) -> None:
    """Replace ``raw.<table>`` in PostgreSQL with ``tables``, in one transaction (``COPY``).

    A table is dropped with ``CASCADE`` first, which also drops the staging views over it
    (dbt recreates them).
    """
    con = target.connect()
    try:
        with con, con.cursor() as cur:
            cur.execute("create schema if not exists raw")
            for name, table in tables.items():
                columns = _column_types(table, _POSTGRES_TYPES, "PostgreSQL", name)
                relation = f"raw.{_quote(name)}"
                cur.execute(f"drop table if exists {relation} cascade")
                cur.execute(f"create table {relation} ({', '.join(f'{_quote(c)} {t}' for c, t in columns)})")
                names = [c for c, _ in columns]
                copy = f"copy {relation} ({', '.join(_quote(c) for c in names)}) from stdin"
                for batch in table.to_batches(max_chunksize=50_000):
                    buffer = io.StringIO()
                    for row in batch.to_pylist():
                        buffer.write("\t".join(_copy_text(row[c]) for c in names))
                        buffer.write("\n")
                    buffer.seek(0)
                    cur.copy_expert(copy, buffer)
    finally:
        con.close()


def read_marts_postgres(target: PostgresTarget, marts: tuple[str, ...] = MARTS) -> dict[str, pd.DataFrame]:
    """The marts built in PostgreSQL as pandas DataFrames (columns in table order)."""
    import pandas as pd

    con = target.connect()
    try:
        out = {}
        with con.cursor() as cur:
            for mart in marts:
                cur.execute(f"select * from marts.{_quote(mart)}")
                out[mart] = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        con.rollback()
        return out
    finally:
        con.close()


def build_on_postgres(
    extract_dir: str | Path,
    work_dir: str | Path,
    target: PostgresTarget | None = None,
    dbt_vars: dict | None = None,
    threads: int = 2,
    with_unit_tests: bool = True,
) -> EngineBuild:
    """Ingest ``extract_dir``, copy its raw tables to PostgreSQL and ``dbt build`` there.

    Parameters
    ----------
    extract_dir
        The raw extract (docs/specification.md section 1).
    work_dir
        Folder for dbt's target/ and logs/.
    target
        Database to build in (default :meth:`PostgresTarget.from_env`).
    dbt_vars
        Study-parameter overrides (dbt vars).
    threads
        dbt threads.
    with_unit_tests
        Also run the dbt unit tests.

    Raises
    ------
    ExtractRefused
        The extract is refused (nothing is copied).
    BuildFailed
        A model, snapshot, data test or unit test failed.
    """
    target = target or PostgresTarget.from_env()
    _import_optional("dbt.adapters.postgres", "postgres")

    def build():
        with _environment(target.dbt_env()):
            return _dbt_build("postgres", work_dir, dbt_vars, threads, with_unit_tests, exclude=())

    return _timed_build("postgres", extract_dir, lambda tables: load_raw_postgres(tables, target), build)


# --------------------------------------------------------------------------------------
# Spark
# --------------------------------------------------------------------------------------


def spark_session(work_dir: str | Path, cores: int = 2, driver_memory: str = "2g") -> SparkSession:
    """Start (or return the running) local Spark session that dbt's ``session`` method uses.

    The session keeps its tables under ``work_dir/spark-warehouse`` and its Hive metastore (an
    embedded Derby database) under ``work_dir/metastore``, never in the current directory.
    ``spark.sql.shuffle.partitions`` is set to ``cores``: the default of 200 partitions makes
    every small join of the project slow. If a session is already running, it is returned as
    it is (its warehouse and metastore cannot change any more).
    """
    pyspark_sql = _import_optional("pyspark.sql", "spark")
    active = pyspark_sql.SparkSession.getActiveSession()
    if active is not None:
        return active
    work_dir = Path(work_dir).resolve()
    (work_dir / "metastore").mkdir(parents=True, exist_ok=True)
    builder = (
        pyspark_sql.SparkSession.builder.master(f"local[{cores}]")
        .appName("rait-registry")
        .config("spark.sql.warehouse.dir", str(work_dir / "spark-warehouse"))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={work_dir / 'metastore' / 'metastore_db'};create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={work_dir / 'metastore'}")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.default.parallelism", str(cores))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.sql.legacy.createHiveTableByDefault", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .enableHiveSupport()
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def load_raw_spark(tables: Mapping[str, pa.Table], spark: SparkSession) -> None:
    """Replace ``raw.<table>`` in the Spark catalog with ``tables`` (parquet tables)."""
    types = _import_optional("pyspark.sql.types", "spark")
    spark_type = {
        "string": types.StringType(),
        "bigint": types.LongType(),
        "int": types.IntegerType(),
        "double": types.DoubleType(),
        "date": types.DateType(),
        "boolean": types.BooleanType(),
    }
    spark.sql("create database if not exists raw")
    for name, table in tables.items():
        columns = _column_types(table, _SPARK_TYPES, "Spark", name)
        schema = types.StructType([types.StructField(c, spark_type[t], True) for c, t in columns])
        frame = spark.createDataFrame(table.to_pandas(), schema=schema)
        spark.sql(f"drop table if exists raw.`{name}`")
        frame.write.mode("overwrite").format("parquet").saveAsTable(f"raw.`{name}`")


def read_marts_spark(spark: SparkSession, marts: tuple[str, ...] = MARTS) -> dict[str, pd.DataFrame]:
    """The marts built in Spark as pandas DataFrames (columns in table order)."""
    return {mart: spark.table(f"marts.`{mart}`").toPandas() for mart in marts}


def build_on_spark(
    extract_dir: str | Path,
    work_dir: str | Path,
    spark: SparkSession | None = None,
    dbt_vars: dict | None = None,
    threads: int = 2,
    with_unit_tests: bool = True,
) -> EngineBuild:
    """Ingest ``extract_dir``, copy its raw tables to Spark and ``dbt build`` there.

    Runs dbt-spark's ``session`` method in this process, on ``spark`` (default
    :func:`spark_session` with its warehouse under ``work_dir``). Snapshots are left out: on
    Spark they need a Delta, Iceberg or Hudi table format (see ``docs/other-engines.md``).

    Parameters are those of :func:`build_on_postgres`.

    Raises
    ------
    ExtractRefused
        The extract is refused (nothing is copied).
    BuildFailed
        A model, data test or unit test failed.
    """
    _import_optional("dbt.adapters.spark", "spark")
    spark = spark or spark_session(work_dir)
    return _timed_build(
        "spark",
        extract_dir,
        lambda tables: load_raw_spark(tables, spark),
        lambda: _dbt_build("spark", work_dir, dbt_vars, threads, with_unit_tests, exclude=("snapshot",)),
    )


# --------------------------------------------------------------------------------------
# Column types of the marts
# --------------------------------------------------------------------------------------

_TYPE_FAMILIES = {
    "text": {"varchar", "text", "string", "character varying", "character", "char", "bpchar"},
    "date": {"date"},
    "boolean": {"boolean", "bool"},
    "float": {"double", "double precision", "float", "float8", "float4", "real"},
    "decimal": {"decimal", "numeric"},
    "integer": {"bigint", "integer", "int", "int2", "int4", "int8", "smallint", "tinyint", "hugeint", "long"},
}


def type_family(type_name: str) -> str:
    """The engine-independent family of an SQL type name.

    ``VARCHAR``/``text``/``string`` -> ``text``; ``DOUBLE``/``double precision``/``float8`` ->
    ``float``; ``BIGINT``/``integer``/``int`` -> ``integer``; ``DECIMAL(18,3)``/``numeric`` ->
    ``decimal``; ``DATE``; ``BOOLEAN``/``bool``; ``TIMESTAMP...`` -> ``timestamp``; anything else
    is returned lower-cased. Used to check that a mart has the same kind of columns on every engine.
    """
    name = type_name.strip().lower()
    base = name.split("(")[0].strip()
    if base.startswith("timestamp"):
        return "timestamp"
    for family, names in _TYPE_FAMILIES.items():
        if base in names:
            return family
    return name


def mart_types_duckdb(con: duckdb.DuckDBPyConnection, marts: tuple[str, ...] = MARTS) -> dict[str, dict[str, str]]:
    """Mart -> column -> type name, in column order, of a DuckDB build."""
    return {mart: {row[0]: row[1] for row in con.execute(f'describe marts."{mart}"').fetchall()} for mart in marts}


def mart_types_postgres(target: PostgresTarget, marts: tuple[str, ...] = MARTS) -> dict[str, dict[str, str]]:
    """Mart -> column -> type name, in column order, of a PostgreSQL build."""
    con = target.connect()
    try:
        with con.cursor() as cur:
            cur.execute(
                "select table_name, column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = any(%s) order by table_name, ordinal_position",
                (list(marts),),
            )
            out: dict[str, dict[str, str]] = {mart: {} for mart in marts}
            for table, column, data_type in cur.fetchall():
                out[table][column] = data_type
        con.rollback()
        return out
    finally:
        con.close()


def mart_types_spark(spark: SparkSession, marts: tuple[str, ...] = MARTS) -> dict[str, dict[str, str]]:
    """Mart -> column -> type name, in column order, of a Spark build."""
    return {
        mart: {f.name: f.dataType.simpleString() for f in spark.table(f"marts.`{mart}`").schema.fields}
        for mart in marts
    }


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _dbt_build(
    engine: str,
    work_dir: str | Path,
    dbt_vars: dict | None,
    threads: int,
    with_unit_tests: bool,
    exclude: tuple[str, ...],
) -> DbtResult:
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    extra = ["--target", engine]
    for resource_type in (*exclude, *(() if with_unit_tests else ("unit_test",))):
        extra += ["--exclude-resource-type", resource_type]
    # run_dbt points the profile's duckdb output at `database`; the postgres and spark outputs
    # do not read it, so a path that is never created is passed.
    unused = work_dir / "duckdb-not-used" / "not-used.duckdb"
    return require_success(run_dbt("build", unused, work_dir, dbt_vars, threads, extra))


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _import_optional(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RaitRegistryError(
            f"the {extra} engine needs optional packages that are not installed ({exc.name}); "
            f"install them with: pip install 'rait-registry[{extra}]'"
        ) from exc
