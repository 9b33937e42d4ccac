# s3tasks: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo .tools/venv/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install uv (if missing), the locked Python environment, Chromium, Ceph (radosgw), nginx and podman
	@scripts/bootstrap.sh --system

.PHONY: assets
assets: ## Rebuild web's upload script (Uppy, bundled by esbuild; needs node and npm) from services/web/frontend
	cd services/web/frontend && npm ci --no-audit --no-fund && npm run build

.PHONY: install-python
install-python: ## Install uv (if missing) and the locked Python environment only
	@scripts/bootstrap.sh

.PHONY: lint
lint: ## ruff check + ruff format --check + the import contracts (lint-imports, pyproject.toml)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports --no-logo --no-cache

.PHONY: format
format: ## Apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

.PHONY: openapi
openapi: ## Write web's /api/v1 OpenAPI document to docs/api/openapi.json (a test fails when it is stale)
	$(UV) run --frozen python scripts/openapi.py

.PHONY: typecheck
typecheck: ## mypy --strict over every package
	$(UV) run --frozen mypy packages/*/src services/*/src bench scripts/generate.py

.PHONY: generated
generated: ## Write .env.example and the chart's values.schema.json, values.yaml comments and README values table from the settings
	$(UV) run --frozen python scripts/generate.py

# Tests run side by side in pytest-xdist workers (each with its own radosgw, artifacts below
# build/test-artifacts/gwN); most of a test's time is spent waiting (sweeps, TTLs, services
# starting), so twice the cores, at most 8. TEST_WORKERS=0: one process, as before.
TEST_WORKERS ?= $(shell n=$$(( $$(nproc) * 2 )); echo $$(( n > 8 ? 8 : n )))
PARALLEL = -n $(TEST_WORKERS)

# The whole suite runs against radosgw (a real S3: Ceph, installed by `make install`); this
# smaller selection runs again against moto, `make run`'s embedded S3, so both keep working.
MOTO_SELECTION := -m "not slow" services/storage-api/tests services/worker/tests/test_deletions.py tests/security/test_signed_requests.py

.PHONY: test
test: install lint typecheck ## Install, lint, typecheck, the whole suite on radosgw, then in direct mode, then a moto run
	@scripts/test.sh $(PARALLEL)
	@$(MAKE) --no-print-directory test-direct
	@$(MAKE) --no-print-directory test-moto

# The suites a visitor's bytes cross, once more with the browser sending and fetching them
# itself (STORAGE_API_TRANSFER_MODE=direct); the whole suite above ran them in proxy mode.
# Tests marked mode_independent (sweeps, grant counting, rolling restarts, S3's own refusals)
# exercise nothing the mode changes and ran once already.
DIRECT_SELECTION = tests/e2e/test_browser.py tests/e2e/test_large_uploads.py tests/e2e/test_upload_queue.py tests/e2e/test_sharing.py tests/e2e/test_encrypted_uploads.py tests/security tests/faults tests/load \
	services/web/tests/test_pages.py services/web/tests/test_part_uploads.py services/web/tests/test_ingress.py \
	services/web/tests/test_shares.py tests/terminal tests/cli

.PHONY: test-direct
test-direct: ## The browser, security, fault, load and page suites in direct mode (S3TASKS_TEST_TRANSFER=direct)
	@S3TASKS_TEST_TRANSFER=direct S3TASKS_TEST_ARTIFACTS=build/test-artifacts/direct scripts/test.sh $(PARALLEL) -m "not mode_independent" $(DIRECT_SELECTION)

.PHONY: test-moto
test-moto: ## The S3-facing tests against moto instead of radosgw (S3TASKS_TEST_S3=moto)
	@S3TASKS_TEST_S3=moto S3TASKS_TEST_ARTIFACTS=build/test-artifacts/moto scripts/test.sh $(PARALLEL) $(MOTO_SELECTION)

.PHONY: test-fresh
test-fresh: ## `make test` as a new machine sees it: fresh clone, throwaway podman storage (TESTS=tests/deploy: a selection)
	@scripts/test-fresh.sh $(TESTS)

