"""web behind nginx as an ingress would put it (Debian's nginx, `client_max_body_size 100m`):
one request over the limit is nginx's 413 with web's page explaining it, and the same file
goes through in parts, each part a request below the limit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from s3tasks_testkit.balancer import Balancer, nginx_available, nginx_ingress
from s3tasks_testkit.stack import Stack
from s3tasks_testkit.web_visitor import WebVisitor

MIB = 1024 * 1024
#: over the ingress's 100 MB (nginx's `100m` is 100 MiB)
OVER_THE_LIMIT = 150 * 1000 * 1000
BOUNDARY = "s3tasks-ingress-test-boundary"


@pytest.fixture(scope="module")
def ingress(web_stack: Stack) -> Iterator[Balancer]:
    if not nginx_available():
        pytest.fail("nginx is not installed: `make install` installs it (Debian's nginx)")
    assert web_stack.web is not None
    port = urlsplit(web_stack.web.url).port
    assert port is not None
    with nginx_ingress(port, web_stack.config.log_dir / "ingress") as balancer:
        yield balancer


@pytest.fixture
def visitor_via_ingress(ingress: Balancer) -> Iterator[WebVisitor]:
    with WebVisitor(ingress.urls["web"], timeout=300) as visitor:
        yield visitor


_FORM_HEAD = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="file"; filename="huge.bin"\r\n'
    "Content-Type: application/octet-stream\r\n\r\n"
).encode()
_FORM_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def _form(size: int) -> Iterator[bytes]:
    """A form with a `size`-byte file, made as it is sent (never whole in memory)."""
    yield _FORM_HEAD
    chunk = b"\0" * MIB
    for sent in range(0, size, len(chunk)):
        yield chunk[: size - sent]
    yield _FORM_TAIL


def test_one_request_over_the_ingress_limit_is_its_413_with_a_page_that_explains(
    visitor_via_ingress: WebVisitor, web_stack: Stack, ingress: Balancer
) -> None:
    visitor = visitor_via_ingress
    token = visitor.csrf_token()
    response = visitor.http.post(
        "/files/upload",
        params={"csrf": token},
        content=_form(OVER_THE_LIMIT),
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(_FORM_HEAD) + OVER_THE_LIMIT + len(_FORM_TAIL)),
        },
    )
    assert response.status_code == 413
    # the ingress refused it, before web saw a byte of it (its operator's log says so)
    errors = (ingress.access_log.parent / "nginx-error.log").read_text()
    assert "client intended to send too large body" in errors
    assert response.headers["content-type"].startswith("text/html")
    assert "Too large for one request" in response.text
    assert "sends large files in parts" in response.text
    assert "My Files" in response.text  # the site's own page, with its way back
    assert visitor.latest_file_id() is None


def test_a_file_over_the_ingress_limit_goes_through_in_parts(
    visitor_via_ingress: WebVisitor,
) -> None:
    content = hashlib.sha256(b"ingress").digest() * (110 * MIB // 32)
    done = visitor_via_ingress.upload_in_parts("file", "parts.bin", content)
    assert done.json()["ok"], done.text
    item_id = visitor_via_ingress.latest_file_id()
    assert item_id is not None
    downloaded = visitor_via_ingress.get(f"/files/{item_id}/download")
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).digest() == hashlib.sha256(content).digest()


def test_a_form_within_the_limit_still_posts_through_the_ingress(
    visitor_via_ingress: WebVisitor,
) -> None:
    response = visitor_via_ingress.upload("file", "small.txt", b"small", script=False)
    assert response.status_code == 303
    assert ("success", "Uploaded small.txt (5 bytes).") in visitor_via_ingress.flashes("/files")
