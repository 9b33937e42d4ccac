"""web's front nginx (`s3tasks_web.transfers.front`) carries proxy-mode downloads: web names
the presigned GET in an X-Accel-Redirect and no byte passes through Python, yet the visitor
gets what web's own relay answers, header for header, Range and the site's 416 included.

One storage-api, two webs on it: one behind its front (the stack's, as deployed) and one
alone relaying in Python (WEB_ACCEL_REDIRECT off), the same visitor on both (one secret key).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import httpx
import psutil
import pytest

from s3tasks_testkit.memory import PeakRss
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, wait_until
from s3tasks_testkit.stack import Dependencies, Stack, isolated_config, service_process
from s3tasks_testkit.web_visitor import WebVisitor

from .conftest import api_and_web

#: the relay's and the front's answers differ only in these: when and for which request,
#: and how the connection to the client goes on
_PER_ANSWER = {"date", "x-request-id", "connection", "keep-alive", "server"}
FILE_BYTES = 3 * 1024 * 1024 + 17
BIG_BYTES = 48 * 1024 * 1024
MAX_GROWTH_MIB = 16
DOWNLOADS = "s3tasks_web_downloads_total"


@pytest.fixture(scope="module")
def fronted(dependencies: Dependencies) -> Iterator[Stack]:
    with (
        isolated_config(dependencies, "web-test_front", transfer_mode="proxy") as config,
        api_and_web(config) as stack,
    ):
        assert stack.front is not None, "the stack's web stands behind its front"
        yield stack


@pytest.fixture(scope="module")
def relaying_web(fronted: Stack) -> Iterator[ServiceProcess]:
    """A second web on the same storage-api, alone, relaying downloads in Python."""
    assert fronted.storage_api is not None
    web = service_process(
        fronted.config,
        "web",
        fronted.storage_api.url,
        name="web-relaying",
        sock=bind_loopback(),
        metrics_sock=bind_loopback(),
        env={"WEB_ACCEL_REDIRECT": "false"},
    ).start()
    try:
        yield web
    finally:
        web.stop()
        for sock in (web.sock, web.metrics_sock):
            if sock is not None:
                sock.close()


@pytest.fixture
def owner(fronted: Stack) -> Iterator[WebVisitor]:
    assert fronted.web is not None
    with WebVisitor(fronted.web.url) as visitor:
        yield visitor


def _stored_file(owner: WebVisitor, data: bytes, name: str = "notes.txt") -> str:
    owner.page("/files")
    assert owner.upload("file", name, data, description="via the front").json()["ok"]
    item_id = owner.latest_file_id()
    assert item_id is not None
    return item_id


def _same_visitor(owner: WebVisitor, url: str) -> httpx.Client:
    return httpx.Client(base_url=url, cookies=owner.http.cookies, timeout=60)


def _headers(response: httpx.Response) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        if name.lower() not in _PER_ANSWER:
            seen.setdefault(name.lower(), []).append(value)
    return seen


def _via(stack: Stack) -> dict[str, float]:
    assert stack.web is not None
    page = scrape(stack.web.metrics_url)
    return {via: page.value(DOWNLOADS, via=via) for via in ("front", "web")}


@pytest.mark.parametrize(
    ("range_header", "status"),
    [(None, 200), ("bytes=5-99", 206), ("bytes=-10", 206), ("bytes=0-", 206)],
)
def test_the_front_answers_a_download_as_webs_relay_does(
    fronted: Stack,
    relaying_web: ServiceProcess,
    owner: WebVisitor,
    range_header: str | None,
    status: int,
) -> None:
    data = bytes(range(256)) * 1000
    item_id = _stored_file(owner, data)
    path = f"/files/{item_id}/download"
    headers = {"range": range_header} if range_header else {}
    before = _via(fronted)

    with _same_visitor(owner, relaying_web.url) as alone:
        relayed = alone.get(path, headers=headers)
    through_front = owner.http.get(path, headers=headers)

    assert relayed.status_code == status, relayed.text[:300]
    assert through_front.status_code == status, through_front.text[:300]
    assert through_front.content == relayed.content
    assert _headers(through_front) == _headers(relayed)
    # the front carried the bytes: web answered with a redirect, relayed nothing
    after = _via(fronted)
    assert after["front"] == before["front"] + 1
    assert after["web"] == before["web"]


def test_a_range_past_the_end_is_the_sites_416_through_the_front(
    fronted: Stack, relaying_web: ServiceProcess, owner: WebVisitor
) -> None:
    data = b"twelve bytes"
    item_id = _stored_file(owner, data)
    path = f"/files/{item_id}/download"
    headers = {"range": f"bytes={len(data)}-"}

    with _same_visitor(owner, relaying_web.url) as alone:
        relayed = alone.get(path, headers=headers)
    through_front = owner.http.get(path, headers=headers)

    for answer in (relayed, through_front):
        assert answer.status_code == 416
        assert answer.headers["content-range"] == f"bytes */{len(data)}"
        assert "starts beyond the end of the file" in answer.text
    assert _headers(through_front) == _headers(relayed)


def test_a_deleted_item_is_the_sites_404_through_the_front(
    fronted: Stack, owner: WebVisitor
) -> None:
    """S3 answers the front 404 for an object gone after storage-api signed for it: web's
    own page, handed back to web (here: a link whose object went behind storage-api's back)."""
    item_id = _stored_file(owner, b"soon gone")
    config = fronted.config
    s3 = config.s3.client()
    for key in [o.object_name for o in s3.list_objects(config.bucket, recursive=True)]:
        if key is not None and item_id in key:
            s3.remove_object(config.bucket, key)

    answer = owner.http.get(f"/files/{item_id}/download")

    assert answer.status_code == 404
    assert "text/html" in answer.headers["content-type"]
    assert "x-accel-redirect" not in answer.headers


def test_a_client_cannot_make_web_relay_through_the_front(
    fronted: Stack, owner: WebVisitor
) -> None:
    """The header by which the front hands a request back to web is the front's own: a
    client's copy is dropped, and the download still goes out by the front."""
    item_id = _stored_file(owner, b"x" * 1000)
    before = _via(fronted)

    answer = owner.http.get(f"/files/{item_id}/download", headers={"x-s3tasks-accel-failed": "416"})

    assert answer.status_code == 200
    assert answer.content == b"x" * 1000
    after = _via(fronted)
    assert (after["front"], after["web"]) == (before["front"] + 1, before["web"])


def test_a_large_download_through_the_front_leaves_webs_memory_alone(
    fronted: Stack, owner: WebVisitor
) -> None:
    """web's memory stays where it was while the front carries the bytes (web's own relay
    holds a few pieces of 256 KiB; the front, none of it in web)."""
    assert fronted.web is not None
    data = hashlib.sha256(b"front").digest() * (BIG_BYTES // 32)
    item_id = _stored_file(owner, data, "big.bin")
    received = hashlib.sha256()
    with (
        PeakRss({"web": fronted.web.pid}) as rss,
        owner.http.stream("GET", f"/files/{item_id}/download", timeout=300) as answer,
    ):
        assert answer.status_code == 200
        for piece in answer.iter_bytes():
            received.update(piece)
    assert received.hexdigest() == hashlib.sha256(data).hexdigest()
    assert rss.growth_mib("web") < MAX_GROWTH_MIB


def test_the_front_finishes_a_download_in_flight_when_told_to_quit(
    dependencies: Dependencies,
) -> None:
    """SIGQUIT (the chart's preStop, compose's stop signal): nginx stops taking requests and
    finishes what it carries, so a rolling restart cuts no download the front had begun."""
    with (
        isolated_config(dependencies, "web-test_front-drain") as config,
        api_and_web(config) as stack,
        WebVisitor(stack.web.url if stack.web else "") as owner,
    ):
        assert stack.front is not None
        data = hashlib.sha256(b"drain").digest() * (BIG_BYTES // 32)
        item_id = _stored_file(owner, data, "big.bin")
        received = hashlib.sha256()
        front = stack.front
        front_pid = front.pid
        with owner.http.stream("GET", f"/files/{item_id}/download", timeout=300) as answer:
            assert answer.status_code == 200
            pieces = answer.iter_bytes()
            received.update(next(pieces))
            quitting = threading.Thread(target=front.stop, kwargs={"grace": 120.0})
            quitting.start()
            # nginx names a worker that finishes its requests before it exits so: the rest of
            # the download is read while the front is quitting
            wait_until(
                lambda: _shutting_down(front_pid),
                timeout=patience(starts=1),
                message="the front's worker to shut down gracefully",
            )
            for piece in pieces:
                received.update(piece)
        quitting.join()
        assert received.hexdigest() == hashlib.sha256(data).hexdigest()
        assert front.exit_code == 0


def _shutting_down(pid: int) -> bool:
    try:
        workers = psutil.Process(pid).children()
        return any("shutting down" in " ".join(w.cmdline()) for w in workers)
    except psutil.NoSuchProcess:
        return False
