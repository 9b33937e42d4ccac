"""The control plane on the suite's S3 server: storage-api signs, S3 carries the bytes and
enforces what was signed, storage-api checks what arrived. radosgw enforces POST policies and
signatures (moto does not), so these run where it serves the suite."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from s3tasks_testkit.images import png
from s3tasks_testkit.patience import patience
from s3tasks_testkit.storage_api import MIB, Api, run_deletions

LINK_SECONDS = 10


@pytest.fixture(scope="module")
def api(enforcing_api: Api) -> Api:
    """The conftest's storage-api on radosgw, its signed URLs living LINK_SECONDS."""
    return enforcing_api


def start(
    client: httpx.Client, visitor: str, via: str, *, kind: str = "file", name: str = "a.bin"
) -> dict[str, Any]:
    resp = client.post(
        f"/v1/visitors/{visitor}/uploads",
        json={"kind": kind, "filename": name, "description": "d", "via": via},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def complete(
    client: httpx.Client, visitor: str, item_id: str, parts: list[dict[str, Any]] | None = None
) -> httpx.Response:
    return client.post(
        f"/v1/visitors/{visitor}/uploads/{item_id}/complete", json={"parts": parts or []}
    )


def post_form(ticket: dict[str, Any], data: bytes, **changed: str) -> httpx.Response:
    """What the visitor's browser sends: the signed fields, then the file."""
    fields = {**ticket["post_fields"], **changed}
    return httpx.post(
        ticket["post_url"],
        data=fields,
        files={"file": ("a.bin", data, "application/octet-stream")},
        timeout=60,
    )


def send_parts(
    client: httpx.Client, visitor: str, ticket: dict[str, Any], data: bytes
) -> list[dict[str, Any]]:
    """What web does in proxy mode: each part PUT to its presigned URL."""
    size = ticket["part_size"]
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    links = client.post(
        f"/v1/visitors/{visitor}/uploads/{ticket['item_id']}/parts",
        json={"part_numbers": list(range(1, len(chunks) + 1))},
    )
    assert links.status_code == 200, links.text
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        put = httpx.put(links.json()["urls"][str(number)], content=chunk, timeout=60)
        assert put.status_code == 200, put.text
        parts.append({"part_number": number, "etag": put.headers["etag"]})
    return parts


def test_proxy_upload_in_parts_is_stored_once_and_completing_again_answers_the_same(
    api: Api, visitor: str
) -> None:
    data = bytes(range(256)) * (45 * 1024)  # 11.25 MiB: three parts of 5 MiB
    with api.client() as client:
        ticket = start(client, visitor, "proxy")
        assert ticket["part_size"] == 5 * MIB
        assert api.open_multipart_uploads() >= 1
        row = api.rows("id = %s", ticket["item_id"])[0]
        assert row["status"] == "uploading"  # the row first, before any byte
        parts = send_parts(client, visitor, ticket, data)
        assert len(parts) == 3
        first = complete(client, visitor, ticket["item_id"], parts)
        assert first.status_code == 200, first.text
        again = complete(client, visitor, ticket["item_id"], parts)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        listed = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"}).json()
    assert [i["id"] for i in listed["items"]] == [ticket["item_id"]]
    assert first.json()["size_bytes"] == len(data)
    row = api.rows("id = %s", ticket["item_id"])[0]
    assert (row["status"], row["upload_id"]) == ("stored", None)
    assert api.s3.get_object(api.config.bucket, row["object_key"]).read() == data
    assert api.open_multipart_uploads() == 0


def test_direct_upload_through_the_post_policy_then_download_link_is_an_attachment(
    api: Api, visitor: str
) -> None:
    html = b"<html><script>alert(document.cookie)</script></html>"
    with api.client() as client:
        ticket = start(client, visitor, "direct", name="page.html")
        # the policy writes a staging key nothing serves; completion copies it (one-shot)
        assert ticket["post_fields"]["key"] == f"uploads/{ticket['item_id']}"
        posted = post_form(ticket, html)
        assert posted.status_code in (200, 201, 204), posted.text
        done = complete(client, visitor, ticket["item_id"])
        assert done.status_code == 200, done.text
        link = client.get(
            f"/v1/visitors/{visitor}/items/{ticket['item_id']}/link", params={"via": "direct"}
        )
        assert link.status_code == 200, link.text
    fetched = httpx.get(link.json()["url"])
    assert fetched.status_code == 200
    assert fetched.content == html
    # an HTML upload is data to save, never a page rendered from the bucket's origin
    assert fetched.headers["content-type"] == "application/octet-stream"
    assert fetched.headers["content-disposition"].startswith("attachment;")
    assert "page.html" in fetched.headers["content-disposition"]


def test_oversize_through_the_policy_is_refused_by_s3_and_completion_leaves_nothing(
    api: Api, visitor: str
) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "direct")
        posted = post_form(ticket, b"x" * (12 * MIB + 1))
        assert posted.status_code == 400, posted.text
        assert b"EntityTooLarge" in posted.content
        done = complete(client, visitor, ticket["item_id"])
    assert done.status_code == 400
    assert "did not arrive" in done.json()["detail"]
    assert api.rows("id = %s", ticket["item_id"]) == []
    assert api.object_keys(f"objects/{ticket['item_id']}") == set()
    assert api.object_keys(f"uploads/{ticket['item_id']}") == set()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key", "objects/someone-elses-key"),
        ("Content-Type", "text/html"),
        ("x-amz-signature", "0" * 64),
    ],
)
def test_a_field_outside_the_policy_or_a_tampered_signature_is_refused(
    api: Api, visitor: str, field: str, value: str
) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "direct")
    posted = post_form(ticket, b"data", **{field: value})
    assert posted.status_code == 403, posted.text
    assert api.object_keys() & {value, f"uploads/{ticket['item_id']}"} == set()


