"""dbt unit tests of the SQL rules (docs/specification.md section 2), run once per test session.

Scheduled refreshes skip them (they test the SQL on fixed inputs, not the extract); this test
runs every one of them against a copy of the demo build. The static checks below keep the
intermediate layer's layout honest (dbt_project/models/intermediate/README.md): every unit test
pins the study parameters its model reads, and the subject folders refer to each other in one
direction only.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from rait_registry import params
from rait_registry.dbt_runner import run_dbt
from tests.conftest import REPO

MODELS = REPO / "dbt_project" / "models"
INTERMEDIATE = MODELS / "intermediate"
#: Subject folders of the intermediate layer in dependency order (README.md there).
INTERMEDIATE_FOLDERS = ("patients", "rait_cycles", "eligibility", "strategies")
#: A study parameter read in a model: var('name') or the project's date_var('name') macro.
VAR_READ = re.compile(r"""\b(?:var|date_var)\(\s*['"](\w+)['"]""")
#: A macro of dbt_project/macros: its name and body (the vars it reads count for the models calling it).
MACRO = re.compile(r"{%-?\s*macro\s+(\w+)\s*\(.*?%}(.*?){%-?\s*endmacro", re.S)
REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*\)""")


def _declared_unit_tests() -> list[dict]:
    tests = []
    for path in sorted(MODELS.rglob("*.yml")):
        tests += yaml.safe_load(path.read_text()).get("unit_tests") or []
    return tests


def _model_sql() -> dict[str, Path]:
    return {path.stem: path for path in MODELS.rglob("*.sql")}


def test_every_dbt_unit_test_passes(demo_warehouse, tmp_path):
    database = tmp_path / "registry.duckdb"
    shutil.copy(demo_warehouse, database)
    result = run_dbt("test", database, work_dir=tmp_path, extra_args=["--select", "test_type:unit"])
    assert result.success, "\n".join(result.failures)
    run_results = json.loads((tmp_path / "dbt-target" / "run_results.json").read_text())
    unit_tests = [r for r in run_results["results"] if r["unique_id"].startswith("unit_test.")]
    declared = _declared_unit_tests()
    assert len(declared) >= 29
    assert sorted(r["unique_id"].rsplit(".", 1)[-1] for r in unit_tests) == sorted(t["name"] for t in declared)
    assert all(r["status"] == "pass" for r in unit_tests)


def test_unit_test_names_fit_a_postgresql_identifier():
    """dbt names a unit test's relation after the test; PostgreSQL cuts identifiers at 63 bytes."""
    long = [t["name"] for t in _declared_unit_tests() if len(t["name"].encode()) > 63]
    assert not long, f"unit test names longer than 63 bytes (PostgreSQL refuses them): {long}"


def _vars_read(model_sql: str) -> set[str]:
    """The vars a model reads itself or through a project macro it calls (e.g. macros/response_rules.sql)."""
    read = set(VAR_READ.findall(model_sql))
    for path in (REPO / "dbt_project" / "macros").glob("*.sql"):
        for name, body in MACRO.findall(path.read_text()):
            if re.search(rf"\b{name}\(", model_sql):
                read |= set(VAR_READ.findall(body))
    return read


def test_unit_tests_pin_every_study_parameter_their_model_reads():
    """A refresh run with `--var` overrides must still test the rules at the contract defaults."""
    defaults = params.dbt_vars_defaults()
    sql = _model_sql()
    checked = 0
    for unit_test in _declared_unit_tests():
        read = _vars_read(sql[unit_test["model"]].read_text())
        pinned = (unit_test.get("overrides") or {}).get("vars") or {}
        missing = read - set(pinned)
        assert not missing, f"unit test {unit_test['name']} does not pin {sorted(missing)} in overrides.vars"
        for name, value in pinned.items():
            assert name in defaults, f"unit test {unit_test['name']} pins unknown var {name}"
            if isinstance(defaults[name], (int, float)):
                assert float(value) == pytest.approx(float(defaults[name]), abs=0), (unit_test["name"], name)
            else:
                assert str(value) == defaults[name], (unit_test["name"], name)
        checked += len(read)
    assert checked >= 20  # the rules read study parameters; a regex that finds none is broken


def test_intermediate_folders_refer_only_to_earlier_folders():
    folder_of = {path.stem: path.parent.name for path in INTERMEDIATE.rglob("*.sql")}
    assert set(folder_of.values()) == set(INTERMEDIATE_FOLDERS), "every intermediate model is in a subject folder"
    rank = {folder: i for i, folder in enumerate(INTERMEDIATE_FOLDERS)}
    for model, folder in folder_of.items():
        for ref in REF.findall((INTERMEDIATE / folder / f"{model}.sql").read_text()):
            if ref in folder_of:
                assert rank[folder_of[ref]] <= rank[folder], f"{folder}/{model} refers to {folder_of[ref]}/{ref}"
