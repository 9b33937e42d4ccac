"""The request body as a blocking, size-limited file object for a worker thread.

The ASGI body arrives as an async stream; the minio client and Pillow want a blocking
`read(n)`. Each read pulls a chunk from the event loop with `anyio.from_thread.run`, so
this reader holds at most one chunk; the minio client holds one part.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio.from_thread

from s3tasks_servicekit.sizes import human_size
from s3tasks_storage_api.errors import InvalidInput, TooLarge


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
        """`size` bytes (fewer only at the end of the body; b"" then).

        Filling `size` here matters: the minio client asks for a whole part (8 MiB) and
        appends what each read returns to an immutable `bytes`, so returning one ASGI chunk
        (~64 KiB) at a time made it copy each part about a hundred times over. Callers ask
        for bounded sizes (a part, or `_copy`'s 1 MiB), so this buffer stays bounded too.
        """
        while (size < 0 or len(self._buffer) < size) and not self._eof:
            self._pull()
        if size < 0 or size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        with memoryview(self._buffer) as view:
            data = bytes(view[:size])
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
            raise TooLarge(f"The {self._what} is larger than {human_size(self._limit)}.")
        self._buffer += chunk


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None
