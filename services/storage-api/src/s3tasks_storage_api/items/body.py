"""The request body as a blocking, size-limited file object for a worker thread.

The ASGI body arrives as an async stream; the minio client and Pillow want a blocking
`read(n)`. Each read pulls a chunk from the event loop with `anyio.from_thread.run`, so
this reader holds at most one chunk; the minio client holds one part.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import anyio.from_thread

from s3tasks_storage_api.errors import InvalidInput, TooLarge


class ByteStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class UploadInterrupted(InvalidInput):
    pass


class BodyReader:
    def __init__(self, chunks: AsyncIterator[bytes], *, limit: int, what: str) -> None:
        self._chunks = chunks
        self._limit = limit
        self._what = what
        self._buffer = bytearray()
        self._eof = False
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes; like a raw stream it may return fewer (b"" only at the end).

        Returning what one chunk holds, instead of filling `size`, keeps a single chunk in
        memory here; callers (the minio client, `_copy`) loop until they have enough.
        """
        if size < 0:
            while not self._eof:
                self._pull()
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        while not self._buffer and not self._eof:
            self._pull()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _pull(self) -> None:
        try:
            chunk = anyio.from_thread.run(_next_chunk, self._chunks)
        except Exception as exc:
            raise UploadInterrupted("The upload was interrupted before it finished.") from exc
        if chunk is None:
            self._eof = True
            return
        self.bytes_read += len(chunk)
        if self.bytes_read > self._limit:
            raise TooLarge(f"The {self._what} is larger than {_human(self._limit)}.")
        self._buffer += chunk


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return (
                f"{value:.0f} {unit}"
                if unit == "bytes"
                else f"{value:.1f} {unit}".replace(".0 ", " ")
            )
        value /= 1024
    return f"{size} bytes"
