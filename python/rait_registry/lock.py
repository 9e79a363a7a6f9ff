"""A cross-process lock for the one writer of a warehouse.

``fcntl.flock`` on ``<warehouse>.lock``: the kernel releases it when the holder dies, so a lock
left by a crashed or killed refresh is stale by construction and is taken over at once; the
file's content (pid, host, start time) only serves the message shown to a second writer.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import socket
from pathlib import Path

from .exceptions import LockHeld

log = logging.getLogger(__name__)


class WarehouseLock:
    """Exclusive, non-blocking lock on a warehouse path (context manager).

    Raises
    ------
    LockHeld
        When another live process holds the lock (exit code 3).
    """

    def __init__(self, warehouse: str | Path):
        self.path = Path(str(warehouse) + ".lock")
        self._handle = None
        self.previous_holder: dict | None = None

    def acquire(self) -> WarehouseLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _parse(handle.read())
            handle.close()
            who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('started_at', '?')}"
            raise LockHeld(
                f"another refresh holds the lock {self.path} ({who}); wait for it to finish or stop that process."
            ) from None
        handle.seek(0)
        self.previous_holder = _parse(handle.read()) or None
        if self.previous_holder:
            log.warning(
                "took over a stale lock left by process %s (started %s), which is no longer running",
                self.previous_holder.get("pid"),
                self.previous_holder.get("started_at"),
            )
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
        )
        handle.flush()
        os.fsync(handle.fileno())
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.flush()
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def __enter__(self) -> WarehouseLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _parse(text: str) -> dict:
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
