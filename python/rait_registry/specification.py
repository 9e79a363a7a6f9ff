"""Render ``docs/specification.md``, the project's specification, from its sources.

The specification keeps one home for each fact. The prose of the rules lives in a template,
``docs/spec-source/specification.template.md``; every fact the code already states is rendered
from the code at generation time:

* section 1, the extract format: every table, column, type, requirement, vocabulary, range, unit,
  description and example, from :mod:`rait_registry.contract` (:func:`render_extract_format`, which
  needs nothing but that module, so it can also become ``docs/extract-format.md``); the reason
  codes of rejected rows from :data:`rait_registry.checks.REASONS`;
* section 2, the derivation rules: each rule names the dbt model that implements it and its dbt
  unit tests, looked up by name under ``dbt_project/models`` (the folders can move), and the study
  parameters (:mod:`rait_registry.params`) with their defaults;
* section 3, the published marts: columns, types, NULLs and values from the pandera mart models
  (``schemas/marts.py``), column descriptions from the dbt YAML;
* section 4, ``results.json``: its outline from ``schemas/results.schema.json``;
* section 5, the command line: commands and options from the CLI, exit codes from
  :mod:`rait_registry.exceptions`.

Template directives, written ``{{ name argument ... }}``:

``extract_format``, ``units``, ``rejected_reasons``, ``parameters``, ``marts``, ``schemas``,
``results_schema``, ``analysis_parameters``, ``commands``, ``exit_codes``
    a generated block;
``rule MODEL ...``
    a line linking the dbt model(s) that implement the rule above it, and their unit tests;
``param NAME``
    the study parameter ``NAME`` and its default, e.g. ```rxwbs_window_days`` (default 14 days)`;
``vocab NAME``
    a vocabulary of :mod:`rait_registry.contract`, e.g. ``vocab DISEASE_STATUSES``;
``value NAME``
    a constant of :mod:`rait_registry.contract`, e.g. ``value DAYS_PER_MONTH``.

The same run writes two more files generated from the same sources:

* ``docs/extract-format.md``, the how-to for a hospital's data engineer, from
  ``docs/spec-source/extract-format.template.md``: its directive ``{{ specification_section 1 }}``
  includes section 1 of the rendered specification word for word, and ``{{ not_expressed }}``
  lists the rules the Table Schema of :mod:`rait_registry.datapackage` cannot state;
* ``dbt_project/models/staging/_registry__sources.yml``, the dbt source of the raw tables with
  the column descriptions of :mod:`rait_registry.contract` (:func:`rait_registry.dbt_docs.render_sources_yaml`).

Run ``make spec`` (``python -m rait_registry.specification``) after changing any source;
``tests/test_specification.py`` and ``tests/test_dbt_conventions.py`` fail while a generated file
is stale.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import contract, params
from .checks import CASCADE_REASONS, REASONS
from .contract import TABLE_ORDER, TABLES, Column, Table
from .dbt_docs import read_model_docs

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "docs" / "spec-source" / "specification.template.md"
OUTPUT = REPO / "docs" / "specification.md"
EXTRACT_TEMPLATE = REPO / "docs" / "spec-source" / "extract-format.template.md"
EXTRACT_OUTPUT = REPO / "docs" / "extract-format.md"
DBT_MODELS = REPO / "dbt_project" / "models"
RESULTS_SCHEMA = REPO / "schemas" / "results.schema.json"

#: Reason codes of the key rules (the cross-row ones are :data:`rait_registry.checks.CASCADE_REASONS`).
KEY_REASONS = ("exact_duplicate", "duplicate_key")

_DIRECTIVE = re.compile(r"\{\{\s*(\w+)((?:\s+[^\s}]+)*)\s*\}\}")


# ---------------------------------------------------------------------------------------------
# Markdown helpers
# ---------------------------------------------------------------------------------------------


def _cell(text: object) -> str:
    """Text for a Markdown table cell (pipes escaped, no line breaks)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _codes(values: Iterable[object]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------------------------------------
# Section 1: the extract format (from contract.py alone)
# ---------------------------------------------------------------------------------------------


def _requirement(column: Column) -> str:
    if column.required:
        return "yes"
    if column.required_when:
        return f"when {column.required_when}"
    return "no"


def _allowed(table: Table, column: Column) -> str:
    parts = []
    if column.vocabulary is not None:
        parts.append(_codes(column.vocabulary))
    if column.range_text:
        parts.append(column.range_text)
    if column.name == table.key:
        parts.append("unique")
    if column.name in table.references:
        parts.append(f"exists in {table.references[column.name]}")
    return "; ".join(parts)


def render_table(table: Table, heading: str = "###") -> str:
    """One raw table as Markdown: heading, what a row is, key and references, the columns."""
    lines = [f"{heading} {table.name}", "", table.description, ""]
    key = f"Key: `{table.key}`."
    if table.references:
        key += " References: " + ", ".join(f"`{c}` -> {t}" for c, t in table.references.items()) + "."
    lines += [key, ""]
    rows = [
        (
            f"`{c.name}`",
            c.dtype,
            _requirement(c),
            _allowed(table, c),
            c.unit or "",
            c.description,
            f"`{c.example}`" if c.example is not None else "",
        )
        for c in table.columns
    ]
    lines.append(_table(["column", "type", "required", "allowed values", "unit", "meaning", "example"], rows))
    return "\n".join(lines)


def render_units() -> str:
    """The accepted units and their conversion to the unit the project stores."""
    activity = _table(
        ["activity_unit", "in GBq"], [(f"`{unit}`", _number(f)) for unit, f in contract.ACTIVITY_UNITS_TO_GBQ.items()]
    )
    labs = _table(
        ["analyte", "accepted units", "stored as"],
        [
            (f"`{analyte}`", _codes(units), f"`{sorted(set(units.values()))[0]}`")
            for analyte, units in contract.LAB_UNITS.items()
        ],
    )
    low, high = contract.ACTIVITY_PLAUSIBLE_GBQ
    return (
        f"{activity}\n\nAn activity converted to GBq must lie in {_number(low)} .. {_number(high)} GBq "
        f"(`activity_implausible` otherwise).\n\n{labs}\n\nThe two units of an analyte are equal (factor 1); "
        "a unit not listed for the row's analyte quarantines the row (`unit_not_valid_for_analyte`)."
    )


def render_extract_format(heading: str = "###") -> str:
    """Every table of the extract (in loading order), the column types and the units: the
    generated part of specification section 1. Needs only :mod:`rait_registry.contract`."""
    types = _table(["type", "written as"], [(f"`{name}`", text) for name, text in contract.DTYPES.items()])
    parts = [f"{heading} Column types\n\n{types}"]
    parts += [render_table(TABLES[name], heading) for name in TABLE_ORDER]
    parts.append(f"{heading} Units\n\n{render_units()}")
    return "\n\n".join(parts)


def render_rejected_reasons() -> str:
    """The reason codes of ``quarantine.rejected_rows``, by kind of rule."""

    def kind(code: str) -> str:
        if code in CASCADE_REASONS:
            return "cross-row"
        return "key" if code in KEY_REASONS else "row"

    return _table(
        ["reason_code", "rule", "the row is quarantined when"], [(f"`{c}`", kind(c), t) for c, t in REASONS.items()]
    )


# ---------------------------------------------------------------------------------------------
# The dbt project, looked up by name (section 2 links, section 3 descriptions)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbtProject:
    """What the specification reads from ``dbt_project/models``: where each model's SQL file is,
    the unit tests of each model, and the model and column descriptions of the YAML files."""

    models: dict[str, Path]
    unit_tests: dict[str, list[tuple[str, Path]]]
    descriptions: dict[str, dict[str, Any]]

    @classmethod
    def read(cls, root: Path = DBT_MODELS) -> DbtProject:
        import yaml

        models: dict[str, Path] = {}
        for path in sorted(root.rglob("*.sql")):
            if path.stem in models:
                raise ValueError(f"two dbt models named {path.stem}: {models[path.stem]} and {path}")
            models[path.stem] = path
        unit_tests: dict[str, list[tuple[str, Path]]] = {}
        for path in sorted(root.rglob("*.yml")):
            document = yaml.safe_load(path.read_text()) or {}
            for test in document.get("unit_tests") or []:
                unit_tests.setdefault(test["model"], []).append((test["name"], path))
        return cls(models, unit_tests, read_model_docs(root))


def _link(path: Path, text: str) -> str:
    """A Markdown link from ``docs/specification.md`` to ``path``."""
    return f"[{text}]({Path(os.path.relpath(path, OUTPUT.parent)).as_posix()})"


def _rule_line(project: DbtProject, names: list[str]) -> str:
    if not names:
        raise ValueError("{{ rule }} needs at least one dbt model name")
    implemented = []
    tests = []
    for name in names:
        if name not in project.models:
            raise ValueError(f"the specification names the dbt model {name}, which dbt_project/models does not have")
        implemented.append(_link(project.models[name], f"`{name}`"))
        for test, path in project.unit_tests.get(name, []):
            tests.append(_link(path, f"`{test}`"))
    line = "*Implemented by* " + ", ".join(implemented)
    line += "; *unit tests:* " + (", ".join(tests) if tests else "none") + "."
    return line


# ---------------------------------------------------------------------------------------------
# Section 2: study parameters
# ---------------------------------------------------------------------------------------------


def _default_text(parameter: params.Parameter) -> str:
    default = parameter.default
    if default is None:
        return "none"
    if isinstance(default, (tuple, list)):
        text = ", ".join(_number(v) for v in default)
    elif isinstance(default, bool):
        text = str(default).lower()
    else:
        text = _number(default)
    shown_unit = parameter.unit not in (None, "fraction") and default is not None
    return f"{text} {parameter.unit}" if shown_unit else text


def _param_reference(names: list[str]) -> str:
    (name,) = names
    parameter = params.get(name)
    return f"`{name}` (default {_default_text(parameter)})"


def _cli_options(command: str) -> set[str]:
    """The option names of ``rait-registry <command>``."""
    from typer.main import get_command

    from .cli import app

    return {name for param in get_command(app).commands[command].params for name in param.opts}


def _parameter_table(scope: str) -> str:
    """The parameters of ``scope``: refresh parameters with the models they drive, analysis
    parameters with the ``analyze`` option that sets them (when the command has it)."""
    options = _cli_options("analyze") if scope == "analysis" else set()
    rows = []
    for parameter in params.PARAMETERS:
        if parameter.scope != scope:
            continue
        row = [f"`{parameter.name}`", _default_text(parameter), parameter.range_text, parameter.meaning]
        if scope == "analysis":
            row.insert(1, f"`{parameter.cli}`" if parameter.cli in options else "")
        else:
            row.append(", ".join(f"`{d}`" for d in parameter.drives))
        rows.append(row)
    header = ["parameter", "default", "allowed", "meaning"]
    if scope == "analysis":
        header.insert(1, "option")
    else:
        header.append("drives")
    return _table(header, rows)


# ---------------------------------------------------------------------------------------------
# Section 3: the marts (from the pandera models and the dbt YAML)
# ---------------------------------------------------------------------------------------------


def _mart_type(dtype: object) -> str:
    name = str(dtype)
    if name.startswith("datetime64"):
        return "date"
    if name.lower().startswith("int"):
        return "integer"
    if name.startswith("float"):
        return "number"
    if name == "bool":
        return "boolean"
    return "text"


_OPERATORS = {
    "greater_than": ">",
    "greater_than_or_equal_to": ">=",
    "less_than": "<",
    "less_than_or_equal_to": "<=",
}


def _mart_values(column: Any) -> str:
    """The values a mart column may take, from its pandera checks."""
    ranges, others = [], []
    for check in column.checks:
        stats = check.statistics or {}
        if check.name == "isin":
            others.append(_codes(stats["allowed_values"]))
        elif check.name in _OPERATORS:
            bound = stats["min_value"] if "min_value" in stats else stats["max_value"]
            ranges.append(f"{_OPERATORS[check.name]} {_number(bound)}")
        else:
            others.append(check.error or check.name)
    if column.unique:
        others.append("unique")
    return "; ".join([" and ".join(ranges)] * bool(ranges) + others)


def render_marts(project: DbtProject) -> str:
    """One table per published mart: its columns as the pandera model states them."""
    from .schemas.marts import MART_KEYS, MART_MODELS

    parts = []
    for mart, model in MART_MODELS.items():
        schema = model.to_schema()
        grain = (model.__doc__ or "").split("--", 1)[-1].strip().rstrip(".")
        documented = project.descriptions.get(mart, {"description": "", "columns": {}})
        rows = [
            (
                f"`{name}`",
                _mart_type(column.dtype),
                "yes" if column.nullable else "no",
                _mart_values(column),
                "specification" if column.required else "lineage",
                documented["columns"].get(name, ""),
            )
            for name, column in schema.columns.items()
        ]
        checks = ", ".join(f"`{check.name}`" for check in schema.checks)
        parts.append(
            "\n".join(
                [
                    f"### marts.{mart}",
                    "",
                    f"{grain[0].upper()}{grain[1:]}. Ordered by `{MART_KEYS[mart]}`.",
                    "",
                    _table(["column", "type", "NULL allowed", "values", "kind", "meaning"], rows),
                    "",
                    f"Cross-column rules checked before publication: {checks}.",
                ]
            )
        )
    return "\n\n".join(parts)


def render_schemas() -> str:
    from .warehouse import PROJECT_SCHEMAS

    published = [*PROJECT_SCHEMAS, "quarantine", "history"]
    return _codes(published)


# ---------------------------------------------------------------------------------------------
# Section 4: results.json (from its JSON Schema)
# ---------------------------------------------------------------------------------------------


def _resolve(node: dict, defs: dict) -> dict:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in node:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in node["allOf"]:
            part = _resolve(part, defs)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        return merged
    return node


def _type_text(node: dict, defs: dict) -> str:
    node = _resolve(node, defs)
    kind = node.get("type")
    if kind is None:
        return "any"
    if isinstance(kind, list):
        text = " or ".join(kind)
    elif kind == "array":
        items = _resolve(node.get("items", {}), defs)
        text = "array of " + ("rows" if items.get("type") == "object" else _type_text(items, defs))
    elif kind == "object" and "additionalProperties" in node:
        text = "object of " + _type_text(node["additionalProperties"], defs)
    else:
        text = kind
    if "minimum" in node:
        text += f" >= {_number(node['minimum'])}"
    return text


def _outline(node: dict, defs: dict, depth: int, max_depth: int) -> list[str]:
    node = _resolve(node, defs)
    if node.get("type") == "array":
        node = _resolve(node.get("items", {}), defs)
    properties = node.get("properties") or {}
    required = set(node.get("required") or [])
    lines = []
    for name, child in properties.items():
        optional = "" if name in required else ", optional"
        lines.append("  " * depth + f"- `{name}` ({_type_text(child, defs)}{optional})")
        if depth + 1 < max_depth:
            lines += _outline(child, defs, depth + 1, max_depth)
    return lines


def render_results_schema(path: Path = RESULTS_SCHEMA) -> str:
    schema = json.loads(path.read_text())
    defs = schema.get("$defs", {})
    return "\n".join(_outline(schema, defs, 0, 4))


# ---------------------------------------------------------------------------------------------
# Section 5: the command line
# ---------------------------------------------------------------------------------------------


def _option_default(option: Any) -> str:
    if option.required:
        return "required"
    default = option.default
    if default is None or default == [] or (option.is_flag and default is False and not option.secondary_opts):
        return ""
    if isinstance(default, bool):
        return f"`{option.opts[0] if default else option.secondary_opts[0]}`"
    return f"`{default}`"


def render_commands() -> str:
    from typer.main import get_command

    from .cli import app

    group = get_command(app)
    parts = []
    for name, command in group.commands.items():
        summary = " ".join((command.help or "").strip().split("\n\n")[0].split())
        rows = []
        for param in command.params:
            if param.param_type_name == "argument":
                rows.append(
                    (f"`{param.name.upper()}`", "required", " ".join((getattr(param, "help", "") or "").split()))
                )
                continue
            names = " / ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            rows.append((names, _option_default(param), " ".join((param.help or "").split())))
        parts.append(f"### `rait-registry {name}`\n\n{summary}\n\n" + _table(["argument", "default", "meaning"], rows))
    return "\n\n".join(parts)


def render_exit_codes() -> str:
    from . import exceptions

    by_code: dict[int, list[str]] = {}
    for name, cls in inspect.getmembers(exceptions, inspect.isclass):
        if issubclass(cls, exceptions.RaitRegistryError):
            doc = " ".join((cls.__doc__ or "").split())
            by_code.setdefault(cls.exit_code, []).append(f"`{name}`: {doc}")
    rows = [("0", "success (an unchanged refresh included)")]
    rows += [(str(code), "<br>".join(sorted(by_code[code]))) for code in sorted(by_code)]
    return _table(["exit code", "raised as"], rows)


# ---------------------------------------------------------------------------------------------
# The whole document
# ---------------------------------------------------------------------------------------------


def _header(template: Path) -> str:
    return (
        "<!-- Generated by `make spec` (python -m rait_registry.specification) from "
        f"docs/spec-source/{template.name} and the code. Do not edit by hand. -->\n\n"
    )


HEADER = _header(TEMPLATE)


def _fill(template: Path, blocks: dict[str, Callable[[], str]], inline: dict[str, Callable[[list[str]], str]]) -> str:
    """``template`` without its leading comment, every directive replaced, under the generated-file header."""

    def substitute(match: re.Match) -> str:
        name, arguments = match.group(1), match.group(2).split()
        if name in blocks and not arguments:
            return blocks[name]()
        if name in inline:
            return inline[name](arguments)
        raise ValueError(f"unknown directive {match.group(0)} in {template.name}")

    text = template.read_text()
    text = re.sub(r"<!--.*?-->\n*", "", text, count=1, flags=re.DOTALL)  # the template's own note
    return _header(template) + _DIRECTIVE.sub(substitute, text).rstrip() + "\n"


def render(template: Path = TEMPLATE) -> str:
    """``docs/specification.md``: the template with every directive replaced."""
    project = DbtProject.read()
    blocks: dict[str, Callable[[], str]] = {
        "extract_format": render_extract_format,
        "units": render_units,
        "rejected_reasons": render_rejected_reasons,
        "parameters": lambda: _parameter_table("refresh"),
        "analysis_parameters": lambda: _parameter_table("analysis"),
        "marts": lambda: render_marts(project),
        "schemas": render_schemas,
        "results_schema": render_results_schema,
        "commands": render_commands,
        "exit_codes": render_exit_codes,
    }
    inline: dict[str, Callable[[list[str]], str]] = {
        "rule": lambda names: _rule_line(project, names),
        "param": _param_reference,
        "vocab": lambda names: _codes(getattr(contract, names[0])),
        "value": lambda names: _number(getattr(contract, names[0])),
    }

    return _fill(template, blocks, inline)


def specification_section(specification: str, number: int) -> str:
    """The body of section ``number`` of a rendered specification (without its ``## N.`` heading)."""
    match = re.search(rf"^## {number}\. [^\n]*\n(.*?)(?=^## {number + 1}\. |\Z)", specification, re.M | re.S)
    if match is None:
        raise ValueError(f"the specification has no section {number}")
    return match.group(1).strip()


def render_extract_page(specification: str | None = None, template: Path = EXTRACT_TEMPLATE) -> str:
    """``docs/extract-format.md``: the how-to of ``template`` around section 1 of ``specification``
    (default: a fresh :func:`render`), included word for word."""
    from .datapackage import NOT_EXPRESSED

    specification = render() if specification is None else specification
    blocks: dict[str, Callable[[], str]] = {"not_expressed": lambda: "\n".join(f"* {rule}" for rule in NOT_EXPRESSED)}
    inline = {"specification_section": lambda numbers: specification_section(specification, int(numbers[0]))}
    return _fill(template, blocks, inline)


def generated_files() -> dict[Path, str]:
    """Every file ``make spec`` writes, with its fresh text."""
    from .dbt_docs import SOURCES_YAML, render_sources_yaml

    specification = render()
    return {
        OUTPUT: specification,
        EXTRACT_OUTPUT: render_extract_page(specification),
        DBT_MODELS.parent / SOURCES_YAML: render_sources_yaml(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rait_registry.specification", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write only the specification, to this file (default: every generated file in its place)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a file differs from a fresh render")
    args = parser.parse_args(argv)
    files = {args.out: render()} if args.out is not None else generated_files()
    if args.check:
        stale = [path for path, text in files.items() if (path.read_text() if path.is_file() else "") != text]
        for path in stale:
            print(f"{path} is stale; run `make spec`.", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
