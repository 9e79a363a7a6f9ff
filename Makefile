# rait-registry: two commands do all set-up on a fresh clone.
#   make demo   venv + install + synthetic registry + refresh (+ validate, analyze, report)
#   make test   the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_EXTRACT ?= demo/extract
WAREHOUSE ?= warehouse/registry.duckdb
DEV_WAREHOUSE ?= warehouse/dev.duckdb
OUT ?= out
export DBT_SEND_ANONYMOUS_USAGE_STATS := False

.PHONY: demo test install clean docs freshness r-references lint format spec

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rait-registry synth --patients 160 --seed 0 --out $(DEMO_EXTRACT)
	$(BIN)/rait-registry refresh --extract $(DEMO_EXTRACT) --warehouse $(WAREHOUSE)
	$(BIN)/rait-registry analyze --warehouse $(WAREHOUSE) --out $(OUT)
	$(BIN)/rait-registry report --warehouse $(WAREHOUSE) --out $(OUT)
	@echo
	@echo "Extract:   $(DEMO_EXTRACT)"
	@echo "Warehouse: $(WAREHOUSE)   (try: $(BIN)/rait-registry query \"select * from marts.cohort_attrition\")"
	@echo "Results:   $(OUT)/results.json, $(OUT)/tables/"
	@echo "Report:    $(OUT)/report.html (figures in $(OUT)/figures/)"

test: $(STAMP)
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q -n 2

# Lint and format checks (ruff for Python; sqlfluff for the dbt SQL, .sqlfluff). CI runs it.
# sqlfluff renders the models offline (jinja templater, about 4 s); with --processes it may print a
# harmless "leaked semaphore" warning at exit (sqlfluff issue 4080).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project --processes 2

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# docs/specification.md from docs/spec-source/specification.template.md and the code
# (contract.py, params.py, the dbt models, schemas/, the CLI), docs/extract-format.md (which includes
# its section 1) and the dbt source file of the raw tables (from contract.py); tests/test_specification.py
# and tests/test_dbt_conventions.py fail when one is stale.
spec: $(STAMP)
	$(BIN)/python -m rait_registry.specification

# dbt docs of the project, built on the development warehouse (never the published one): load the demo
# extract, dbt build, dbt docs generate into dbt_project/target, where `dbt docs serve` looks.
docs: $(STAMP)
	test -f $(DEMO_EXTRACT)/manifest.json || $(BIN)/rait-registry synth --patients 160 --seed 0 --out $(DEMO_EXTRACT)
	$(BIN)/rait-registry load --extract $(DEMO_EXTRACT) --warehouse $(DEV_WAREHOUSE)
	cd dbt_project && RAIT_DBT_DATABASE=$(abspath $(DEV_WAREHOUSE)) ../$(BIN)/dbt build
	cd dbt_project && RAIT_DBT_DATABASE=$(abspath $(DEV_WAREHOUSE)) ../$(BIN)/dbt docs generate
	@echo "browse them: cd dbt_project && ../$(BIN)/dbt docs serve"

# dbt source freshness on the published warehouse: warns when its extract date (history.refresh_runs)
# is older than `rait-registry refresh --max-age-days` allows (docs/extract-format.md).
freshness: $(STAMP)
	cd dbt_project && RAIT_DBT_DATABASE=$(abspath $(WAREHOUSE)) ../$(BIN)/dbt source freshness --profiles-dir . --target-path $(dir $(abspath $(WAREHOUSE))).dbt/freshness-target --log-path $(dir $(abspath $(WAREHOUSE))).dbt/freshness-logs

clean:
	rm -rf demo warehouse out dbt_project/target dbt_project/logs .pytest_cache

# The same dbt project on PostgreSQL / Apache Spark, marts compared row for row with the DuckDB
# build (docs/other-engines.md). Each target installs what it needs: the pyproject extra, and
# Debian's postgresql (scripts/postgres-test-server.sh) or a Java 17 runtime when missing.
.PHONY: test-postgres test-spark
test-postgres: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,postgres]"
	timeout 1800 scripts/postgres-test-server.sh env RAIT_TEST_POSTGRES=1 $(BIN)/python -m pytest -q --durations=3 tests/test_postgres.py

test-spark: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,spark]"
	command -v java >/dev/null || { apt-get update -q && apt-get install -y -q openjdk-17-jre-headless; }
	RAIT_TEST_SPARK=1 timeout 2700 $(BIN)/python -m pytest -q --durations=3 tests/test_spark.py
