"""Share links through web: the owner's panel, the link's page, downloads counted once."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator

import httpx
import pytest

from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.stack import Stack
from s3tasks_testkit.web_visitor import WebVisitor

GONE = "This link does not exist or has expired."
_LINK = re.compile(r'class="share-url" type="text" value="([^"]+)"')
_USED = re.compile(r'class="share-used">([^<]+)<')


def share(visitor: WebVisitor, kind: str, item_id: str, **fields: str) -> httpx.Response:
    return visitor.http.post(
        f"/{kind}s/{item_id}/shares", params={"csrf": visitor.csrf_token()}, data=fields
    )


def links_on(visitor: WebVisitor, kind: str) -> list[str]:
    return [html.unescape(url) for url in _LINK.findall(visitor.page(f"/{kind}s"))]


def shared_file(visitor: WebVisitor, content: bytes, **fields: str) -> tuple[str, str]:
    """(item id, link path) of a new file shared with `fields`."""
    visitor.page("/files")
    visitor.upload("file", "report.bin", content, description="for you", script=False)
    item_id = visitor.latest_file_id()
    assert item_id is not None
    assert share(visitor, "file", item_id, **fields).status_code == 303
    url = links_on(visitor, "file")[0]
    return item_id, httpx.URL(url).path


def download(client: httpx.Client, path: str, password: str | None = None) -> httpx.Response:
    """The Download button, followed as a browser follows it (to S3 in `direct` mode)."""
    data = {"password": password} if password is not None else {}
    answer = client.post(path, data=data)
    if answer.status_code != 303:
        return answer
    return client.get(answer.headers["location"])


@pytest.fixture
def stranger(web_url: str) -> Iterator[httpx.Client]:
    """Someone given the link: no cookie of the owner's, a browser of their own."""
    with httpx.Client(base_url=web_url, timeout=30.0, follow_redirects=False) as client:
        yield client


def test_a_link_with_a_limit_and_a_password_counts_each_download_once(
    visitor: WebVisitor, stranger: httpx.Client, web_stack: Stack
) -> None:
    content = bytes(range(256)) * 1024
    _, path = shared_file(visitor, content, max_downloads="2", password="open sesame")
    owner_page = visitor.page("/files")
    assert "0 of 2 used" in owner_page
    assert "<svg" in owner_page
    assert "style=" not in owner_page

    page = stranger.get(path)
    assert page.status_code == 200
    assert "set-cookie" not in page.headers
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-robots-tag"].startswith("noindex")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "report.bin" not in page.text  # withheld until the password is given
    assert stranger.head(path).status_code == 200  # never a download

    wrong = download(stranger, path, "guess")
    assert wrong.status_code == 403
    assert "Wrong password." in wrong.text

    first = stranger.post(path, data={"password": "open sesame"})
    assert first.status_code == 303
    assert "set-cookie" not in first.headers
    body = stranger.get(first.headers["location"])
    assert body.status_code == 200
    assert hashlib.sha256(body.content).digest() == hashlib.sha256(content).digest()
    # a resumed download within the grant is not counted again
    resumed = stranger.get(first.headers["location"], headers={"Range": "bytes=1000-1999"})
    assert resumed.status_code == 206
    assert resumed.content == content[1000:2000]

    assert download(stranger, path, "open sesame").content == content
    used_up = download(stranger, path, "open sesame")
    assert used_up.status_code == 410
    assert "used up" in used_up.text
    assert _USED.findall(visitor.page("/files")) == ["2 of 2 used"]
    assert not stranger.cookies


def test_a_stopped_link_answers_what_a_made_up_one_does(
    visitor: WebVisitor, stranger: httpx.Client
) -> None:
    item_id, path = shared_file(visitor, b"stop me" * 100)
    share_id = re.search(r'data-share-id="([0-9a-f-]+)"', visitor.page("/files"))
    assert share_id is not None
    stopped = visitor.http.post(
        f"/files/{item_id}/shares/{share_id.group(1)}/stop", params={"csrf": visitor.csrf_token()}
    )
    assert stopped.status_code == 303
    gone = stranger.get(path)
    made_up = stranger.get("/s/" + "A" * 43)
    assert gone.status_code == made_up.status_code == 404
    assert GONE in gone.text
    assert GONE in made_up.text
    assert download(stranger, path).status_code == 404


