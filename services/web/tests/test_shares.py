"""Share links through web: the owner's panel, the link's page, downloads counted once, and
what a grant serves: one download, to its client, under its own link, for seconds."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator

import httpx
import pytest

from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Dependencies, Stack, isolated_config
from s3tasks_testkit.web_visitor import WebVisitor

from .conftest import api_and_web

GONE = "This link does not exist or has expired."
GRANT_ENDED = "This download is no longer valid."
#: a grant's window here: short, so a test sees it end; every wait below is bounded by it
GRANT_SECONDS = 6
_LINK = re.compile(r'class="share-url" type="text" value="([^"]+)"')
_USED = re.compile(r'class="share-used">([^<]+)<')


def links_on(visitor: WebVisitor, kind: str) -> list[str]:
    """The paths of the share links the owner's page of `kind` shows, newest first."""
    return visitor.share_paths_in(visitor.page(f"/{kind}s"))


def download(client: httpx.Client, path: str, password: str | None = None) -> httpx.Response:
    """The Download button, followed as a browser follows it (to S3 in `direct` mode)."""
    data = {"password": password} if password is not None else {}
    answer = client.post(path, data=data)
    if answer.status_code != 303:
        return answer
    return fetch(client, answer.headers["location"])


def fetch(client: httpx.Client, location: str, **headers: str) -> httpx.Response:
    """A granted download's URL, followed as a browser follows it (to S3 in `direct` mode)."""
    return client.get(location, headers=headers, follow_redirects=True)


def as_client(address: str) -> dict[str, str]:
    """The headers of a request from `address`, as the ingress web trusts here says it."""
    return {"X-Forwarded-For": address}


@pytest.fixture(scope="module")
def web_stack(dependencies: Dependencies) -> Iterator[Stack]:
    """storage-api and web for this module: a grant window short enough to see it end, and
    X-Forwarded-For trusted from loopback (as from an ingress) so that a test can be a
    second client."""
    with (
        isolated_config(
            dependencies,
            "web-test_shares",
            extra_env={
                "STORAGE_API_SHARE_GRANT_SECONDS": str(GRANT_SECONDS),
                "WEB_CLIENT_ADDRESS_HEADER": "X-Forwarded-For",
                "WEB_TRUSTED_PROXIES": "127.0.0.0/8",
            },
        ) as config,
        api_and_web(config) as stack,
    ):
        yield stack


def test_a_link_with_a_limit_and_a_password_counts_each_download_once(
    visitor: WebVisitor, stranger: httpx.Client, web_stack: Stack
) -> None:
    content = bytes(range(256)) * 1024
    _, path = visitor.share_new_file(
        content, filename="report.bin", max_downloads="2", password="open sesame"
    )
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
    body = fetch(stranger, first.headers["location"])
    assert body.status_code == 200
    assert hashlib.sha256(body.content).digest() == hashlib.sha256(content).digest()
    # a resumed download within the grant is not counted again
    resumed = fetch(stranger, first.headers["location"], Range="bytes=1000-1999")
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
    item_id, path = visitor.share_new_file(b"stop me" * 100)
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
    assert visitor.share("image", image_id).status_code == 303
    path = links_on(visitor, "image")[0]
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
    assert visitor.share("file", item_id, **fields).status_code == 303
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
    theirs = other_visitor.share("file", item_id)
    assert theirs.status_code == 303  # back to their page, told so
    assert other_visitor.flashes("/files")[0][0] == "error"
    assert not links_on(visitor, "file")


