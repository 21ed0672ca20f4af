# Two commands matter: `make run` (set up and start the product with demo data) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PROCESSES := processes

.PHONY: setup run demo test lint typecheck pytest postgres test-db clean translations

setup: $(PY_STAMP) $(NODE_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The web UI (http://127.0.0.1:5000/, or port $PORT; demo users printed at start) and the worker, with demo data.
run: setup
	$(BIN)/baozhuang validate $(PROCESSES)
	$(BIN)/python -m webui.launch $(PROCESSES)

# Web UI strings (and the simulation KPI labels the CLI report shares, runner/simulation/labels.py): extract into
# webui/translations/messages.pot, merge into the English catalogue, compile .mo.
translations: setup
	$(BIN)/pybabel extract -F webui/babel.cfg -k _l -k C_:1c,2 --no-location --sort-output -o webui/translations/messages.pot webui runner/simulation/labels.py
	$(BIN)/pybabel update -i webui/translations/messages.pot -d webui/translations -l en --no-fuzzy-matching
	$(BIN)/pybabel compile -d webui/translations -l en

test: setup lint typecheck pytest

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

# One test process per core (pytest-xdist): every test has its own database, port and folders.
PYTEST_WORKERS ?= auto

pytest:
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

# The database tests run on SQLite and on PostgreSQL (127.0.0.1:5432 as user postgres, or TEST_POSTGRES_URL);
# without a server their PostgreSQL half fails. `make postgres` starts one (installs it first if needed; as root).
DB_TESTS := tests/test_services.py tests/test_durable_case.py tests/test_audit.py tests/test_state.py $(wildcard tests/test_webui_*.py)

postgres:
	.ci/postgres

test-db: setup
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) $(DB_TESTS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache

# Benchmarks, not tests: ratios and figures measured in one run on this machine (bench/README.md).
# BENCH_TASK_LIST_ARGS scales or moves the task-list one, e.g. "--cases 100000 --open 10000" or "--postgres";
# BENCH_SIMULATION_ARGS the simulation one, e.g. "--cases 1000 --jobs 2".
BENCH_TASK_LIST_ARGS ?=
BENCH_SIMULATION_ARGS ?=

.PHONY: bench
bench: setup
	$(BIN)/python bench/bench_runner_overhead.py
	$(BIN)/python bench/bench_state_size.py
	$(BIN)/python bench/bench_task_list.py $(BENCH_TASK_LIST_ARGS)
	$(BIN)/python bench/bench_engine_loop.py
	$(BIN)/python bench/bench_simulation_10k.py $(BENCH_SIMULATION_ARGS)
	$(BIN)/python bench/bench_simulation_vs_prosimos.py  # says how to install prosimos when it is missing
