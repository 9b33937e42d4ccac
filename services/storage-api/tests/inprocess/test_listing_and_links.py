"""The listing and download links in process, and the answers of the app itself: unknown
routes and methods as problems, readiness while draining, the job queue closed at stop."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import TestClient

from s3tasks_storage_api.app import create_app

pytestmark = pytest.mark.inprocess


@pytest.mark.parametrize(
    "params", [{}, {"kind": "video"}, {"kind": "Images"}], ids=["no kind", "video", "Images"]
)
def test_the_listing_needs_a_known_kind(api: Any, visitor: str, params: dict[str, str]) -> None:
    answer = api.call("GET", f"/v1/visitors/{visitor}/items", params=params)
    assert answer.status_code == 400, answer.text
    assert "kind" in answer.json()["detail"]


def test_the_listing_shows_only_the_visitors_own_stored_items(api: Any, visitor: str) -> None:
    mine = api.stored_file(visitor)
    api.start(visitor)  # still uploading: not listed
    api.stored_file(uuid.uuid4().hex)
    listed = api.call("GET", f"/v1/visitors/{visitor}/items", params={"kind": "file"})
    assert listed.status_code == 200, listed.text
    assert [i["id"] for i in listed.json()["items"]] == [mine]


@pytest.mark.parametrize(
    "params",
    [{}, {"via": "pigeon"}, {"via": "proxy", "variant": "poster"}],
    ids=["no via", "unknown via", "unknown variant"],
)
def test_a_link_needs_a_known_route_and_variant(
    api: Any, visitor: str, params: dict[str, str]
) -> None:
    item_id = api.stored_file(visitor)
    answer = api.call("GET", f"/v1/visitors/{visitor}/items/{item_id}/link", params=params)
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("ending", ["deleted", "expired", "still uploading"])
def test_an_item_that_is_not_visible_has_no_link(api: Any, visitor: str, ending: str) -> None:
    if ending == "still uploading":
        item_id = api.start(visitor).json()["item_id"]
    else:
        item_id = api.stored_file(visitor)
        if ending == "deleted":
            api.call("DELETE", f"/v1/visitors/{visitor}/items", params={"kind": "file"})
        else:
            api.execute(
                "UPDATE items SET expires_at = now() - interval '1 second' WHERE id = %s", item_id
            )
    answer = api.call(
        "GET", f"/v1/visitors/{visitor}/items/{item_id}/link", params={"via": "proxy"}
    )
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == "No such item."


def test_a_files_link_is_an_attachment_signed_for_the_host_asked(
    make_api: Any, visitor: str
) -> None:
    api = make_api(s3_public_url="http://s3.example.test:9000")
    item_id = api.stored_file(visitor)
    path = f"/v1/visitors/{visitor}/items/{item_id}/link"
    proxy = api.call("GET", path, params={"via": "proxy"}).json()["url"]
    direct = api.call("GET", path, params={"via": "direct"}).json()["url"]
    assert urlsplit(proxy).netloc == urlsplit(api.settings.s3_endpoint).netloc
    assert urlsplit(direct).netloc == "s3.example.test:9000"
    disposition = parse_qs(urlsplit(proxy).query)["response-content-disposition"][0]
    assert disposition.startswith("attachment;")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/nothing-here", 404),
        ("PUT", "/v1/limits", 405),
        ("GET", "/v1/internal/deletions", 405),
    ],
)
def test_unknown_routes_and_methods_are_problems(
    api: Any, method: str, path: str, status: int
) -> None:
    answer = api.call(method, path)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == status


def test_a_malformed_json_body_is_a_400(api: Any, visitor: str) -> None:
    answer = api.call(
        "POST",
        f"/v1/visitors/{visitor}/uploads",
        content=b"{not json",
        headers={**api.web, "content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert api.rows(visitor) == []


def test_readyz_answers_503_once_draining(make_api: Any) -> None:
    api = make_api()
    api.client.app.state.draining.begin()
    answer = api.client.get("/readyz")
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"status": "shutting down"}


def test_readyz_names_the_dependency_that_fails(make_api: Any) -> None:
    api = make_api(s3_bucket="s3tasks-no-such-bucket")
    answer = api.client.get("/readyz")
    assert answer.status_code == 503, answer.text
    assert answer.json()["checks"]["database"] == "ok"
    assert answer.json()["checks"]["s3"].startswith("failed")


def test_the_app_closes_its_job_queue_when_it_stops(api: Any) -> None:
    class Jobs:
        closed = False

        def purge_visitor(self, visitor_id: str) -> None:
            raise AssertionError("nothing was deleted")

        def close(self) -> None:
            self.closed = True

    jobs = Jobs()
    client = TestClient(create_app(api.settings, jobs=jobs)).__enter__()
    try:
        assert client.get("/healthz").status_code == 200
        assert not jobs.closed
    finally:
        client.__exit__(None, None, None)
    assert jobs.closed
