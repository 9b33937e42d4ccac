"""200 MB through web, up and down, while web's memory stays flat."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator

import psutil
import pytest

from s3tasks_testkit.stack import Stack

from .conftest import Visitor, png_bytes

UPLOAD_BYTES = 200 * 1024 * 1024
CHUNK = b"s3tasks!" * (64 * 1024 // 8)
MAX_GROWTH_BYTES = 64 * 1024 * 1024
BOUNDARY = "s3tasks-memory-test-boundary"


class PeakRss:
    """Samples a process's resident memory in a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def multipart_body(size: int, digest: hashlib._Hash) -> Iterator[bytes]:
    """A form with a description and a `size`-byte file, produced lazily (never in memory)."""
    yield (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="description"\r\n\r\n'
        "two hundred megabytes\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    sent = 0
    while sent < size:
        chunk = CHUNK[: size - sent]
        digest.update(chunk)
        sent += len(chunk)
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.mark.slow
def test_200_mb_streams_through_web_in_bounded_memory(web_stack: Stack, visitor: Visitor) -> None:
    assert web_stack.web is not None
    # Warm up: the first request imports templates and opens pooled connections.
    assert visitor.upload("image", "warm.png", png_bytes()).status_code == 303
    visitor.page("/files")
    token = visitor.csrf_token("/files")

    sent_digest = hashlib.sha256()
    with PeakRss(web_stack.web.pid) as upload_rss:
        response = visitor.http.post(
            "/files/upload",
            params={"csrf": token},
            content=multipart_body(UPLOAD_BYTES, sent_digest),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            timeout=300,
        )
    assert response.status_code == 303
    html = visitor.page("/files")
    assert "Uploaded big.bin" in html
    assert "two hundred megabytes" in html
    print(f"web RSS growth during 200 MB upload: {upload_rss.growth / 2**20:.1f} MiB")
    assert upload_rss.growth < MAX_GROWTH_BYTES

    link = re.search(r'href="(/files/[0-9a-f-]+/download)"', html)
    assert link is not None
    received_digest = hashlib.sha256()
    received = 0
    with (
        PeakRss(web_stack.web.pid) as download_rss,
        visitor.http.stream("GET", link.group(1), timeout=300) as download,
    ):
        assert download.status_code == 200
        for chunk in download.iter_raw():
            received += len(chunk)
            received_digest.update(chunk)
    print(f"web RSS growth during 200 MB download: {download_rss.growth / 2**20:.1f} MiB")
    assert received == UPLOAD_BYTES
    assert received_digest.hexdigest() == sent_digest.hexdigest()
    assert download_rss.growth < MAX_GROWTH_BYTES
