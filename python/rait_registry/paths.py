"""Paths named on the command line, checked before any work starts.

A folder that cannot be created or written, or a file or folder that cannot be read, ends the
command with :class:`~rait_registry.exceptions.PathError` (exit code 2) naming the path and the
option that gave it, instead of an error deep inside DuckDB or dbt.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .exceptions import PathError


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)


def _probe(folder: Path) -> None:
    """Create ``folder`` when missing and a file in it (removed at once); OSError when either fails."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, probe = tempfile.mkstemp(prefix=".rait-write-test-", dir=folder)
    os.close(handle)
    os.unlink(probe)


def writable_folder(path: str | Path, option: str) -> Path:
    """Create ``path`` (a folder) when it is missing and prove it can be written; return it.

    Raises
    ------
    PathError
        The folder cannot be created, or a file cannot be created in it.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PathError(f"{option} {path}: not a folder; pass a folder.")
    try:
        _probe(path)
    except OSError as exc:
        raise PathError(
            f"{option} {path}: cannot write there ({_reason(exc)}); choose a folder you can write, or fix its permissions."
        ) from None
    return path


def writable_file(path: str | Path, option: str) -> Path:
    """A file to be written (or replaced): not a folder, in a folder that can be created and written."""
    path = Path(path)
    if path.is_dir():
        raise PathError(f"{option} {path}: is a folder; pass a file path (e.g. {path / 'registry.duckdb'}).")
    try:
        _probe(path.parent)
    except OSError as exc:
        raise PathError(
            f"{option} {path}: cannot write in its folder {path.parent} ({_reason(exc)}); choose a path you can "
            "write, or fix the folder's permissions."
        ) from None
    return path


def readable_folder(path: str | Path, option: str) -> Path:
    """A folder to be read: it must exist and be listable."""
    path = Path(path)
    if not path.exists():
        raise PathError(f"{option} {path}: no such folder.")
    if not path.is_dir():
        raise PathError(f"{option} {path}: not a folder; pass a folder.")
    try:
        next(iter(os.scandir(path)), None)
    except OSError as exc:
        raise PathError(f"{option} {path}: cannot read the folder ({_reason(exc)}).") from None
    return path


def readable_file(path: str | Path, option: str) -> Path:
    """A file to be read: it must exist, be a file and open for reading."""
    path = Path(path)
    if not path.exists():
        raise PathError(f"{option} {path}: no such file.")
    if path.is_dir():
        raise PathError(f"{option} {path}: is a folder; pass a file.")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise PathError(f"{option} {path}: cannot read the file ({_reason(exc)}).") from None
    return path


#: The bytes at offset 8 of every DuckDB database file.
DUCKDB_MAGIC = b"DUCK"


def duckdb_file_or_absent(path: str | Path, option: str) -> Path:
    """A warehouse path: absent, or a DuckDB database file (not a folder, an empty or another file)."""
    path = Path(path)
    if path.is_dir():
        raise PathError(f"{option} {path}: is a folder; pass the DuckDB file (e.g. {path / 'registry.duckdb'}).")
    if not path.exists():
        return path
    try:
        with open(path, "rb") as handle:
            header = handle.read(12)
    except OSError as exc:
        raise PathError(f"{option} {path}: cannot read the file ({_reason(exc)}).") from None
    if header[8:12] != DUCKDB_MAGIC:
        raise PathError(
            f"{option} {path}: the file exists but is not a DuckDB database (empty, or another kind of file); "
            "move it away or pass another path."
        )
    return path


#: errno values of an OSError that is about the environment (a path, a disk), not a bug.
ENVIRONMENT_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ENOSPC,
        errno.EDQUOT,
    }
)


def path_error_from(exc: BaseException) -> PathError | None:
    """A :class:`PathError` for an ``OSError`` about a named path that cannot be read or written
    (permission, read-only file system, missing folder, disk full), else None."""
    if not isinstance(exc, OSError) or exc.errno not in ENVIRONMENT_ERRNOS or not exc.filename:
        return None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PathError(f"no space left writing {exc.filename} ({_reason(exc)}); free some space and run again.")
    if exc.errno == errno.EEXIST:
        return PathError(f"{exc.filename} exists and is not a folder; pass a path that is a folder or does not exist.")
    return PathError(f"cannot use {exc.filename} ({_reason(exc)}); check the path and its permissions.")
