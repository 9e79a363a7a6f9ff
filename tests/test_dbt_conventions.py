"""The dbt project's conventions: documented columns, one home per description, enforced mart
contracts, exposures that name what the analysis reads, and a source freshness rule on the
extract date."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
import shutil
from pathlib import Path

import duckdb
import jinja2
import yaml

from rait_registry import dbt_docs
from rait_registry.contract import TABLE_ORDER, TABLES
from rait_registry.dbt_runner import run_dbt
from rait_registry.schemas.marts import MART_MODELS

from .conftest import REPO

DBT = REPO / "dbt_project"
MARTS_YAML = DBT / "models" / "marts" / "_marts__models.yml"
ENGINES = ("duckdb", "postgres", "spark")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _says_more_than_its_name(name: str, description: str | None) -> bool:
    text = " ".join(str(description or "").split())
    return len(text) > len(name) and text.strip(" .`").lower() != name.lower()


# ---------------------------------------------------------------------------------------------
# Descriptions: coverage and one home each
# ---------------------------------------------------------------------------------------------


def test_every_source_and_mart_column_has_a_description_that_says_more_than_its_name():
    sources = _load(DBT / dbt_docs.SOURCES_YAML)["sources"]
    checked = 0
    for source in sources:
        for table in source["tables"]:
            for column in table["columns"]:
                assert _says_more_than_its_name(column["name"], column.get("description")), (table["name"], column)
                checked += 1
    assert checked == sum(len(t.columns) + 1 for t in TABLES.values())  # + source_row per table
    docs = dbt_docs.read_model_docs(DBT / "models")
    for mart in MART_MODELS:
        for name, description in docs[mart]["columns"].items():
            assert _says_more_than_its_name(name, description), (mart, name, description)
            checked += 1
    assert checked > 130


def test_coverage_check_rejects_a_description_that_repeats_the_name():
    assert not _says_more_than_its_name("pd_date", "pd_date")
    assert not _says_more_than_its_name("pd_date", "`pd_date`.")
    assert not _says_more_than_its_name("sex", "Sex")
    assert _says_more_than_its_name("sex", "Sex as recorded by the registry, F or M.")


def test_source_yaml_is_generated_from_the_contract():
    path = DBT / dbt_docs.SOURCES_YAML
    assert path.read_text() == dbt_docs.render_sources_yaml(), f"{path} is stale: run `make spec`"
    (source,) = _load(path)["sources"]
    assert [t["name"] for t in source["tables"]] == list(TABLE_ORDER)
    for table in source["tables"]:
        spec = TABLES[table["name"]]
        assert " ".join(table["description"].split()) == spec.description
        columns = {c["name"]: c for c in table["columns"]}
        assert list(columns) == ["source_row", *spec.column_names]
        for column in spec.columns:
            written = columns[column.name]
            assert " ".join(written["description"].split()) == column.description, (table["name"], column.name)
            meta = written["config"]["meta"]
            assert meta["type"] == column.dtype and meta["required"] == column.required
            assert meta.get("unit") == column.unit and meta.get("example") == column.example


def test_a_contract_description_change_reaches_the_dbt_source(monkeypatch):
    import dataclasses

    sex = TABLES["patients"].column("sex")
    changed = dataclasses.replace(sex, description="Changed on purpose, once, in contract.py.")
    columns = tuple(changed if c.name == "sex" else c for c in TABLES["patients"].columns)
    monkeypatch.setitem(TABLES, "patients", dataclasses.replace(TABLES["patients"], columns=columns))
    (source,) = yaml.safe_load(dbt_docs.render_sources_yaml())["sources"]
    patients = next(t for t in source["tables"] if t["name"] == "patients")
    sex_doc = next(c for c in patients["columns"] if c["name"] == "sex")
    assert sex_doc["description"] == "Changed on purpose, once, in contract.py."


def test_pandera_mart_models_carry_the_yaml_descriptions():
    docs = dbt_docs.read_model_docs(DBT / "models")
    for mart, model in MART_MODELS.items():
        schema = model.to_schema()
        yaml_columns = docs[mart]["columns"]
        assert list(schema.columns) == list(yaml_columns), mart  # same columns, same order
        for name, column in schema.columns.items():
            assert column.description == yaml_columns[name], (mart, name)


def test_a_description_shared_by_two_marts_is_written_once():
    text = MARTS_YAML.read_text()
    docs = dbt_docs.read_model_docs(DBT / "models")
    for column in ("sex", "histology", "ata_risk", "pfs_months", "rait_group"):
        description = docs["analysis_cohort"]["columns"][column]
        assert description
        first_words = " ".join(description.split()[:4])
        assert text.count(first_words) == 1, column  # the alias reuses the text, never a copy


# ---------------------------------------------------------------------------------------------
# Model contracts
# ---------------------------------------------------------------------------------------------


def _rendered_type(data_type: str, engine: str) -> str:
    return jinja2.Template(data_type).render(target={"type": engine}).strip()


def test_every_mart_declares_an_enforced_contract_with_a_type_for_every_column():
    models = {m["name"]: m for m in _load(MARTS_YAML)["models"]}
    assert set(models) == set(MART_MODELS)
    for mart, model in models.items():
        assert model["config"]["contract"] == {"enforced": True}, mart
        for column in model["columns"]:
            assert column.get("data_type"), (mart, column["name"])
            for engine in ENGINES:
                rendered = _rendered_type(column["data_type"], engine)
                assert re.fullmatch(r"[a-z]+( precision)?", rendered), (mart, column["name"], engine, rendered)
                if engine == "spark":
                    assert rendered not in ("text", "double precision"), (mart, column["name"])
                if engine == "postgres":
                    assert rendered not in ("string", "double"), (mart, column["name"])


def test_published_marts_have_the_contract_types(demo_con):
    """The DuckDB build creates each mart with the declared types, columns in the declared order."""
    for model in _load(MARTS_YAML)["models"]:
        published = demo_con.execute(f'describe marts."{model["name"]}"').fetchall()
        assert [row[0] for row in published] == [c["name"] for c in model["columns"]], model["name"]
        for (name, published_type, *_), column in zip(published, model["columns"]):
            declared = _rendered_type(column["data_type"], "duckdb")
            (expected,) = demo_con.execute(f"describe select cast(null as {declared}) as x").fetchall()[0][1:2]
            assert published_type == expected, (model["name"], name)


# ---------------------------------------------------------------------------------------------
# Exposures
# ---------------------------------------------------------------------------------------------


def _marts_read_by(function) -> set[str]:
    return set(re.findall(r"marts\.(\w+)", inspect.getsource(function)))


def test_exposures_name_the_marts_the_analysis_and_the_report_read():
    from rait_registry.warehouse import read_published

    exposures = {e["name"]: e for e in _load(DBT / "models" / "exposures.yml")["exposures"]}
    assert set(exposures) == {"study_results", "study_report"}
    assert "results.json" in exposures["study_results"]["label"]
    assert "out/report.html" in exposures["study_report"]["label"]
    for exposure in exposures.values():
        assert exposure["owner"]["name"] and exposure["maturity"] in ("low", "medium", "high")
        assert exposure["type"] in ("analysis", "dashboard") and len(exposure["description"]) > 100
    refs = {
        name: {re.fullmatch(r"ref\('(\w+)'\)", d).group(1) for d in e["depends_on"]} for name, e in exposures.items()
    }
    # the analysis and the report read the published marts through one reader
    assert refs["study_results"] == _marts_read_by(read_published)
    assert refs["study_report"] == _marts_read_by(read_published)
    assert refs["study_results"] <= set(MART_MODELS)


# ---------------------------------------------------------------------------------------------
# Source freshness on the extract date
# ---------------------------------------------------------------------------------------------


def _freshness(database: Path, work_dir: Path) -> dict[str, dict]:
    result = run_dbt("source freshness", database, work_dir=work_dir)
    sources = json.loads((Path(result.target_path) / "sources.json").read_text())
    return {item["unique_id"].rsplit(".", 1)[-1]: item for item in sources["results"]}


def test_source_freshness_reads_the_published_extract_date(demo_warehouse, tmp_path):
    from rait_registry.refresh import DEFAULT_MAX_AGE_DAYS

    database = tmp_path / "registry.duckdb"
    shutil.copy(demo_warehouse, database)
    today = dt.datetime.now(dt.UTC).date()
    for age_days, expected in ((DEFAULT_MAX_AGE_DAYS + 10, "warn"), (1, "pass")):
        extracted_at = today - dt.timedelta(days=age_days)
        con = duckdb.connect(str(database))
        try:
            con.execute("update history.refresh_runs set extracted_at = ?", [extracted_at])
        finally:
            con.close()
        results = _freshness(database, tmp_path / "dbt")
        assert set(results) == set(TABLE_ORDER)
        for table, item in results.items():
            assert item["status"] == expected, (table, age_days, item["status"])
            assert item["max_loaded_at"].startswith(extracted_at.isoformat()), item["max_loaded_at"]
            assert item["criteria"]["warn_after"] == {"count": DEFAULT_MAX_AGE_DAYS, "period": "day"}
