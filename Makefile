.PHONY: setup demo test lint typecheck unit integration bench clean

VENV := .venv
PY := $(VENV)/bin/python

setup:
	sh scripts/setup.sh

demo:
	sh scripts/demo.sh

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(VENV)/bin/pytest -q tests/unit

integration: setup
	$(VENV)/bin/pytest -q tests/integration tests/e2e tests/interop

# Everything CI runs: lint, types, then every test tier (root tiers need root).
test: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -p no:cacheprovider tests

bench: setup
	$(PY) bench/runtime_start.py
	$(PY) bench/registry_server.py
	$(PY) bench/registry_transfer.py
	$(PY) bench/image_unpack.py
	$(PY) bench/network.py
	$(PY) bench/engine_run.py
	$(PY) bench/build.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
