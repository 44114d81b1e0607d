# The commands people actually type. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := demo-data
DEMO_URL := sqlite:///$(DEMO_DIR)/usagebook.db
HOST ?= 127.0.0.1
PORT ?= 8000
ENTRIES ?= 100000

.PHONY: help install demo serve test lint fmt bench

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create .venv and install usagebook with its development tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: install ## Fresh demo data on the embedded SQLite default, then serve it on http://$(HOST):$(PORT)/
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(BIN)/usagebook demo --entries $(ENTRIES) --database-url $(DEMO_URL)
	@echo "Open http://$(HOST):$(PORT)/ and paste the ADMIN key above, or:"
	@echo "  curl -H 'Authorization: Bearer <ADMIN key>' http://$(HOST):$(PORT)/api/v1/billing/usage"
	$(BIN)/usagebook serve --database-url $(DEMO_URL) --host $(HOST) --port $(PORT)

serve: install ## Serve the existing demo data again
	$(BIN)/usagebook serve --database-url $(DEMO_URL) --host $(HOST) --port $(PORT)

test: install ## Install, lint (ruff, mypy strict) and run the whole suite on SQLite and PostgreSQL
	.ci/ensure-chromium
	$(BIN)/ruff check usagebook tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: install ## ruff and mypy (strict) over the package
	$(BIN)/ruff check usagebook tests bench
	$(BIN)/mypy

fmt: install ## Format the code with ruff
	$(BIN)/ruff format usagebook tests bench
	$(BIN)/ruff check --fix usagebook tests bench

bench: install ## Run the benchmarks on PostgreSQL (figures go to docs/performance.md)
	@for script in bench/*.py; do case $$script in */_*|*/dataset.py) ;; *) echo "== $$script"; $(BIN)/python $$script || exit 1;; esac; done
