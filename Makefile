# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Starts a local Docker engine (as root) when one is not already answering.
ENGINE_START ?= ../shared/docker-engine/start
DEMO ?= blueprints/seed-demo.yaml

.PHONY: install engine demo demo-destroy test unit bench clean

install: $(BIN)/provision

$(BIN)/provision: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

engine:
	@if [ -x "$(ENGINE_START)" ]; then "$(ENGINE_START)" --swarm; \
	elif docker info >/dev/null 2>&1; then echo "engine: a Docker engine answers"; \
	else echo "engine: no Docker engine answers; start dockerd first" >&2; exit 1; fi

demo: install engine
	$(BIN)/provision -f $(DEMO) apply --auto-approve
	$(BIN)/provision -f $(DEMO) plan

demo-destroy: install
	$(BIN)/provision -f $(DEMO) destroy --auto-approve --stop-timeout 0

test: install engine
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest tests/unit

bench: install engine
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
