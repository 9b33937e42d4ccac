"""One-shot uploads (issue 33): once an upload is completed, cancelled or its item deleted, no
request signed for it changes what is served (download, thumbnail, listing) or counted (the
size in the database, which the quota sums), and the bucket keeps nothing without a row.

On radosgw (moto enforces no POST policy or signature): the visitor's browser is played by
httpx sending exactly what storage-api signed, again.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from s3tasks_testkit.images import png
from s3tasks_testkit.storage_api import MIB, Api, run_deletions

PART = 5 * MIB


@pytest.fixture(scope="module")
def api(enforcing_api: Api) -> Api:
    """The conftest's storage-api on radosgw, in parts of PART."""
    return enforcing_api


def start(
    client: httpx.Client, visitor: str, kind: str, size: int | None, *, in_parts: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "filename": "a.png", "via": "direct"}
    if size is not None:
        body["size_bytes"] = size
    if in_parts:
        body["in_parts"] = True
    resp = client.post(f"/v1/visitors/{visitor}/uploads", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def post_form(ticket: dict[str, Any], data: bytes) -> httpx.Response:
    """What the visitor's browser sends: the signed fields, then the file."""
    return httpx.post(
        ticket["post_url"],
        data=ticket["post_fields"],
        files={"file": ("a.bin", data, "application/octet-stream")},
        timeout=60,
    )


def complete(
    client: httpx.Client, visitor: str, item_id: str, parts: list[dict[str, Any]] | None = None
) -> httpx.Response:
    return client.post(
        f"/v1/visitors/{visitor}/uploads/{item_id}/complete", json={"parts": parts or []}
    )


def served(api: Api, client: httpx.Client, visitor: str, item_id: str, kind: str) -> dict[str, Any]:
    """What the visitor and anyone with a link sees of the item: the listing's size, the
    downloaded bytes and the thumbnail's, and the size the quota counts (the row's)."""
    listed = client.get(f"/v1/visitors/{visitor}/items", params={"kind": kind}).json()
    seen: dict[str, Any] = {
        "listed": [(i["id"], i["size_bytes"]) for i in listed["items"]],
        "counted": [row["size_bytes"] for row in api.rows("id = %s", item_id)],
    }
    for variant in ("content", "thumbnail") if kind == "image" else ("content",):
        link = client.get(
            f"/v1/visitors/{visitor}/items/{item_id}/link",
            params={"via": "direct", "variant": variant},
        )
        seen[variant] = httpx.get(link.json()["url"]).content if link.status_code == 200 else None
    return seen


def reconcile(api: Api) -> None:
    """The worker's reconcile, with no grace: whatever has no row must go now."""
    with api.internal() as client:
        resp = client.post("/v1/internal/reconcile", json={"grace_seconds": 0})
        assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("kind", ["file", "image"])
def test_a_post_policy_sent_again_after_completion_changes_nothing_served_or_counted(
    api: Api, visitor: str, kind: str
) -> None:
    first = png(64, 48) if kind == "image" else b"x"
    other = b"<svg onload=alert(1)>" * 4096 if kind == "image" else b"y" * MIB
    with api.client() as client:
        # no declared size: the policy allows 1 byte up to the limit, the widest there is
        ticket = start(client, visitor, kind, None)
        assert post_form(ticket, first).status_code in (200, 201, 204)
        assert complete(client, visitor, ticket["item_id"]).status_code == 200
        before = served(api, client, visitor, ticket["item_id"], kind)
        assert before["counted"] == [before["listed"][0][1]]
        again = post_form(ticket, other)  # the same signed fields, other bytes
        assert again.status_code in (200, 201, 204), again.text  # S3 takes it: the staging key
        assert served(api, client, visitor, ticket["item_id"], kind) == before
        reconcile(api)
        assert served(api, client, visitor, ticket["item_id"], kind) == before
    assert api.object_keys(f"uploads/{ticket['item_id']}") == set()


@pytest.mark.parametrize("ended_by", ["cancel", "delete all"])
def test_a_post_policy_sent_again_after_cancel_or_delete_all_stores_nothing(
    api: Api, visitor: str, ended_by: str
) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "file", None)
        item_id = ticket["item_id"]
        assert post_form(ticket, b"first").status_code in (200, 201, 204)
        if ended_by == "cancel":
            assert client.delete(f"/v1/visitors/{visitor}/uploads/{item_id}").status_code == 204
        else:
            assert complete(client, visitor, item_id).status_code == 200
            purge = client.delete(f"/v1/visitors/{visitor}/items", params={"kind": "file"})
            assert purge.status_code == 202
            run_deletions(api)
        assert api.rows("id = %s", item_id) == []
        again = post_form(ticket, b"z" * MIB)
        assert again.status_code in (200, 201, 204), again.text
        # the served key is never written again: nothing to download, list or count
        assert api.object_keys(f"objects/{item_id}") == set()
        listed = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"}).json()
        assert listed["items"] == []
        assert complete(client, visitor, item_id).status_code == 404
    reconcile(api)
    assert api.object_keys(f"uploads/{item_id}") == set()
    assert api.rows("id = %s", item_id) == []


