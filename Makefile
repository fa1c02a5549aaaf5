# The README's two commands are `make run` and `make test`; everything else serves them.
PY      ?= $(shell command -v python3.11 || command -v python3)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
ENGINES := infra/engines/engines.sh
PYTEST_ARGS ?= -n 3 --dist loadfile  # whole files per worker: module fixtures stay shared

.PHONY: install run test check lint unit contract integration e2e jars engines-up engines-down \
        engines-status clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

## Run the hub: embedded default (SQLite), http://127.0.0.1:8080
run: install
	$(BIN)/truc serve

## Lint, type-check, check architecture rules, then the whole suite on real engines.
test: install jars
	$(ENGINES) up all
	status=0; $(MAKE) --no-print-directory check || status=$$?; \
	  $(ENGINES) down all; exit $$status

check: lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check hub api infra streams tests
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install
	$(BIN)/python -m pytest -q tests/unit

jars:
	$(ENGINES) fetch

engines-up: jars
	$(ENGINES) up all

engines-down:
	$(ENGINES) down all

engines-status:
	$(ENGINES) status

clean: engines-down
	rm -rf $(VENV) .engines truc-data .pytest_cache .mypy_cache .ruff_cache
