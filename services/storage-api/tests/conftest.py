"""Fixtures: a running storage-api on a database, bucket and Redis prefix of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import MIB, Api, running_api


@pytest.fixture(scope="module")
def api(dependencies: Dependencies, request: pytest.FixtureRequest) -> Iterator[Api]:
    """storage-api with small limits, shared by the tests of one module (visitors isolate them)."""
    env = {
        "STORAGE_API_MAX_IMAGE_BYTES": str(2 * MIB),
        "STORAGE_API_MAX_FILE_BYTES": str(20 * MIB),
        "STORAGE_API_MAX_IMAGE_PIXELS": str(4_000_000),
        "STORAGE_API_S3_PART_SIZE_BYTES": str(8 * MIB),
    }
    with running_api(dependencies, request.module.__name__.rsplit(".", 1)[-1], env) as api:
        yield api


@pytest.fixture
def visitor() -> str:
    return uuid.uuid4().hex
