"""The links in the pages (`direct` mode): a page carries presigned S3 GETs of its visitor's
own items, valid until each item's deletion. Whoever holds one may fetch that one object, so
what matters is who gets one: nobody but the item's owner (another visitor's page never
carries it), and nobody once the item is deleted (S3 refuses: the object is gone)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from s3tasks_testkit.images import png
from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Dependencies, isolated_config, running_stack
from s3tasks_testkit.web_visitor import Site, WebVisitor

# always against a direct-mode site of its own (the only mode whose pages carry S3 links)
pytestmark = pytest.mark.mode_independent


SWEEP_INTERVAL_SECONDS = 1.0
_S3_LINK = re.compile(r'(?:src|href)="(https?://[^"]+)"')


@pytest.fixture(scope="module")
def direct_site(dependencies: Dependencies) -> Iterator[Site]:
    """A whole stack in `direct` mode (whatever mode the suite runs in): the worker deletes."""
    with (
        isolated_config(
            dependencies,
            "security-page-links",
            transfer_mode="direct",
            sweep_interval_seconds=SWEEP_INTERVAL_SECONDS,
        ) as config,
        running_stack(config) as stack,
    ):
        yield Site(stack, dependencies.s3.client())


def s3_links(page: str, bucket_url: str) -> list[str]:
    return [
        link
        for link in (html.unescape(found) for found in _S3_LINK.findall(page))
        if link.startswith(bucket_url)
    ]


def owner_with_items(site: Site) -> tuple[WebVisitor, list[str]]:
    """A visitor with an image and a file, and the S3 links their pages carry."""
    owner = site.visitor()
    owner.page("/images")
    assert owner.upload("image", "mine.png", png(40, 30)).json()["ok"]
    assert owner.upload("file", "mine.txt", b"mine only", description="private").json()["ok"]
    bucket_url = f"{site.config.s3.url}/{site.config.bucket}/"
    found = s3_links(owner.page("/images"), bucket_url) + s3_links(owner.page("/files"), bucket_url)
    # a thumbnail and the image's content, the file's download
    assert len(found) == 3, found
    for link in found:
        assert httpx.get(link, timeout=30).status_code == 200
    return owner, found


def test_another_visitors_page_never_carries_a_link_to_your_item(direct_site: Site) -> None:
    owner, owned_links = owner_with_items(direct_site)
    file_id = owner.latest_file_id()
    assert file_id is not None
    item_ids = [*owner.image_ids(), file_id]
    with direct_site.visitor() as other:
        # the other visitor has items of their own: their pages carry links, just not these
        other.page("/images")
        assert other.upload("image", "theirs.png", png(30, 40)).json()["ok"]
        pages = other.page("/images") + other.page("/files")
        bucket_url = f"{direct_site.config.s3.url}/{direct_site.config.bucket}/"
        assert len(s3_links(pages, bucket_url)) == 2
        for secret in [*item_ids, *owned_links, *(urlpath(link) for link in owned_links)]:
            assert secret not in pages
    owner.close()


def test_a_link_taken_from_the_page_stops_working_after_delete_all(direct_site: Site) -> None:
    owner, links = owner_with_items(direct_site)
    for kind in ("image", "file"):
        assert owner.delete_all(kind).status_code == 303
    assert s3_links(owner.page("/images") + owner.page("/files"), "http") == []

    def all_refused() -> bool:
        return all(not httpx.get(link, timeout=30).is_success for link in links)

    # "delete all" hides the rows at once; a job deletes the objects
    wait_until(
        all_refused,
        timeout=sweep_patience(SWEEP_INTERVAL_SECONDS),
        interval=0.2,
        message="S3 to refuse the page's links of deleted items",
    )
    for link in links:
        assert httpx.get(link, timeout=30).status_code in (403, 404)
    owner.close()


def urlpath(link: str) -> str:
    """The object key part of a link (`/bucket/objects/<id>`), without the signature."""
    return httpx.URL(link).path
