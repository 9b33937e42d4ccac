"""ObjectClient: web's own hop to S3, on URLs storage-api signed (`proxy` mode).

No credential of ours travels here: each URL carries its signature, for one object or one part,
for a few minutes. The client is apart from storage-api's so that its bearer token can never
reach S3.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from s3tasks_contracts import CompletedPart
from s3tasks_web.errors import ItemNotFound, StorageUnavailable, UploadRejected
from s3tasks_web.outbound import pooled_session
from s3tasks_web.settings import WebSettings

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


def build_object_http_client(settings: WebSettings) -> aiohttp.ClientSession:
    """A pooled session for S3's presigned URLs: bytes pass as S3 sent them (no
    decompression), read in pieces of READ_BYTES; URLs go as signed (`URL(..., encoded=True)`:
    yarl must not requote what the signature covers)."""
    return pooled_session(settings, {}, auto_decompress=False, read_bufsize=READ_BYTES)


@dataclass
class ObjectStream:
    """An open GET of an object; iterate `chunks` once, then `aclose`."""

    status_code: int
    headers: dict[str, str]
    response: aiohttp.ClientResponse

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await self._read():
                yield chunk
        finally:
            self.response.release()

    async def _read(self) -> bytes:
        try:
            return await self.response.content.read(READ_BYTES)
        except _UNREACHABLE as exc:
            raise StorageUnavailable from exc

    async def aclose(self) -> None:
        self.response.release()


#: What a request to S3 may raise when S3 cannot be reached, drops the connection or is slow.
_UNREACHABLE = (aiohttp.ClientError, asyncio.TimeoutError)

#: asks storage-api for the presigned URLs of some part numbers
PartSigner = Callable[[list[int]], Awaitable[dict[int, str]]]


class ObjectClient:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self._http = http

    async def open(self, url: str, request_headers: Mapping[str, str]) -> ObjectStream:
        headers = {
            name: value
            for name, value in request_headers.items()
            if name.lower() in PASSED_REQUEST_HEADERS
        }
        try:
            response = await self._http.get(URL(url, encoded=True), headers=headers)
        except _UNREACHABLE as exc:
            raise StorageUnavailable from exc
        if response.status in (200, 206, 304, 416):
            passed = {
                name: response.headers[name]
                for name in PASSED_RESPONSE_HEADERS
                if name in response.headers
            }
            return ObjectStream(response.status, passed, response)
        response.release()
        if response.status == 404:
            raise ItemNotFound  # deleted between the link and the read
        log.warning("S3 answered %d to a presigned GET", response.status)
        raise StorageUnavailable

    async def size_of(self, url: str) -> int:
        """The object's size, from the `Content-Range` of its first byte: S3 says nothing of
        it in a 416 (a presigned GET cannot be sent as a HEAD)."""
        try:
            async with self._http.get(
                URL(url, encoded=True), headers={"range": "bytes=0-0"}
            ) as response:
                await response.read()
        except _UNREACHABLE as exc:
            raise StorageUnavailable from exc
        if response.status == 416:
            return 0  # an empty object has no first byte
        total = response.headers.get("content-range", "").rpartition("/")[2]
        if response.status != 206 or not total.isdigit():
            log.warning("S3 answered %d to the first byte of an object", response.status)
            raise StorageUnavailable
        return int(total)

    async def send_parts(
        self, body: AsyncIterator[bytes], part_size: int, sign: PartSigner
    ) -> list[CompletedPart]:
        """Cut `body` into parts of `part_size` and PUT each to its presigned URL.

        Up to PARTS_IN_FLIGHT parts are sent while the next fills, so at most one more part
        than that is held: memory stays bounded whatever the file's size, reading the visitor
        overlaps writing to S3, and one part's round trip to S3 does not hold up the next.
        """
        parts: list[CompletedPart] = []
        urls: dict[int, str] = {}
        sending: deque[asyncio.Task[CompletedPart]] = deque()
        buffer = bytearray()
        number = 0

        async def flush(data: bytes) -> None:
            nonlocal number
            number += 1
            if number not in urls:
                urls.update(await sign(list(range(number, number + SIGN_AHEAD))))
            if len(sending) == PARTS_IN_FLIGHT:
                parts.append(await sending.popleft())
            sending.append(asyncio.ensure_future(self._put_part(urls.pop(number), number, data)))

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
            while sending:
                parts.append(await sending.popleft())
        finally:
            for task in sending:  # a failure ends the upload: the parts still under way go
                if task.done() and not task.cancelled():
                    task.exception()  # already failed too: retrieved, not logged as lost
                task.cancel()
        return parts

    async def pass_part(
        self, url: str, number: int, body: AsyncIterator[bytes], length: int
    ) -> CompletedPart:
        """PUT one part as it arrives from the visitor (the upload script in `proxy` mode),
        chunk by chunk: web holds no more than a chunk of it. S3 needs the length up front
        (no chunked PUT), so the visitor's own Content-Length goes on with it."""
        sender = _Sender(body, length)
        try:
            return await self._put_part(
                url, number, sender.chunks(), headers={"Content-Length": str(length)}
            )
        except StorageUnavailable:
            # aiohttp reports a failing body as a failed connection: if it was the visitor's
            # side (too slow, gone, short of its length), say that, not "storage unavailable"
            if sender.failure is not None:
                raise sender.failure from None
            raise

    async def _put_part(
        self,
        url: str,
        number: int,
        data: bytes | AsyncIterator[bytes],
        headers: Mapping[str, str] | None = None,
    ) -> CompletedPart:
        try:
            async with self._http.put(
                URL(url, encoded=True), data=data, headers=headers
            ) as response:
                status, etag = response.status, response.headers.get("etag", "")
                await response.read()  # S3's answer in full: the connection goes back clean
        except _UNREACHABLE as exc:
            raise StorageUnavailable from exc
        if status == 404:
            raise ItemNotFound  # the upload was aborted meanwhile (delete all, its deadline)
        if status != 200 or not etag:
            log.warning("S3 answered %d to part %d", status, number)
            raise StorageUnavailable
        return CompletedPart(part_number=number, etag=etag.strip('"'))


#: part URLs asked for at once: one storage-api call per this many parts
SIGN_AHEAD = 16
#: part PUTs of one upload under way at a time (web's form in `proxy` mode); each holds its
#: part (8 MiB by default) until S3 answers
PARTS_IN_FLIGHT = 2


class _Sender:
    """The visitor's part body as aiohttp sends it: exactly `length` bytes, and the visitor's
    own failure kept aside (aiohttp wraps whatever the body raises as a connection error)."""

    def __init__(self, body: AsyncIterator[bytes], length: int) -> None:
        self._body = body
        self._length = length
        self.failure: Exception | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for chunk in self._body:
                sent += len(chunk)
                yield chunk
        except Exception as exc:
            self.failure = exc
            raise
        if sent != self._length:
            self.failure = UploadRejected(400, "The part's body did not match its length.")
            raise self.failure
