"""Web against a real storage-api (and real PostgreSQL, Redis and S3) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from s3tasks_testkit import web_visitor
from s3tasks_testkit.stack import Dependencies, Stack, StackConfig, isolated_config
from s3tasks_testkit.web_visitor import WebVisitor

#: small, so "too large" is cheap to provoke; files keep storage-api's large default.
MAX_IMAGE_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def web_stack(dependencies: Dependencies, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """storage-api and web, shared by a module's tests (each test uses its own visitors)."""
    with (
        isolated_config(
            dependencies,
            f"web-{request.module.__name__.rsplit('.', 1)[-1]}",
            extra_env={"STORAGE_API_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES)},
        ) as config,
        api_and_web(config) as stack,
    ):
        yield stack


@contextmanager
def api_and_web(config: StackConfig) -> Iterator[Stack]:
    """storage-api (migrated) and web on `config`, stopped afterwards."""
    stack = Stack(config)
    try:
        stack.migrate()
        stack.start_storage_api()
        stack.start_web()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
def web_url(web_stack: Stack) -> str:
    assert web_stack.web is not None
    return web_stack.web.url


@pytest.fixture
def visitor(web_url: str) -> Iterator[WebVisitor]:
    with WebVisitor(web_url) as v:
        yield v


@pytest.fixture
def stranger(web_url: str) -> Iterator[httpx.Client]:
    """Someone given a link: a browser of their own, no cookie of the owner's."""
    with web_visitor.stranger(web_url) as client:
        yield client


@pytest.fixture
def other_visitor(web_url: str) -> Iterator[WebVisitor]:
    with WebVisitor(web_url) as v:
        yield v
