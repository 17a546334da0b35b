# q2c — `make demo` and `make test` set everything up themselves on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export Q2C_WAREHOUSE_PATH ?= $(CURDIR)/warehouse/q2c.duckdb
export GX_ANALYTICS_ENABLED := false
export DLT_TELEMETRY := false
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo test test-fast campaign ui lint lock validate prepare clean bench

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp -n dagster.yaml $@ && touch $@

prepare: install
	$(VENV)/bin/q2c prepare

## Run the whole pipeline once on the sandbox, through Dagster, and print what it did.
demo: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/q2c demo

## Everything the tests need, then the tests (the fault campaign included), in TEST_WORKERS
## processes: a module stays in one process, in order (the campaign's cases build on each other).
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

## The fault campaign alone (tests/campaign, about 9 min): every sandbox fault, kills, bad input;
## its table is docs/reliability.md's (Q2C_CAMPAIGN_WRITE_DOCS=1 rewrites it).
campaign: install
	$(PY) -m pytest -q -m campaign

test-fast: install
	$(PY) -m pytest -q -m "not e2e"

## The Dagster web UI on http://127.0.0.1:3000, with the sandbox serving.
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/q2c ui

validate: install prepare
	$(VENV)/bin/dagster definitions validate -w workspace.yaml

lint: install
	$(VENV)/bin/ruff check .

## Re-lock exact versions from pyproject.toml (needs the package index).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install -q --upgrade pip
	.lockenv/bin/pip install -q -e '.[dev]'
	.lockenv/bin/pip freeze --all --exclude-editable | grep -v -E '^(-e|pip==)' > requirements.lock
	rm -rf .lockenv

## Benchmarks (not part of `make test`): figures go to bench/results/, docs/performance.md and docs/img/.
## The whole pipeline at S/M/L plus one more size for the growth curve (about 45 min on 2 cores).
BENCH_SCALES ?= 1 20 75 215
bench: install
	$(PY) -m pip install -q -r requirements-bench.lock
	$(PY) -m bench.e2e --scales $(BENCH_SCALES)
	$(PY) -m bench.definitions_load --runs 5 --out bench/results/definitions_load.json

clean:
	rm -rf warehouse .dagster_home dbt_project/target dbt_project/logs
