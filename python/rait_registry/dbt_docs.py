"""The column documentation the dbt project shares with the rest of rait-registry.

Each description has one home:

* a raw (source) column: :mod:`rait_registry.contract` (``Column.description``). The dbt source
  file ``dbt_project/models/staging/_registry__sources.yml`` is generated from it
  (:func:`render_sources_yaml`, written by ``make spec``), with the source freshness rule;
* a mart column: the marts YAML of the dbt project (``dbt_project/models/marts/_marts__models.yml``).
  The pandera mart models (``schemas/marts.py``) and section 3 of ``docs/specification.md`` read
  it from there (:func:`read_model_docs`).

``tests/test_dbt_conventions.py`` fails when the generated source file is stale, when a source or
mart column has no description that says more than its name, or when a pandera model's column
descriptions differ from the YAML.
"""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path
from typing import Any

from .contract import TABLE_ORDER, TABLES, Column

#: Where the generated dbt source file lives, relative to the dbt project folder.
SOURCES_YAML = Path("models") / "staging" / "_registry__sources.yml"

#: The extract date of the published data (dbt ``loaded_at_query`` of the source freshness rule):
#: ``extracted_at`` of the latest refresh that published or confirmed the warehouse.
LOADED_AT_QUERY = (
    "select cast(max(extracted_at) as timestamp) from history.refresh_runs where status in ('published', 'unchanged')"
)

#: Description of ``raw.<table>.source_row``, the column ingest adds to every table.
SOURCE_ROW = (
    "1-based data row of the record in its extract file (the first record after the header is 1), written by "
    "ingest; it links a row to the file and to quarantine.rejected_rows."
)


def _flat(text: object) -> str:
    return " ".join(str(text or "").split())


def read_model_docs(models_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The model and column descriptions of every YAML file under the dbt project's ``models/``.

    Returns ``{model: {"description": str, "columns": {column: str}}}`` with whitespace folded
    (a column without a description maps to ``""``). YAML anchors and aliases are resolved, so a
    description written once and reused by another mart is returned for both.
    """
    import yaml

    if models_dir is None:
        from .dbt_runner import project_dir

        models_dir = project_dir() / "models"
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(models_dir).rglob("*.yml")):
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for model in (document or {}).get("models") or []:
            docs[model["name"]] = {
                "description": _flat(model.get("description")),
                "columns": {c["name"]: _flat(c.get("description")) for c in model.get("columns") or []},
            }
    return docs


@functools.cache
def mart_column_descriptions() -> dict[str, dict[str, str]]:
    """``{mart: {column: description}}`` from the dbt project (read once per process).

    Empty when the dbt project cannot be found: descriptions are documentation, and a model
    without them still checks the data.
    """
    from .exceptions import RaitRegistryError

    try:
        docs = read_model_docs()
    except (RaitRegistryError, OSError):
        return {}
    return {name: model["columns"] for name, model in docs.items()}


# ---------------------------------------------------------------------------------------------
# The dbt source file, generated from contract.py
# ---------------------------------------------------------------------------------------------


def _folded(text: str, indent: int, width: int = 100) -> str:
    """``text`` as a YAML folded block scalar (``>-``) whose lines start at ``indent`` spaces."""
    pad = " " * indent
    lines = textwrap.wrap(_flat(text), width=width - indent, break_long_words=False, break_on_hyphens=False)
    return ">-\n" + "\n".join(pad + line for line in lines)


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def _column_meta(column: Column) -> str:
    meta = [f"type: {column.dtype}", f"required: {'true' if column.required else 'false'}"]
    if column.required_when:
        meta.append(f"required_when: {_quoted(column.required_when)}")
    if column.unit:
        meta.append(f"unit: {_quoted(column.unit)}")
    if column.vocabulary is not None:
        meta.append("allowed: [" + ", ".join(_quoted(v) for v in column.vocabulary) + "]")
    if column.range_text:
        meta.append(f"range: {_quoted(column.range_text)}")
    if column.example is not None:
        meta.append(f"example: {_quoted(column.example)}")
    return "{" + ", ".join(meta) + "}"


SOURCE_DESCRIPTION = (
    "The raw registry extract (specification section 1) as loaded by `rait-registry refresh`: one table per "
    "extract file holding the ACCEPTED rows only, in file order, with `source_row`, the 1-based data row of the "
    "record in its file. Ingest read every file as text, checked it against specification section 1 and wrote "
    "each accepted value with its type: text trimmed (empty is NULL), vocabulary in the specification's "
    "spelling, DATE, DOUBLE, INTEGER, BOOLEAN. Rows that break a rule are in `quarantine.rejected_rows` (with "
    "the text as read), never here. Freshness is the extract date (manifest.json `extracted_at`, else the "
    "newest file's date) that every refresh records in `history.refresh_runs`."
)


def render_sources_yaml() -> str:
    """``dbt_project/models/staging/_registry__sources.yml``: the six raw tables with their column
    descriptions (and type, requirement, unit, vocabulary, range and example as ``config.meta``) from
    :mod:`rait_registry.contract`, and the source freshness rule on the extract date."""
    from .warehouse import DEFAULT_MAX_AGE_DAYS

    out = [
        "# Generated by `make spec` from python/rait_registry/contract.py (the columns and their",
        "# descriptions) and rait_registry.dbt_docs (the freshness rule). Do not edit by hand: change",
        "# contract.py and run `make spec`; tests/test_dbt_conventions.py fails while this file is stale.",
        "#",
        "# No data tests here: ingest writes source_row itself (the file's row number, unique and never",
        "# NULL by construction), and the keys are tested after trimming on the staging models",
        "# (not_null + unique there imply the same of the raw text). On a million-patient registry these",
        "# 24 tests re-scanned 48 million raw rows for about 18 s of every refresh (benchmarks/README.md).",
        "#",
        "# Freshness (`dbt source freshness` on a published DuckDB warehouse, docs/extract-format.md):",
        "# warns when the published extract is older than `rait-registry refresh --max-age-days`.",
        "version: 2",
        "",
        "sources:",
        "  - name: registry",
        "    description: " + _folded(SOURCE_DESCRIPTION, 6),
        "    schema: raw",
        "    config:",
        "      freshness:",
        f"        warn_after: {{count: {DEFAULT_MAX_AGE_DAYS}, period: day}}",
        "      loaded_at_query: " + _folded(LOADED_AT_QUERY, 8, width=130),
        "    tables:",
    ]
    for name in TABLE_ORDER:
        table = TABLES[name]
        out += [
            f"      - name: {name}",
            "        description: " + _folded(table.description, 10),
            "        columns:",
            "          - name: source_row",
            "            description: " + _folded(SOURCE_ROW, 14),
            "            config: {meta: {type: integer, required: true}}",
        ]
        for column in table.columns:
            out += [
                f"          - name: {column.name}",
                "            description: " + _folded(column.description, 14),
                f"            config: {{meta: {_column_meta(column)}}}",
            ]
    return "\n".join(out) + "\n"
