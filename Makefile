# Constellation: the README's commands. Needs only python3 (>= 3.11) and make.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

install: $(STAMP)

## Run the platform as a server on 127.0.0.1:8080 (embedded defaults: SQLite under ~/.constellation).
run: $(STAMP)
	$(BIN)/constellation serve

## Run the whole test suite.
test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

## Print every figure in BENCHMARKS.md (takes several minutes).
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,ray,bench]'
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
