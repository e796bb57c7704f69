# Constellation: the README's commands. Needs only python3 (>= 3.11) and make.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: install install-dev run test lint format bench clean screenshots

RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

# What running needs: the package and its dependencies only.
$(RUN_STAMP): pyproject.toml
	@echo "First install of what running needs (measured: 19 s and 320 MB on a 2-core machine; the test tools add 18 s and 570 MB)..."
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(RUN_STAMP)

# What testing and linting need on top: the [dev] tools and the [ray] backend.
$(DEV_STAMP): $(RUN_STAMP) pyproject.toml
	@echo "Installing the test tools and the Ray backend (measured: 18 s and 570 MB)..."
	$(PY) -m pip install --quiet -e '.[dev,ray]'
	touch $(DEV_STAMP)

install: $(RUN_STAMP)

install-dev: $(DEV_STAMP)

## Run the platform as a server on 127.0.0.1:8080 (embedded defaults: SQLite under ~/.constellation).
run: $(RUN_STAMP)
	$(BIN)/constellation serve

## Run the whole test suite.
test: $(DEV_STAMP)
	$(PY) -m pytest

## Rewrite the dashboard's screenshots in docs/img (the browser tests take them).
screenshots: $(DEV_STAMP)
	CONSTELLATION_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/dashboard
	$(PY) benchmarks/dashboard_bench.py --functions 1000 --screenshot docs/img/dashboard-overview-1000.png

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

## Print every figure in BENCHMARKS.md (takes several minutes).
bench: $(DEV_STAMP)
	$(PY) -m pip install --quiet -e '.[dev,ray,bench]'
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