def test_an_expired_policy_is_refused(api: Api, visitor: str) -> None:
    from s3tasks_storage_api.settings import StorageApiSettings
    from s3tasks_storage_api.storage.signing import Signer

    settings = StorageApiSettings(
        s3_endpoint=api.config.s3.url,
        s3_access_key=api.config.s3.access_key,
        s3_secret_key=api.config.s3.secret_key,
        s3_region=api.config.s3.region,
        s3_bucket=api.config.bucket,
    )
    signer = Signer(api.config.s3.url, settings)
    key = f"objects/{uuid.uuid4()}"
    fields = signer.post_policy(
        key,
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
        sizes=(1, 100),
        content_type="application/octet-stream",
    )
    posted = post_form({"post_url": signer.bucket_url, "post_fields": fields}, b"data")
    assert posted.status_code == 403, posted.text
    assert api.object_keys(key) == set()


def test_only_the_visitor_who_started_an_upload_completes_or_aborts_it(
    api: Api, visitor: str
) -> None:
    other = uuid.uuid4().hex
    with api.client() as client:
        ticket = start(client, visitor, "direct")
        assert post_form(ticket, b"mine").status_code in (200, 201, 204)
        assert complete(client, other, ticket["item_id"]).status_code == 404
        assert client.delete(f"/v1/visitors/{other}/uploads/{ticket['item_id']}").status_code == 204
        parts = client.post(
            f"/v1/visitors/{other}/uploads/{ticket['item_id']}/parts", json={"part_numbers": [1]}
        )
        assert parts.status_code == 404
        assert api.rows("id = %s", ticket["item_id"])[0]["status"] == "uploading"
        assert complete(client, visitor, ticket["item_id"]).status_code == 200


def test_completing_an_upload_whose_object_is_missing_removes_the_row(
    api: Api, visitor: str
) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "proxy")
        done = complete(client, visitor, ticket["item_id"])  # no parts were sent
        assert done.status_code == 400
        assert complete(client, visitor, ticket["item_id"]).status_code == 404
    assert api.rows("id = %s", ticket["item_id"]) == []
    assert api.open_multipart_uploads() == 0


def test_an_image_that_is_not_one_is_refused_at_completion_and_nothing_stays(
    api: Api, visitor: str
) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "direct", kind="image", name="x.png")
        assert post_form(ticket, b"<svg onload=alert(1)>").status_code in (200, 201, 204)
        done = complete(client, visitor, ticket["item_id"])
    assert done.status_code == 415
    assert api.rows("id = %s", ticket["item_id"]) == []
    assert api.object_keys(f"objects/{ticket['item_id']}") == set()
    assert api.object_keys(f"uploads/{ticket['item_id']}") == set()


def test_an_image_is_checked_thumbnailed_and_its_links_are_signed_for_each_endpoint(
    api: Api, visitor: str
) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "direct", kind="image", name="p.png")
        assert post_form(ticket, png(640, 480)).status_code in (200, 201, 204)
        done = complete(client, visitor, ticket["item_id"])
        assert done.status_code == 200, done.text
        assert done.json()["content_type"] == "image/png"
        thumb = client.get(
            f"/v1/visitors/{visitor}/items/{ticket['item_id']}/link",
            params={"via": "proxy", "variant": "thumbnail"},
        ).json()
    fetched = httpx.get(thumb["url"])
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/webp"
    row = api.rows("id = %s", ticket["item_id"])[0]
    assert {row["object_key"], row["thumbnail_key"]} <= api.object_keys()


def test_links_stop_working_after_delete_all_and_after_expiry(api: Api, visitor: str) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "direct")
        assert post_form(ticket, b"short-lived").status_code in (200, 201, 204)
        assert complete(client, visitor, ticket["item_id"]).status_code == 200
        path = f"/v1/visitors/{visitor}/items/{ticket['item_id']}/link"
        url = client.get(path, params={"via": "direct"}).json()["url"]
        assert httpx.get(url).status_code == 200
        assert (
            client.delete(f"/v1/visitors/{visitor}/items", params={"kind": "file"}).status_code
            == 202
        )
        # storage-api signs no new link for a hidden item ...
        assert client.get(path, params={"via": "direct"}).status_code == 404
    run_deletions(api)
    # ... and the one handed out before finds nothing once the job has run
    assert httpx.get(url).status_code == 404
    # a link of a stored item stops working at its expiry, however it is kept
    with api.client() as client:
        ticket = start(client, visitor, "direct")
        assert post_form(ticket, b"kept").status_code in (200, 201, 204)
        assert complete(client, visitor, ticket["item_id"]).status_code == 200
        link = client.get(
            f"/v1/visitors/{visitor}/items/{ticket['item_id']}/link", params={"via": "direct"}
        ).json()
    deadline = time.monotonic() + patience(LINK_SECONDS)
    while httpx.get(link["url"]).status_code == 200:
        assert time.monotonic() < deadline, "a presigned link outlived its expiry"
        time.sleep(0.5)
    assert httpx.get(link["url"]).status_code == 403


