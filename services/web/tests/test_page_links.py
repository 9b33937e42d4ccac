"""A page view in `direct` mode: one call to storage-api, whatever the page shows (share links
too), and S3's own links in the page, the same on every view, so the browser goes to S3 with
no 303 through web and keeps the thumbnails it loaded."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.stack import Dependencies, Stack, isolated_config
from s3tasks_testkit.web_visitor import WebVisitor

from .conftest import api_and_web

_THUMBNAIL_SRC = re.compile(r'<img src="([^"]+)" alt="Thumbnail of ')
_CONTENT_HREF = re.compile(r'<li class="gallery-item"[^>]*>\s*<a href="([^"]+)"')
_DOWNLOAD_HREF = re.compile(r'<a class="download" href="([^"]+)"')


@pytest.fixture(scope="module")
def direct_stack(dependencies: Dependencies) -> Iterator[Stack]:
    with (
        isolated_config(dependencies, "web-test_page_links", transfer_mode="direct") as config,
        api_and_web(config) as stack,
    ):
        yield stack


@pytest.fixture
def visitor(direct_stack: Stack) -> Iterator[WebVisitor]:
    assert direct_stack.web is not None
    with WebVisitor(direct_stack.web.url) as v:
        yield v


def calls_to_storage_api(stack: Stack) -> float:
    """Requests storage-api answered on its API (its /metrics scrapes left out)."""
    assert stack.storage_api is not None
    found = scrape(stack.storage_api.metrics_url)
    return sum(
        value
        for (name, labels), value in found.samples.items()
        if name == "s3tasks_http_requests_total" and dict(labels)["route"].startswith("/v1/")
    )


def links(page: str, pattern: re.Pattern[str]) -> list[str]:
    return [html.unescape(link) for link in pattern.findall(page)]


def test_a_page_view_is_one_call_to_storage_api(visitor: WebVisitor, direct_stack: Stack) -> None:
    visitor.page("/images")
    for n in range(3):
        assert visitor.upload("image", f"p{n}.png", png(30 + n, 20)).json()["ok"]
    for item_id in visitor.image_ids():
        created = visitor.http.post(
            f"/images/{item_id}/shares", params={"csrf": visitor.csrf_token()}, data={}
        )
        assert created.status_code == 303
    visitor.page("/images")  # web's limits are cached from here on, as in a running site
    before = calls_to_storage_api(direct_stack)
    page = visitor.page("/images")
    after = calls_to_storage_api(direct_stack)
    assert len(visitor.image_ids_in(page)) == 3
    assert len(WebVisitor.share_paths_in(page)) == 3, "each image's link is on the page"
    assert after - before == 1


def test_the_pages_links_are_s3s_and_the_same_on_every_view(
    visitor: WebVisitor, direct_stack: Stack
) -> None:
    s3_origin = direct_stack.config.s3.url
    original = png(48, 32)
    visitor.page("/images")
    assert visitor.upload("image", "same.png", original).json()["ok"]
    visitor.page("/files")
    assert visitor.upload("file", "same.txt", b"the same bytes", description="d").json()["ok"]

    views = [(visitor.page("/images"), visitor.page("/files")) for _ in range(2)]
    found = [
        (links(images, _THUMBNAIL_SRC), links(images, _CONTENT_HREF), links(files, _DOWNLOAD_HREF))
        for images, files in views
    ]
    assert found[0] == found[1]
    (thumbnail,), (content,), (download,) = found[0]
    for url in (thumbnail, content, download):
        assert url.startswith(f"{s3_origin}/{direct_stack.config.bucket}/"), url
    assert httpx.get(content, timeout=30).content == original
    assert httpx.get(thumbnail, timeout=30).headers["content-type"] == "image/webp"
    fetched = httpx.get(download, timeout=30)
    assert fetched.content == b"the same bytes"
    assert fetched.headers["content-disposition"].startswith("attachment")

    # web's own routes still answer, for bookmarks and pages without a script
    (image_id,) = visitor.image_ids()
    bookmark = visitor.http.get(f"/images/{image_id}")
    assert bookmark.status_code == 303
    assert bookmark.headers["location"].startswith(f"{s3_origin}/")
