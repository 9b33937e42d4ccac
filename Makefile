# s3tasks: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo .tools/venv/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install uv (if missing), the locked Python environment and Chromium
	@scripts/bootstrap.sh --system

.PHONY: lint
lint: ## ruff check + ruff format --check
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

.PHONY: format
format: ## Apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

.PHONY: typecheck
typecheck: ## mypy --strict over every package
	$(UV) run --frozen mypy packages/*/src services/*/src

.PHONY: test
test: install lint typecheck ## Install, lint, typecheck and run the whole test suite
	@scripts/test.sh

.PHONY: test-fast
test-fast: ## Run the tests without the browser and the slow ones (needs `make install` once)
	@scripts/test.sh -m "not e2e and not slow"

.PHONY: run-storage-api
run-storage-api: ## Migrate, then serve storage-api from .env settings
	$(UV) run --frozen s3tasks-storage-api migrate
	$(UV) run --frozen s3tasks-storage-api serve
