"""200 MB through web, up and down, while web's memory stays flat."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest

from s3tasks_testkit.images import png
from s3tasks_testkit.memory import PeakRss
from s3tasks_testkit.stack import Stack
from s3tasks_testkit.web_visitor import WebVisitor

UPLOAD_BYTES = 200 * 1024 * 1024
CHUNK = b"s3tasks!" * (64 * 1024 // 8)
MAX_GROWTH_MIB = 64
BOUNDARY = "s3tasks-memory-test-boundary"


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
def test_200_mb_streams_through_web_in_bounded_memory(
    web_stack: Stack, visitor: WebVisitor
) -> None:
    assert web_stack.web is not None
    # Warm up: the first request imports templates and opens pooled connections.
    assert visitor.upload("image", "warm.png", png(), script=False).status_code == 303
    visitor.page("/files")
    token = visitor.csrf_token()

    sent_digest = hashlib.sha256()
    with PeakRss({"web": web_stack.web.pid}) as upload_rss:
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
    upload_growth = upload_rss.growth_mib("web")
    print(f"web RSS growth during 200 MB upload: {upload_growth:.1f} MiB")
    assert upload_growth < MAX_GROWTH_MIB

    link = re.search(r'href="(/files/[0-9a-f-]+/download)"', html)
    assert link is not None
    received_digest = hashlib.sha256()
    received = 0
    with (
        PeakRss({"web": web_stack.web.pid}) as download_rss,
        visitor.http.stream("GET", link.group(1), timeout=300) as download,
    ):
        assert download.status_code == 200
        for chunk in download.iter_raw():
            received += len(chunk)
            received_digest.update(chunk)
    download_growth = download_rss.growth_mib("web")
    print(f"web RSS growth during 200 MB download: {download_growth:.1f} MiB")
    assert received == UPLOAD_BYTES
    assert received_digest.hexdigest() == sent_digest.hexdigest()
    assert download_growth < MAX_GROWTH_MIB
