# capsim: two commands set everything up on a fresh machine (only Python >= 3.11 needed).
#   make demo   create .venv, install capsim, run the default scenario and write its report
#   make test   create .venv, install capsim with every extra, run lint, types and tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: demo example test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip

# Stamp files: reinstall when pyproject.toml changes.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) -e .
	touch $@

$(VENV)/.installed-all: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev,all]'
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/capsim run web-diurnal
	@echo
	@echo "capsim is installed in $(VENV). To use it in this shell:"
	@echo "  . $(VENV)/bin/activate"
	@echo "  capsim scenarios"
	@echo "(or call $(BIN)/capsim directly)"

# The example report committed under reports/example (Markdown, figures, summary.json).
example: $(VENV)/.installed-base
	$(BIN)/capsim run web-diurnal --out reports/example --format md,json --quiet
	rm -f reports/example/timeseries.* reports/example/events.csv reports/example/jobs.csv

lint: $(VENV)/.installed-all
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports pyproject.toml

typecheck: $(VENV)/.installed-all
	$(BIN)/mypy

pytest: $(VENV)/.installed-all
	bash scripts/install-test-deps.sh
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(VENV)/.installed-all
	$(BIN)/python benchmarks/bench_hpa.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
