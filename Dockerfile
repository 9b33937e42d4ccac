# syntax=docker/dockerfile:1
# s3tasks images: one Dockerfile for the three services. Build from the repository root:
#   docker build --build-arg SERVICE=storage-api -t s3tasks-storage-api .
#   docker build --build-arg SERVICE=web -t s3tasks-web .
#   docker build --build-arg SERVICE=worker -t s3tasks-worker .
# (`--target <service>` builds the same image.) The three images share every layer of the
# `python` stage (the base plus the interpreter and the s3tasks user); above it each has one
# layer: its own virtualenv.
# BASE_IMAGE may also be a bare Debian (e.g. one made with debootstrap): python3 then comes
# from apt. Behind a TLS-intercepting proxy, mount its CA bundle into the build and pass
# SSL_CERT_FILE / PIP_CERT pointing at it (both unset on a normal machine).
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG SERVICE=web

# -- the shared Python base: the interpreter only (no pip, no compilers) and the user --------
FROM ${BASE_IMAGE} AS python
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 ca-certificates \
        && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/*; \
    fi \
    && groupadd --system --gid 10001 s3tasks \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin s3tasks

# -- the service's virtualenv, built with uv from the lockfile ------------------------------
FROM ${BASE_IMAGE} AS builder
ARG SSL_CERT_FILE
ARG PIP_CERT
ARG UV_VERSION=0.13.9
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
# The same for every service (one cached layer): uv, and binutils for `strip`.
# hadolint ignore=DL3008,SC2086
RUN python=""; if ! command -v python3 >/dev/null; then python="python3 python3-venv ca-certificates"; fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends binutils ${python} \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
ARG SERVICE
# Locked dependencies a service never imports are not installed (the import test in
# tests/deploy/test_containers.py checks that they are absent and that every module still
# imports): litestar requires polyfactory (and so faker) for OpenAPI examples, which no
# service asks for, rich / rich-click (pygments, markdown-it-py, mdurl) for its own command
# line, which no service runs, litestar-htmx for a plugin no service uses, and httpx (httpcore,
# h11) for its test client; uvicorn[standard] brings watchfiles for --reload only (and h11 for
# when httptools is missing). httpx and alembic import rich and pygments only when they are
# there. storage-api sends Celery tasks but never runs Celery's command line, and pools its
# connections with SQLAlchemy, not psycopg-pool (declared in its pyproject.toml, to be dropped
# there); web calls storage-api and S3 with aiohttp, never httpx (nor certifi, which only httpx
# needs there). storage-api sizes encrypted uploads with s3tasks_ece's framing and layout only,
# never its ciphers (cryptography); the worker signs nothing (itsdangerous comes with servicekit).
ARG NEVER_IMPORTED="faker polyfactory rich rich-click pygments markdown-it-py mdurl watchfiles litestar-htmx"
ARG NEVER_IMPORTED_BY_STORAGE_API="click-didyoumean click-plugins click-repl prompt-toolkit wcwidth httpx httpcore h11 psycopg-pool cryptography"
ARG NEVER_IMPORTED_BY_WORKER="itsdangerous"
ARG NEVER_IMPORTED_BY_WEB="httpx httpcore h11 certifi"
WORKDIR /src
# hadolint ignore=SC2086
RUN case "${SERVICE}" in \
        storage-api) skip="${NEVER_IMPORTED} ${NEVER_IMPORTED_BY_STORAGE_API}" ;; \
        web) skip="${NEVER_IMPORTED} ${NEVER_IMPORTED_BY_WEB}" ;; \
        worker) skip="${NEVER_IMPORTED} ${NEVER_IMPORTED_BY_WORKER}" ;; \
        *) echo "SERVICE must be storage-api, web or worker, not '${SERVICE}'" >&2; exit 1 ;; \
    esac \
    && printf -- '--no-install-package=%s\n' ${skip} > /src/uv-sync-excludes
# Dependencies first, in their own layer: it is rebuilt only when the lockfile changes.
COPY pyproject.toml uv.lock ./
COPY packages/contracts/pyproject.toml packages/contracts/
COPY packages/servicekit/pyproject.toml packages/servicekit/
COPY packages/testkit/pyproject.toml packages/testkit/
COPY packages/devstack/pyproject.toml packages/devstack/
COPY packages/ece/pyproject.toml packages/ece/
COPY packages/cli/pyproject.toml packages/cli/
COPY services/storage-api/pyproject.toml services/storage-api/
COPY services/web/pyproject.toml services/web/
COPY services/worker/pyproject.toml services/worker/
# hadolint ignore=SC2046
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --no-install-workspace --package "s3tasks-${SERVICE}" \
        $(cat /src/uv-sync-excludes)
# Then the code: our packages, installed into the venv (not editable) so the runtime stage
# needs nothing but /app/.venv. Bytecode for what the service imports only (the root is
# read-only at run time), and no debug symbols in the extension modules (the wheels' bundled
# libraries in *.libs are left as they are).
COPY packages/contracts/src packages/contracts/src
COPY packages/servicekit/src packages/servicekit/src
COPY packages/ece/src packages/ece/src
COPY services/${SERVICE}/src services/${SERVICE}/src
COPY deploy/image/compile_imported.py /src/
# hadolint ignore=SC2046
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package "s3tasks-${SERVICE}" \
        $(cat /src/uv-sync-excludes) \
    && find /app/.venv -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} + \
    && /app/.venv/bin/python /src/compile_imported.py "${SERVICE}"

# -- what every service image has: the venv on the shared base, non-root, read-only root ----
FROM python AS runtime
COPY --from=builder --chown=0:0 /app/.venv /app/.venv
# Read-only root filesystem: nothing is written outside /tmp at run time.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /tmp
USER 10001:10001

# -- each service's port, health check and command -------------------------------------------
FROM runtime AS storage-api
# glibc: streamed multi-megabyte buffers go back to the kernel when freed (bounded RSS)
ENV MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_ARENA_MAX=2 \
    STORAGE_API_HOST=0.0.0.0 \
    STORAGE_API_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['STORAGE_API_PORT'], timeout=4)"]
# `migrate` (Alembic upgrade head, waits for PostgreSQL) and `init-bucket` run from this image too.
ENTRYPOINT ["s3tasks-storage-api"]
CMD ["serve"]

FROM runtime AS web
ENV MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_ARENA_MAX=2 \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['WEB_PORT'], timeout=4)"]
ENTRYPOINT ["s3tasks-web"]
CMD ["serve"]

FROM runtime AS worker
ENV WORKER_STATE_DIR=/tmp/s3tasks-worker
EXPOSE 9102
# Heartbeat files only: a broker outage must not make the container unhealthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["s3tasks-worker", "probe", "live"]
# `beat` runs from this image too (one replica).
ENTRYPOINT ["s3tasks-worker"]
CMD ["worker"]

# The image of the service named by --build-arg SERVICE.
# hadolint ignore=DL3006
FROM ${SERVICE}