def test_an_image_link_shows_its_preview(visitor: WebVisitor, stranger: httpx.Client) -> None:
    visitor.page("/images")
    visitor.upload("image", "cat.png", png(64, 48, (200, 30, 30)), script=False)
    image_id = visitor.image_ids()[0]
    assert share(visitor, "image", image_id).status_code == 303
    path = httpx.URL(links_on(visitor, "image")[0]).path
    page = stranger.get(path).text
    preview = re.search(r'<img class="share-preview" src="([^"]+)"', page)
    assert preview is not None
    src = html.unescape(preview.group(1))
    image = stranger.get(src) if src.startswith("/") else httpx.get(src)
    assert image.status_code == 200
    assert image.headers["content-type"].startswith("image/")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"max_downloads": "0"}, "from 1 to 1000"),
        ({"max_downloads": "1001"}, "from 1 to 1000"),
        ({"max_downloads": "two"}, "from 1 to 1000"),
        ({"password": "p" * 257}, "at most 256"),
        ({"minutes": "99999"}, "deletion"),
    ],
)
def test_links_out_of_range_are_refused_in_words_and_not_made(
    visitor: WebVisitor, fields: dict[str, str], words: str
) -> None:
    visitor.page("/files")
    visitor.upload("file", "a.txt", b"abc", script=False)
    item_id = visitor.latest_file_id()
    assert item_id is not None
    assert share(visitor, "file", item_id, **fields).status_code == 303
    page = visitor.page("/files")
    assert any(words in text for level, text in visitor.flashes_in(page) if level == "error")
    assert not _LINK.findall(page)


def test_no_link_without_the_csrf_token_or_of_another_visitors_item(
    visitor: WebVisitor, other_visitor: WebVisitor
) -> None:
    visitor.page("/files")
    visitor.upload("file", "mine.txt", b"mine", script=False)
    item_id = visitor.latest_file_id()
    assert item_id is not None
    refused = visitor.http.post(f"/files/{item_id}/shares", data={})
    assert refused.status_code == 403
    other_visitor.page("/files")
    theirs = share(other_visitor, "file", item_id)
    assert theirs.status_code == 303  # back to their page, told so
    assert other_visitor.flashes("/files")[0][0] == "error"
    assert not links_on(visitor, "file")


def test_the_access_log_and_the_metrics_never_hold_a_token(
    visitor: WebVisitor, stranger: httpx.Client, web_stack: Stack
) -> None:
    assert web_stack.web is not None
    _, path = shared_file(visitor, b"logged?")
    token = path.rsplit("/", 1)[-1]
    stranger.get(path)
    metrics = scrape(web_stack.web.metrics_url)
    assert metrics.total("s3tasks_http_requests_total", route="/s/{token}", status="200") >= 1
    logs = web_stack.web.log_path.read_text(errors="replace")
    assert hashlib.sha256(token.encode()).hexdigest()[:8] in logs
    assert token not in logs


def test_the_download_form_needs_this_site_as_its_origin(
    visitor: WebVisitor, stranger: httpx.Client
) -> None:
    """The link's page is sent with no-referrer, so the browser posts its form with
    `Origin: null`; `Sec-Fetch-Site` says whether it came from this site."""
    _, path = shared_file(visitor, b"origin" * 10, max_downloads="5")
    forged = stranger.post(path, headers={"Sec-Fetch-Site": "cross-site", "Origin": "null"})
    assert forged.status_code == 403
    elsewhere = stranger.post(path, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    ours = stranger.post(path, headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"})
    assert ours.status_code == 303
    assert "set-cookie" not in ours.headers
    assert _USED.findall(visitor.page("/files")) == ["1 of 5 used"]
