# Two entry points for a fresh machine with Python 3.11+ and make: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_DIR ?= demo
CUSTOMERS ?= 2000
SEED ?= 42

.PHONY: install demo test lint lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs exactly the versions pinned in constraints.txt (regenerate with `make lock`).
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Demo sources, then the whole Dagster pipeline in process (`hub run`) with its summary. The run is
# recorded in $(DEMO_DIR)/.dagster, so `dagster dev` with the same DAGSTER_HOME shows it.
demo: install
	$(BIN)/hub demo init --dir $(DEMO_DIR) --customers $(CUSTOMERS) --seed $(SEED) --force
	mkdir -p $(DEMO_DIR)/.dagster
	test -f $(DEMO_DIR)/.dagster/dagster.yaml || printf 'telemetry:\n  enabled: false\n' > $(DEMO_DIR)/.dagster/dagster.yaml
	DAGSTER_HOME=$(abspath $(DEMO_DIR))/.dagster $(BIN)/hub run --config $(DEMO_DIR)/hub.yaml
	@echo ""
	@echo "Dagster UI:  HUB_CONFIG=$(DEMO_DIR)/hub.yaml DAGSTER_HOME=$(abspath $(DEMO_DIR))/.dagster $(BIN)/dagster dev"
	@echo "             then open http://127.0.0.1:3000 (assets, checks, this run, schedule and sensor)"
	@echo "Run again:   $(BIN)/hub run --config $(DEMO_DIR)/hub.yaml   (incremental; --dry-run shows the write-back diff)"
	@echo "Export:      $(BIN)/hub export golden --config $(DEMO_DIR)/hub.yaml --out golden.parquet"
	@echo "REST API:    $(BIN)/hub apikey create --config $(DEMO_DIR)/hub.yaml --name me --role steward   (prints a key once)"
	@echo "             $(BIN)/hub serve --config $(DEMO_DIR)/hub.yaml   then http://127.0.0.1:8000/docs (API)"
	@echo "             and http://127.0.0.1:8000/ui (steward review: sign in with the key)"

# The suite runs on TEST_WORKERS processes (pytest-xdist), each taking whole test files so module fixtures are
# built once, the slowest files first (tests/conftest.py orders them; --no-loadscope-reorder keeps that order);
# TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=30

# Style and types: mypy checks every package ([tool.mypy] in pyproject.toml; strict on the core modules).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Re-resolve the newest allowed versions and pin them.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade pip
	.lockenv/bin/python -m pip install --quiet -e '.[dev]'
	.lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
