"""Upload requests on a running storage-api (real PostgreSQL, Redis and the suite's S3): the
bounds hold exactly at completion, in both transfer modes and under 50 concurrent senders;
what a refused upload sent is removed (object and row); a sender reaches nothing else; every
end of a request answers the same."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import httpx
import pytest

from s3tasks_testkit import database
from s3tasks_testkit.metrics import Growth
from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import MIB, Api, run_deletions, running_api, send, upload

GONE = "This link does not exist or has expired."
QUOTA = 8 * MIB
SENDER = "198.51.100.20"


@pytest.fixture(scope="module")
def api(dependencies: Dependencies) -> Iterator[Api]:
    env = {
        "STORAGE_API_MAX_FILE_BYTES": str(4 * MIB),
        "STORAGE_API_MAX_STORED_BYTES_PER_VISITOR": str(QUOTA),
        "STORAGE_API_RATE_LIMIT_UPLOADS_PER_CLIENT": "100000/minute",
        "STORAGE_API_RATE_LIMIT_UPLOAD_REQUESTS_PER_CLIENT": "100000/minute",
    }
    with running_api(dependencies, "test_upload_requests", env) as api:
        yield api


@pytest.fixture
def owner() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def client(api: Api) -> Iterator[httpx.Client]:
    with api.client() as client:
        yield client


def ask(client: httpx.Client, owner: str, **body: Any) -> dict[str, Any]:
    resp = client.post(f"/v1/visitors/{owner}/upload-requests", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def request_row(api: Api, request_id: str) -> dict[str, Any]:
    (row,) = database.table(api.config.database_url, "upload_requests", "id = %s", request_id)
    return row


def received(api: Api, request_id: str) -> list[dict[str, Any]]:
    return api.rows("upload_request_id = %s", request_id)


def lookup(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/v1/upload-requests/lookup", json={"token": token})


def keys_of(rows: list[dict[str, Any]]) -> set[str]:
    return {row["object_key"] for row in rows}


@pytest.mark.parametrize("via", ["proxy", "direct"])
def test_a_request_for_five_files_receives_five_and_refuses_the_sixth(
    api: Api, client: httpx.Client, owner: str, via: str
) -> None:
    asked = ask(client, owner, max_files=5, max_bytes=QUOTA, message="Your slides, please")
    token = asked["token"]
    view = lookup(client, token).json()
    assert (view["message"], view["files_received"], view["max_files"]) == (
        "Your slides, please",
        0,
        5,
    )
    # a sixth upload started while there was room: refused at its completion, not at start
    late = client.post(
        "/v1/upload-requests/uploads",
        json={
            "token": token,
            "upload": {"kind": "file", "filename": "late.bin", "via": "proxy", "client": SENDER},
        },
    )
    assert late.status_code == 201, late.text
    for n in range(5):
        resp = send(client, token, f"file {n}\n".encode() * 100, via=via, note=f"from {n}")
        assert resp.status_code == 200, resp.text
        assert resp.json()["files_left"] == 4 - n
    # at start: known not to fit
    sixth = send(client, token, b"one too many", via=via)
    assert (sixth.status_code, sixth.json()["detail"]) == (
        409,
        "This request has received all the files it asked for.",
    )
    # the late one's bytes arrived; its completion is refused and both object and row go
    late_id = late.json()["item_id"]
    base = f"/v1/upload-requests/uploads/{late_id}"
    links = client.post(f"{base}/parts", json={"token": token, "parts": {"part_numbers": [1]}})
    put = httpx.put(links.json()["urls"]["1"], content=b"late bytes")
    assert put.is_success
    done = client.post(
        f"{base}/complete",
        json={"token": token, "parts": [{"part_number": 1, "etag": put.headers["etag"]}]},
    )
    assert done.status_code == 409, done.text
    rows = received(api, asked["id"])
    assert len(rows) == 5
    assert {row["status"] for row in rows} == {"stored"}
    assert {row["visitor_id"] for row in rows} == {owner}
    assert sorted(row["sender_note"] for row in rows) == [f"from {n}" for n in range(5)]
    assert api.rows("id = %s", late_id) == []
    assert f"objects/{late_id}" not in api.object_keys("objects/")
    row = request_row(api, asked["id"])
    assert (row["files_received"], row["bytes_received"]) == (
        5,
        sum(r["size_bytes"] for r in rows),
    )
    # used up: the sender's page answers as for any end
    assert (lookup(client, token).status_code, lookup(client, token).json()["detail"]) == (
        404,
        GONE,
    )
    # the owner sees them on their page, marked with the request and the note
    listing = client.get(f"/v1/visitors/{owner}/items", params={"kind": "file"}).json()["items"]
    assert {item["received_through"] for item in listing} == {asked["id"]}


@pytest.mark.parametrize("via", ["proxy", "direct"])
def test_the_byte_bound_holds_at_start_and_at_completion(
    api: Api, client: httpx.Client, owner: str, via: str
) -> None:
    asked = ask(client, owner, max_files=10, max_bytes=100_000)
    token = asked["token"]
    assert send(client, token, b"a" * 60_000, via=via).status_code == 200
    declared = send(client, token, b"b" * 50_000, via=via)
    assert declared.status_code == 409
    assert "does not fit in what the request has left" in declared.json()["detail"]
    # a size not declared is known only at completion: refused there, its object removed
    undeclared = send(client, token, b"c" * 50_000, declare=False)
    assert undeclared.status_code == 409, undeclared.text
    assert send(client, token, b"d" * 40_000, via=via).status_code == 200
    rows = received(api, asked["id"])
    assert sorted(r["size_bytes"] for r in rows) == [40_000, 60_000]
    assert request_row(api, asked["id"])["bytes_received"] == 100_000
    assert keys_of(api.rows("visitor_id = %s", owner)) <= api.object_keys("objects/")
    assert len(api.rows("visitor_id = %s", owner)) == 2


def test_fifty_senders_at_once_land_exactly_ten(api: Api, owner: str) -> None:
    with api.client() as client:
        asked = ask(client, owner, max_files=10, max_bytes=QUOTA)
    growth = Growth(api.url)
    barrier = Barrier(50)

    def one(n: int) -> int:
        with api.client() as client:
            barrier.wait(timeout=api.timeout)
            # declared sizes pass the start; the bound is met at completion
            return send(client, asked["token"], f"sender {n}\n".encode() * 50).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = Counter(pool.map(one, range(50)))
    assert answers[200] == 10, answers
    assert answers[409] == 40, answers
    rows = received(api, asked["id"])
    assert len(rows) == 10
    assert {r["status"] for r in rows} == {"stored"}
    owner_rows = api.rows("visitor_id = %s", owner)
    assert len(owner_rows) == 10  # no row of a refused upload is left
    ids = {str(r["id"]) for r in owner_rows}
    objects = {k for k in api.object_keys("objects/") if k.removeprefix("objects/") in ids}
    assert objects == keys_of(owner_rows)
    staged = {k.removeprefix("uploads/") for k in api.object_keys("uploads/")}
    assert not staged - ids  # nothing staged by a refused upload stays behind
    assert api.open_multipart_uploads() == 0
    assert request_row(api, asked["id"])["files_received"] == 10
    growth.read()
    assert growth.grew("s3tasks_upload_request_files_received_total") == 10
    assert growth.grew("s3tasks_upload_request_refusals_total", reason="files") == 40


def test_a_sender_reaches_nothing_but_their_own_uploads(
    api: Api, client: httpx.Client, owner: str
) -> None:
    own = upload(client, owner, b"the owner's own\n" * 10, kind="file", filename="own.txt")
    assert own.status_code == 200
    own_id = own.json()["id"]
    mine = ask(client, owner, max_files=3, max_bytes=QUOTA)
    other = ask(client, uuid.uuid4().hex, max_files=3, max_bytes=QUOTA)
    started = client.post(
        "/v1/upload-requests/uploads",
        json={
            "token": other["token"],
            "upload": {"kind": "file", "filename": "x", "via": "proxy", "client": SENDER},
        },
    ).json()["item_id"]
    for item_id, token in ((own_id, mine["token"]), (started, mine["token"])):
        base = f"/v1/upload-requests/uploads/{item_id}"
        step = {"token": token}
        assert (
            client.post(f"{base}/parts", json={**step, "parts": {"part_numbers": [1]}}).status_code
            == 404
        )
        assert client.post(f"{base}/stored-parts", json=step).status_code == 404
        assert client.post(f"{base}/complete", json={**step, "parts": []}).status_code == 404
        assert client.post(f"{base}/abort", json=step).status_code == 204
    # nothing was touched by those: the owner's item and the other request's upload stand
    assert api.rows("id = %s", own_id)[0]["status"] == "stored"
    assert api.rows("id = %s", started)[0]["status"] == "uploading"
    # an image cannot come through a request
    image = client.post(
        "/v1/upload-requests/uploads",
        json={
            "token": mine["token"],
            "upload": {"kind": "image", "filename": "x.png", "via": "proxy", "client": SENDER},
        },
    )
    assert image.status_code == 400


def test_stopped_expired_used_up_and_unknown_requests_answer_alike(
    api: Api, client: httpx.Client, owner: str
) -> None:
    stopped = ask(client, owner, max_files=2, max_bytes=QUOTA)
    assert client.delete(f"/v1/visitors/{owner}/upload-requests/{stopped['id']}").status_code == 204
    expired = ask(client, owner, max_files=2, max_bytes=QUOTA)
    api.execute(
        "UPDATE upload_requests SET expires_at = now() - interval '1 second' WHERE id = %s",
        expired["id"],
    )
    used = ask(client, owner, max_files=1, max_bytes=QUOTA)
    assert send(client, used["token"], b"the one").status_code == 200
    unknown = "A" * 43
    answers = {
        (lookup(client, r).status_code, lookup(client, r).text)
        for r in (stopped["token"], expired["token"], used["token"], unknown, "not a token")
    }
    assert len(answers) == 1
    ((status, _),) = answers
    assert status == 404
    for token in (stopped["token"], expired["token"], unknown):
        assert send(client, token, b"x").status_code == 404
    states = {
        r["id"]: r["state"]
        for r in client.get(f"/v1/visitors/{owner}/upload-requests").json()["requests"]
    }
    assert states == {stopped["id"]: "stopped", used["id"]: "fulfilled"}


def test_delete_all_files_ends_the_requests_and_the_sweep_removes_them(
    api: Api, client: httpx.Client, owner: str
) -> None:
    asked = ask(client, owner, max_files=3, max_bytes=QUOTA)
    assert send(client, asked["token"], b"kept a while").status_code == 200
    assert client.delete(f"/v1/visitors/{owner}/items", params={"kind": "file"}).is_success
    assert lookup(client, asked["token"]).status_code == 404
    assert send(client, asked["token"], b"too late").status_code == 404
    run_deletions(api)
    assert received(api, asked["id"]) == []
    api.execute("UPDATE upload_requests SET expires_at = now() WHERE id = %s", asked["id"])
    run_deletions(api)
    assert database.table(api.config.database_url, "upload_requests", "id = %s", asked["id"]) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"max_files": 0, "max_bytes": 10}, "from 1 to 100"),
        ({"max_files": 101, "max_bytes": 10}, "from 1 to 100"),
        ({"max_files": 1, "max_bytes": QUOTA + 1}, "what you may store"),
        ({"max_files": 1, "max_bytes": 0}, "what you may store"),
        ({"max_files": 1, "max_bytes": 10, "message": "m" * 1001}, "at most 1000 characters"),
        ({"max_files": 1, "max_bytes": 10, "password": ""}, "1 to 256 characters"),
        ({"max_files": 1, "max_bytes": 10, "password": "p" * 257}, "1 to 256 characters"),
    ],
)
def test_a_request_out_of_range_is_refused_in_words_and_nothing_made(
    api: Api, client: httpx.Client, owner: str, body: dict[str, Any], words: str
) -> None:
    resp = client.post(f"/v1/visitors/{owner}/upload-requests", json=body)
    assert resp.status_code == 400
    assert words in resp.json()["detail"]
    assert client.get(f"/v1/visitors/{owner}/upload-requests").json()["requests"] == []


def test_a_password_is_asked_at_every_start_and_a_long_note_refused(
    api: Api, client: httpx.Client, owner: str
) -> None:
    asked = ask(client, owner, max_files=3, max_bytes=QUOTA, password="open sesame", message="hi")
    view = lookup(client, asked["token"]).json()
    assert (view["password_required"], view["unlocked"], view["message"]) == (True, False, "")
    assert send(client, asked["token"], b"x").status_code == 403
    assert send(client, asked["token"], b"x", password="wrong").status_code == 403
    long_note = send(client, asked["token"], b"x", password="open sesame", note="n" * 501)
    assert (long_note.status_code, long_note.json()["detail"]) == (
        400,
        "The note must be at most 500 characters long.",
    )
    assert send(client, asked["token"], b"x", password="open sesame").status_code == 200
    assert len(received(api, asked["id"])) == 1


def test_an_upload_under_way_when_asking_stops_is_refused_and_removed(
    api: Api, client: httpx.Client, owner: str
) -> None:
    asked = ask(client, owner, max_files=3, max_bytes=QUOTA)
    token = asked["token"]
    started = client.post(
        "/v1/upload-requests/uploads",
        json={
            "token": token,
            "upload": {"kind": "file", "filename": "slow.bin", "via": "proxy", "client": SENDER},
        },
    )
    assert started.status_code == 201
    item_id = started.json()["item_id"]
    base = f"/v1/upload-requests/uploads/{item_id}"
    links = client.post(f"{base}/parts", json={"token": token, "parts": {"part_numbers": [1]}})
    put = httpx.put(links.json()["urls"]["1"], content=b"arrived after the stop")
    assert put.is_success
    assert client.delete(f"/v1/visitors/{owner}/upload-requests/{asked['id']}").status_code == 204
    growth = Growth(api.url)
    done = client.post(
        f"{base}/complete",
        json={"token": token, "parts": [{"part_number": 1, "etag": put.headers["etag"]}]},
    )
    assert (done.status_code, done.json()["detail"]) == (404, GONE)
    assert api.rows("id = %s", item_id) == []
    assert f"objects/{item_id}" not in api.object_keys("objects/")
    assert growth.grew_now("s3tasks_upload_request_refusals_total", reason="gone") == 1
    assert request_row(api, asked["id"])["files_received"] == 0