def test_a_post_policy_carries_the_declared_size_exactly(api: Api, visitor: str) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "file", 10)
        for wrong in (b"x" * 9, b"x" * 11):
            refused = post_form(ticket, wrong)
            assert refused.status_code == 400, refused.text
            assert b"EntityToo" in refused.content  # EntityTooSmall / EntityTooLarge
        assert post_form(ticket, b"x" * 10).status_code in (200, 201, 204)
        done = complete(client, visitor, ticket["item_id"])
    assert done.status_code == 200, done.text
    assert done.json()["size_bytes"] == 10


def _in_parts(client: httpx.Client, visitor: str, data: bytes) -> tuple[str, dict[str, str]]:
    ticket = start(client, visitor, "file", len(data), in_parts=True)
    assert ticket["part_size"] == PART
    count = -(-len(data) // PART)
    links = client.post(
        f"/v1/visitors/{visitor}/uploads/{ticket['item_id']}/parts",
        json={"part_numbers": list(range(1, count + 1)), "via": "direct"},
    )
    assert links.status_code == 200, links.text
    return ticket["item_id"], links.json()["urls"]


def test_a_part_put_longer_or_shorter_than_signed_is_refused_by_s3(api: Api, visitor: str) -> None:
    data = b"a" * PART + b"tail"
    with api.client() as client:
        item_id, urls = _in_parts(client, visitor, data)
        for number, body in ((1, data[:PART] + b"!"), (1, data[: PART - 1]), (2, b"tail!")):
            put = httpx.put(urls[str(number)], content=body, timeout=60)
            assert put.status_code == 403, (number, len(body), put.text)
        held = client.get(f"/v1/visitors/{visitor}/uploads/{item_id}/parts").json()["parts"]
        assert held == []  # S3 kept none of them
        parts = []
        for number, body in ((1, data[:PART]), (2, b"tail")):
            put = httpx.put(urls[str(number)], content=body, timeout=60)
            assert put.status_code == 200, put.text
            parts.append({"part_number": number, "etag": put.headers["etag"]})
        done = complete(client, visitor, item_id, parts)
    assert done.status_code == 200, done.text
    assert done.json()["size_bytes"] == len(data)


def test_a_part_number_beyond_the_declared_size_is_not_signed(api: Api, visitor: str) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "file", 1, in_parts=True)
        base = f"/v1/visitors/{visitor}/uploads/{ticket['item_id']}/parts"
        refused = client.post(base, json={"part_numbers": [1, 2], "via": "direct"})
        assert refused.status_code == 400, refused.text
        assert "part 2 is beyond its last part" in refused.json()["detail"]
        refused = client.post(base, json={"part_numbers": [10_000], "via": "direct"})
        assert refused.status_code == 400, refused.text
        signed = client.post(base, json={"part_numbers": [1], "via": "direct"})
        assert signed.status_code == 200, signed.text
        assert signed.json()["sizes"] == {"1": 1}
        # the browser must declare the size of an upload in parts: its lengths are signed
        undeclared = client.post(
            f"/v1/visitors/{visitor}/uploads",
            json={"kind": "file", "filename": "a", "via": "direct", "in_parts": True},
        )
        assert undeclared.status_code == 400, undeclared.text
        assert "must declare its size" in undeclared.json()["detail"]


@pytest.mark.parametrize("ended_by", ["complete", "abort"])
def test_a_part_put_sent_again_after_completion_or_abort_changes_nothing(
    api: Api, visitor: str, ended_by: str
) -> None:
    """Multipart uploads are one-shot in S3 itself: after CompleteMultipartUpload or
    AbortMultipartUpload the upload id is gone and a part PUT answers NoSuchUpload."""
    data = b"b" * PART + b"end"
    with api.client() as client:
        item_id, urls = _in_parts(client, visitor, data)
        parts = []
        for number, body in ((1, data[:PART]), (2, b"end")):
            put = httpx.put(urls[str(number)], content=body, timeout=60)
            assert put.status_code == 200, put.text
            parts.append({"part_number": number, "etag": put.headers["etag"]})
        if ended_by == "complete":
            assert complete(client, visitor, item_id, parts).status_code == 200
        else:
            assert client.delete(f"/v1/visitors/{visitor}/uploads/{item_id}").status_code == 204
        before = served(api, client, visitor, item_id, "file")
        for number, body in ((1, b"c" * PART), (2, b"new")):
            again = httpx.put(urls[str(number)], content=body, timeout=60)
            assert again.status_code == 404, again.text
            assert b"NoSuchUpload" in again.content
        assert served(api, client, visitor, item_id, "file") == before
    if ended_by == "complete":
        assert before["content"] == data
        assert before["counted"] == [len(data)]
    else:
        assert before == {"listed": [], "counted": [], "content": None}
        assert api.object_keys(f"objects/{item_id}") == set()
    # S3 holds no upload of it that a part could go to
    open_uploads = api.s3._list_multipart_uploads(api.config.bucket, prefix=f"objects/{item_id}")
    assert open_uploads.uploads == []
