"""Compare two ``rait-registry analyze`` outputs: results.json, and optionally the tables/*.csv beside them.

Used to check that a refactoring changes no result::

    python scripts/compare_results.py BEFORE/results.json AFTER/results.json \\
        --rename beyond_options=sensitivity_options --tables

Values are compared exactly (floats bit for bit) after

* leaving out the paths given with ``--ignore`` (default: the timestamps and versions of ``meta``:
  ``meta.analyzed_at``, ``meta.package_version``);
* renaming keys of the first file with ``--rename OLD=NEW`` (a dotted path, e.g.
  ``meta.config.beyond=meta.config.sensitivity_analyses``; a top-level name renames a section),
  and CSV files with ``--rename-table OLD=NEW`` (file stems under ``tables/``).

Keys present in only one file are differences, unless they lie under a path given with
``--allow-added`` (the second file may add keys there, e.g. ``meta.config``).
Exit code 0 when equal, 1 with a list of differences otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

DEFAULT_IGNORE = ("meta.analyzed_at", "meta.package_version")


def _pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        old, _, new = item.partition("=")
        if not new:
            raise SystemExit(f"expected OLD=NEW, got {item!r}")
        out[old] = new
    return out


def _pop(tree: dict, path: str) -> tuple[bool, Any]:
    *parents, last = path.split(".")
    node = tree
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    if not isinstance(node, dict) or last not in node:
        return False, None
    return True, node.pop(last)


def _put(tree: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def prepare(results: dict, ignore: tuple[str, ...], rename: dict[str, str] | None = None) -> dict:
    """A copy of ``results`` with the ``ignore`` paths removed and the ``rename`` paths moved."""
    out = json.loads(json.dumps(results))
    for old, new in (rename or {}).items():
        found, value = _pop(out, old)
        if found:
            _put(out, new, value)
    for path in ignore:
        _pop(out, path)
    return out


def differences(a: Any, b: Any, path: str = "", allow_added: tuple[str, ...] = ()) -> list[str]:
    """Human-readable differences between two JSON values (exact comparison)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else key
            if key not in b:
                out.append(f"{sub}: only in the first")
            elif key not in a:
                if not any(path == p or path.startswith(p + ".") for p in allow_added):
                    out.append(f"{sub}: only in the second")
            else:
                out += differences(a[key], b[key], sub, allow_added)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += differences(x, y, f"{path}[{i}]", allow_added)
        return out
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    if type(a) is not type(b) or a != b:
        return [f"{path}: {a!r} vs {b!r}"]
    return []


def compare_tables(first: Path, second: Path, rename: dict[str, str]) -> list[str]:
    """Byte comparison of the CSV files of two ``tables/`` folders (first-folder stems renamed)."""
    a = {rename.get(p.stem, p.stem): p for p in sorted(first.glob("*.csv"))}
    b = {p.stem: p for p in sorted(second.glob("*.csv"))}
    out = [f"tables/{name}.csv: only in the first" for name in sorted(set(a) - set(b))]
    out += [f"tables/{name}.csv: only in the second" for name in sorted(set(b) - set(a))]
    out += [
        f"tables/{name}.csv: contents differ"
        for name in sorted(set(a) & set(b))
        if a[name].read_bytes() != b[name].read_bytes()
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="results.json before")
    parser.add_argument("second", type=Path, help="results.json after")
    parser.add_argument("--ignore", action="append", default=None, help="dotted path to leave out (repeatable)")
    parser.add_argument("--rename", action="append", default=[], help="OLD=NEW dotted key path of the first file")
    parser.add_argument("--allow-added", action="append", default=[], help="path under which the second may add keys")
    parser.add_argument("--tables", action="store_true", help="also compare tables/*.csv beside the two files")
    parser.add_argument("--rename-table", action="append", default=[], help="OLD=NEW stem of a first-folder CSV")
    args = parser.parse_args(argv)
    ignore = tuple(args.ignore) if args.ignore is not None else DEFAULT_IGNORE
    a = prepare(json.loads(args.first.read_text()), ignore, _pairs(args.rename))
    b = prepare(json.loads(args.second.read_text()), ignore)
    diffs = differences(a, b, allow_added=tuple(args.allow_added))
    if args.tables:
        diffs += compare_tables(args.first.parent / "tables", args.second.parent / "tables", _pairs(args.rename_table))
    for line in diffs:
        print(line)
    print(f"{len(diffs)} difference(s)" if diffs else "equal")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
