# capsim: two commands set everything up on a fresh machine (only Python >= 3.11 needed).
#   make demo   create .venv, install capsim, run the main job on the bundled example
#   make test   create .venv, install capsim with every extra, run lint, types and tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip

# Stamp files: reinstall when pyproject.toml changes.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) -e .
	touch $@

$(VENV)/.installed-all: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev,kube,dist,parquet]'
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/capsim hpa explain scenarios/examples/web-hpa.yaml --deployment scenarios/examples/web-deployment.yaml

lint: $(VENV)/.installed-all
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