def test_an_upload_past_its_deadline_is_swept_with_its_open_multipart_upload(
    api: Api, visitor: str
) -> None:
    with api.client() as client:
        ticket = start(client, visitor, "proxy")
        send_parts(client, visitor, ticket, b"p" * 1024)
    api.execute(
        "UPDATE items SET expires_at = now() - interval '1 second' WHERE id = %s",
        ticket["item_id"],
    )
    run_deletions(api)
    assert api.rows("id = %s", ticket["item_id"]) == []
    assert api.open_multipart_uploads() == 0


def test_reconcile_aborts_a_multipart_upload_no_row_knows(api: Api) -> None:
    key = f"objects/{uuid.uuid4()}"
    api.s3._create_multipart_upload(api.config.bucket, key, {})
    assert api.open_multipart_uploads() >= 1
    with api.internal() as client:
        resp = client.post("/v1/internal/reconcile", json={"grace_seconds": 0})
        assert resp.status_code == 200, resp.text
    assert api.open_multipart_uploads() == 0


def test_a_direct_upload_in_parts_resumes_from_the_parts_s3_holds(api: Api, visitor: str) -> None:
    """The browser sends parts itself (each below a proxy's body limit); after a dropped
    connection it asks which parts arrived and sends only the rest."""
    part = 5 * MIB
    data = bytes(range(256)) * (part * 2 // 256) + b"tail"
    with api.client() as client:
        resp = client.post(
            f"/v1/visitors/{visitor}/uploads",
            json={
                "kind": "file",
                "filename": "big.bin",
                "via": "direct",
                "in_parts": True,
                "size_bytes": len(data),
            },
        )
        assert resp.status_code == 201, resp.text
        ticket = resp.json()
        assert ticket["post_url"] is None
        assert ticket["part_size"] == part
        base = f"/v1/visitors/{visitor}/uploads/{ticket['item_id']}"
        links = client.post(f"{base}/parts", json={"part_numbers": [1, 2, 3], "via": "direct"})
        assert links.status_code == 200, links.text
        urls = links.json()["urls"]
        assert links.json()["part_size"] == part  # the most one part may carry
        first = httpx.put(urls["1"], content=data[:part], timeout=60)
        assert first.status_code == 200
        # ... the connection drops here; on resuming, S3 holds part 1 only
        stored = client.get(f"{base}/parts").json()
        held = stored["parts"]
        assert [(p["part_number"], p["size"]) for p in held] == [(1, part)]
        assert stored["part_size"] == part
        parts = [{"part_number": 1, "etag": held[0]["etag"]}]
        for number, chunk in ((2, data[part : 2 * part]), (3, data[2 * part :])):
            put = httpx.put(urls[str(number)], content=chunk, timeout=60)
            assert put.status_code == 200
            parts.append({"part_number": number, "etag": put.headers["etag"]})
        done = complete(client, visitor, ticket["item_id"], parts)
        assert done.status_code == 200, done.text
        assert client.get(f"{base}/parts").status_code == 404  # stored: no open upload
    row = api.rows("id = %s", ticket["item_id"])[0]
    assert api.s3.get_object(api.config.bucket, row["object_key"]).read() == data
    assert api.open_multipart_uploads() == 0


def test_parts_of_an_upload_ended_by_delete_all_or_its_deadline_are_refused_with_why(
    api: Api, visitor: str
) -> None:
    """A sender in parts learns why it must stop (the visitor reads it), not just "404"."""
    with api.client() as client:
        deleted = start(client, visitor, "proxy")
        purge = client.delete(f"/v1/visitors/{visitor}/items", params={"kind": "file"})
        assert purge.status_code == 202
        base = f"/v1/visitors/{visitor}/uploads/{deleted['item_id']}"
        for refused in (
            client.post(f"{base}/parts", json={"part_numbers": [1]}),
            client.get(f"{base}/parts"),
        ):
            assert refused.status_code == 409, refused.text
            assert "deleted by Delete all" in refused.json()["detail"]
        fresh = start(client, visitor, "proxy")
        api.execute(
            "UPDATE items SET expires_at = now() - interval '1 second' WHERE id = %s",
            fresh["item_id"],
        )
        late = client.get(f"/v1/visitors/{visitor}/uploads/{fresh['item_id']}/parts")
        assert late.status_code == 400, late.text
        assert "took longer than allowed" in late.json()["detail"]
