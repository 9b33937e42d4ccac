"""The same API against a real MinIO server (testcontainers), where a Docker engine runs."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3tasks_testkit import backing_services
from s3tasks_testkit.images import png
from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import (
    Api,
    expire_now,
    fetch,
    run_deletions,
    running_api,
    upload,
)


def _docker_available() -> str | None:
    """None when a Docker engine's socket accepts connections, else why not."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2)
                sock.connect(host.removeprefix("unix://"))
        except OSError as exc:
            return (
                f"no Docker engine at {host} ({exc.strerror or type(exc).__name__}) to run "
                "MinIO in; the same paths run against the suite's S3 server "
                "(S3TASKS_TEST_S3) in the other tests"
            )
    return None


@pytest.fixture(scope="module")
def minio_api(postgres_admin_url: str, redis_base_url: str, artifacts_dir: Path) -> Iterator[Api]:
    reason = _docker_available()
    if reason is not None:
        pytest.skip(reason)
    from testcontainers.minio import MinioContainer

    image = os.environ.get("S3TASKS_TEST_MINIO_IMAGE", "minio/minio:RELEASE.2025-04-22T22-12-26Z")
    with MinioContainer(image) as minio:
        config = minio.get_config()
        endpoint = backing_services.S3Endpoint(
            url=f"http://{config['endpoint']}",
            access_key=config["access_key"],
            secret_key=config["secret_key"],
        )
        dependencies = Dependencies(
            endpoint, postgres_admin_url, redis_base_url, artifacts_dir / "logs"
        )
        with running_api(dependencies, "minio") as api:
            yield api


@pytest.mark.docker
def test_upload_download_cap_and_deletion_against_minio(minio_api: Api) -> None:
    visitor = uuid.uuid4().hex
    with minio_api.client() as client:
        ids = [
            upload(client, visitor, png(colour=c)).json()["id"]
            for c in ("red", "lime", "blue", "gray")
        ]
        big = upload(
            client, visitor, b"m" * (12 * 1024 * 1024), kind="file", filename="m.bin"
        ).json()
        got = fetch(client, visitor, big["id"])
        assert (got.status_code, got.content) == (200, b"m" * (12 * 1024 * 1024))
    assert run_deletions(minio_api, visitor_id=visitor)["tallies"] == {("cap", "image"): 1}
    expire_now(minio_api, visitor)
    run_deletions(minio_api, visitor_id=visitor)
    assert minio_api.rows("visitor_id = %s", visitor) == []
    assert not any(i in k for i in [*ids, big["id"]] for k in minio_api.object_keys())
