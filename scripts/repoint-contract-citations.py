#!/usr/bin/env python3
"""Repoint citations of the registry contract to the project's own specification.

Code comments and docstrings cite "contract section N" (also "registry contract section N",
"contract §N", "contract sections 2 and 3", "shared/registry-contract.md"). The contract is not
part of the repository; ``docs/specification.md`` is, with the same top-level numbering. This
script rewrites those citations to "docs/specification.md section N":

* Python: in comments and docstrings only (string literals that are not docstrings, such as
  error messages, are left alone and listed, for a person to decide);
* SQL (dbt models, macros, tests): in ``--``, ``/* */`` and ``{# #}`` comments only;
* R: in ``#`` comments only;
* YAML and Markdown: everywhere (descriptions and prose are documentation);
* JSON: never (it is data); its citations are listed with the other string literals.

Dry run by default: prints the files it would change, with the number of citations in each
(``--diff`` also prints every changed line). ``--apply`` writes the files.

Usage::

    python scripts/repoint-contract-citations.py [--diff] [--apply] [PATH ...]

PATH defaults to the repository root; ``.venv``, ``.git``, build output,
``docs/specification.md`` (generated) and its template are skipped.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = "docs/specification.md"
SKIPPED_DIRS = {".venv", ".git", "node_modules", "target", "logs", "dbt_packages", "__pycache__", "out", "warehouse"}
SKIPPED_FILES = {
    "docs/specification.md",
    "docs/spec-source/specification.template.md",  # says on purpose that old comments cite "contract section N"
    "scripts/repoint-contract-citations.py",
    "tests/test_specification.py",  # its test data are citations
}

_SECTION = r"(?:section|§)\s*(\d+(?:\s*(?:,|and|-)\s*\d+)*)"
CITATION = re.compile(
    r"(?P<registry>\bregistry\s+)?\b(?P<word>[Cc]ontract)(?:'s)?\s+"
    rf"(?:(?P<plural>sections)\s+(?P<numbers>\d+(?:\s*(?:,|and|-)\s*\d+)*)|{_SECTION})"
)
PATH_CITATION = re.compile(r"(?:\.\./)*(?:/work/)?shared/registry-contract\.md")


def repoint(text: str) -> tuple[str, int]:
    """``text`` with every contract citation repointed, and the number of citations."""
    count = 0

    def section(match: re.Match) -> str:
        nonlocal count
        count += 1
        if match.group("plural"):
            return f"{TARGET} sections {match.group('numbers')}"
        return f"{TARGET} section {match.group(len(match.groups()))}"

    text = CITATION.sub(section, text)

    def path(match: re.Match) -> str:
        nonlocal count
        count += 1
        return TARGET

    text = PATH_CITATION.sub(path, text)
    return text, count


def _rewrite_spans(text: str, spans: list[tuple[int, int]]) -> tuple[str, int]:
    """Repoint citations inside the character ``spans`` of ``text`` only."""
    out, last, total = [], 0, 0
    for start, end in sorted(spans):
        if start < last:
            continue
        new, count = repoint(text[start:end])
        out += [text[last:start], new]
        last, total = end, total + count
    out.append(text[last:])
    return "".join(out), total


def _offsets(text: str) -> list[int]:
    starts = [0]
    for line in io.StringIO(text).readlines():  # the lines tokenize numbers (split at "\n" only)
        starts.append(starts[-1] + len(line))
    return starts


def python_spans(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(comment and docstring spans, other string literal spans) of Python source."""
    lines = _offsets(text)

    def at(row: int, col: int) -> int:
        return lines[row - 1] + col

    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for statement in body:  # a bare string statement: a docstring (module, class, function, attribute)
            if (
                isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)
            ):
                docstrings.add((statement.lineno, statement.col_offset))
    documentation, other = [], []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        span = (at(*token.start), at(*token.end))
        if token.type == tokenize.COMMENT or (token.type == tokenize.STRING and token.start in docstrings):
            documentation.append(span)
        elif token.type in (tokenize.STRING, getattr(tokenize, "FSTRING_START", -1)):
            other.append(span)
    return documentation, other


_SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/|\{#.*?#\}", re.DOTALL)
_HASH_COMMENT = re.compile(r"#[^\n]*")


def _regex_spans(pattern: re.Pattern) -> Callable[[str], tuple[list[tuple[int, int]], list[tuple[int, int]]]]:
    def spans(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return [m.span() for m in pattern.finditer(text)], []

    return spans


def _everywhere(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return [(0, len(text))], []


HANDLERS: dict[str, Callable[[str], tuple[list[tuple[int, int]], list[tuple[int, int]]]]] = {
    ".py": python_spans,
    ".sql": _regex_spans(_SQL_COMMENT),
    ".r": _regex_spans(_HASH_COMMENT),
    ".yml": _everywhere,
    ".yaml": _everywhere,
    ".md": _everywhere,
    ".json": lambda text: ([], [(0, len(text))]),  # data: citations are listed, never rewritten
}


def files_under(paths: list[Path]) -> list[Path]:
    found = []
    for root in paths:
        candidates = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in candidates:
            if not path.is_file() or path.suffix.lower() not in HANDLERS:
                continue
            parts = set(path.relative_to(root if root.is_dir() else root.parent).parts[:-1])
            if parts & SKIPPED_DIRS or any(p.endswith(".egg-info") for p in parts):
                continue
            try:
                relative = path.resolve().relative_to(REPO).as_posix()
            except ValueError:
                relative = None
            if relative in SKIPPED_FILES:
                continue
            found.append(path)
    return found


def process(path: Path) -> tuple[str, str, int, list[int]]:
    """(old text, new text, citations repointed, lines of citations left in other string literals)."""
    text = path.read_text(encoding="utf-8")
    documentation, other = HANDLERS[path.suffix.lower()](text)
    new, count = _rewrite_spans(text, documentation)
    left = []
    for start, end in other:
        for pattern in (CITATION, PATH_CITATION):
            left += [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text, start, end)]
    return text, new, count, sorted(left)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[REPO], help="files or folders (default: the repo)")
    parser.add_argument("--apply", action="store_true", help="write the changes (default: dry run)")
    parser.add_argument("--diff", action="store_true", help="print every changed line")
    args = parser.parse_args(argv)
    changed = total = 0
    leftovers = []
    for path in files_under(args.paths):
        old, new, count, left = process(path)
        leftovers += [(path, line) for line in left]
        if not count:
            continue
        changed += 1
        total += count
        print(f"{path}: {count} citation(s)")
        if args.diff:
            for before, after in zip(old.splitlines(), new.splitlines()):
                if before != after:
                    print(f"  - {before.strip()}\n  + {after.strip()}")
        if args.apply:
            path.write_text(new, encoding="utf-8")
    verb = "rewrote" if args.apply else "would rewrite"
    print(f"{verb} {total} citation(s) in {changed} file(s)" + ("" if args.apply else " (dry run; --apply to write)"))
    if leftovers:
        print(f"{len(leftovers)} citation(s) in string literals that are not docstrings, left for a person to decide:")
        for path, line in leftovers:
            print(f"  {path}:{line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
