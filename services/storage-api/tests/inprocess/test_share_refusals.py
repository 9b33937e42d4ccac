"""Share links in process: creation refusals write no link (and hash no password), the owner's
routes are 404 for anyone else, and the public routes refuse ended, used-up, wrongly
protected, tampered and borrowed links and grants with the words web shows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.inprocess

GONE = "This link does not exist or has expired."
USED_UP = "This link has been used up: it allowed no more downloads."
GRANT_ENDED = "This download is no longer valid. Please open the link again."


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.fixture
def item(api: Any, visitor: str) -> str:
    return str(api.stored_file(visitor, b"shared bytes\n"))


# -- creation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"max_downloads": 0}, "The download limit must be a whole number from 1 to 1000."),
        ({"max_downloads": 1001}, "The download limit must be a whole number from 1 to 1000."),
        ({"max_downloads": -5}, "The download limit must be a whole number from 1 to 1000."),
        ({"password": ""}, "The password must be 1 to 256 characters long."),
        ({"password": "p" * 257}, "The password must be 1 to 256 characters long."),
        ({"password": "p" * 4097}, "password"),
        ({"ends_at": "2030-01-01T00:00:00"}, "The end of the link must carry its time zone."),
        ({"ends_at": "2020-01-01T00:00:00+00:00"}, "The end of the link must be in the future."),
        ({"ends_at": "tomorrow"}, "ends_at"),
        ({"client": ""}, "client"),
        ({"client": "not-an-address"}, "The client address is not an IP address."),
    ],
    ids=[
        "zero downloads",
        "1001 downloads",
        "negative downloads",
        "empty password",
        "257 characters",
        "4097 characters",
        "naive end",
        "past end",
        "unparseable end",
        "empty client",
        "client not an address",
    ],
)
def test_a_link_out_of_range_is_a_400_and_nothing_is_created(
    api: Any, visitor: str, item: str, body: dict[str, Any], words: str
) -> None:
    answer = api.share(visitor, item, **body)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["detail"]
    assert api.share_rows(item) == []


def test_a_link_cannot_outlive_its_item(api: Any, visitor: str, item: str) -> None:
    answer = api.share(visitor, item, ends_at=_later(days=2))
    assert answer.status_code == 400, answer.text
    assert "The link cannot outlive the item" in answer.json()["detail"]
    assert api.share_rows(item) == []


def test_another_visitors_item_cannot_be_shared_listed_or_stopped(
    api: Any, visitor: str, item: str
) -> None:
    created = api.share(visitor, item)
    assert created.status_code == 201, created.text
    share_id = created.json()["id"]
    stranger = uuid.uuid4().hex
    base = f"/v1/visitors/{stranger}/items/{item}/shares"
    for answer in (
        api.call("POST", base, json={}),
        api.call("GET", base),
        api.call("DELETE", f"{base}/{share_id}"),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == "No such item."
    assert [r["stopped_at"] for r in api.share_rows(item)] == [None]


@pytest.mark.parametrize("state", ["uploading", "deleted", "missing"])
def test_an_item_not_stored_and_visible_cannot_be_shared(
    api: Any, visitor: str, state: str
) -> None:
    if state == "uploading":
        item_id = api.start(visitor).json()["item_id"]
    elif state == "deleted":
        item_id = api.stored_file(visitor)
        api.call("DELETE", f"/v1/visitors/{visitor}/items", params={"kind": "file"})
    else:
        item_id = str(uuid.uuid4())
    answer = api.share(visitor, item_id)
    assert answer.status_code == 404, answer.text
    assert api.share_rows(item_id) == []


def test_an_item_has_at_most_its_number_of_links(make_api: Any, visitor: str) -> None:
    api = make_api(share_links_per_item=2)
    item_id = api.stored_file(visitor)
    assert api.share(visitor, item_id).status_code == 201
    stopped = api.share(visitor, item_id).json()["id"]
    api.call("DELETE", f"/v1/visitors/{visitor}/items/{item_id}/shares/{stopped}")
    refused = api.share(visitor, item_id)
    assert refused.status_code == 400, refused.text
    assert "This item has 2 links already" in refused.json()["detail"]
    assert len(api.share_rows(item_id)) == 2


def test_links_per_client_are_limited_before_the_item_is_looked_up(
    make_api: Any, visitor: str, client_ip: str
) -> None:
    api = make_api(rate_limit_share_links_per_client="1/minute")
    item_id = api.stored_file(visitor)
    assert api.share(visitor, item_id, client=client_ip).status_code == 201
    refused = api.share(visitor, str(uuid.uuid4()), client=client_ip)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many share links from your address" in refused.json()["detail"]
    assert len(api.share_rows(item_id)) == 1


def test_stopping_a_link_the_item_does_not_have_is_a_404(api: Any, visitor: str, item: str) -> None:
    answer = api.call("DELETE", f"/v1/visitors/{visitor}/items/{item}/shares/{uuid.uuid4()}")
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == "This item has no such link."


def test_stopping_twice_is_no_error(api: Any, visitor: str, item: str) -> None:
    share_id = api.share(visitor, item).json()["id"]
    path = f"/v1/visitors/{visitor}/items/{item}/shares/{share_id}"
    assert api.call("DELETE", path).status_code == 204
    assert api.call("DELETE", path).status_code == 204
    listed = api.call("GET", f"/v1/visitors/{visitor}/items/{item}/shares").json()
    assert [s["state"] for s in listed["shares"]] == ["stopped"]


# -- anyone with the link ---------------------------------------------------------------------


def _grant(api: Any, token: str, client: str, password: str | None = None) -> Any:
    body: dict[str, Any] = {"token": token, "client": client}
    if password is not None:
        body["password"] = password
    return api.call("POST", "/v1/shares/grants", json=body)


@pytest.mark.parametrize(
    "token", ["", "nobody-made-this", "A" * 43, "x" * 512], ids=["empty", "short", "43", "512"]
)
def test_a_token_nobody_made_is_gone_for_lookup_and_grant(
    api: Any, token: str, client_ip: str
) -> None:
    looked = api.call("POST", "/v1/shares/lookup", json={"token": token})
    assert looked.status_code == 404, looked.text
    assert looked.json()["detail"] == GONE
    granted = _grant(api, token, client_ip)
    assert granted.status_code == 404, granted.text
    assert granted.json()["detail"] == GONE


def test_a_token_longer_than_any_is_a_400(api: Any) -> None:
    answer = api.call("POST", "/v1/shares/lookup", json={"token": "x" * 513})
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("ending", ["stopped", "item deleted", "past its end"])
def test_an_ended_link_is_gone_like_one_nobody_made(
    api: Any, visitor: str, item: str, client_ip: str, ending: str
) -> None:
    created = api.share(visitor, item).json()
    if ending == "stopped":
        api.call("DELETE", f"/v1/visitors/{visitor}/items/{item}/shares/{created['id']}")
    elif ending == "item deleted":
        api.call("DELETE", f"/v1/visitors/{visitor}/items", params={"kind": "file"})
    else:
        api.execute(
            "UPDATE share_links SET ends_at = now() - interval '1 second' WHERE id = %s",
            created["id"],
        )
    looked = api.call("POST", "/v1/shares/lookup", json={"token": created["token"]})
    assert looked.status_code == 404, looked.text
    assert looked.json()["detail"] == GONE
    granted = _grant(api, created["token"], client_ip)
    assert granted.status_code == 404, granted.text
    assert [r["downloads"] for r in api.share_rows(item)] == [0]


def test_a_used_up_link_is_410_and_counts_no_more(
    api: Any, visitor: str, item: str, client_ip: str
) -> None:
    token = api.share(visitor, item, max_downloads=1).json()["token"]
    assert _grant(api, token, client_ip).status_code == 201
    again = _grant(api, token, client_ip)
    assert again.status_code == 410, again.text
    assert again.json()["detail"] == USED_UP
    looked = api.call("POST", "/v1/shares/lookup", json={"token": token})
    assert looked.status_code == 410, looked.text
    assert [r["downloads"] for r in api.share_rows(item)] == [1]


@pytest.mark.parametrize(
    "sent", [None, "", "wrong", "Secret"], ids=["none", "empty", "wrong", "case"]
)
def test_a_wrong_password_is_403_and_counts_no_download(
    api: Any, visitor: str, item: str, client_ip: str, sent: str | None
) -> None:
    token = api.share(visitor, item, password="Secret-1").json()["token"]
    looked = api.call("POST", "/v1/shares/lookup", json={"token": token}).json()
    assert looked["password_required"] is True
    assert looked["filename"] is None  # nothing about the item before the password
    answer = _grant(api, token, client_ip, sent)
    assert answer.status_code == 403, answer.text
    assert answer.json()["detail"] == "Wrong password."
    assert [r["downloads"] for r in api.share_rows(item)] == [0]
    assert _grant(api, token, client_ip, "Secret-1").status_code == 201


def test_password_attempts_per_client_are_limited(
    make_api: Any, visitor: str, client_ip: str
) -> None:
    api = make_api(rate_limit_share_attempts_per_client="2/minute")
    item_id = api.stored_file(visitor)
    token = api.share(visitor, item_id, password="right").json()["token"]
    for _ in range(2):
        assert _grant(api, token, client_ip, "wrong").status_code == 403
    refused = _grant(api, token, client_ip, "right")
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["detail"].startswith("Too many password attempts.")
    assert _grant(api, token, "192.0.2.200", "right").status_code == 201


def test_wrong_passwords_per_link_are_limited_across_clients(make_api: Any, visitor: str) -> None:
    api = make_api(rate_limit_share_attempts_per_link="2/minute")
    item_id = api.stored_file(visitor)
    token = api.share(visitor, item_id, password="right").json()["token"]
    for n in range(2):
        assert _grant(api, token, f"198.51.100.{n + 1}", "wrong").status_code == 403
    refused = _grant(api, token, "198.51.100.9", "right")
    assert refused.status_code == 429, refused.text


def test_grants_per_client_are_limited(make_api: Any, visitor: str, client_ip: str) -> None:
    api = make_api(rate_limit_share_grants_per_client="1/minute")
    item_id = api.stored_file(visitor)
    token = api.share(visitor, item_id).json()["token"]
    assert _grant(api, token, client_ip).status_code == 201
    refused = _grant(api, token, client_ip)
    assert refused.status_code == 429, refused.text
    assert "Too many downloads from your address" in refused.json()["detail"]
    assert [r["downloads"] for r in api.share_rows(item_id)] == [1]


# -- redeem -----------------------------------------------------------------------------------


def _redeem(api: Any, grant: str, token: str, client: str) -> Any:
    return api.call(
        "POST",
        "/v1/shares/redeem",
        json={"grant": grant, "token": token, "client": client, "via": "proxy"},
    )


def test_a_grant_is_redeemed_only_by_its_client_under_its_token(
    api: Any, visitor: str, item: str, client_ip: str
) -> None:
    token = api.share(visitor, item).json()["token"]
    other_token = api.share(visitor, item).json()["token"]
    grant = _grant(api, token, client_ip).json()["grant"]
    ok = _redeem(api, grant, token, client_ip)
    assert ok.status_code == 200, ok.text
    assert f"objects/{item}" in ok.json()["url"]
    for answer in (
        _redeem(api, grant, token, "203.0.113.250"),
        _redeem(api, grant, other_token, client_ip),
        _redeem(api, grant[:-2] + ("AA" if not grant.endswith("AA") else "BB"), token, client_ip),
        _redeem(api, "not-a-grant", token, client_ip),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.json()["detail"] == GRANT_ENDED
    # redeeming counts nothing: the one download is the grant's
    assert sorted(r["downloads"] for r in api.share_rows(item)) == [0, 1]


def test_a_grant_of_a_stopped_link_is_gone(
    api: Any, visitor: str, item: str, client_ip: str
) -> None:
    created = api.share(visitor, item).json()
    grant = _grant(api, created["token"], client_ip).json()["grant"]
    api.call("DELETE", f"/v1/visitors/{visitor}/items/{item}/shares/{created['id']}")
    answer = _redeem(api, grant, created["token"], client_ip)
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == GONE


@pytest.mark.parametrize("missing", ["grant", "token", "client", "via"])
def test_a_redeem_missing_a_field_is_a_400(api: Any, missing: str) -> None:
    body = {"grant": "g", "token": "t", "client": "192.0.2.1", "via": "proxy"}
    del body[missing]
    answer = api.call("POST", "/v1/shares/redeem", json=body)
    assert answer.status_code == 400, answer.text
    assert missing in answer.json()["detail"]
