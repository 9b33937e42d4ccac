"""The listing behind a page: one call carries the items, their share links and (`direct`
mode) the S3 links the page loads them by; one statement reads it; a connection the server
closed does not fail it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, event

from s3tasks_contracts import ItemKind, ItemList
from s3tasks_storage_api.db.engine import make_read_engine, read
from s3tasks_storage_api.items.page import read_page
from s3tasks_testkit.backing_services import sqlalchemy_url
from s3tasks_testkit.images import png
from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import MIB, Api, run_deletions, running_api, upload

TTL_SECONDS = 900


@pytest.fixture(scope="module")
def api(dependencies: Dependencies) -> Iterator[Api]:
    """storage-api in `direct` mode: its listing carries presigned GETs."""
    env = {
        "STORAGE_API_MAX_IMAGE_BYTES": str(2 * MIB),
        "STORAGE_API_TRANSFER_MODE": "direct",
        "STORAGE_API_IMAGE_TTL_SECONDS": str(TTL_SECONDS),
        "STORAGE_API_FILE_TTL_SECONDS": str(TTL_SECONDS),
    }
    with running_api(dependencies, "test_listing", env) as api:
        yield api


def listing(client: httpx.Client, visitor: str, kind: str = "image") -> dict[str, Any]:
    resp = client.get(f"/v1/visitors/{visitor}/items", params={"kind": kind})
    assert resp.status_code == 200, resp.text
    ItemList.model_validate(resp.json())  # the contract web decodes it by
    return resp.json()  # type: ignore[no-any-return]


def stored(client: httpx.Client, visitor: str, data: bytes, **kwargs: Any) -> dict[str, Any]:
    resp = upload(client, visitor, data, via="direct", **kwargs)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_the_listing_carries_each_items_share_links(api: Api, visitor: str) -> None:
    with api.client() as client:
        shared = stored(client, visitor, png(40, 30), filename="shared.png")
        alone = stored(client, visitor, png(30, 40), filename="alone.png")
        links = [
            client.post(f"/v1/visitors/{visitor}/items/{shared['id']}/shares", json=body).json()
            for body in ({}, {"max_downloads": 2})
        ]
        own = client.get(f"/v1/visitors/{visitor}/items/{shared['id']}/shares").json()
        items = {item["id"]: item for item in listing(client, visitor)["items"]}
    assert items[alone["id"]]["shares"] == []
    # newest first, each as the owner's share listing shows it (token and path included)
    assert items[shared["id"]]["shares"] == own["shares"]
    assert [s["id"] for s in own["shares"]] == [links[1]["id"], links[0]["id"]]
    assert items[shared["id"]]["shares"][0]["path"] == f"/s/{links[1]['token']}"


def test_direct_links_are_the_same_on_every_view_and_end_with_the_item(
    api: Api, visitor: str
) -> None:
    original = png(64, 48)
    with api.client() as client:
        item = stored(client, visitor, original, filename="cached.png")
        first, second = (listing(client, visitor)["items"][0] for _ in range(2))
        data = stored(client, visitor, b"plain bytes", kind="file", filename="a.txt")
        (file_item,) = listing(client, visitor, "file")["items"]
    assert first["id"] == item["id"]
    assert (first["content_url"], first["thumbnail_url"]) == (
        second["content_url"],
        second["thumbnail_url"],
    )
    # signed when the item was stored, valid until its deletion
    query = parse_qs(urlsplit(first["content_url"]).query)
    created = datetime.fromisoformat(first["created_at"])
    assert query["X-Amz-Date"] == [created.strftime("%Y%m%dT%H%M%SZ")]
    assert query["X-Amz-Expires"] == [str(TTL_SECONDS)]
    assert query["response-content-disposition"][0].startswith("inline")
    content = httpx.get(first["content_url"], timeout=api.timeout)
    assert content.status_code == 200
    assert content.content == original
    thumbnail = httpx.get(first["thumbnail_url"], timeout=api.timeout)
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/webp"
    # a file's link is a download, never shown inline; it has no thumbnail
    assert file_item["id"] == data["id"]
    assert file_item["thumbnail_url"] is None
    file_query = parse_qs(urlsplit(file_item["content_url"]).query)
    assert file_query["response-content-disposition"][0].startswith("attachment")

    with api.client() as client:
        for kind in ("image", "file"):
            client.delete(f"/v1/visitors/{visitor}/items", params={"kind": kind})
    run_deletions(api, visitor_id=visitor)
    for url in (first["content_url"], first["thumbnail_url"], file_item["content_url"]):
        gone = httpx.get(url, timeout=api.timeout)
        assert gone.status_code in (403, 404), gone.text


def test_a_listing_is_one_statement(api: Api, visitor: str) -> None:
    """Counted where SQLAlchemy hands statements to the driver, on storage-api's own read
    path (its read engine and query): the items, their links and the clock in one."""
    with api.client() as client:
        shared = stored(client, visitor, png(20, 20))
        stored(client, visitor, png(21, 21))
        for _ in range(2):
            client.post(f"/v1/visitors/{visitor}/items/{shared['id']}/shares", json={})
    engine = create_engine(sqlalchemy_url(api.config.database_url))
    try:
        with engine.connect():
            pass  # the dialect's first-connect queries are not the listing's
        statements: list[str] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            statements.append(statement)

        rows, _ = read(
            make_read_engine(engine),
            lambda connection: read_page(connection, visitor, ItemKind.IMAGE, 3),
        )
    finally:
        engine.dispose()
    assert len(statements) == 1, statements
    assert len(rows) == 2
    assert sorted(len(row.links) for row in rows) == [0, 2]


def test_a_listing_survives_connections_the_server_closed(api: Api, visitor: str) -> None:
    """No ping before each use: a pooled connection PostgreSQL has closed (a restart, a
    failover) fails the read once, and the read runs again on a fresh one."""
    with api.client() as client:
        item = stored(client, visitor, png(20, 20))
        assert [i["id"] for i in listing(client, visitor)["items"]] == [item["id"]]
        with psycopg.connect(api.config.database_url, autocommit=True) as admin:
            pids = [
                pid
                for (pid,) in admin.execute(
                    # OFFSET 0 keeps the filter apart: never this connection's own backend
                    "SELECT pid FROM (SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid() OFFSET 0)"
                    " AS others WHERE pg_terminate_backend(pid)"
                )
            ]
            assert pids, "storage-api held pooled connections to close"
            # the backends end on their own time: wait until they are gone
            deadline = time.monotonic() + api.timeout
            while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone() != (0,):
                assert time.monotonic() < deadline, "terminated backends did not end"
        assert [i["id"] for i in listing(client, visitor)["items"]] == [item["id"]]
    assert api.stack.storage_api is not None
    log = api.stack.storage_api.log_path.read_text()
    assert "a pooled database connection had been closed; reading again" in log
