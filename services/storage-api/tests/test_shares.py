"""Share links on a running storage-api (real PostgreSQL, Redis and the suite's S3): what the
owner and anyone holding a link observe, what the database keeps, and that counting is exact
under concurrent downloads and against "delete all"."""

from __future__ import annotations

import base64
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier
from typing import Any

import httpx
import pytest

from s3tasks_contracts import ProblemType
from s3tasks_storage_api.errors import InvalidInput
from s3tasks_storage_api.ratelimits import client_key
from s3tasks_storage_api.shares.tokens import Grant, GrantKeys
from s3tasks_testkit import database
from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import Growth
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import MIB, Api, expire_now, run_deletions, running_api, upload

SHARE_SECRET = "test-share-secret-not-secret-0123456789"
GONE = "This link does not exist or has expired."
GRANT_ENDED = "This download is no longer valid. Please open the link again."
CLIENT = "203.0.113.7"
#: a grant's window here: short, so a test sees it end; every wait below is bounded by it
GRANT_SECONDS = 5
#: links created per client address here
LINKS_PER_CLIENT = 3
#: wrong passwords per link here (the ceiling against guessing from many addresses)
WRONG_PER_LINK = 6


@pytest.fixture(scope="module")
def api(dependencies: Dependencies) -> Iterator[Api]:
    env = {
        "STORAGE_API_MAX_IMAGE_BYTES": str(2 * MIB),
        "STORAGE_API_MAX_FILE_BYTES": str(4 * MIB),
        "STORAGE_API_SHARE_SECRET": SHARE_SECRET,
        "STORAGE_API_SHARE_LINKS_PER_ITEM": "4",
        "STORAGE_API_SHARE_GRANT_SECONDS": str(GRANT_SECONDS),
        "STORAGE_API_RATE_LIMIT_SHARE_LINKS_PER_CLIENT": f"{LINKS_PER_CLIENT}/minute",
        "STORAGE_API_RATE_LIMIT_SHARE_ATTEMPTS_PER_LINK": f"{WRONG_PER_LINK}/minute",
    }
    with running_api(dependencies, "test_shares", env) as api:
        yield api


@pytest.fixture
def visitor() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def client(api: Api) -> Iterator[httpx.Client]:
    with api.client() as client:
        yield client


def stored_file(client: httpx.Client, visitor: str, data: bytes = b"shared bytes\n" * 100) -> str:
    resp = upload(client, visitor, data, kind="file", filename="notes.txt", description="for you")
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def create(client: httpx.Client, visitor: str, item_id: str, /, **body: object) -> httpx.Response:
    return client.post(f"/v1/visitors/{visitor}/items/{item_id}/shares", json=body)


def share(client: httpx.Client, visitor: str, item_id: str, **body: object) -> dict[str, Any]:
    resp = create(client, visitor, item_id, **body)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def listed(client: httpx.Client, visitor: str, item_id: str) -> list[dict[str, Any]]:
    resp = client.get(f"/v1/visitors/{visitor}/items/{item_id}/shares")
    assert resp.status_code == 200, resp.text
    return resp.json()["shares"]  # type: ignore[no-any-return]


def lookup(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/v1/shares/lookup", json={"token": token, "via": "proxy"})


def grant(
    client: httpx.Client, token: str, *, password: str | None = None, who: str = CLIENT
) -> httpx.Response:
    body: dict[str, object] = {"token": token, "client": who}
    if password is not None:
        body["password"] = password
    return client.post("/v1/shares/grants", json=body)


def redeem(
    client: httpx.Client,
    signed: str,
    token: str,
    *,
    who: str = CLIENT,
    via: str = "proxy",
) -> httpx.Response:
    return client.post(
        "/v1/shares/redeem", json={"grant": signed, "token": token, "client": who, "via": via}
    )


def redeemed_url(client: httpx.Client, signed: str, token: str, **how: str) -> str:
    resp = redeem(client, signed, token, **how)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["url"])


def share_rows(api: Api, where: str = "true", *params: object) -> list[dict[str, Any]]:
    return database.table(api.config.database_url, "share_links", where, *params)