# The in-process layer: the services' apps in the test process (Litestar's TestClient, Celery's
# apply(), storage-api served in a thread) on real PostgreSQL, Redis and the session's S3 server;
# no service process starts. Under 90 s on the developers' 2-core machine.
# Listed, not found by the marker alone: collecting the whole suite to deselect it costs more
# than the layer's own run on a busy machine.
INPROCESS_PATHS := services/storage-api/tests/inprocess services/worker/tests/inprocess \
	services/web/tests/test_refusal_types.py services/web/tests/test_openapi.py

.PHONY: test-fast
test-fast: ## The in-process layer (tests marked inprocess): every route's refusals, the jobs; under 90 s
	@scripts/test.sh $(PARALLEL) -m inprocess $(INPROCESS_PATHS)

.PHONY: test-quick
test-quick: ## The tests without the browser and the slow ones (needs `make install` once)
	@scripts/test.sh $(PARALLEL) -m "not e2e and not slow"

.PHONY: run-storage-api
run-storage-api: ## Migrate, then serve storage-api from .env settings
	$(UV) run --frozen s3tasks-storage-api migrate
	$(UV) run --frozen s3tasks-storage-api serve

# --- Containers (docker compose, or podman-compose where only podman runs) -------------
COMPOSE_ENV ?= build/compose.env
COMPOSE = $(shell if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then \
	echo "docker compose"; elif command -v podman-compose >/dev/null 2>&1; then echo podman-compose; \
	else echo "$(UV) run --frozen podman-compose"; fi)
# COMPOSE_OVERRIDE=deploy/compose/host-services.yml: only s3tasks' own containers, against the
# PostgreSQL, Redis and S3 running on this machine (no registry needed for them)
COMPOSE_OVERRIDE ?=
# BASE_IMAGE=<image>: the images build FROM it instead of python:3.11-slim-bookworm
BASE_IMAGE ?=
# BUILD_CA=<file>: a TLS-intercepting proxy's CA bundle, mounted into the builds (podman)
BUILD_CA ?=
COMPOSE_CMD = $(if $(BASE_IMAGE),S3TASKS_BASE_IMAGE=$(BASE_IMAGE)) $(COMPOSE) \
	$(if $(BUILD_CA),--podman-build-args "--format docker -v $(abspath $(BUILD_CA)):/run/host-ca.crt:ro \
	--build-arg SSL_CERT_FILE=/run/host-ca.crt --build-arg PIP_CERT=/run/host-ca.crt") \
	--env-file $(COMPOSE_ENV) -f docker-compose.yml $(if $(COMPOSE_OVERRIDE),-f $(COMPOSE_OVERRIDE))

COMPOSE_UP_LOG = $(dir $(COMPOSE_ENV))compose-up.log

.PHONY: up
up: ## Build the images and start the stack with compose at http://localhost:8080 (BASE_IMAGE=, COMPOSE_OVERRIDE=: README)
	@deploy/compose/make-env.sh $(COMPOSE_ENV)
	@if [ -n "$(BUILD_CA)" ] && [[ "$(COMPOSE)" != *podman-compose* ]]; then \
		echo "make up: BUILD_CA mounts into podman's builds; with docker, use a BuildKit secret" >&2; exit 2; fi
	@set -o pipefail; $(COMPOSE_CMD) up -d --build 2>&1 | tee $(COMPOSE_UP_LOG) \
		|| deploy/compose/explain-up-failure.sh $(COMPOSE_UP_LOG) \
			"$(or $(BASE_IMAGE),$$(sed -n 's/^S3TASKS_BASE_IMAGE=//p' $(COMPOSE_ENV)))"
	@echo "s3tasks: http://localhost:$$(sed -n 's/^S3TASKS_HTTP_PORT=//p' $(COMPOSE_ENV))  (make down stops it; data stays in named volumes)"

.PHONY: down
down: ## Stop and remove the compose stack's containers (named volumes are kept; same COMPOSE_OVERRIDE as up)
	@deploy/compose/make-env.sh $(COMPOSE_ENV)
	$(COMPOSE_CMD) --profile observability down

.PHONY: worker
worker: ## Run the Celery worker (deletion jobs; /metrics on WORKER_METRICS_PORT) from .env settings
	$(UV) run --frozen s3tasks-worker worker

.PHONY: beat
beat: ## Run celery beat, the sweep and reconcile schedule (two at once do no harm)
	$(UV) run --frozen s3tasks-worker beat

