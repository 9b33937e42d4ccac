"""Fixtures: a running storage-api on a database, bucket and Redis prefix of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from s3tasks_testkit import deps
from s3tasks_testkit.storage_api import MIB, Api, start_api


@pytest.fixture(scope="module")
def api(
    s3_endpoint: deps.S3Endpoint,
    postgres_admin_url: str,
    redis_base_url: str,
    artifacts_dir: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Api]:
    """storage-api with small limits, shared by the tests of one module (visitors isolate them)."""
    with ExitStack() as es:
        yield start_api(
            es,
            s3=s3_endpoint,
            postgres_admin_url=postgres_admin_url,
            redis_url=redis_base_url,
            log_dir=artifacts_dir / "logs" / request.module.__name__.rsplit(".", 1)[-1],
            env={
                "STORAGE_API_MAX_IMAGE_BYTES": str(2 * MIB),
                "STORAGE_API_MAX_FILE_BYTES": str(20 * MIB),
                "STORAGE_API_MAX_IMAGE_PIXELS": str(4_000_000),
                "STORAGE_API_S3_PART_SIZE_BYTES": str(8 * MIB),
            },
        )


@pytest.fixture
def visitor() -> str:
    return uuid.uuid4().hex
