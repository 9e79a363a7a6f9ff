"""Run dbt (in-process, programmatic API) against a build database."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .exceptions import BuildFailed, RaitRegistryError


def project_dir() -> Path:
    """The dbt project of rait-registry.

    ``$RAIT_DBT_PROJECT`` when set; else the copy installed inside the package
    (``rait_registry/dbt_project``, shipped in the wheel); else the ``dbt_project`` folder of a
    clone (an editable install).
    """
    override = os.environ.get("RAIT_DBT_PROJECT")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent
    for candidate in (package / "dbt_project", package.parents[1] / "dbt_project"):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    raise RaitRegistryError(
        f"cannot find the dbt project (looked in {package / 'dbt_project'} and {package.parents[1] / 'dbt_project'}); "
        "reinstall rait-registry, or set RAIT_DBT_PROJECT to the rait-registry dbt_project folder."
    )


@dataclass
class DbtResult:
    """Outcome of one dbt invocation."""

    command: str
    success: bool
    invocation_id: str | None = None
    elapsed_s: float | None = None
    failures: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    target_path: str | None = None


def stable_database_path(database: Path, work_dir: Path) -> Path:
    """A path to ``database`` that stays the same from one refresh to the next.

    dbt keeps its parsed project (``partial_parse.msgpack``) only while the profile is unchanged,
    and the profile includes the DuckDB ``path``: a refresh builds in a new folder
    (``.build-<run_id>``) every time, which would make every refresh parse the whole project again
    (about 10-20 s on 2 cores instead of about 1 s). So dbt is pointed at
    ``<work_dir>/build-folder/<file name>``, where ``build-folder`` is a symbolic link to the folder
    of ``database``, replaced atomically before each run. The link is to the folder, not to the
    file, so DuckDB's write-ahead log (``<file>.wal``) lands beside the real file. Where a link
    cannot be made, the real path is used (and dbt parses in full).
    """
    database = Path(database).resolve()
    work_dir = Path(work_dir).resolve()
    link = work_dir / "build-folder"
    staging = work_dir / f".build-folder-{os.getpid()}"
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        if not (link.is_symlink() and os.readlink(link) == str(database.parent)):
            if staging.is_symlink():
                staging.unlink()
            os.symlink(database.parent, staging, target_is_directory=True)
            os.replace(staging, link)
    except OSError:
        if staging.is_symlink():
            staging.unlink()
        return database
    return link / database.name


PARSE_CACHE_SIZE = 8


def _close_duckdb_environment() -> None:
    """Close the DuckDB database dbt-duckdb keeps open after an invocation.

    dbt-duckdb caches one open database per process (``DuckDBConnectionManager._ENV``) and only
    closes it when a later invocation uses other credentials. The build database is reached
    through the same path every refresh (:func:`stable_database_path`), so a database left open
    would be reused by the next refresh -- still holding the previous build file, which by then
    is the published warehouse -- and would stay open beside the refresh's own connection to the
    same file. Closing it after every invocation leaves exactly one owner of the file at a time.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
        if environment is not None:
            environment.close()


def _restore_parse_cache(work_dir: Path, target_path: Path, dbt_vars: dict | None) -> Path:
    """Put the saved parse of the project for these ``dbt_vars`` where dbt looks for it.

    dbt re-parses the whole project (5-20 s on 2 cores) whenever ``--vars`` differ from its
    previous run, and keeps only one parse (``<target>/partial_parse.msgpack``). A copy is kept
    per set of vars (``<work_dir>/dbt-parse-cache/<hash>.msgpack``, the last
    :data:`PARSE_CACHE_SIZE` sets), so alternating between study-parameter sets (a refresh with
    the defaults, a sensitivity run with overrides) parses in full only the first time each set
    is used. dbt itself checks that a saved parse matches the project, the profile and the vars,
    and parses in full when it does not. Returns the cache file for these vars.
    """
    key = hashlib.sha256(json.dumps(dbt_vars or {}, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cache = Path(work_dir) / "dbt-parse-cache" / f"{key}.msgpack"
    if cache.is_file():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache, target_path / "partial_parse.msgpack")
    return cache


def _save_parse_cache(target_path: Path, cache: Path) -> None:
    """Keep dbt's parse of this run for the next run with the same vars (see :func:`_restore_parse_cache`)."""
    saved = target_path / "partial_parse.msgpack"
    if not saved.is_file():
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(saved, cache)
        for old in sorted(cache.parent.glob("*.msgpack"), key=lambda p: p.stat().st_mtime)[:-PARSE_CACHE_SIZE]:
            old.unlink(missing_ok=True)
    except OSError:  # a cache that cannot be written only costs a full parse next time
        pass


def run_dbt(
    command: str,
    database: Path,
    work_dir: Path,
    dbt_vars: dict | None = None,
    threads: int = 2,
    extra_args: list[str] | None = None,
) -> DbtResult:
    """Invoke ``dbt <command>`` on ``database``; dbt's target/ and logs/ go under ``work_dir``.

    Parameters
    ----------
    command
        ``build``, ``run``, ``test``, ``seed`` or ``docs generate``.
    database
        DuckDB file to build in.
    work_dir
        Folder for dbt's ``target`` and ``logs`` (kept per warehouse so partial parsing is reused).
    dbt_vars
        Study-parameter overrides (dbt ``vars``).
    """
    from dbt.cli.main import dbtRunner

    project = project_dir()
    target_path = work_dir / "dbt-target"
    log_path = work_dir / "dbt-logs"
    os.environ["RAIT_DBT_DATABASE"] = str(stable_database_path(database, work_dir))
    os.environ["RAIT_DBT_THREADS"] = str(threads)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    args = command.split() + [
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--quiet",
    ]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars, sort_keys=True)]
    args += extra_args or []
    parse_cache = _restore_parse_cache(work_dir, target_path, dbt_vars)
    try:
        res = dbtRunner().invoke(args)
    finally:
        _close_duckdb_environment()
    _save_parse_cache(target_path, parse_cache)
    result = DbtResult(command=command, success=bool(res.success), target_path=str(target_path))
    run_results = target_path / "run_results.json"
    if run_results.is_file():
        data = json.loads(run_results.read_text())
        result.invocation_id = data.get("metadata", {}).get("invocation_id")
        result.elapsed_s = data.get("elapsed_time")
        for item in data.get("results", []):
            status = str(item.get("status"))
            result.counts[status] = result.counts.get(status, 0) + 1
            if status in ("error", "fail", "runtime error"):
                result.failures.append(f"{item.get('unique_id')}: {status}")
    if not result.success and not result.failures and res.exception is not None:
        result.failures.append(f"dbt could not run: {type(res.exception).__name__}: {res.exception}")
    return result


def require_success(result: DbtResult) -> DbtResult:
    """Raise :class:`BuildFailed` listing the failed nodes when ``result`` did not succeed."""
    if not result.success:
        shown = "\n  ".join(result.failures[:20]) or "(see dbt logs)"
        more = f"\n  ... and {len(result.failures) - 20} more" if len(result.failures) > 20 else ""
        raise BuildFailed(
            f"dbt {result.command} failed; nothing was published. Failed nodes:\n  {shown}{more}\n"
            f"dbt's logs are in {Path(result.target_path).parent / 'dbt-logs'}."
        )
    return result
