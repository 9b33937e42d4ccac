"""The pure parts: the streamed multipart reader, the signed session, time and size wording."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network, ip_network
from typing import Any
from uuid import uuid4

import pytest
from litestar import Request

from s3tasks_contracts import ItemKind, ListedItem, ProblemType
from s3tasks_testkit import aio
from s3tasks_web.errors import StorageRefused, UploadRejected
from s3tasks_web.http.client_address import ClientAddresses, IPNetwork
from s3tasks_web.http.share_paths import loggable_path
from s3tasks_web.pages.qr import QR_CACHE_SIZE, qr_svg
from s3tasks_web.pages.views import deleted_after, human_duration, item_view
from s3tasks_web.settings import WebSettings
from s3tasks_web.storage_api_client import _raise_for_problem
from s3tasks_web.transfers.pacing import paced
from s3tasks_web.uploads.multipart_stream import MultipartStream
from s3tasks_web.visitors.csrf import CsrfTokens
from s3tasks_web.visitors.session import SessionCodec, VisitorSession

BOUNDARY = "----s3tasksboundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def form_body(description: str, filename: str, content: bytes) -> bytes:
    return (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="description"\r\n\r\n'
            f"{description}\r\n"
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_form(body: bytes, chunk_size: int) -> tuple[dict[str, str], str, bytes]:
    form = MultipartStream(CONTENT_TYPE, chunks_of(body, chunk_size), max_field_bytes=1000)
    head = await form.read_until_file("file")
    content = b"".join([chunk async for chunk in form.file_chunks()])
    return head.fields, head.filename, content


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 100_000])
def test_multipart_is_read_across_any_chunk_boundaries(chunk_size: int) -> None:
    content = bytes(range(256)) * 20 + b"\r\n--not-the-boundary\r\n"
    body = form_body("a café description", "C:\\Users\\me\\photo.png", content)
    fields, filename, received = aio.run(read_form(body, chunk_size))
    assert fields == {"description": "a café description"}
    assert filename == "photo.png"
    assert received == content


def test_multipart_without_a_file_part_is_refused() -> None:
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="description"\r\n\r\nx\r\n'
        f"--{BOUNDARY}--\r\n"
    ).encode()
    with pytest.raises(UploadRejected, match="choose a file"):
        aio.run(read_form(body, 10))


def test_multipart_with_a_huge_field_is_refused() -> None:
    body = form_body("x" * 5000, "a.bin", b"data")
    with pytest.raises(UploadRejected, match="too long"):
        aio.run(read_form(body, 512))


def test_a_truncated_body_is_refused() -> None:
    body = form_body("d", "a.bin", b"data" * 100)[:-40]
    with pytest.raises(UploadRejected, match="not sent completely"):
        aio.run(read_form(body, 64))


def test_not_multipart_is_refused() -> None:
    with pytest.raises(UploadRejected):
        MultipartStream("application/json", chunks_of(b"{}", 2), max_field_bytes=10)


def test_session_round_trip_and_tampering() -> None:
    codec = SessionCodec("k" * 40)
    session = VisitorSession(visitor_id=uuid4().hex)
    session.flash("success", "Uploaded a.png")
    cookie = codec.encode(session)
    decoded = codec.decode(cookie)
    assert decoded is not None
    assert decoded.visitor_id == session.visitor_id
    assert [f.text for f in decoded.flashes] == ["Uploaded a.png"]
    payload, _, signature = cookie.partition(".")
    assert codec.decode(f"{payload}x.{signature}") is None
    flipped = "B" if signature[-1] == "A" else "A"
    assert codec.decode(f"{payload}.{signature[:-1]}{flipped}") is None
    assert codec.decode("garbage") is None
    assert SessionCodec("other" * 10).decode(cookie) is None


def test_csrf_token_is_bound_to_the_visitor() -> None:
    tokens = CsrfTokens("k" * 40)
    alice = VisitorSession(visitor_id=uuid4().hex)
    bob = VisitorSession(visitor_id=uuid4().hex)
    assert tokens.verify(alice, tokens.token_for(alice))
    assert not tokens.verify(bob, tokens.token_for(alice))
    assert not tokens.verify(alice, None)
    fresh = VisitorSession(visitor_id=alice.visitor_id, is_new=True)
    assert not tokens.verify(fresh, tokens.token_for(alice))


def test_time_left_and_sizes_in_words() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    item = ListedItem(
        id=uuid4(),
        kind=ItemKind.FILE,
        filename="a.txt",
        description="",
        content_type="text/plain",
        size_bytes=1536,
        etag="e",
        has_thumbnail=False,
        created_at=now,
        expires_at=now + timedelta(minutes=14, seconds=5),
    )
    view = item_view(item, server_time=now)
    assert view.time_left == "14 min 5 s left"
    assert view.size == "1.5 KiB"
    assert view.content_url.endswith("/download")
    assert human_duration(-3) == "deleting now"
    assert human_duration(3700) == "1 h 1 min left"
    assert deleted_after(900) == "15 minutes"
    assert deleted_after(30) == "30 seconds"


@pytest.mark.parametrize(
    ("problem", "shown"),
    [
        # storage-api's own wording, one of its refusal types: shown as it is
        (
            {"type": ProblemType.INVALID_INPUT, "title": "Invalid input", "status": 400,
             "detail": "The filename is empty or not usable."},
            "The filename is empty or not usable.",
        ),
        # a framework's validation text (URL, visitor id, parameters): never shown
        (
            {"type": "about:blank", "title": "Bad Request", "status": 400,
             "detail": "Validation failed for POST /v1/visitors/0123/items?kind=file&filename=LLL"},
            "That upload was not accepted: please check the file and the description.",
        ),
    ],
    ids=["user-safe", "developer-facing"],
)  # fmt: skip
def test_only_user_safe_problem_details_reach_a_visitor(
    problem: dict[str, object], shown: str
) -> None:
    with pytest.raises(StorageRefused) as refused:
        _raise_for_problem(400, json.dumps(problem).encode())
    assert refused.value.user_message == shown
    assert "/v1/" not in refused.value.user_message


def test_time_web_spends_on_storage_api_does_not_count_against_the_upload_rate() -> None:
    """The client's bytes are all there at once; web pauses longer than the whole grace period
    between chunks (storage-api or S3 being slow). That is not the client's slowness."""
    settings = WebSettings(
        upload_rate_grace_seconds=0.2,
        upload_min_bytes_per_second=1_000_000,
        upload_idle_timeout_seconds=30,
    )

    async def read_slowly() -> int:
        received = 0
        async for chunk in paced(chunks_of(b"x" * 4000, 1000), settings):
            received += len(chunk)
            await asyncio.sleep(settings.upload_rate_grace_seconds * 1.5)  # web is busy
        return received

    assert aio.run(read_slowly()) == 4000


