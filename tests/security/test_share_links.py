"""Bad input at share links: made-up, malformed and hostile tokens, grants and headers, and
password guessing. Each gets a clear answer, never a 5xx; nothing is created or counted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from s3tasks_testkit.web_visitor import Site, WebVisitor

GONE = "This link does not exist or has expired."
CONTENT = b"0123456789" * 10
_USED = re.compile(r'class="share-used">([^<]+)<')


@pytest.fixture
def owner(site: Site) -> Iterator[WebVisitor]:
    with site.visitor() as visitor:
        yield visitor


def shared(owner: WebVisitor, **fields: str) -> tuple[str, str]:
    """(item id, link path) of the owner's new file, shared with `fields`."""
    return owner.share_new_file(CONTENT, filename="digits.txt", description="d", **fields)


def used(owner: WebVisitor) -> list[str]:
    return _USED.findall(owner.page("/files"))


TOKEN_TRICKS = [
    "short",
    "A" * 42,
    "A" * 44,
    "A" * 4000,
    quote("é" * 43),
    quote("A" * 42 + "\u200b"),
    "A" * 42 + "%00",
    "..%2F..%2Ffiles",
    "%2e%2e",
    "A" * 42 + "=",
    "A" * 43 + "%20",
]


@pytest.mark.parametrize("token", TOKEN_TRICKS, ids=range(len(TOKEN_TRICKS)))
@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_malformed_tokens_answer_the_not_found_page_and_set_no_cookie(
    stranger: httpx.Client, token: str, method: str
) -> None:
    response = stranger.request(method, f"/s/{token}", data={} if method == "POST" else None)
    assert response.status_code == 404, response.text[:200]
    assert "set-cookie" not in response.headers
    assert response.headers["referrer-policy"] == "no-referrer"
    if method != "HEAD":
        assert GONE in response.text


@pytest.mark.parametrize("suffix", ["/download", "/download?grant=x", "/preview"])
def test_the_link_routes_of_a_made_up_token_are_refused(
    stranger: httpx.Client, suffix: str
) -> None:
    response = stranger.get(f"/s/{'B' * 43}{suffix}")
    assert response.status_code in (403, 404)
    assert "set-cookie" not in response.headers


def test_head_is_never_a_download(owner: WebVisitor, stranger: httpx.Client) -> None:
    _, path = shared(owner, max_downloads="1")
    for target in (path, f"{path}/download"):
        for _ in range(3):
            head = stranger.head(target)
            assert head.status_code == 200
            assert head.content == b""
    assert used(owner) == ["0 of 1 used"]


@pytest.mark.parametrize(
    "grant",
    ["", "x" * 600, "0" * 32 + "." + "0" * 32 + ".9999999999.forged", "é", "../../etc/passwd"],
    ids=["empty", "overlong", "forged", "unicode", "path"],
)
def test_forged_grants_are_refused_and_count_nothing(
    owner: WebVisitor, stranger: httpx.Client, grant: str
) -> None:
    _, path = shared(owner, max_downloads="1")
    response = stranger.get(f"{path}/download", params={"grant": grant})
    assert response.status_code == 403
    assert "no longer valid" in response.text
    assert used(owner) == ["0 of 1 used"]


@pytest.mark.parametrize(
    "range_header",
    [
        "bytes=abc",
        "bytes=5-2",
        "items=0-3",
        "bytes=" + ",".join(f"{i}-{i}" for i in range(200)),
        "bytes=99999-",
        "bytes=-0",
        "bytes=2-5",
    ],
    ids=["garbage", "reversed", "wrong-unit", "200-ranges", "beyond-end", "empty-suffix", "valid"],
)
def test_hostile_ranges_within_a_grant_are_served_or_refused_and_counted_once(
    owner: WebVisitor, stranger: httpx.Client, range_header: str
) -> None:
    _, path = shared(owner, max_downloads="3")
    granted = stranger.post(path)
    assert granted.status_code == 303
    location = granted.headers["location"]
    for _ in range(2):
        # a resumed download asks again with its Range: web passes it on in `proxy` mode,
        # the browser follows web's redirect to S3 with it in `direct` mode
        response = stranger.get(location, headers={"Range": range_header}, follow_redirects=True)
        assert response.status_code in (200, 206, 416), response.text[:200]
        if response.status_code in (200, 206):
            assert response.content in CONTENT
    assert used(owner) == ["1 of 3 used"]


def test_password_guessing_past_the_limit_is_told_to_wait(
    owner: WebVisitor, stranger: httpx.Client
) -> None:
    _, path = shared(owner, max_downloads="5", password="the real one")
    answers = [stranger.post(path, data={"password": f"guess {n}"}) for n in range(5)]
    assert [answer.status_code for answer in answers] == [403] * 5
    assert all("Wrong password." in answer.text for answer in answers)
    locked = stranger.post(path, data={"password": "the real one"})
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    assert "Too many password attempts" in locked.text
    assert used(owner) == ["0 of 5 used"]


def test_an_overlong_password_is_wrong_and_no_link_takes_one(
    owner: WebVisitor, stranger: httpx.Client
) -> None:
    item_id, path = shared(owner, password="short")
    wrong = stranger.post(path, data={"password": "p" * 10_000})
    assert wrong.status_code == 403
    assert "Wrong password." in wrong.text
    refused = owner.http.post(
        f"/files/{item_id}/shares",
        params={"csrf": owner.csrf_token()},
        data={"password": "p" * 10_000},
    )
    assert refused.status_code == 303
    assert len(owner.share_paths_in(owner.page("/files"))) == 1


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "1e3", "٣", "1" * 40, "2.5"])
def test_limits_out_of_range_create_nothing(owner: WebVisitor, limit: str) -> None:
    owner.page("/files")
    owner.upload("file", "x.txt", b"x", description="x", script=False)
    item_id = owner.latest_file_id()
    created = owner.http.post(
        f"/files/{item_id}/shares",
        params={"csrf": owner.csrf_token()},
        data={"max_downloads": limit},
    )
    assert created.status_code == 303
    page = owner.page("/files")
    assert not WebVisitor.share_paths_in(page)
    assert "from 1 to 1000" in page


def test_sharing_needs_the_csrf_token_and_ones_own_item(owner: WebVisitor, site: Site) -> None:
    item_id, _ = shared(owner)
    assert owner.http.post(f"/files/{item_id}/shares", data={}).status_code == 403
    with site.visitor() as other:
        other.page("/files")
        theirs = other.http.post(
            f"/files/{item_id}/shares", params={"csrf": other.csrf_token()}, data={}
        )
        assert theirs.status_code == 303
        assert [level for level, _ in other.flashes("/files")] == ["error"]
        stop = other.http.post(
            f"/files/{item_id}/shares/{item_id}/stop", params={"csrf": other.csrf_token()}
        )
        assert stop.status_code == 303
    assert len(owner.share_paths_in(owner.page("/files"))) == 1
