# The commands people actually type. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := demo-data
DEMO_URL := sqlite:///$(DEMO_DIR)/usagebook.db
DEMO_ENV := $(DEMO_DIR)/usagebook.env
HOST ?= 127.0.0.1
PORT ?= 8000
ENTRIES ?= 100000

.PHONY: help install demo serve test test-cluster lint fmt bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/$$(HOST)/$(HOST)/g' -e 's/$$(PORT)/$(PORT)/g' \
		| awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create .venv and install usagebook with its development tools

# The demo needs only usagebook itself; the development tools (pytest, playwright, LiteLLM for
# the callback's tests, ...) come with `make install`, `test` and `lint`.
$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.core
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.core ## Fresh demo data on the embedded SQLite default, then serve it on http://$(HOST):$(PORT)/
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(BIN)/usagebook demo --entries $(ENTRIES) --database-url $(DEMO_URL) --env-file $(DEMO_ENV)
	@echo "Open http://$(HOST):$(PORT)/ and paste the ADMIN key above. In another shell, from this folder:"
	@echo "  . $(DEMO_ENV) && curl -H \"Authorization: Bearer \$$DEMO_ADMIN_KEY\" 'http://$(HOST):$(PORT)/api/v1/billing/usage?limit=5'"
	. ./$(DEMO_ENV) && exec $(BIN)/usagebook serve --host $(HOST) --port $(PORT)

serve: $(VENV)/.core ## Serve the existing demo data again (its database and operator token)
	@test -f $(DEMO_ENV) || { echo "FAILED: no $(DEMO_ENV): run make demo first"; exit 1; }
	. ./$(DEMO_ENV) && exec $(BIN)/usagebook serve --host $(HOST) --port $(PORT)

test: install ## Install, lint (ruff, mypy strict, import contracts) and run the whole suite on SQLite and PostgreSQL
	.ci/ensure-chromium
	$(BIN)/ruff check usagebook tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

test-cluster: install ## The failover drill: 8 hosts in network namespaces (needs root; installs haproxy and pg_auto_failover)
	$(BIN)/pytest -m cluster tests/cluster -s -p no:cacheprovider

lint: install ## ruff, mypy (strict) and the import contracts (layers, no circles) over the package
	$(BIN)/ruff check usagebook tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install ## Format the code with ruff
	$(BIN)/ruff format usagebook tests bench
	$(BIN)/ruff check --fix usagebook tests bench

bench: install ## Run the benchmarks on PostgreSQL (figures go to docs/performance.md)
	bench/install-tools
	@for script in bench/*.py; do case $$script in */_*|*/dataset.py) ;; *) echo "== $$script"; $(BIN)/python -m bench.$$(basename $$script .py) || exit 1;; esac; done
