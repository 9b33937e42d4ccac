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


@pytest.fixture(scope="module")
def enforcing_api(dependencies: Dependencies, request: pytest.FixtureRequest) -> Iterator[Api]:
    """storage-api for the modules about what S3 enforces of what storage-api signed (POST
    policies, signatures, expiry): radosgw only, since moto accepts what real S3 refuses.
    Images up to 2 MiB, files up to 12 MiB in parts of 5 MiB, and the module's
    `LINK_SECONDS` as the signed URLs' lifetime where it sets one."""
    if dependencies.s3.server == "moto":
        pytest.skip("moto accepts what real S3 refuses (policies, signatures): radosgw only")
    env = {
        "STORAGE_API_MAX_IMAGE_BYTES": str(2 * MIB),
        "STORAGE_API_MAX_FILE_BYTES": str(12 * MIB),
        "STORAGE_API_S3_PART_SIZE_BYTES": str(5 * MIB),
    }
    link_seconds = getattr(request.module, "LINK_SECONDS", None)
    if link_seconds is not None:
        env["STORAGE_API_LINK_SECONDS"] = str(link_seconds)
    with running_api(dependencies, request.module.__name__.rsplit(".", 1)[-1], env) as api:
        yield api


@pytest.fixture
def visitor() -> str:
    return uuid.uuid4().hex
