# `make test` and `make run` need nothing but Python 3.11+: they make .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint docs check clean

# Reinstall only when the packaging changes.
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Running the storefront needs only the package and Flask-Migrate, not the test tools.
$(VENV)/.run-installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[example]'
	touch $@

# Medusa's JavaScript client for tests/storefront/test_medusa_js.py, at the versions in
# package-lock.json; reinstalled only when those change. Without npm the test skips
# (fails under CI=true).
NPM := $(shell command -v npm 2>/dev/null)
NODE_MODULES := $(if $(NPM),node_modules/.installed)

node_modules/.installed: package.json package-lock.json .npmrc
	npm ci --no-audit --no-fund
	touch $@

# The storefront on http://127.0.0.1:5000, on SQLite in instance/ unless
# FLASK_SQLALCHEMY_DATABASE_URI says otherwise.
run: $(VENV)/.run-installed
	$(BIN)/flask --app example_app db upgrade
	$(BIN)/flask --app example_app seed
	$(BIN)/flask --app example_app run --host 127.0.0.1 --port 5000

test: $(VENV)/.installed $(NODE_MODULES)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src/flask_idempotency example_app tests

# The documentation in docs/_build/html, offline, every warning an error.
$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,docs]'
	touch $@

docs: $(VENV)/.docs-installed
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

check: test lint docs

# What idempotency costs, measured side by side with a bare view on SQLite, PostgreSQL
# (TEST_POSTGRESQL_URL) and MariaDB (TEST_MARIADB_URL): tables, targets and docs/bench.png.
# A script, not a test. BENCH_ARGS=--quick for a short try; `python -m bench --help`.
.PHONY: bench
$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules docs/_build .pytest_cache .mypy_cache .ruff_cache *.egg-info

# A three-node MariaDB Galera cluster on 127.0.0.1 (client ports 4306-4308; see scripts/galera)
# for demos, and the suite that proves the extension on it, starting and stopping its own
# cluster. `make test` leaves that suite out; it needs galera-4, mariadb-server and rsync.
.PHONY: galera-up galera-down test-galera
galera-up:
	scripts/galera up

galera-down:
	scripts/galera down

test-galera: $(VENV)/.installed
	$(BIN)/pytest -m galera tests/galera $(PYTEST_ARGS)

# What idempotency costs on the Galera cluster, on one node and spread over the three, beside
# the bare view on the same cluster: starts its own cluster (waiting while the Galera suite
# holds one), measures in-process, stops it, and saves docs/bench-galera.json. About a
# minute; BENCH_ARGS="--iterations 300" for a shorter run, see python -m bench.galera --help.
.PHONY: bench-galera
bench-galera: $(VENV)/.bench-installed
	$(BIN)/python -m bench.galera --start-cluster $(BENCH_ARGS)