def test_a_body_slower_than_the_minimum_rate_is_cut() -> None:
    settings = WebSettings(
        upload_rate_grace_seconds=0.05,
        upload_min_bytes_per_second=1_000_000,
        upload_idle_timeout_seconds=30,
    )

    async def trickle() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.01)  # the client: a byte at a time
            yield b"x"

    async def read() -> None:
        async for _ in paced(trickle(), settings):
            pass

    with pytest.raises(UploadRejected, match="too slow") as refused:
        aio.run(read())
    assert refused.value.status_code == 408
    assert refused.value.close_connection


def _connection(peer: str | None, forwarded: str | None) -> Request[Any, Any, Any]:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    client = None if peer is None else (peer, 40000)
    return Request({"type": "http", "client": client, "headers": headers})  # type: ignore[arg-type]


def test_the_client_address_comes_from_the_proxys_header_only_from_a_trusted_proxy() -> None:
    addresses = ClientAddresses("X-Forwarded-For", [IPv4Network("10.0.0.0/8")])
    # the proxy's own entry is the last: earlier ones are whatever the client wrote
    assert addresses.of(_connection("10.1.2.3", "6.6.6.6, 198.51.100.7")) == "198.51.100.7"
    # anyone else's header is ignored: a client cannot choose the address it is counted as
    assert addresses.of(_connection("192.0.2.9", "198.51.100.7")) == "192.0.2.9"
    # a trusted proxy that sends no usable address: the proxy's own
    assert addresses.of(_connection("10.1.2.3", "unknown")) == "10.1.2.3"
    assert addresses.of(_connection("10.1.2.3", None)) == "10.1.2.3"
    # no header configured: always the peer
    assert ClientAddresses("", []).of(_connection("10.1.2.3", "1.1.1.1")) == "10.1.2.3"


