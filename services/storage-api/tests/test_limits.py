"""Limits for visitors at storage-api: the quota of bytes stays exact when a visitor's uploads
complete all at once, share grants and new sessions are limited per client, and every
refusal is counted by its reason. (Through web and two of its replicas:
tests/security/test_limits.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from s3tasks_testkit import database
from s3tasks_testkit.metrics import Growth
from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import Api, running_api

QUOTA = 3000
GRANTS_PER_CLIENT = 3
SESSIONS_PER_CLIENT = 2


@pytest.fixture(scope="module")
def api(dependencies: Dependencies) -> Iterator[Api]:
    if dependencies.s3.server == "moto":
        pytest.skip("POST policies are enforced by radosgw only")
    env = {
        "STORAGE_API_MAX_STORED_BYTES_PER_VISITOR": str(QUOTA),
        "STORAGE_API_RATE_LIMIT_SHARE_GRANTS_PER_CLIENT": f"{GRANTS_PER_CLIENT}/minute",
        "STORAGE_API_RATE_LIMIT_SESSIONS_PER_CLIENT": f"{SESSIONS_PER_CLIENT}/minute",
    }
    with running_api(dependencies, "test_limits", env) as api:
        yield api


def _sent(client: httpx.Client, visitor: str, size: int) -> dict[str, Any]:
    """A started direct upload whose bytes S3 holds, not yet completed."""
    start = client.post(
        f"/v1/visitors/{visitor}/uploads",
        json={"kind": "file", "filename": "a.bin", "via": "direct", "size_bytes": size},
    )
    assert start.status_code == 201, start.text
    ticket: dict[str, Any] = start.json()
    posted = httpx.post(
        ticket["post_url"],
        data=ticket["post_fields"],
        files={"file": ("a.bin", b"x" * size, "application/octet-stream")},
        timeout=60,
    )
    assert posted.is_success, posted.text
    return ticket


def _complete(client: httpx.Client, visitor: str, item_id: str) -> httpx.Response:
    return client.post(f"/v1/visitors/{visitor}/uploads/{item_id}/complete", json={"parts": []})


def test_the_quota_holds_when_a_visitors_uploads_complete_at_once(api: Api) -> None:
    visitor = uuid.uuid4().hex
    growth = Growth(api.url)
    with api.client() as client:
        # six of a third of the quota each: every one fits when it starts (nothing is stored)
        tickets = [_sent(client, visitor, QUOTA // 3) for _ in range(6)]
        with ThreadPoolExecutor(len(tickets)) as pool:
            answers = list(pool.map(lambda t: _complete(client, visitor, t["item_id"]), tickets))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 200, 200, 409, 409, 409], [a.text for a in answers]
        for refused in (a for a in answers if a.status_code == 409):
            assert "one visitor may store at most" in refused.json()["detail"]
            assert int(refused.headers["retry-after"]) > 0
        stored = api.rows("visitor_id = %s", visitor)
        assert [r["status"] for r in stored] == ["stored"] * 3
        assert sum(r["size_bytes"] for r in stored) == QUOTA
        # the refused ones left nothing in the bucket either
        sent = {f"objects/{t['item_id']}" for t in tickets}
        assert api.object_keys("objects/") & sent == {f"objects/{r['id']}" for r in stored}
        # the quota is full: the next one is refused when it starts, before any byte is sent
        open_before = api.open_multipart_uploads()
        full = client.post(
            f"/v1/visitors/{visitor}/uploads",
            json={"kind": "file", "filename": "b.bin", "via": "proxy"},
        )
        assert full.status_code == 409, full.text
        assert "Retry-After" in full.headers
        # checked with the row, after S3 began the multipart upload: that one is aborted
        assert api.open_multipart_uploads() == open_before
    assert growth.grew_now("s3tasks_rate_limited_total", reason="stored_bytes_per_visitor") == 4
    assert len(api.rows("visitor_id = %s", visitor)) == 3


def test_share_grants_are_limited_per_client(api: Api) -> None:
    visitor = uuid.uuid4().hex
    growth = Growth(api.url)
    with api.client() as client:
        ticket = _sent(client, visitor, 100)
        assert _complete(client, visitor, ticket["item_id"]).status_code == 200
        link = client.post(f"/v1/visitors/{visitor}/items/{ticket['item_id']}/shares", json={})
        assert link.status_code == 201, link.text
        token = link.json()["token"]

        def grant(who: str) -> httpx.Response:
            return client.post("/v1/shares/grants", json={"token": token, "client": who})

        for _ in range(GRANTS_PER_CLIENT):
            assert grant("192.0.2.10").status_code == 201
        past = grant("192.0.2.10")
        assert past.status_code == 429, past.text
        assert "Too many downloads from your address" in past.json()["detail"]
        assert 0 < int(past.headers["retry-after"]) <= 60
        assert grant("192.0.2.11").status_code == 201  # another client is not affected
    # the refused grant counted no download
    rows = database.table(api.config.database_url, "share_links", "item_id = %s", ticket["item_id"])
    assert rows[0]["downloads"] == GRANTS_PER_CLIENT + 1
    assert growth.grew_now("s3tasks_rate_limited_total", reason="share_grants_per_client") == 1


def test_new_sessions_are_limited_per_client(api: Api) -> None:
    growth = Growth(api.url)
    with api.client() as client:

        def admit(who: str) -> httpx.Response:
            return client.post("/v1/sessions", json={"client": who})

        for _ in range(SESSIONS_PER_CLIENT):
            assert admit("2001:db8:5::1").status_code == 204
        # the same /64: the same client
        past = admit("2001:db8:5::ffff")
        assert past.status_code == 429, past.text
        assert "Too many new visitors" in past.json()["detail"]
        assert int(past.headers["retry-after"]) > 0
        assert admit("2001:db8:6::1").status_code == 204
        assert admit("not an address").status_code == 400
    assert growth.grew_now("s3tasks_rate_limited_total", reason="sessions_per_client") == 1
