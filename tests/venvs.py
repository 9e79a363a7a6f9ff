"""Virtual environments the client tests need, built once and kept in a cache folder.

``$RAIT_TEST_CACHE`` or ``~/.cache/rait-registry-tests``. A venv is built under a lock (two pytest
workers, or two sessions, never build the same one at once) and marked ready only when complete,
so an interrupted build is redone next time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


def cache_dir() -> Path:
    root = Path(os.environ.get("RAIT_TEST_CACHE") or Path.home() / ".cache" / "rait-registry-tests")
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def locked(path: Path):
    """An exclusive ``flock`` on ``<path>.lock`` for the duration of the block."""
    with open(str(path) + ".lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def cached_venv(name: str, populate: Callable[[Path], None]) -> Path:
    """The venv ``name`` in the cache folder, created and ``populate``-d once; returns its folder."""
    venv = cache_dir() / name
    ready = venv / ".ready"
    with locked(venv):
        if not ready.is_file():
            shutil.rmtree(venv, ignore_errors=True)
            # the base interpreter, not this venv's: the new venv must not see this venv's packages
            run(Path(sys.base_prefix) / "bin" / "python3", "-m", "venv", venv)
            populate(venv)
            ready.write_text("ok\n")
    return venv


def duckdb_client_venv(version: str) -> Path:
    """A venv with nothing but ``duckdb==version`` (and pytz, which DuckDB 1.1 needs for TIMESTAMPTZ)."""

    def populate(venv: Path) -> None:
        run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"duckdb=={version}", "pytz")

    return cached_venv(f"duckdb-{version}", populate)


def dependencies_venv() -> Path:
    """A venv that sees this venv's installed packages (the project's dependencies) but not the
    project itself: a ``.pth`` file adds this venv's site-packages after the new venv's own, where
    the wheel under test is installed. (An editable install's finder is a ``.pth`` of that folder,
    and ``.pth`` files of a folder added that way are not run, so the editable project stays out.)"""
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    key = hashlib.sha256(sys.prefix.encode()).hexdigest()[:10]

    def populate(venv: Path) -> None:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        site = venv / "lib" / version / "site-packages"
        (site / "rait_registry_test_dependencies.pth").write_text("\n".join(paths) + "\n")

    return cached_venv(f"wheel-{key}", populate)