def gone_body(client: httpx.Client) -> dict[str, Any]:
    """The answer to a token nobody ever made: every ended link must answer exactly this."""
    resp = lookup(client, base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).decode()[:43])
    assert resp.status_code == 404, resp.text
    assert resp.json()["detail"] == GONE
    return resp.json()  # type: ignore[no-any-return]


# -- the owner -----------------------------------------------------------------------------


def test_owner_creates_lists_and_stops_links_and_downloads_are_counted(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    item_id = stored_file(client, visitor)
    files = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"}).json()["items"]
    (item,) = (i for i in files if i["id"] == item_id)
    limited = share(client, visitor, item_id, max_downloads=3)
    open_ended = share(client, visitor, item_id)
    assert limited["path"] == f"/s/{limited['token']}"
    assert len(limited["token"]) == 43
    assert limited["token"] != open_ended["token"]
    assert (limited["state"], limited["downloads"], limited["downloads_left"]) == ("active", 0, 3)
    assert limited["ends_at"] == item["expires_at"]  # by default the link ends with its item
    assert open_ended["max_downloads"] is None
    assert open_ended["downloads_left"] is None

    got = grant(client, limited["token"])
    assert got.status_code == 201, got.text
    assert got.json()["downloads_left"] == 2
    url = redeemed_url(client, got.json()["grant"], limited["token"])
    assert httpx.get(url, timeout=30).content == b"shared bytes\n" * 100

    shown = {s["id"]: s for s in listed(client, visitor, item_id)}
    assert set(shown) == {limited["id"], open_ended["id"]}
    # the owner is shown the same link again: storage-api recomputes it from its secret
    assert shown[limited["id"]]["token"] == limited["token"]
    assert (shown[limited["id"]]["downloads"], shown[limited["id"]]["downloads_left"]) == (1, 2)

    stop = client.delete(f"/v1/visitors/{visitor}/items/{item_id}/shares/{limited['id']}")
    assert stop.status_code == 204, stop.text
    again = client.delete(f"/v1/visitors/{visitor}/items/{item_id}/shares/{limited['id']}")
    assert again.status_code == 204  # stopping twice is no error
    assert lookup(client, limited["token"]).json() == gone_body(client)
    assert grant(client, limited["token"]).status_code == 404
    shown = {s["id"]: s for s in listed(client, visitor, item_id)}
    assert shown[limited["id"]]["state"] == "stopped"
    assert shown[open_ended["id"]]["state"] == "active"
    assert lookup(client, open_ended["token"]).status_code == 200
    unknown = client.delete(f"/v1/visitors/{visitor}/items/{item_id}/shares/{uuid.uuid4()}")
    assert unknown.status_code == 404


def test_another_visitors_item_is_not_found_and_nothing_is_created(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    item_id = stored_file(client, visitor)
    mine = share(client, visitor, item_id)
    other = uuid.uuid4().hex
    assert create(client, other, item_id).status_code == 404
    assert client.get(f"/v1/visitors/{other}/items/{item_id}/shares").status_code == 404
    stop = client.delete(f"/v1/visitors/{other}/items/{item_id}/shares/{mine['id']}")
    assert stop.status_code == 404
    assert [r["id"] for r in share_rows(api, "item_id = %s", item_id)] == [uuid.UUID(mine["id"])]
    assert share_rows(api, "id = %s", mine["id"])[0]["stopped_at"] is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"max_downloads": 0}, "from 1 to 1000"),
        ({"max_downloads": 1001}, "from 1 to 1000"),
        ({"max_downloads": -5}, "from 1 to 1000"),
        ({"password": ""}, "1 to 256 characters"),
        ({"password": "p" * 257}, "1 to 256 characters"),
        ({"ends_at": "2999-01-01T00:00:00Z"}, "cannot outlive the item"),
        ({"ends_at": "2000-01-01T00:00:00Z"}, "in the future"),
        ({"ends_at": "2999-01-01T00:00:00"}, "time zone"),
    ],
)
def test_out_of_range_values_are_refused_in_words_and_nothing_is_created(
    api: Api, client: httpx.Client, visitor: str, body: dict[str, object], words: str
) -> None:
    item_id = stored_file(client, visitor)
    resp = create(client, visitor, item_id, **body)
    assert resp.status_code == 400, resp.text
    problem = resp.json()
    assert problem["type"] == ProblemType.INVALID_INPUT  # web may show it as it is
    assert words in problem["detail"]
    assert share_rows(api, "item_id = %s", item_id) == []


