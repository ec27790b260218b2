# statushooks — the commands a fresh clone needs. Only python3 must be present.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_DEV  := $(VENV)/.installed-dev
STAMP_BENCH := $(VENV)/.installed-bench
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint typecheck pytest bench faults clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(STAMP_RUN)

$(STAMP_BENCH): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@ $(STAMP_DEV) $(STAMP_RUN)

## run: API + dispatcher on an embedded SQLite file (./statushooks.db), for a laptop:
## endpoints may point at 127.0.0.1 (the README's tour)
run: $(STAMP_RUN)
	$(BIN)/statushooks serve --host $(HOST) --port $(PORT) --allow-private-urls

## test: ruff, mypy --strict, pytest
test: $(STAMP_DEV) lint typecheck pytest

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

pytest: $(STAMP_DEV)
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: the benchmark harness (never part of make test)
bench: $(STAMP_BENCH)
	$(BIN)/python -m bench $(BENCH_ARGS)

## faults: the fault suite, writes docs/reliability.md (never part of make test; it stops and
## starts this machine's PostgreSQL cluster in its outage scenario)
faults: $(STAMP_BENCH)
	$(BIN)/python -m bench.faults $(FAULTS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
