"""One-shot uploads, as a visitor sees them through web in `direct` mode (issue 33): the POST
policy the upload script got, posted again after the upload was completed or its item deleted
by "Delete all", changes nothing the pages show or their links serve, nor the size counted;
and once the worker's jobs ran, the bucket holds nothing without a row."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from s3tasks_testkit import backing_services, database
from s3tasks_testkit.images import png
from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Dependencies, isolated_config, running_stack
from s3tasks_testkit.web_visitor import Site, WebVisitor

# always against a direct-mode site of its own (the only mode that hands out POST policies)
pytestmark = pytest.mark.mode_independent

SWEEP_INTERVAL_SECONDS = 1.0
_S3_LINK = re.compile(r'(?:src|href)="(https?://[^"]+)"')
_SIZE = re.compile(r"\d+(?:\.\d+)? (?:bytes|KiB|MiB)")


@pytest.fixture(scope="module")
def direct_site(dependencies: Dependencies) -> Iterator[Site]:
    if dependencies.s3.server == "moto":
        pytest.skip("moto enforces no POST policy: what a reused one may write is radosgw's")
    with (
        isolated_config(
            dependencies,
            "security-one-shot",
            transfer_mode="direct",
            sweep_interval_seconds=SWEEP_INTERVAL_SECONDS,
        ) as config,
        running_stack(config) as stack,
    ):
        yield Site(stack, dependencies.s3.client())


def upload(visitor: WebVisitor, kind: str, content: bytes) -> dict[str, Any]:
    """What the upload script does in one request, keeping what it was handed: web starts
    the upload (a POST policy), the browser posts the file to S3, web completes it."""
    headers = {"X-CSRF-Token": visitor.csrf_token(), "Accept": "application/json"}
    ticket: dict[str, Any] = visitor.http.post(
        f"/{kind}s/uploads",
        headers=headers,
        json={"filename": f"a.{'png' if kind == 'image' else 'bin'}", "size": len(content)},
    ).json()
    assert ticket["ok"], ticket
    assert post_again(ticket, content).is_success
    done = visitor.http.post(f"/{kind}s/uploads/{ticket['item_id']}/complete", headers=headers)
    assert done.json()["ok"], done.text
    return ticket


def post_again(ticket: dict[str, Any], content: bytes) -> httpx.Response:
    return httpx.post(
        ticket["post_url"],
        data=ticket["fields"],
        files={"file": ("x", content, "application/octet-stream")},
        timeout=60,
    )


def shown(site: Site, visitor: WebVisitor, kind: str) -> dict[str, Any]:
    """What the visitor's page shows (the sizes) and what its S3 links serve."""
    page = visitor.page(f"/{kind}s")
    bucket_url = f"{site.config.s3.url}/{site.config.bucket}/"
    links = [
        link
        for link in (html.unescape(found) for found in _S3_LINK.findall(page))
        if link.startswith(bucket_url)
    ]
    return {
        "sizes": _SIZE.findall(page),
        "served": sorted(httpx.get(link, timeout=30).content for link in links),
    }


def counted(site: Site, item_id: str) -> list[int]:
    return database.column(
        site.config.database_url, "SELECT size_bytes FROM items WHERE id = %s", item_id
    )


def reconcile(site: Site) -> None:
    """The worker's reconcile (beat sends it every 10 minutes), asked for now, with no grace."""
    with httpx.Client(
        base_url=site.api_url,
        headers={"Authorization": f"Bearer {site.config.worker_service_token}"},
        timeout=60,
    ) as client:
        assert client.post("/v1/internal/reconcile", json={"grace_seconds": 0}).is_success


@pytest.mark.parametrize("kind", ["image", "file"])
def test_a_post_policy_sent_again_after_completion_changes_nothing_shown_served_or_counted(
    direct_site: Site, kind: str
) -> None:
    first = png(48, 32) if kind == "image" else b"checked bytes"
    with direct_site.visitor() as visitor:
        visitor.page(f"/{kind}s")
        ticket = upload(visitor, kind, first)
        visitor.page(f"/{kind}s")  # the flash of the upload, shown once
        before = shown(direct_site, visitor, kind)
        assert before["served"], "the page links its item"
        size = counted(direct_site, ticket["item_id"])
        # the same signed fields, other bytes of the signed size (a page, not the image)
        forged = (b"<html><script>alert(1)</script>" * 1000)[: len(first)]
        assert post_again(ticket, forged).is_success  # S3 takes it: the staging key
        assert post_again(ticket, forged + b"more").status_code == 400  # the size is signed
        assert shown(direct_site, visitor, kind) == before
        assert counted(direct_site, ticket["item_id"]) == size
        reconcile(direct_site)
        assert shown(direct_site, visitor, kind) == before
    keys = backing_services.object_keys(direct_site.s3, direct_site.config.bucket, "uploads/")
    assert f"uploads/{ticket['item_id']}" not in keys


def test_a_post_policy_sent_again_after_delete_all_stores_nothing(direct_site: Site) -> None:
    bucket = direct_site.config.bucket
    with direct_site.visitor() as visitor:
        visitor.page("/files")
        ticket = upload(visitor, "file", b"deleted soon")
        item_id = ticket["item_id"]
        assert visitor.delete_all("file").status_code == 303
        wait_until(
            lambda: counted(direct_site, item_id) == [],
            timeout=sweep_patience(SWEEP_INTERVAL_SECONDS),
            interval=0.2,
            message="the worker to delete the item",
        )
        assert post_again(ticket, b"back again!!").is_success  # only the staging key
        assert shown(direct_site, visitor, "file")["served"] == []
        assert item_id not in visitor.page("/files")
        keys = backing_services.object_keys(direct_site.s3, bucket)
        assert f"objects/{item_id}" not in keys
        reconcile(direct_site)
    assert {
        k for k in backing_services.object_keys(direct_site.s3, bucket) if item_id in k
    } == set()