# -- share links: who the client is, and what the access log may write --------------------

PROXIES = [ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("203.0.113.7", None, PROXIES, "203.0.113.7"),
        # an untrusted peer is the client, whatever it says
        ("203.0.113.7", "198.51.100.1", PROXIES, "203.0.113.7"),
        ("203.0.113.7", "198.51.100.1", [], "203.0.113.7"),
        # behind the ingress: the rightmost hop that is not a proxy of ours
        ("127.0.0.1", "198.51.100.1", PROXIES, "198.51.100.1"),
        ("127.0.0.1", "198.51.100.1, 10.1.2.3", PROXIES, "198.51.100.1"),
        # what the client wrote itself lies to the left of the address the ingress saw
        ("127.0.0.1", "1.2.3.4, 198.51.100.1", PROXIES, "198.51.100.1"),
        ("127.0.0.1", "2001:db8::1", PROXIES, "2001:db8::1"),
        # a hop that is no address: the nearest proxy that named it is the client
        ("127.0.0.1", "garbage", PROXIES, "127.0.0.1"),
        ("127.0.0.1", "garbage, 10.1.2.3", PROXIES, "10.1.2.3"),
        # every hop a proxy of ours: the farthest one
        ("127.0.0.1", "10.9.9.9, 10.1.2.3", PROXIES, "10.9.9.9"),
        ("127.0.0.1", None, PROXIES, "127.0.0.1"),
        (None, None, PROXIES, "0.0.0.0"),  # noqa: S104 - no peer: one shared key
    ],
)
def test_the_client_address_trusts_only_the_operators_proxies(
    peer: str | None, forwarded: str | None, trusted: list[IPNetwork], client: str
) -> None:
    addresses = ClientAddresses("X-Forwarded-For", trusted)
    assert addresses.of(_connection(peer, forwarded)) == client


def test_trusted_proxies_are_read_as_a_comma_separated_list() -> None:
    settings = WebSettings(trusted_proxies="10.0.0.0/8, 127.0.0.1,::1")
    assert [str(network) for network in settings.trusted_proxies] == [
        "10.0.0.0/8",
        "127.0.0.1/32",
        "::1/128",
    ]


def test_a_share_links_token_never_reaches_the_access_log() -> None:
    token = "A" * 43
    prefix = hashlib.sha256(token.encode()).hexdigest()[:8]
    assert loggable_path(f"/s/{token}") == f"/s/~{prefix}"
    assert loggable_path(f"/s/{token}/download") == f"/s/~{prefix}/download"
    assert loggable_path("/files/abc/download") == "/files/abc/download"


@pytest.mark.parametrize("separator", ["%23", "#", "%2523"])
def test_a_key_that_arrives_in_the_path_never_reaches_the_access_log(separator: str) -> None:
    """A link scanner that rewrote '#' as '%23' sends the encryption key to the server: the
    log names the whole segment by its hash, key included."""
    key = "K" * 22
    logged = loggable_path(f"/s/{'A' * 43}{separator}{key}")
    assert key not in logged
    assert logged.startswith("/s/~")


def test_a_links_qr_code_is_made_once_and_kept() -> None:
    url = f"https://s3tasks.example/s/{'A' * 43}"
    first = qr_svg(url, "QR code of the link")
    hits = qr_svg.cache_info().hits
    assert qr_svg(url, "QR code of the link") is first
    assert qr_svg.cache_info().hits == hits + 1
    assert qr_svg.cache_info().maxsize == QR_CACHE_SIZE  # bounded: links come and go
