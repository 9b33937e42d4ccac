"""Limits per visitor and per client, through two web replicas sharing one storage-api and Redis.

Each test is a client of its own: web trusts X-Forwarded-For from loopback here (as it would
from an ingress), so a test names its client's address and its counts start at nothing. Every
limit is tried at the limit and one past it, by one visitor and by several behind one
address, half of the requests through each web replica: the limit holds in total, not per
replica. A refusal stores nothing (bucket and table) and is counted by its reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from minio import Minio

from s3tasks_testkit import backing_services, database
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.processes import ServiceProcess, bind_loopback
from s3tasks_testkit.stack import (
    Dependencies,
    Stack,
    isolated_config,
    running_stack,
    service_process,
)
from s3tasks_testkit.web_visitor import WebVisitor

SESSIONS_PER_CLIENT = 4
UPLOADS_PER_CLIENT = 6
UPLOADS_PER_VISITOR = 4
STORED_BYTES_PER_VISITOR = 3000
SHARE_LINKS_PER_CLIENT = 3

_clients = (f"198.51.100.{n}" for n in itertools.count(1))


@dataclass
class Limited:
    stack: Stack
    second_web: ServiceProcess
    s3: Minio

    @property
    def webs(self) -> tuple[str, str]:
        assert self.stack.web is not None
        return self.stack.web.url, self.second_web.url

    @property
    def api_url(self) -> str:
        assert self.stack.storage_api is not None
        return self.stack.storage_api.url

    def visitor(self, client: str, replica: int = 0) -> WebVisitor:
        v = WebVisitor(self.webs[replica % 2])
        v.http.headers["X-Forwarded-For"] = f"203.0.113.99, {client}"  # the proxy's is last
        return v

    def same_visitor_on_other_replica(self, v: WebVisitor) -> WebVisitor:
        """The same browser (its cookie) on the other web replica."""
        if v.session_cookie is None:
            v.page("/files")
        other = WebVisitor(self.webs[1] if v.base_url == self.webs[0] else self.webs[0])
        other.http.headers.update(v.http.headers)
        other.http.cookies = v.http.cookies
        return other

    def refused(self, reason: str) -> float:
        return scrape(self.api_url).value("s3tasks_rate_limited_total", reason=reason)

    def stored(self) -> tuple[int, int]:
        """(rows, objects) in the table and the bucket."""
        rows = database.one(self.stack.config.database_url, "SELECT count(*) FROM items")
        keys = backing_services.object_keys(self.s3, self.stack.config.bucket)
        return int(rows), len(keys)


@pytest.fixture(scope="module")
def limited(dependencies: Dependencies) -> Iterator[Limited]:
    with (
        isolated_config(
            dependencies,
            "limits",
            extra_env={
                "STORAGE_API_RATE_LIMIT_SESSIONS_PER_CLIENT": f"{SESSIONS_PER_CLIENT}/minute",
                "STORAGE_API_RATE_LIMIT_UPLOADS_PER_CLIENT": f"{UPLOADS_PER_CLIENT}/minute",
                "STORAGE_API_RATE_LIMIT_UPLOADS_PER_VISITOR": f"{UPLOADS_PER_VISITOR}/minute",
                "STORAGE_API_MAX_STORED_BYTES_PER_VISITOR": str(STORED_BYTES_PER_VISITOR),
                "STORAGE_API_RATE_LIMIT_SHARE_LINKS_PER_CLIENT": f"{SHARE_LINKS_PER_CLIENT}/minute",
                "WEB_CLIENT_ADDRESS_HEADER": "X-Forwarded-For",
                "WEB_TRUSTED_PROXIES": "127.0.0.0/8",
            },
        ) as config,
        running_stack(config) as stack,
    ):
        assert stack.storage_api is not None
        second = service_process(
            config,
            "web",
            stack.storage_api.url,
            name="web-2",
            sock=bind_loopback(),
            metrics_sock=bind_loopback(),
        )
        try:
            # started inside the try: one that does not become ready in time is stopped too
            second.start()
            yield Limited(stack, second, dependencies.s3.client())
        finally:
            second.stop()
            for sock in (second.sock, second.metrics_sock):
                if sock is not None:
                    sock.close()


def _refusal(v: WebVisitor, response: httpx.Response) -> tuple[int, str, int]:
    """(status, the words the visitor reads, Retry-After) of a refused upload, whether the
    answer is the script's JSON outcome (the words then are the page's flash) or a page."""
    retry_after = int(response.headers.get("retry-after", "0"))
    body = response.json()
    if "redirect" in body:
        flashes = [text for level, text in v.flashes(body["redirect"]) if level == "error"]
        return body["status"], " ".join(flashes), retry_after
    return body["status"], body["detail"], retry_after


def _upload(v: WebVisitor, size: int = 100) -> httpx.Response:
    return v.upload("file", "a.txt", b"x" * size)


def _ok(response: httpx.Response) -> bool:
    return bool(response.json().get("ok"))


def test_new_sessions_per_client_across_replicas(limited: Limited) -> None:
    client = next(_clients)
    before = limited.refused("sessions_per_client")
    visitors = [limited.visitor(client, n) for n in range(SESSIONS_PER_CLIENT + 1)]
    for v in visitors[:SESSIONS_PER_CLIENT]:
        v.page("/images")
        assert v.session_cookie is not None
    last = visitors[-1].http.get("/images")
    assert last.status_code == 429
    assert "Too many new visitors came from your address" in last.text
    assert 0 < int(last.headers["retry-after"]) <= 60
    assert "s3tasks_session" not in last.headers.get("set-cookie", "")
    assert limited.refused("sessions_per_client") == before + 1
    # those admitted keep their session; another address is not affected
    visitors[0].page("/files")
    other = limited.visitor(next(_clients), 1)
    other.page("/images")
    assert other.session_cookie is not None
    for v in (*visitors, other):
        v.close()


def test_uploads_per_visitor_across_replicas(limited: Limited) -> None:
    client = next(_clients)
    one = limited.visitor(client, 0)
    same = limited.same_visitor_on_other_replica(one)
    before = limited.refused("uploads_per_visitor")
    for n in range(UPLOADS_PER_VISITOR):
        assert _ok(_upload(one if n % 2 else same))
    stored = limited.stored()
    refused = _upload(one)
    status, words, retry_after = _refusal(one, refused)
    assert status == 429
    assert "You have started too many uploads in a short time" in words
    assert f"at most {UPLOADS_PER_VISITOR} per 1 minute" in words
    assert 0 < retry_after <= 60
    assert limited.stored() == stored
    assert limited.refused("uploads_per_visitor") == before + 1
    one.close()
    same.close()


def test_uploads_per_client_from_many_visitors(limited: Limited) -> None:
    client = next(_clients)
    visitors = [limited.visitor(client, n) for n in range(3)]
    before = limited.refused("uploads_per_client")
    for v in itertools.islice(itertools.cycle(visitors), UPLOADS_PER_CLIENT):
        assert _ok(_upload(v))
    stored = limited.stored()
    last = limited.same_visitor_on_other_replica(visitors[0])
    status, words, retry_after = _refusal(last, _upload(last))
    assert status == 429
    assert "Too many uploads came from your address" in words
    assert 0 < retry_after <= 60
    assert limited.stored() == stored
    assert limited.refused("uploads_per_client") == before + 1
    for v in (*visitors, last):
        v.close()


def test_bytes_stored_per_visitor(limited: Limited) -> None:
    one = limited.visitor(next(_clients), 0)
    same = limited.same_visitor_on_other_replica(one)
    before = limited.refused("stored_bytes_per_visitor")
    # at the quota exactly: three of a third each
    for v in (one, same, one):
        assert _ok(_upload(v, STORED_BYTES_PER_VISITOR // 3))
    stored = limited.stored()
    status, words, retry_after = _refusal(same, _upload(same, 1))
    assert status == 409
    assert "one visitor may store at most" in words
    assert "when your oldest one expires" in words
    assert 0 < retry_after <= limited.stack.config.file_ttl_seconds
    assert limited.stored() == stored
    assert limited.refused("stored_bytes_per_visitor") == before + 1
    # another visitor of the same address has a quota of its own
    other = limited.visitor(one.http.headers["X-Forwarded-For"].rpartition(", ")[2], 1)
    assert _ok(_upload(other, STORED_BYTES_PER_VISITOR))
    for v in (one, same, other):
        v.close()


def test_share_links_per_client_from_many_visitors(limited: Limited) -> None:
    client = next(_clients)
    visitors = [limited.visitor(client, n) for n in range(2)]
    items = []
    for v in visitors:
        assert _ok(_upload(v))
        items.append(v.latest_file_id())
    before = limited.refused("share_links_per_client")

    def share(n: int) -> httpx.Response:
        v = visitors[n % 2]
        return v.http.post(
            f"/files/{items[n % 2]}/shares",
            params={"csrf": v.csrf_token()},
            data={"password": "a password of theirs"},
        )

    for n in range(SHARE_LINKS_PER_CLIENT):
        assert share(n).status_code == 303
        assert visitors[n % 2].flashes("/files")[0][0] == "success"
    links = [len(v.share_paths_in(v.page("/files"))) for v in visitors]
    assert sum(links) == SHARE_LINKS_PER_CLIENT
    assert share(SHARE_LINKS_PER_CLIENT).status_code == 303  # back to the page, told why
    ((level, words),) = visitors[SHARE_LINKS_PER_CLIENT % 2].flashes("/files")
    assert level == "error"
    assert "Too many share links from your address" in words
    assert [len(v.share_paths_in(v.page("/files"))) for v in visitors] == links
    assert limited.refused("share_links_per_client") == before + 1
    # another address shares at once
    other = limited.visitor(next(_clients), 1)
    assert _ok(_upload(other))
    shared = other.http.post(
        f"/files/{other.latest_file_id()}/shares", params={"csrf": other.csrf_token()}, data={}
    )
    assert shared.status_code == 303
    assert len(other.share_paths_in(other.page("/files"))) == 1
    for v in (*visitors, other):
        v.close()