.PHONY: run
run: install-python ## Start the whole stack here (embedded PostgreSQL/Redis/S3 unless configured; packages/devstack), print the page's, the metrics' and storage-api's URLs; TRANSFER=direct: the browser carries the bytes (default proxy: web)
	$(UV) run --frozen s3tasks-devstack $(if $(TRANSFER),--transfer $(TRANSFER))

# --- Benchmarks (bench/README.md) -------------------------------------------------------------

# CASES=6 (or 1,2): only those cases; their rows replace the same cases' in bench/results/
BENCH_CASES = $(if $(CASES),--cases $(CASES))

.PHONY: bench
bench: ## Benchmarks, full run (several minutes): bench/results/latest.{json,md,png}; CASES=6: one case
	$(UV) run --frozen python -m bench $(BENCH_CASES)

.PHONY: bench-quick
bench-quick: ## Benchmarks, quick run (under 3 minutes, smaller sizes); CASES=6: one case
	$(UV) run --frozen python -m bench --quick $(BENCH_CASES)

.PHONY: bench-profile
bench-profile: ## Benchmarks with py-spy on web and storage-api during each case (CASES=6: one case; QUICK=1: the quick run): stacks and summaries in build/profiles/
	S3TASKS_BENCH_PROFILE=build/profiles $(UV) run --frozen python -m bench $(if $(QUICK),--quick) \
		--out build/profiles/results $(BENCH_CASES)

# --- Capacity (docs/capacity.md) ---------------------------------------------------------------

.PHONY: costs
costs: ## Cost per action measured on the whole stack (CPU ms by service, PostgreSQL transactions, S3 requests, Redis commands): bench/results/costs.json; QUICK=1: fewer repetitions
	$(UV) run --frozen python -m bench.costs $(if $(QUICK),--quick)

.PHONY: capacity
capacity: ## What an audience needs, from bench/results/costs.json: VISITORS=10000,1000000,100000000 [PEAK=3 ACTIONS=pages=10,uploads=1 SIZES=1MiB:0.9,16MiB:0.1 TTL=15m MODE=proxy]
	@$(UV) run --frozen python -m bench.capacity $(if $(VISITORS),--visitors $(VISITORS)) \
		$(if $(PEAK),--peak $(PEAK)) $(if $(ACTIONS),--actions $(ACTIONS)) \
		$(if $(SIZES),--sizes $(SIZES)) $(if $(TTL),--ttl $(TTL)) $(if $(MODE),--mode $(MODE))

.PHONY: replay
replay: ## The model checked: its profile replayed on one replica of each service at SHARE=0.1 of web's core for DURATION=60 s: bench/results/replay.json
	$(UV) run --frozen python -m bench.replay $(if $(SHARE),--share $(SHARE)) $(if $(DURATION),--seconds $(DURATION))

.PHONY: soak
soak: ## Churn through the deletion schedule, ITEMS=1000000 with LIVE=100000 rows at steady state (about 35 minutes here), at most MAX_SECONDS=3600: bench/results/soak.json
	$(UV) run --frozen python -m bench.soak $(if $(ITEMS),--items $(ITEMS)) $(if $(LIVE),--live $(LIVE)) \
		$(if $(MAX_SECONDS),--max-seconds $(MAX_SECONDS))

.PHONY: load
load: ## Bounded load tests on loopback: 24 visitors for 60 s, with faults, with replicas of every service, then a rolling restart of every replica with uploads of 1 GiB in parts, in both transfer modes (needs `make install`)
	$(UV) run --frozen python -m s3tasks_testkit.load --visitors 24 --duration 60 --ttl 20 --report build/load-report.json
	$(UV) run --frozen python -m s3tasks_testkit.load --visitors 24 --duration 60 --ttl 20 --chaos --report build/load-report-chaos.json
	$(UV) run --frozen python -m s3tasks_testkit.load --visitors 24 --duration 90 --ttl 20 --chaos --replicas --report build/load-report-replicas.json
	$(UV) run --frozen python -m s3tasks_testkit.load --visitors 24 --ttl 60 --replicas --rolling --parts-mib 1024 --report build/load-report-rolling.json
	S3TASKS_TEST_TRANSFER=direct $(UV) run --frozen python -m s3tasks_testkit.load --visitors 24 --ttl 60 --replicas --rolling --parts-mib 1024 --report build/load-report-rolling-direct.json
