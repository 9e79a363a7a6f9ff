"""Run dbt (in-process, programmatic API) against a build database."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .exceptions import BuildFailed, RaitRegistryError


def project_dir() -> Path:
    """The dbt project shipped with rait-registry (``$RAIT_DBT_PROJECT`` overrides)."""
    override = os.environ.get("RAIT_DBT_PROJECT")
    if override:
        return Path(override)
    candidate = Path(__file__).resolve().parents[2] / "dbt_project"
    if not (candidate / "dbt_project.yml").is_file():
        raise RaitRegistryError(
            "cannot find the dbt project; set RAIT_DBT_PROJECT to the rait-registry dbt_project folder."
        )
    return candidate


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
    os.environ["RAIT_DBT_DATABASE"] = str(Path(database).resolve())
    os.environ["RAIT_DBT_THREADS"] = str(threads)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    args = command.split() + [
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(target_path),
        "--log-path", str(log_path),
        "--quiet",
    ]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars, sort_keys=True)]
    args += extra_args or []
    res = dbtRunner().invoke(args)
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
