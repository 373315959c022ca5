# Two commands: `make dev` (set up and serve on http://localhost:7071/api) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test test-heavy setup migrate browser lint typecheck check package bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)
	test -f local.settings.json || cp local.settings.json.example local.settings.json

migrate: setup
	$(BIN)/alembic upgrade head

dev: migrate
	$(BIN)/python -m devhost

# Debian's Chromium for the browser tests (tests/browser), installed once; never downloaded by a test tool.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is not installed (sudo apt-get install chromium): the browser tests will be skipped"; \
	  fi; }

test: $(STAMP) browser
	$(BIN)/python -m pytest

test-heavy: $(STAMP) browser
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

check: lint typecheck test

# The deploy package as deploy.yml builds it: what .funcignore lets through, listed; refused if it holds
# a virtual environment, .git, tests, bench, devhost, .data or local.settings.json.
package: $(STAMP)
	$(BIN)/python .github/package.py --output dist/app.zip

bench: $(STAMP)
	for name in coldstart ingest retrieve cleanup http storage; do $(BIN)/python -m bench $$name || exit 1; done

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache dist
