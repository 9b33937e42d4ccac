"""Uploads have threads of their own: held uploads never starve reads, and one too many is a 503."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from s3tasks_testkit.images import png
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import Api, running_api, upload

UPLOADS_AT_ONCE = 2
#: more than anyio's 40 default threads: before uploads had their own, these starved reads
HELD_UPLOADS = 45


@pytest.fixture(scope="module")
def small_api(dependencies: Dependencies) -> Iterator[Api]:
    with running_api(
        dependencies, "test_capacity", {"STORAGE_API_MAX_CONCURRENT_UPLOADS": str(UPLOADS_AT_ONCE)}
    ) as api:
        yield api


def _held_upload(api: Api, visitor: str) -> socket.socket:
    """An upload whose body has begun and then waits (as a slow client's would)."""
    url = urlsplit(api.url)
    assert url.hostname is not None
    assert url.port is not None
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sock.sendall(
        (
            f"POST /v1/visitors/{visitor}/items?kind=file&filename=slow.bin HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nContent-Type: application/octet-stream\r\n"
            f"Authorization: Bearer {api.config.web_service_token}\r\n"
            "Content-Length: 1000000\r\n\r\n"
        ).encode()
        + b"s" * 1000
    )
    return sock


def test_held_uploads_leave_reads_alone_and_one_too_many_is_refused_at_once(
    small_api: Api,
) -> None:
    reader = uuid.uuid4().hex
    slow = uuid.uuid4().hex
    with small_api.client() as client:
        stored = upload(client, reader, png()).json()
        sockets = [_held_upload(small_api, slow) for _ in range(HELD_UPLOADS)]
        try:
            wait_until(
                lambda: len(small_api.rows("visitor_id = %s", slow)) == UPLOADS_AT_ONCE,
                timeout=patience(),
                message="the held uploads' rows",
            )
            # every upload thread is taken: the next upload is refused at once, in words
            refused = upload(client, reader, png())
            assert refused.status_code == 503
            assert refused.json()["detail"].startswith("Too many uploads are in progress")
            # and reads have their threads as before
            items = f"/v1/visitors/{reader}/items"
            assert client.get(items, params={"kind": "image"}).status_code == 200
            assert client.get(f"{items}/{stored['id']}/content").status_code == 200
            assert client.get(f"{items}/{stored['id']}/thumbnail").status_code == 200
        finally:
            for sock in sockets:
                sock.close()
        wait_until(
            lambda: not small_api.rows("visitor_id = %s", slow),
            timeout=patience(1),
            message="the cut uploads' rows to go",
        )
        assert upload(client, reader, png()).status_code == 201
