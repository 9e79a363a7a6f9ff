"""docs/specification.md is rendered from its sources and kept fresh, and so is docs/extract-format.md,
which includes its section 1 word for word; the extract definition of contract.py documents every
column with a valid example; the citation repointing script rewrites comments and docstrings only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rait_registry import checks, contract, specification
from rait_registry.contract import TABLE_ORDER, TABLES
from rait_registry.schemas.raw import RAW_MODELS
from rait_registry.specification import DbtProject

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rendered() -> str:
    return specification.render()


def test_specification_is_up_to_date(rendered):
    current = specification.OUTPUT.read_text()
    assert current == rendered, "docs/specification.md is stale: run `make spec` and commit the result"


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "specification.md"
    stale.write_text("# an old specification\n")
    assert specification.main(["--check", "--out", str(stale)]) == 1
    assert "run `make spec`" in capsys.readouterr().err
    assert specification.main(["--out", str(stale)]) == 0
    assert specification.main(["--check", "--out", str(stale)]) == 0


def test_every_generated_file_is_up_to_date():
    # docs/specification.md, docs/extract-format.md and the dbt source file of the raw tables
    stale = [str(path) for path, text in specification.generated_files().items() if path.read_text() != text]
    assert not stale, f"stale generated files: {stale}; run `make spec` and commit the result"
    assert specification.main(["--check"]) == 0


def test_extract_page_includes_section_1_word_for_word(rendered):
    page = specification.EXTRACT_OUTPUT.read_text()
    assert page == specification.render_extract_page(rendered), "docs/extract-format.md is stale: run `make spec`"
    section = specification.specification_section(rendered, 1)
    assert section.startswith("### Files and reading") and "## 2." not in section
    assert page.rstrip().endswith(section)  # the whole of section 1, unchanged, closes the page
    assert "](specification.md#1-the-extract)" in page and "## 1. The extract" in rendered
    assert "](examples/extract/)" in page and (specification.EXTRACT_OUTPUT.parent / "examples" / "extract").is_dir()


def test_extract_page_states_every_column_type_vocabulary_unit_requirement_and_example():
    from rait_registry.datapackage import NOT_EXPRESSED

    page = specification.EXTRACT_OUTPUT.read_text()
    for name in TABLE_ORDER:
        table_part = page.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        for column in TABLES[name].columns:
            row = next(line for line in table_part.splitlines() if line.startswith(f"| `{column.name}` |"))
            cells = [cell.strip() for cell in row.strip("|").split(" | ")]
            assert cells[1] == column.dtype, column.name
            assert cells[2] == specification._requirement(column), column.name
            for value in column.vocabulary or ():
                assert f"`{value}`" in cells[3], (column.name, value)
            assert cells[4] == (column.unit or ""), column.name
            assert column.description in row and f"`{column.example}`" in row, column.name
    for unit in ("GBq", "MBq", "mCi", "ng/mL", "ug/L", "IU/mL", "kIU/L", "mIU/L", "uIU/mL"):
        assert f"`{unit}`" in page, unit
    for rule in NOT_EXPRESSED:
        assert f"* {rule}" in page
    for command in ("rait-registry manifest DIR --extracted-at", "rait-registry schema --out", "make freshness"):
        assert command in page, command


def test_extract_page_follows_a_change_of_the_contract(monkeypatch, rendered):
    sex = TABLES["patients"].column("sex")
    changed = dataclasses.replace(sex, description="Changed on purpose for the page.")
    columns = tuple(changed if c.name == "sex" else c for c in TABLES["patients"].columns)
    monkeypatch.setitem(TABLES, "patients", dataclasses.replace(TABLES["patients"], columns=columns))
    page = specification.render_extract_page(specification.render())
    assert "Changed on purpose for the page." in page
    assert page != specification.render_extract_page(rendered)


def test_sections_are_numbered_like_the_citations(rendered):
    headings = re.findall(r"^## (\d+)\. ", rendered, flags=re.MULTILINE)
    assert headings == ["1", "2", "3", "4", "5"]
    assert "](contract-readings.md)" in rendered
    assert not re.search(r"\{\{\s*\w", rendered)  # every directive rendered


def test_extract_format_is_generated_from_the_contract(monkeypatch):
    text = specification.render_extract_format()
    for name in TABLE_ORDER:
        section = text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        for column in TABLES[name].columns:
            row = next(line for line in section.splitlines() if line.startswith(f"| `{column.name}` |"))
            assert column.description in row and f"`{column.example}`" in row, (name, column.name)
    # a change of contract.py is a change of the rendered format (nothing is copied by hand)
    sex = TABLES["patients"].column("sex")
    changed = dataclasses.replace(sex, vocabulary=("F", "M", "X"), description="Changed on purpose.")
    patients = dataclasses.replace(TABLES["patients"], columns=(TABLES["patients"].columns[0], changed))
    monkeypatch.setitem(TABLES, "patients", patients)
    text = specification.render_extract_format()
    assert "| `sex` | text | yes | `F`, `M`, `X` |  | Changed on purpose. | `F` |" in text


def test_every_contract_column_is_documented():
    for table in TABLES.values():
        assert table.description, table.name
        for column in table.columns:
            assert column.description.endswith(".") and len(column.description) > len(column.name), column.name
            assert column.example is not None, column.name
            suffix = column.name.rsplit("_", 1)[-1]
            if suffix in ("cm", "mm"):
                assert column.unit == suffix, column.name
            if column.vocabulary is not None:
                assert column.example in column.vocabulary, column.name


def test_the_examples_form_an_accepted_extract():
    frames = {
        name: pd.DataFrame([{c.name: c.example for c in TABLES[name].columns}], dtype=object) for name in TABLE_ORDER
    }
    rejected = checks.check_frames(frames, dt.date(2024, 6, 30))
    assert rejected.empty, rejected[["source_table", "column", "reason_code"]].to_dict("records")
    for name, frame in frames.items():
        RAW_MODELS[name].validate(frame, lazy=True)


def test_every_intermediate_model_is_cited_by_a_rule(rendered):
    project = DbtProject.read()
    intermediate = {name for name, path in project.models.items() if "intermediate" in path.parts}
    assert len(intermediate) >= 20
    linked = set(re.findall(r"\[`(int_\w+)`\]\(([^)]+)\)", rendered))
    assert {name for name, _ in linked} == intermediate
    for name, link in linked:
        assert (specification.OUTPUT.parent / link).resolve() == project.models[name].resolve()
    for model in intermediate:
        for test, _ in project.unit_tests.get(model, []):
            assert f"[`{test}`]" in rendered, test


def test_rule_links_find_models_and_unit_tests_by_name_in_any_folder(tmp_path):
    folder = tmp_path / "models" / "intermediate" / "eligibility"
    folder.mkdir(parents=True)
    (folder / "int_patients__x.sql").write_text("select 1 as x\n")
    (folder / "_eligibility__models.yml").write_text(
        "version: 2\nmodels:\n  - name: int_patients__x\n    description: A rule.\n"
        "unit_tests:\n  - name: x__boundary\n    model: int_patients__x\n"
    )
    project = DbtProject.read(tmp_path / "models")
    line = specification._rule_line(project, ["int_patients__x"])
    assert "eligibility/int_patients__x.sql)" in line and "[`x__boundary`](" in line
    assert "_eligibility__models.yml)" in line
    with pytest.raises(ValueError, match="int_patients__gone"):
        specification._rule_line(project, ["int_patients__gone"])


def test_unknown_directive_fails(tmp_path):
    template = tmp_path / "t.md"
    template.write_text("{{ no_such_block }}\n")
    with pytest.raises(ValueError, match="unknown directive"):
        specification.render(template)


def test_parameter_defaults_come_from_params(rendered):
    from rait_registry import params

    for parameter in params.PARAMETERS:
        if parameter.scope == "refresh":
            assert f"| `{parameter.name}` | {specification._default_text(parameter)} |" in rendered


def _macro_values(name: str) -> list[str]:
    """The list a dbt macro ``name`` returns (macros of dbt_project/macros)."""
    for path in sorted((REPO / "dbt_project" / "macros").rglob("*.sql")):
        match = re.search(rf"macro {name}\(\).*?return\((\[.*?\])\)", path.read_text(), flags=re.DOTALL)
        if match:
            return re.findall(r"'name': '(\w+)'", match.group(1)) or re.findall(r"'([^']+)'", match.group(1))
    raise AssertionError(f"no macro {name}")


def test_vocabularies_agree_with_the_dbt_macros():
    assert _macro_values("eligibility_criteria") == list(contract.ELIGIBILITY_CRITERIA)
    assert _macro_values("disease_statuses") == list(contract.DISEASE_STATUSES)
    assert _macro_values("carcinoma_histologies") == list(contract.HISTOLOGIES)


# ---------------------------------------------------------------------------------------------
# scripts/repoint-contract-citations.py
# ---------------------------------------------------------------------------------------------

SCRIPT = REPO / "scripts" / "repoint-contract-citations.py"


def test_repoint_script_rewrites_comments_and_docstrings_only(tmp_path):
    code = tmp_path / "module.py"
    code.write_text(
        '"""Rules of registry contract section 2."""\n\n'
        "# the marts of contract §3\n"
        'MESSAGE = "see contract section 1"\n\n\n'
        "def f():\n"
        '    """Contract sections 2 and 3, from shared/registry-contract.md."""\n'
    )
    sql = tmp_path / "model.sql"
    sql.write_text("-- Rule (contract section 2, \"PFS\")\nselect 'contract section 9' as x\n")
    before = {p: p.read_text() for p in (code, sql)}

    dry = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, check=True)
    assert f"{code}: 4 citation(s)" in dry.stdout and f"{sql}: 1 citation(s)" in dry.stdout
    assert f"{code}:4" in dry.stdout  # the error message is listed, not rewritten
    assert all(p.read_text() == text for p, text in before.items())  # a dry run writes nothing

    subprocess.run([sys.executable, str(SCRIPT), "--apply", str(tmp_path)], capture_output=True, check=True)
    assert code.read_text() == (
        '"""Rules of docs/specification.md section 2."""\n\n'
        "# the marts of docs/specification.md section 3\n"
        'MESSAGE = "see contract section 1"\n\n\n'
        "def f():\n"
        '    """docs/specification.md sections 2 and 3, from docs/specification.md."""\n'
    )
    assert sql.read_text() == "-- Rule (docs/specification.md section 2, \"PFS\")\nselect 'contract section 9' as x\n"
