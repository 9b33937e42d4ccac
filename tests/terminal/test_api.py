"""The public JSON API (`/api/v1`) on a running stack, as a program uses it, in the stack's
transfer mode: a visitor token, an upload in parts (straight to S3 in `direct` mode, through
web in `proxy` mode) resumed from the parts S3 holds, the item listed, shared and downloaded
identical, an upload request, and another visitor finding none of it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Stack

from .conftest import PART_BYTES, SWEEP_INTERVAL_SECONDS, Curl, bucket_keys, open_uploads

API = "/api/v1"


def _content(size: int) -> bytes:
    block = hashlib.sha256(b"api").digest() * 4096
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
def site(stack: Stack) -> Iterator[httpx.Client]:
    assert stack.web is not None
    with httpx.Client(base_url=stack.web.url, timeout=60) as client:
        yield client


def _visitor(site: httpx.Client) -> dict[str, str]:
    made = site.post(f"{API}/visitors")
    assert made.status_code == 201, made.text
    assert "set-cookie" not in made.headers
    return {"Authorization": f"Bearer {made.json()['token']}"}


def test_an_upload_in_parts_resumed_then_shared_and_downloaded_identical(
    site: httpx.Client, stack: Stack, curl: Curl
) -> None:
    me = _visitor(site)
    still_open = open_uploads(stack)
    limits = site.get(f"{API}/limits").json()
    assert limits["transfer_mode"] == stack.config.transfer_mode
    assert limits["part_size_bytes"] == PART_BYTES
    content = _content(2 * PART_BYTES + 4321)
    started = site.post(
        f"{API}/uploads",
        json={"kind": "file", "filename": "data.bin", "size_bytes": len(content)},
        headers=me,
    )
    assert started.status_code == 201, started.text
    upload = started.json()
    assert upload["parts"] == 3
    upload_id = upload["upload_id"]
    signed = site.post(
        f"{API}/uploads/{upload_id}/parts", json={"part_numbers": [1, 2, 3]}, headers=me
    ).json()
    assert signed["sizes"] == {"1": PART_BYTES, "2": PART_BYTES, "3": 4321}

    def put(number: int) -> str:
        body = content[(number - 1) * PART_BYTES : number * PART_BYTES]
        url = signed["urls"][str(number)]
        direct = upload["transfer_mode"] == "direct"
        assert url.startswith(stack.config.s3.url if direct else f"{site.base_url}{API}/")
        sent = httpx.put(url, content=body, headers={} if direct else me, timeout=60)
        assert sent.status_code == 200, sent.text
        return sent.headers["etag"].strip('"')

    first = put(1)
    # ... the client is cut off; run again, it asks what S3 holds and sends the rest
    held = site.get(f"{API}/uploads/{upload_id}/parts", headers=me).json()
    assert [(p["part_number"], p["etag"].strip('"')) for p in held["parts"]] == [(1, first)]
    parts = [{"part_number": 1, "etag": first}]
    parts += [{"part_number": n, "etag": put(n)} for n in (2, 3)]
    done = site.post(f"{API}/uploads/{upload_id}/complete", json={"parts": parts}, headers=me)
    assert done.status_code == 200, done.text
    item = done.json()
    assert (item["filename"], item["size_bytes"]) == ("data.bin", len(content))

    own = site.get(f"{API}/items/{item['id']}/content", headers=me, follow_redirects=True)
    assert own.status_code == 200, (own.url, own.text[:300])
    assert hashlib.sha256(own.content).digest() == hashlib.sha256(content).digest()
    ranged = site.get(
        f"{API}/items/{item['id']}/content",
        headers={**me, "Range": "bytes=10-19"},
        follow_redirects=True,
    )
    assert (ranged.status_code, ranged.content) == (206, content[10:20])
    listed = site.get(f"{API}/items", headers=me).json()["items"]
    assert [each["id"] for each in listed] == [item["id"]]
    shared = site.post(
        f"{API}/items/{item['id']}/shares",
        json={"max_downloads": 2, "password": "pw"},
        headers=me,
    )
    assert shared.status_code == 201, shared.text
    link = shared.json()["url"]
    got = curl("--location", "--data-urlencode", "password=pw", link)
    assert got.status == 200
    assert hashlib.sha256(got.body).digest() == hashlib.sha256(content).digest()

    # another visitor finds none of it
    other = _visitor(site)
    assert site.get(f"{API}/items", headers=other).json()["items"] == []
    assert site.get(f"{API}/items/{item['id']}/content", headers=other).status_code == 404
    stolen = site.post(f"{API}/items/{item['id']}/shares", json={}, headers=other)
    assert stolen.status_code == 404
    assert stolen.json()["type"] == "urn:s3tasks:problem:not-found"
    assert (
        site.post(
            f"{API}/uploads/{upload_id}/parts", json={"part_numbers": [1]}, headers=other
        ).status_code
        == 404
    )

    assert site.delete(f"{API}/items/{item['id']}", headers=other).status_code == 404
    keys = bucket_keys(stack)
    deleted = site.delete(f"{API}/items/{item['id']}", headers=me)
    assert deleted.status_code == 204
    assert site.delete(f"{API}/items/{item['id']}", headers=me).status_code == 404, "gone"
    assert site.delete(f"{API}/items", headers=me).json() == {"deleted": 0}
    assert site.get(f"{API}/items", headers=me).json()["items"] == []
    assert curl("--location", "--data-urlencode", "password=pw", link).status == 404
    wait_until(
        lambda: not bucket_keys(stack) & keys,
        timeout=sweep_patience(SWEEP_INTERVAL_SECONDS),
        message="the item's objects deleted",
    )
    assert open_uploads(stack) == still_open, "completed: no multipart upload left open"


def test_a_file_over_the_limit_is_a_problem_and_a_cancelled_upload_is_gone(
    site: httpx.Client, stack: Stack
) -> None:
    me = _visitor(site)
    limits = site.get(f"{API}/limits").json()
    over = site.post(
        f"{API}/uploads",
        json={"kind": "image", "filename": "x.png", "size_bytes": limits["max_image_bytes"] + 1},
        headers=me,
    )
    assert over.status_code == 413
    assert over.headers["content-type"] == "application/problem+json"
    assert over.json()["type"] == "urn:s3tasks:problem:too-large"
    assert over.json()["detail"] == "That image is too large: the limit is 1 MiB."
    started = site.post(
        f"{API}/uploads", json={"kind": "file", "filename": "s.txt", "size_bytes": 10}, headers=me
    ).json()
    aborted = site.delete(f"{API}/uploads/{started['upload_id']}", headers=me)
    assert aborted.status_code == 204
    gone = site.get(f"{API}/uploads/{started['upload_id']}/parts", headers=me)
    assert gone.status_code == 404
    assert site.get(f"{API}/items", headers=me).json()["items"] == []


def test_an_upload_request_made_listed_and_stopped(site: httpx.Client) -> None:
    me = _visitor(site)
    asked = site.post(
        f"{API}/upload-requests",
        json={"max_files": 2, "max_bytes": 1024 * 1024, "message": "the slides, please"},
        headers=me,
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["url"].startswith(f"{site.base_url}/r/")
    assert site.get(request["url"]).status_code == 200, "the sender's page opens"
    listed = site.get(f"{API}/upload-requests", headers=me).json()["requests"]
    assert [(r["id"], r["state"]) for r in listed] == [(request["id"], "active")]
    assert site.delete(f"{API}/upload-requests/{request['id']}", headers=me).status_code == 204
    assert site.get(request["url"]).status_code == 404
    too_many = site.post(
        f"{API}/upload-requests", json={"max_files": 101, "max_bytes": 1}, headers=me
    )
    assert too_many.status_code == 400
    assert too_many.json()["type"] == "urn:s3tasks:problem:invalid-input"
