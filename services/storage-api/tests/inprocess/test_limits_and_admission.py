"""Limits in process: each rate limit answers 429 with Retry-After and its words once full
(for its key only), the byte quota 409, admission of new visitors; "delete all" and the image
cap hide rows at once and enqueue the visitor's purge through the job seam."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from s3tasks_testkit.images import png

pytestmark = pytest.mark.inprocess


def _retry_after(answer: Any) -> int:
    value = int(answer.headers["retry-after"])
    assert 1 <= value <= 60
    return value


# -- admission --------------------------------------------------------------------------------


def test_new_visitors_are_admitted_per_client_then_refused_with_retry_after(
    make_api: Any, client_ip: str
) -> None:
    api = make_api(rate_limit_sessions_per_client="2/minute")
    for _ in range(2):
        assert api.call("POST", "/v1/sessions", json={"client": client_ip}).status_code == 204
    refused = api.call("POST", "/v1/sessions", json={"client": client_ip})
    assert refused.status_code == 429, refused.text
    _retry_after(refused)
    assert "Too many new visitors came from your address" in refused.json()["detail"]
    assert "(at most 2 per 1 minute)" in refused.json()["detail"]
    other = api.call("POST", "/v1/sessions", json={"client": "192.0.2.77"})
    assert other.status_code == 204, other.text


def test_an_ipv6_client_is_counted_by_its_64(make_api: Any) -> None:
    api = make_api(rate_limit_sessions_per_client="1/minute")
    prefix = f"2001:db8:{uuid.uuid4().int % 65536:x}:1"
    assert api.call("POST", "/v1/sessions", json={"client": f"{prefix}::1"}).status_code == 204
    refused = api.call("POST", "/v1/sessions", json={"client": f"{prefix}::2"})
    assert refused.status_code == 429, refused.text


@pytest.mark.parametrize(
    ("client", "status", "words"),
    [
        ("not-an-address", 400, "The client address is not an IP address."),
        ("", 400, "client"),
        ("1" * 65, 400, "client"),
    ],
    ids=["not an address", "empty", "too long"],
)
def test_admission_refuses_what_is_not_an_address(
    api: Any, client: str, status: int, words: str
) -> None:
    answer = api.call("POST", "/v1/sessions", json={"client": client})
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_admission_without_a_body_is_a_400(api: Any) -> None:
    assert api.call("POST", "/v1/sessions").status_code == 400


# -- uploads ----------------------------------------------------------------------------------


def test_uploads_per_visitor_are_limited_and_refusals_write_nothing(
    make_api: Any, visitor: str
) -> None:
    api = make_api(rate_limit_uploads_per_visitor="2/minute")
    for _ in range(2):
        assert api.start(visitor).status_code == 201
    refused = api.start(visitor)
    assert refused.status_code == 429, refused.text
    _retry_after(refused)
    assert "You have started too many uploads" in refused.json()["detail"]
    assert len(api.rows(visitor)) == 2
    assert api.start(uuid.uuid4().hex).status_code == 201


def test_uploads_per_client_are_limited_across_visitors(make_api: Any, client_ip: str) -> None:
    api = make_api(rate_limit_uploads_per_client="2/minute")
    for _ in range(2):
        assert api.start(uuid.uuid4().hex, client=client_ip).status_code == 201
    late = uuid.uuid4().hex
    refused = api.start(late, client=client_ip)
    assert refused.status_code == 429, refused.text
    _retry_after(refused)
    assert "Too many uploads came from your address" in refused.json()["detail"]
    assert api.rows(late) == []


def test_an_upload_from_a_client_that_is_not_an_address_is_refused(api: Any, visitor: str) -> None:
    answer = api.start(visitor, client="somewhere")
    assert answer.status_code == 400, answer.text
    assert api.rows(visitor) == []


# -- the byte quota ---------------------------------------------------------------------------


def test_an_announced_upload_over_the_quota_is_409_with_retry_after(
    make_api: Any, visitor: str
) -> None:
    api = make_api(max_stored_bytes_per_visitor=20)
    api.stored_file(visitor, b"x" * 15)
    refused = api.start(visitor, size_bytes=10)
    assert refused.status_code == 409, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    detail = refused.json()["detail"]
    assert "You are storing 15 bytes" in detail
    assert "at most 20 bytes at once" in detail
    assert [r["status"] for r in api.rows(visitor)] == ["stored"]


def test_an_upload_that_arrives_over_the_quota_is_409_and_removed(
    make_api: Any, visitor: str
) -> None:
    api = make_api(max_stored_bytes_per_visitor=20)
    first = api.stored_file(visitor, b"x" * 15)
    refused = api.upload(visitor, b"y" * 10)
    assert refused.status_code == 409, refused.text
    assert "this upload does not fit" in refused.json()["detail"]
    assert [str(r["id"]) for r in api.rows(visitor)] == [first]


def test_the_quota_counts_each_visitor_alone(make_api: Any, visitor: str) -> None:
    api = make_api(max_stored_bytes_per_visitor=20)
    api.stored_file(visitor, b"x" * 15)
    assert api.upload(uuid.uuid4().hex, b"y" * 15).status_code == 200


def test_deleted_items_no_longer_count_against_the_quota(make_api: Any, visitor: str) -> None:
    api = make_api(max_stored_bytes_per_visitor=20)
    api.stored_file(visitor, b"x" * 15)
    assert api.call("DELETE", f"/v1/visitors/{visitor}/items", params={"kind": "file"}).is_success
    assert api.upload(visitor, b"y" * 15).status_code == 200


# -- delete all, the cap and the job seam -----------------------------------------------------


def test_delete_all_hides_at_once_and_enqueues_the_visitors_purge(api: Any, visitor: str) -> None:
    api.stored_file(visitor)
    api.stored_file(visitor)
    answer = api.call("DELETE", f"/v1/visitors/{visitor}/items", params={"kind": "file"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"kind": "file", "hidden": 2}
    assert visitor in api.jobs.purged
    assert all(r["hidden_at"] is not None for r in api.rows(visitor))
    listed = api.call("GET", f"/v1/visitors/{visitor}/items", params={"kind": "file"})
    assert listed.json()["items"] == []


def test_delete_all_with_nothing_to_delete_enqueues_nothing(api: Any, visitor: str) -> None:
    answer = api.call("DELETE", f"/v1/visitors/{visitor}/items", params={"kind": "image"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["hidden"] == 0
    assert visitor not in api.jobs.purged


def test_delete_all_of_one_kind_keeps_the_other(api: Any, visitor: str) -> None:
    api.stored_file(visitor)
    answer = api.call("DELETE", f"/v1/visitors/{visitor}/items", params={"kind": "image"})
    assert answer.json()["hidden"] == 0
    assert [r["hidden_at"] for r in api.rows(visitor)] == [None]


@pytest.mark.parametrize("kind", ["", "video", "IMAGE"])
def test_delete_all_refuses_an_unknown_kind(api: Any, visitor: str, kind: str) -> None:
    answer = api.call("DELETE", f"/v1/visitors/{visitor}/items", params={"kind": kind})
    assert answer.status_code == 400, answer.text


def test_another_visitors_delete_all_leaves_mine(api: Any, visitor: str) -> None:
    api.stored_file(visitor)
    answer = api.call("DELETE", f"/v1/visitors/{uuid.uuid4().hex}/items", params={"kind": "file"})
    assert answer.json()["hidden"] == 0
    assert [r["hidden_at"] for r in api.rows(visitor)] == [None]


def test_one_item_is_hidden_alone_and_the_visitors_purge_enqueued(api: Any, visitor: str) -> None:
    gone, kept = api.stored_file(visitor), api.stored_file(visitor)
    stranger = api.call("DELETE", f"/v1/visitors/{uuid.uuid4().hex}/items/{gone}")
    assert stranger.status_code == 404, "not another visitor's to delete"
    assert visitor not in api.jobs.purged
    answer = api.call("DELETE", f"/v1/visitors/{visitor}/items/{gone}")
    assert answer.status_code == 202, answer.text
    assert visitor in api.jobs.purged
    rows = {str(r["id"]): r for r in api.rows(visitor)}
    assert rows[str(gone)]["hidden_at"] is not None
    assert rows[str(gone)]["deletion_reason"] == "purge"
    assert rows[str(kept)]["hidden_at"] is None
    again = api.call("DELETE", f"/v1/visitors/{visitor}/items/{gone}")
    assert again.status_code == 404
    assert again.json()["type"] == "urn:s3tasks:problem:not-found"


def test_the_fourth_image_hides_the_oldest_and_enqueues_its_purge(api: Any, visitor: str) -> None:
    ids = []
    for _ in range(4):
        done = api.upload(visitor, png(8, 8), kind="image", filename="dot.png")
        assert done.status_code == 200, done.text
        ids.append(done.json()["id"])
    hidden = {str(r["id"]) for r in api.rows(visitor) if r["hidden_at"] is not None}
    assert hidden == {ids[0]}
    assert visitor in api.jobs.purged
    listed = api.call("GET", f"/v1/visitors/{visitor}/items", params={"kind": "image"}).json()
    assert [i["id"] for i in listed["items"]] == ids[:0:-1]


def test_limits_say_the_mode_and_the_limits(api: Any) -> None:
    limits = api.call("GET", "/v1/limits").json()
    assert limits["max_image_bytes"] == 2 * 1024 * 1024
    assert limits["transfer_mode"] == "proxy"
    assert limits["s3_browser_origin"] is None


def test_direct_mode_names_the_s3_origin_browsers_reach(make_api: Any) -> None:
    api = make_api(transfer_mode="direct", s3_public_url="http://s3.example.test:9000")
    limits = api.call("GET", "/v1/limits").json()
    assert limits["transfer_mode"] == "direct"
    assert limits["s3_browser_origin"] == "http://s3.example.test:9000"


def test_refusals_are_counted_by_reason_in_metrics(make_api: Any, visitor: str) -> None:
    api = make_api(rate_limit_uploads_per_visitor="1/minute")
    api.start(visitor)
    assert api.start(visitor).status_code == 429
    metrics = api.client.get("/metrics").text
    assert 's3tasks_rate_limited_total{reason="uploads_per_visitor"} 1.0' in metrics
    # the refused upload, by its problem type (ProblemType.label), as every refusal is
    assert 's3tasks_uploads_total{kind="file",outcome="rate_limited"} 1.0' in metrics
