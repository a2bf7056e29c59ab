# consent-hub: the whole set-up is `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# test processes (pytest-xdist); `auto` is one per core. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto
HUB    := $(VENV)/bin/consent-hub
export CONSENT_HUB_CONFIG ?= var/hub.toml

.PHONY: run test lint bench clean

$(VENV)/.installed: pyproject.toml fakes/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e . -e ./fakes
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]' -e ./fakes
	touch $@

run: $(VENV)/.installed
	$(HUB) init --cluster demo --demo
	$(HUB) serve --host 127.0.0.1 --port 8000

test: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check consent_hub connectors reports tests bench fakes
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check consent_hub connectors reports tests bench fakes
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(VENV)/.installed-dev
	$(PY) -m bench.bench_vault
	$(PY) -m bench.bench_visibility
	$(PY) -m bench.bench_audiences
	$(PY) -m bench.bench_sync
	$(PY) -m bench.bench_lookup_timing
	$(PY) -m bench.bench_load
	$(PY) -m bench.bench_reports

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
