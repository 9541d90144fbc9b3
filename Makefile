# Every target bootstraps its own virtualenv: a fresh machine needs only Python >= 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The official Bitrix24 JS SDK, for the fidelity tests (tests/fidelity/js, pinned by its lock file).
JS       := tests/fidelity/js
JS_STAMP := $(JS)/node_modules/.installed

.PHONY: venv js browser php wrk demo test lint typecheck layers pytest pytest-pg bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

$(JS_STAMP): $(JS)/package-lock.json
	npm ci --prefix $(JS) --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

js: $(JS_STAMP)

# Debian's chromium and its driver, for the dashboard's browser test (tests/browser): installed from the
# distribution when missing, so nothing is downloaded at test time.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update && apt-get install -y chromium chromium-driver)

## php-cli runs the obmen.ping 1C-Bitrix module in its tests (tests/integration/test_site_module_php.py).
php:
	@command -v php >/dev/null || (apt-get update && apt-get install -y php-cli)

## Debian's wrk, the C load generator of bench/hooks.py (one in Python would share the cores with obmen).
wrk:
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

## The main job: three sandboxes and obmen on loopback, a catalog through 1C, a day of activity.
demo: $(STAMP)
	$(BIN)/obmen demo --state-dir state/demo

## The test command (README, .ci/run): lint, types, layers, tests on SQLite and on PostgreSQL.
test: lint typecheck layers pytest pytest-pg

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) $(JS_STAMP) browser php
	$(BIN)/pytest -q -m "not pg"

# The store and engine suites again on PostgreSQL; starts a local server if none listens.
pytest-pg: $(STAMP)
	sh .ci/ensure-postgres
	OBMEN_TEST_PG=$${OBMEN_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
		$(BIN)/pytest -q -m pg

bench: $(STAMP) wrk
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis $(JS)/node_modules
