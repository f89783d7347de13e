# kubeloop: two commands set everything up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "kubeloop needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: venv, install, then the local control plane (controllers join it as their issues land)
run: $(STAMP)
	@echo "kubeloop: starting the embedded local API server (no controllers are wired in yet)."
	@echo "kubeloop: kubeconfig at .kubeloop/kubeconfig; try: .venv/bin/kubectl --kubeconfig .kubeloop/kubeconfig api-resources"
	@mkdir -p .kubeloop
	$(BIN)/python -m framework.envtest --kubeconfig-out .kubeloop/kubeconfig

## test: venv, install, lint, type-check, then the whole suite
test: lint $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy framework $(wildcard api) $(wildcard controllers)

bench: $(STAMP)
	@for b in hack/bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
