"""ObjectClient: web's own hop to S3, on URLs storage-api signed (`proxy` mode).

No credential of ours travels here: each URL carries its signature, for one object or one part,
for a few minutes. The client is apart from storage-api's so that its bearer token can never
reach S3.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from s3tasks_contracts import CompletedPart
from s3tasks_web.errors import ItemNotFound, StorageUnavailable
from s3tasks_web.settings import WebSettings
from s3tasks_web.storage_client import pooled_client

log = logging.getLogger(__name__)

#: the object is passed on in pieces of this size: fewer, larger sends
READ_BYTES = 256 * 1024
#: Request headers a download passes on to S3 (conditional and partial GETs).
PASSED_REQUEST_HEADERS = ("range", "if-none-match", "if-range", "if-modified-since")
#: Response headers of S3's answer the visitor gets (S3's own request ids stay here).
PASSED_RESPONSE_HEADERS = (
    "content-type",
    "content-length",
    "content-range",
    "etag",
    "content-disposition",
    "accept-ranges",
    "last-modified",
    "cache-control",
)


def build_object_http_client(settings: WebSettings) -> httpx.AsyncClient:
    return pooled_client(
        settings, headers={"Accept-Encoding": "identity", "User-Agent": "s3tasks-web"}
    )


@dataclass
class ObjectStream:
    """An open GET of an object; iterate `chunks` once, then `aclose`."""

    status_code: int
    headers: dict[str, str]
    response: httpx.Response

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_raw(READ_BYTES):
                yield chunk
        finally:
            await self.response.aclose()

    async def aclose(self) -> None:
        await self.response.aclose()


#: What a request to S3 may raise when S3 cannot be reached. anyio raises AttributeError
#: when a connection is reset between connect and httpcore's look at its socket (seen when
#: S3 is cut off under load: `'NoneType' object has no attribute 'getpeername'`).
_UNREACHABLE = (httpx.HTTPError, AttributeError)

#: asks storage-api for the presigned URLs of some part numbers
PartSigner = Callable[[list[int]], Awaitable[dict[int, str]]]


class ObjectClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def open(self, url: str, request_headers: Mapping[str, str]) -> ObjectStream:
        headers = {
            name: value
            for name, value in request_headers.items()
            if name.lower() in PASSED_REQUEST_HEADERS
        }
        try:
            response = await self._http.send(
                self._http.build_request("GET", url, headers=headers), stream=True
            )
        except _UNREACHABLE as exc:
            raise StorageUnavailable from exc
        if response.status_code in (200, 206, 304, 416):
            passed = {
                name: response.headers[name]
                for name in PASSED_RESPONSE_HEADERS
                if name in response.headers
            }
            return ObjectStream(response.status_code, passed, response)
        await response.aclose()
        if response.status_code == 404:
            raise ItemNotFound  # deleted between the link and the read
        log.warning("S3 answered %d to a presigned GET", response.status_code)
        raise StorageUnavailable

    async def send_parts(
        self, body: AsyncIterator[bytes], part_size: int, sign: PartSigner
    ) -> list[CompletedPart]:
        """Cut `body` into parts of `part_size` and PUT each to its presigned URL.

        One part is sent while the next fills, so at most two parts are held: memory stays
        bounded whatever the file's size, and reading the visitor overlaps writing to S3.
        """
        parts: list[CompletedPart] = []
        urls: dict[int, str] = {}
        sending: asyncio.Task[CompletedPart] | None = None
        buffer = bytearray()
        number = 0

        async def flush(data: bytes) -> None:
            nonlocal sending, number
            number += 1
            if number not in urls:
                urls.update(await sign(list(range(number, number + SIGN_AHEAD))))
            if sending is not None:
                parts.append(await sending)
            sending = asyncio.ensure_future(self._put_part(urls.pop(number), number, data))

        try:
            async for chunk in body:
                buffer += chunk
                while len(buffer) >= part_size:
                    with memoryview(buffer) as view:  # one copy of the part, not two
                        part = bytes(view[:part_size])
                    del buffer[:part_size]
                    await flush(part)
            if buffer or number == 0:
                await flush(bytes(buffer))
            if sending is not None:
                parts.append(await sending)
                sending = None
        finally:
            if sending is not None and not sending.done():
                sending.cancel()
        return parts

    async def pass_part(
        self, url: str, number: int, body: AsyncIterator[bytes], length: int
    ) -> CompletedPart:
        """PUT one part as it arrives from the visitor (the upload script in `proxy` mode),
        chunk by chunk: web holds no more than a chunk of it. S3 needs the length up front
        (no chunked PUT), so the visitor's own Content-Length goes on with it."""
        return await self._put_part(url, number, body, headers={"Content-Length": str(length)})

    async def _put_part(
        self,
        url: str,
        number: int,
        data: bytes | AsyncIterator[bytes],
        headers: Mapping[str, str] | None = None,
    ) -> CompletedPart:
        try:
            response = await self._http.put(url, content=data, headers=headers)
        except _UNREACHABLE as exc:
            raise StorageUnavailable from exc
        if response.status_code == 404:
            raise ItemNotFound  # the upload was aborted meanwhile (delete all, its deadline)
        if response.status_code != 200 or not response.headers.get("etag"):
            log.warning("S3 answered %d to part %d", response.status_code, number)
            raise StorageUnavailable
        return CompletedPart(part_number=number, etag=response.headers["etag"].strip('"'))


#: part URLs asked for at once: one storage-api call per this many parts
SIGN_AHEAD = 16
