"""web's storage-api client when a kept-alive connection is closed under a request.

A storage-api replica that shuts down closes its idle kept-alive connections; a request web
has just sent on one of them is lost before storage-api read it. That race cannot be made to
happen on demand against a real storage-api, so a peer of a few lines plays it: it reads the
first request whole and closes the connection without a byte of answer, then answers the
next ones as storage-api would. What is checked is what web does with it: a call that
storage-api may receive twice is sent again and succeeds; one that must not be repeated (it
creates something) is not, and the visitor is told storage is unavailable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import pytest
from pydantic import AnyHttpUrl

from s3tasks_contracts import ItemKind, TransferMode, UploadCompletion, UploadStart
from s3tasks_testkit import aio
from s3tasks_web.errors import StorageUnavailable
from s3tasks_web.settings import WebSettings
from s3tasks_web.storage_api_client import (
    SiteConfigurationCache,
    StorageApiClient,
    build_http_client,
)

VISITOR = "v" * 32
ITEM = str(uuid4())
STORED = {
    "id": ITEM,
    "kind": "file",
    "filename": "a.bin",
    "description": "",
    "size_bytes": 3,
    "content_type": "application/octet-stream",
    "etag": "e",
    "has_thumbnail": False,
    "created_at": "2026-12-04T00:00:00Z",
    "expires_at": "2026-12-04T01:00:00Z",
}


class ClosingPeer:
    """Closes the connection of the first request it reads, answers the others with `body`."""

    def __init__(self, body: dict[str, object]) -> None:
        self.body = json.dumps(body).encode()
        self.requests: list[str] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    (int(v) for k, _, v in (x.partition(": ") for x in lines)
                     if k.lower() == "content-length"),
                    0,
                )  # fmt: skip
                await reader.readexactly(length)
                self.requests.append(lines[0])
                if len(self.requests) == 1:
                    return  # read, never answered: closed under the request
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(self.body), self.body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def client_of(peer: ClosingPeer) -> AsyncIterator[StorageApiClient]:
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = WebSettings(storage_api_url=AnyHttpUrl(f"http://127.0.0.1:{port}"))
    http = build_http_client(settings)
    try:
        yield StorageApiClient(http, settings.storage_api_base, SiteConfigurationCache(60.0))
    finally:
        await http.close()
        server.close()
        await server.wait_closed()


def test_a_completion_whose_connection_was_closed_under_it_is_sent_again() -> None:
    peer = ClosingPeer(STORED)

    async def complete() -> str:
        async with client_of(peer) as client:
            done = await client.complete_upload(VISITOR, ITEM, UploadCompletion())
            return str(done.id)

    assert aio.run(complete()) == ITEM
    assert [line.split()[0] for line in peer.requests] == ["POST", "POST"]
    assert all(line.endswith(f"{ITEM}/complete HTTP/1.1") for line in peer.requests)


def test_a_start_whose_connection_was_closed_under_it_is_not_sent_again() -> None:
    peer = ClosingPeer({})

    async def start() -> None:
        async with client_of(peer) as client:
            await client.start_upload(
                VISITOR,
                UploadStart(kind=ItemKind.FILE, filename="a.bin", via=TransferMode.DIRECT),
            )

    with pytest.raises(StorageUnavailable):
        aio.run(start())
    assert len(peer.requests) == 1  # storage-api may have made the row: not a second one