def test_the_access_log_and_the_metrics_never_hold_a_token(
    visitor: WebVisitor, stranger: httpx.Client, web_stack: Stack
) -> None:
    assert web_stack.web is not None
    _, path = visitor.share_new_file(b"logged?")
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
    _, path = visitor.share_new_file(b"origin" * 10, max_downloads="5")
    forged = stranger.post(path, headers={"Sec-Fetch-Site": "cross-site", "Origin": "null"})
    assert forged.status_code == 403
    elsewhere = stranger.post(path, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    ours = stranger.post(path, headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"})
    assert ours.status_code == 303
    assert "set-cookie" not in ours.headers
    assert _USED.findall(visitor.page("/files")) == ["1 of 5 used"]


def test_a_grant_serves_one_download_to_its_client_under_its_link_within_its_window(
    visitor: WebVisitor, stranger: httpx.Client, web_stack: Stack
) -> None:
    content = bytes(range(256)) * 1024
    item_id, path = visitor.share_new_file(content, max_downloads="1", password="for you only")
    assert visitor.share("file", item_id).status_code == 303
    other_path = links_on(visitor, "file")[0]  # newest first
    assert other_path != path
    me = as_client("198.51.100.10")
    granted = stranger.post(path, data={"password": "for you only"}, headers=me)
    assert granted.status_code == 303
    location = granted.headers["location"]
    # in both modes through web: S3 cannot tell who follows its link, web can
    assert location.startswith(f"{path}/download?grant=")
    assert "used up" in stranger.get(path).text  # this download took its one
    # the download it was counted for: its start and a Range resume, from the same client
    assert fetch(stranger, location, **me).content == content
    resumed = fetch(stranger, location, Range="bytes=1000-", **me)
    assert resumed.status_code == 206
    assert resumed.content == content[1000:]
    handed_out = stranger.get(location, headers=me)  # what a browser is handed
    s3_link = handed_out.headers["location"] if handed_out.status_code == 303 else None
    assert (s3_link is not None) is (web_stack.config.transfer_mode == "direct")
    # another client, this link's grant under another link or a token nobody made: refused,
    # though the password was given and the grant is within its window
    grant_query = location.partition("?")[2]
    for target, who in [
        (location, as_client("198.51.100.11")),
        (f"{other_path}/download?{grant_query}", me),
        (f"/s/{'B' * 43}/download?{grant_query}", me),
    ]:
        refused = stranger.get(target, headers=who)
        assert refused.status_code == 403, (target, refused.status_code)
        assert GRANT_ENDED in refused.text
    # once the window has passed, nothing it handed out starts a download
    wait_until(
        lambda: (
            stranger.get(location, headers=me).status_code == 403
            and (s3_link is None or httpx.get(s3_link, timeout=30).status_code == 403)
        ),
        timeout=GRANT_SECONDS + 5,
        interval=0.25,
        message="the grant and the S3 link it handed out to end with its window",
    )
    assert _USED.findall(visitor.page("/files")) == ["0 used", "1 of 1 used"]


def test_after_stop_sharing_nothing_handed_out_starts_a_download_after_the_window(
    visitor: WebVisitor, stranger: httpx.Client
) -> None:
    item_id, path = visitor.share_new_file(b"stop me" * 100)
    location = stranger.post(path).headers["location"]
    handed_out = stranger.get(location)
    s3_link = handed_out.headers["location"] if handed_out.status_code == 303 else None
    share_id = re.search(r'data-share-id="([0-9a-f-]+)"', visitor.page("/files"))
    assert share_id is not None
    stopped = visitor.http.post(
        f"/files/{item_id}/shares/{share_id.group(1)}/stop", params={"csrf": visitor.csrf_token()}
    )
    assert stopped.status_code == 303
    assert stranger.get(location).status_code == 404  # the grant, at once
    wait_until(  # an S3 link handed out before the stop: no later than the window's end
        lambda: s3_link is None or httpx.get(s3_link, timeout=30).status_code == 403,
        timeout=GRANT_SECONDS + 5,
        interval=0.25,
        message="the S3 link of a stopped link to expire",
    )


def test_no_cache_keeps_a_share_download(visitor: WebVisitor, stranger: httpx.Client) -> None:
    _, path = visitor.share_new_file(b"not for caches" * 100)
    granted = stranger.post(path)
    assert granted.headers["cache-control"] == "no-store"
    handed_out = stranger.get(granted.headers["location"])
    # `proxy`: web's answer; `direct`: web's redirect and then S3's own answer
    assert handed_out.headers["cache-control"] == "private, no-store"
    if handed_out.status_code == 303:
        handed_out = httpx.get(handed_out.headers["location"], timeout=30)
    assert handed_out.status_code == 200
    assert handed_out.headers["cache-control"] == "private, no-store"


def test_a_range_past_the_end_of_a_shared_file_is_the_sites_416(
    visitor: WebVisitor, stranger: httpx.Client, web_stack: Stack
) -> None:
    _, path = visitor.share_new_file(b"x" * 1000)
    location = stranger.post(path).headers["location"]
    answer = stranger.get(location, headers={"Range": "bytes=5000-"})
    if web_stack.config.transfer_mode == "direct":
        assert answer.status_code == 303  # S3 answers the browser itself
        return
    assert answer.status_code == 416
    assert answer.headers["content-range"] == "bytes */1000"
    assert "starts beyond the end of the file" in answer.text
    assert "<Error>" not in answer.text
