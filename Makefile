# kubeloop: two commands set everything up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "kubeloop needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: venv, install, then a local control plane with the simulator, every registered controller and config/samples (Ctrl-C stops)
run: $(STAMP)
	$(BIN)/manager local --apply-samples --log-level $${KUBELOOP_LOG_LEVEL:-warning}

## test: venv, install, lint, type-check, then the whole suite
test: lint $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy framework $(wildcard api) $(wildcard controllers)

bench: $(STAMP)
	@for b in $(filter-out hack/bench/benchlib.py,$(wildcard hack/bench/*.py)); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info

# --- deployment (issue 9) ---------------------------------------------------------------------
IMG ?= kubeloop:dev
KIND_CLUSTER ?= kubeloop-e2e
CONTAINER_TOOL ?= docker
KUBECTL ?= $(BIN)/kubectl
E2E_ARGS ?=

.PHONY: manifests docker-build deploy undeploy e2e-kind

## manifests: regenerate the CRDs (config/crd/bases, config/crd/external) and config/rbac/role.yaml
manifests: $(STAMP)
	$(BIN)/python hack/generate_manifests.py
	$(BIN)/manager rbac --output config/rbac/role.yaml

## docker-build: build the manager image $(IMG)
docker-build:
	$(CONTAINER_TOOL) build -t $(IMG) .

## deploy: install CRDs, RBAC and the manager (image $(IMG)) into the cluster of the current kubeconfig
deploy: $(STAMP)
	$(KUBECTL) apply -k config/default
	$(KUBECTL) -n kubeloop-system set image deployment/kubeloop-controller-manager manager=$(IMG)

## undeploy: remove what deploy installed (the CRDs too, and with them every kubeloop object)
undeploy: $(STAMP)
	$(KUBECTL) delete --ignore-not-found -k config/default

## e2e-kind: tests/e2e on a throwaway kind cluster (E2E_ARGS=--dry-run prints the commands, --keep keeps it)
e2e-kind: $(STAMP)
	KIND_CLUSTER=$(KIND_CLUSTER) IMG=$(IMG) CONTAINER_TOOL=$(CONTAINER_TOOL) hack/kind-e2e.sh $(E2E_ARGS)
