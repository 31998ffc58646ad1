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

demo: install
	$(BIN)/hub demo init --dir $(DEMO_DIR) --customers $(CUSTOMERS) --seed $(SEED) --force
	$(BIN)/hub pull --config $(DEMO_DIR)/hub.yaml --full
	$(BIN)/hub match --config $(DEMO_DIR)/hub.yaml
	$(BIN)/hub golden --config $(DEMO_DIR)/hub.yaml
	@echo "\nNext: '$(BIN)/hub pull --config $(DEMO_DIR)/hub.yaml' pulls only what changed;"
	@echo "      'HUB_CONFIG=$(DEMO_DIR)/hub.yaml $(BIN)/dagster dev' opens the Dagster UI on http://127.0.0.1:3000"

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-resolve the newest allowed versions and pin them.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade pip
	.lockenv/bin/python -m pip install --quiet -e '.[dev]'
	.lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