def test_share_creation_refuses_before_it_hashes_a_password(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    growth = Growth(api.url)

    def hashes() -> float:
        return growth.grew_now("s3tasks_share_password_hashes_total", operation="hash")

    mine = stored_file(client, visitor)
    # another visitor's item, an item nobody has, a value out of range: no argon2 work
    for owner, item_id, extra in [
        (uuid.uuid4().hex, mine, {}),
        (visitor, str(uuid.uuid4()), {}),
        (visitor, mine, {"max_downloads": 0}),
    ]:
        refused = create(client, owner, item_id, password="a fine password", **extra)
        assert refused.status_code in (400, 404), refused.text
    assert hashes() == 0
    # links created per client: counted before the item is even looked up
    who = "192.0.2.201"
    for _ in range(LINKS_PER_CLIENT):
        missing = create(client, visitor, str(uuid.uuid4()), password="x", client=who)
        assert missing.status_code == 404, missing.text
    limited = create(client, visitor, mine, password="a fine password", client=who)
    assert limited.status_code == 429, limited.text
    assert "Too many share links from your address" in limited.json()["detail"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert hashes() == 0
    assert share_rows(api, "item_id = %s", mine) == []
    # another client's link is created, and hashed once
    created = create(client, visitor, mine, password="a fine password", client="192.0.2.202")
    assert created.status_code == 201, created.text
    assert hashes() == 1


def test_an_item_has_a_bounded_number_of_links(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    item_id = stored_file(client, visitor)
    first = share(client, visitor, item_id)
    for _ in range(3):
        share(client, visitor, item_id)
    fifth = create(client, visitor, item_id)
    assert fifth.status_code == 400
    assert "has 4 links already" in fifth.json()["detail"]
    # stopped links count too: the owner's list stays bounded
    client.delete(f"/v1/visitors/{visitor}/items/{item_id}/shares/{first['id']}")
    assert create(client, visitor, item_id).status_code == 400
    assert len(share_rows(api, "item_id = %s", item_id)) == 4


def test_an_end_before_the_items_is_kept_and_the_link_ends_then(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    item_id = stored_file(client, visitor)
    ends_at = datetime.now(UTC) + timedelta(minutes=2)
    link = share(client, visitor, item_id, ends_at=ends_at.isoformat())
    assert datetime.fromisoformat(link["ends_at"]) == ends_at
    assert lookup(client, link["token"]).status_code == 200
    api.execute("UPDATE share_links SET ends_at = now() WHERE id = %s", link["id"])
    assert lookup(client, link["token"]).json() == gone_body(client)
    assert grant(client, link["token"]).status_code == 404
    assert listed(client, visitor, item_id)[0]["state"] == "ended"


# -- anyone with the link --------------------------------------------------------------------


def test_the_links_page_shows_the_item_and_an_images_preview(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    file_id = stored_file(client, visitor)
    view = lookup(client, share(client, visitor, file_id, max_downloads=5)["token"])
    assert view.status_code == 200, view.text
    shown = view.json()
    assert (shown["kind"], shown["filename"], shown["description"]) == (
        "file",
        "notes.txt",
        "for you",
    )
    assert (shown["size_bytes"], shown["downloads_left"], shown["password_required"]) == (
        1300,
        5,
        False,
    )
    assert shown["preview_url"] is None

    image = upload(client, visitor, png(64, 48), filename="cat.png")
    assert image.status_code == 200, image.text
    seen = lookup(client, share(client, visitor, image.json()["id"])["token"]).json()
    preview = httpx.get(seen["preview_url"], timeout=30)
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/webp"
    assert preview.content[8:12] == b"WEBP"
    # looking is never counted
    assert listed(client, visitor, file_id)[0]["downloads"] == 0


def test_a_grant_is_an_attachment_and_redeeming_it_serves_ranges_without_counting(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    item_id = stored_file(client, visitor, data)
    link = share(client, visitor, item_id, max_downloads=2)
    granted = grant(client, link["token"]).json()
    for via in ("proxy", "direct"):
        url = redeemed_url(client, granted["grant"], link["token"], via=via)
        first = httpx.get(url, headers={"Range": "bytes=0-99"}, timeout=30)
        assert first.status_code == 206
        assert first.content == data[:100]
        assert first.headers["content-disposition"].startswith("attachment;")
        assert first.headers["content-type"] == "application/octet-stream"
        # S3 says it too (the browser reads it there in `direct` mode): no cache keeps a
        # download a link may no longer allow
        assert first.headers["cache-control"] == "private, no-store"
    for _ in range(3):  # a download resumed three times within its grant
        url = redeemed_url(client, granted["grant"], link["token"])
        rest = httpx.get(url, headers={"Range": "bytes=100-"}, timeout=30)
        assert rest.status_code == 206
        assert rest.content == data[100:]
    assert share_rows(api, "id = %s", link["id"])[0]["downloads"] == 1
    assert listed(client, visitor, item_id)[0]["downloads_left"] == 1


def test_a_tampered_or_expired_grant_is_refused(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    item_id = stored_file(client, visitor)
    link = share(client, visitor, item_id)
    token = link["token"]
    signed = grant(client, token).json()["grant"]
    payload, _, mac = signed.rpartition(".")
    share_hex, item_hex, expires = payload.split(".")
    tampered = [
        f"{payload}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        f"{share_hex}.{item_hex}.{int(expires) + 3600}.{mac}",  # longer life, same signature
        f"{share_hex}.{uuid.uuid4().hex}.{expires}.{mac}",  # another item
        "",
        "not a grant",
    ]
    keys = GrantKeys(SHARE_SECRET)
    expired = keys.sign_grant(
        Grant(uuid.UUID(share_hex), uuid.UUID(item_hex), int(time.time()) - 1),
        token,
        client_key(CLIENT),
    )
    for bad in [*tampered, expired]:
        resp = redeem(client, bad, token)
        assert resp.status_code == 403, (bad, resp.text)
        assert resp.json()["detail"] == GRANT_ENDED
    assert redeem(client, signed, token).status_code == 200


@pytest.fixture
def s3_expires_links(dependencies: Dependencies) -> None:
    """These tests wait for presigned S3 URLs to expire: moto never expires one."""
    if dependencies.s3.server == "moto":
        pytest.skip("moto never expires a presigned URL: radosgw only")


@pytest.mark.usefixtures("s3_expires_links")
def test_a_grant_serves_its_download_only_from_its_client_under_its_token_within_its_window(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    data = bytes(range(256)) * 64
    item_id = stored_file(client, visitor, data)
    link = share(client, visitor, item_id, max_downloads=1, password="only for you")
    other = share(client, visitor, item_id)
    got = grant(client, link["token"], password="only for you")
    assert got.status_code == 201, got.text
    signed = got.json()["grant"]
    ends = datetime.fromisoformat(got.json()["grant_expires_at"])
    assert ends <= datetime.now(UTC) + timedelta(seconds=GRANT_SECONDS + 1)
    assert lookup(client, link["token"]).status_code == 410  # this download used it up
    # the download it was counted for goes on: a Range resume from the granting client
    # (another address of its IPv4 is another client; of an IPv6 /64, the same one)
    resumed = httpx.get(
        redeemed_url(client, signed, link["token"]), headers={"Range": "bytes=100-"}, timeout=30
    )
    assert resumed.status_code == 206
    assert resumed.content == data[100:]
    # anyone else, or under another link's token, is refused as if the grant were forged:
    # without the password, with the link used up
    for who, token in [
        ("198.51.100.77", link["token"]),
        ("203.0.113.8", link["token"]),
        (CLIENT, other["token"]),
        ("198.51.100.77", other["token"]),
    ]:
        refused = redeem(client, signed, token, who=who)
        assert refused.status_code == 403, (who, refused.text)
        assert refused.json()["detail"] == GRANT_ENDED
    # once its window has passed, neither the grant nor an S3 link it handed out starts one
    urls = [redeemed_url(client, signed, link["token"], via=via) for via in ("proxy", "direct")]
    wait_until(
        lambda: (
            redeem(client, signed, link["token"]).status_code == 403
            and all(httpx.get(url, timeout=30).status_code == 403 for url in urls)
        ),
        timeout=GRANT_SECONDS + 5,
        interval=0.2,
        message="the grant and the S3 links it handed out to end with its window",
    )
    assert share_rows(api, "id = %s", link["id"])[0]["downloads"] == 1


@pytest.mark.usefixtures("s3_expires_links")
def test_after_stop_sharing_nothing_handed_out_starts_a_download_once_its_window_passed(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    link = share(client, visitor, stored_file(client, visitor))
    signed = grant(client, link["token"]).json()["grant"]
    urls = [redeemed_url(client, signed, link["token"], via=via) for via in ("proxy", "direct")]
    stop = client.delete(f"/v1/visitors/{visitor}/items/{link['item_id']}/shares/{link['id']}")
    assert stop.status_code == 204
    assert redeem(client, signed, link["token"]).json() == gone_body(client)  # at once
    # what S3 was handed before the stop lives no longer than the grant's window
    wait_until(
        lambda: all(httpx.get(url, timeout=30).status_code == 403 for url in urls),
        timeout=GRANT_SECONDS + 5,
        interval=0.2,
        message="the S3 links of a stopped link to expire",
    )


def test_every_end_answers_like_a_token_nobody_made(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    expected = gone_body(client)
    for malformed in ["", "short", "ä" * 43, "../" * 14 + "a", "A" * 44, "A" * 42 + "="]:
        assert lookup(client, malformed).json() == expected, malformed
        assert grant(client, malformed).json() == expected, malformed
    assert lookup(client, "A" * 600).status_code == 400  # not even a plausible request

    expiring = stored_file(client, visitor)
    expired_link = share(client, visitor, expiring)
    expire_now(api, visitor)
    assert lookup(client, expired_link["token"]).json() == expected
    assert grant(client, expired_link["token"]).json() == expected

    later = uuid.uuid4().hex
    purged = stored_file(client, later)
    purged_link = share(client, later, purged)
    granted = grant(client, purged_link["token"]).json()["grant"]
    assert redeem(client, granted, purged_link["token"]).status_code == 200
    assert client.delete(f"/v1/visitors/{later}/items", params={"kind": "file"}).status_code == 202
    assert lookup(client, purged_link["token"]).json() == expected
    assert grant(client, purged_link["token"]).json() == expected
    # a grant made before "delete all" serves nothing after it
    assert redeem(client, granted, purged_link["token"]).json() == expected


def test_a_used_up_link_says_so(api: Api, client: httpx.Client, visitor: str) -> None:
    link = share(client, visitor, stored_file(client, visitor), max_downloads=2)
    assert [grant(client, link["token"]).status_code for _ in range(2)] == [201, 201]
    third = grant(client, link["token"])
    assert third.status_code == 410
    assert "used up" in third.json()["detail"]
    assert lookup(client, link["token"]).status_code == 410


# -- passwords -------------------------------------------------------------------------------


def test_a_password_protects_the_download_and_the_items_details(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    item_id = stored_file(client, visitor)
    link = share(client, visitor, item_id, password="correct horse ✓", max_downloads=2)
    assert link["password_required"] is True
    view = lookup(client, link["token"]).json()
    assert view["password_required"] is True
    assert (view["filename"], view["description"], view["size_bytes"]) == (None, None, None)
    who = "198.51.100.20"
    for wrong in [None, "", "Correct horse ✓", "correct horse"]:
        refused = grant(client, link["token"], password=wrong, who=who)
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"] == "Wrong password."
    # the same password, typed on a system that decomposes the tick mark, is the same password
    granted = grant(client, link["token"], password="correct horse \u2713", who=who)
    assert granted.status_code == 201, granted.text
    assert granted.json()["filename"] == "notes.txt"
    assert share_rows(api, "id = %s", link["id"])[0]["downloads"] == 1


def test_password_guessing_is_limited_per_client_in_redis(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    link = share(client, visitor, stored_file(client, visitor), password="s3cret-enough")
    guesser = "2001:db8:1:2::10"
    growth = Growth(api.url)
    for attempt in range(5):
        resp = grant(client, link["token"], password=f"guess {attempt}", who=guesser)
        assert resp.status_code == 403, resp.text
    sixth = grant(client, link["token"], password="s3cret-enough", who=guesser)
    assert sixth.status_code == 429, sixth.text
    assert 1 <= int(sixth.headers["retry-after"]) <= 60
    assert "Too many password attempts" in sixth.json()["detail"]
    # another address of the same /64 is the same client; another client is not locked out
    neighbour = grant(client, link["token"], password="s3cret-enough", who="2001:db8:1:2::99")
    assert neighbour.status_code == 429
    other = grant(client, link["token"], password="s3cret-enough", who="192.0.2.33")
    assert other.status_code == 201, other.text
    growth.read()
    delta = {
        outcome: growth.grew("s3tasks_share_downloads_total", kind="file", outcome=outcome)
        for outcome in ("wrong_password", "rate_limited", "granted")
    }
    assert delta == {"wrong_password": 5, "rate_limited": 2, "granted": 1}
    assert share_rows(api, "id = %s", link["id"])[0]["downloads"] == 1


def test_strangers_wrong_passwords_do_not_use_up_what_the_recipient_needs(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    link = share(client, visitor, stored_file(client, visitor), password="the right one")
    token = link["token"]

    def attempt(password: str, who: str) -> int:
        return grant(client, token, password=password, who=who).status_code

    # the recipient, from more addresses than the link's ceiling: the right password never
    # counts against the link
    recipients = [f"192.0.2.{100 + n}" for n in range(WRONG_PER_LINK + 2)]
    assert {attempt("the right one", who) for who in recipients} == {201}
    # a stranger's guesses lock out that stranger only
    stranger = "198.51.100.200"
    assert [attempt(f"guess {n}", stranger) for n in range(5)] == [403] * 5
    assert attempt("the right one", stranger) == 429
    assert attempt("the right one", recipients[0]) == 201
    # wrong passwords from many addresses at once reach the link's ceiling: then it refuses
    # every attempt for the rest of its window (guessing from many addresses is bounded)
    growth = Growth(api.url)
    assert attempt("another guess", "198.51.100.201") == 403
    refused = grant(client, token, password="the right one", who="192.0.2.99")
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert growth.grew_now("s3tasks_rate_limited_total", reason="share_attempts_per_link") == 1


# -- exactness -------------------------------------------------------------------------------


def _grants_at_once(api: Api, token: str, count: int) -> list[int]:
    """`count` grants of one link sent at the same moment, each on a connection of its own."""
    barrier = Barrier(count)

    def one(n: int) -> int:
        with api.client() as own:
            barrier.wait()
            return grant(own, token, who=f"192.0.2.{n % 250 + 1}").status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_downloads_are_counted_exactly(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    link = share(client, visitor, stored_file(client, visitor), max_downloads=10)
    growth = Growth(api.url)
    answers = Counter(_grants_at_once(api, link["token"], 50))
    assert answers == {201: 10, 410: 40}
    assert share_rows(api, "id = %s", link["id"])[0]["downloads"] == 10
    growth.read()
    for outcome, expected in (("granted", 10), ("used_up", 40)):
        assert (
            growth.grew("s3tasks_share_downloads_total", kind="file", outcome=outcome) == expected
        )


def test_no_grant_after_delete_all_commits(api: Api, client: httpx.Client, visitor: str) -> None:
    item_id = stored_file(client, visitor)
    link = share(client, visitor, item_id)
    assert grant(client, link["token"]).status_code == 201  # granted before: counted, kept
    barrier = Barrier(51)
    deleted_at: list[float] = []

    def download(n: int) -> tuple[float, float, int]:
        with api.client() as own:
            barrier.wait()
            sent = time.monotonic()
            status = grant(own, link["token"], who=f"192.0.2.{n + 1}").status_code
            return sent, time.monotonic(), status

    def delete_all() -> None:
        with api.client() as own:
            barrier.wait()
            resp = own.delete(f"/v1/visitors/{visitor}/items", params={"kind": "file"})
            assert resp.status_code == 202, resp.text
            deleted_at.append(time.monotonic())

    with ThreadPoolExecutor(max_workers=51) as pool:
        deleting = pool.submit(delete_all)
        results = list(pool.map(download, range(50)))
        deleting.result()
    statuses = Counter(status for _, _, status in results)
    assert set(statuses) <= {201, 404}, statuses
    # every grant the database counted was answered, and none was counted after the delete
    assert share_rows(api, "id = %s", link["id"])[0]["downloads"] == 1 + statuses[201]
    sent_after = [status for sent, _, status in results if sent > deleted_at[0]]
    assert all(status == 404 for status in sent_after)
    after = [grant(client, link["token"]).status_code for _ in range(5)]
    assert after == [404] * 5
    assert share_rows(api, "id = %s", link["id"])[0]["downloads"] == 1 + statuses[201]


# -- what the database keeps -----------------------------------------------------------------


def test_a_dump_of_the_links_table_holds_no_token_that_opens_a_link(
    api: Api, client: httpx.Client, visitor: str
) -> None:
    item_id = stored_file(client, visitor)
    links = [
        share(client, visitor, item_id),
        share(client, visitor, item_id, max_downloads=4, password="a password"),
    ]
    dump = share_rows(api, "item_id = %s", item_id)
    assert len(dump) == 2
    candidates: set[str] = set()
    for row in dump:
        for value in row.values():
            if isinstance(value, bytes):
                candidates |= {
                    value.hex(),
                    base64.urlsafe_b64encode(value).decode().rstrip("="),
                    base64.b64encode(value).decode(),
                }
            candidates.add(str(value))
    text = repr(dump)
    for link in links:
        assert link["token"] not in text
        assert link["token"] not in candidates
    for candidate in candidates:
        assert lookup(client, candidate).status_code in (400, 404), candidate
        assert grant(client, candidate).status_code in (400, 404), candidate
    assert share_rows(api, "item_id = %s", item_id) == dump  # nothing was counted


def test_link_rows_go_with_their_item(api: Api, client: httpx.Client, visitor: str) -> None:
    item_id = stored_file(client, visitor)
    share(client, visitor, item_id)
    share(client, visitor, item_id, max_downloads=1)
    assert len(share_rows(api, "item_id = %s", item_id)) == 2
    expire_now(api, visitor)
    run_deletions(api)
    assert api.rows("id = %s", item_id) == []
    assert share_rows(api, "item_id = %s", item_id) == []


def test_the_new_endpoints_are_in_the_openapi_schema(api: Api) -> None:
    schema = httpx.get(f"{api.url}/schema/openapi.json", timeout=30).json()
    paths = schema["paths"]
    for path in (
        "/v1/visitors/{visitor_id}/items/{item_id}/shares",
        "/v1/visitors/{visitor_id}/items/{item_id}/shares/{share_id}",
        "/v1/shares/lookup",
        "/v1/shares/grants",
        "/v1/shares/redeem",
    ):
        assert path in paths, sorted(paths)
    # the refusals web must tell apart are documented with the grant
    assert {"201", "403", "404", "410", "429"} <= set(
        paths["/v1/shares/grants"]["post"]["responses"]
    )


def test_clients_are_told_apart_by_address_and_ipv6_clients_by_their_64() -> None:
    assert client_key("192.0.2.1") == client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("2001:db8:1:2::10") == client_key("2001:db8:1:2:ffff::1")
    assert client_key("2001:db8:1:2::10") != client_key("2001:db8:1:3::10")
    with pytest.raises(InvalidInput):
        client_key("not an address")
