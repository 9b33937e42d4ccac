"""Upload requests through web: the owner's panel on My Files, the sender's page `/r/<token>`
(no cookie, no referrer, not indexed), the plain form and the script's steps in the suite's
transfer mode, what the owner sees arrive, and every end answering the same page."""

from __future__ import annotations

import hashlib
import html
import re

import httpx
import pytest

from s3tasks_testkit import database
from s3tasks_testkit.stack import Stack
from s3tasks_testkit.web_visitor import WebVisitor

GONE = "This link does not exist or has expired."
_REQUEST_URL = re.compile(
    r'id="request-url-[0-9a-f-]+" class="share-url" type="text" value="([^"]+)"'
)
_STOP = re.compile(r'action="(/files/requests/[0-9a-f-]{36}/stop)\?')


def ask(owner: WebVisitor, **fields: str) -> httpx.Response:
    owner.page("/files")
    return owner.http.post("/files/requests", params={"csrf": owner.csrf_token()}, data=fields)


def request_path(owner: WebVisitor, **fields: str) -> str:
    """The path of a new request's page, as the owner's panel shows its link."""
    made = ask(owner, **fields)
    assert made.status_code == 303, made.text[:300]
    (url, *_) = _REQUEST_URL.findall(owner.page("/files"))
    return httpx.URL(html.unescape(url)).path


def send_form(
    sender: httpx.Client, path: str, content: bytes, name: str = "sent.bin", **fields: str
) -> httpx.Response:
    """The sender's plain form (no JavaScript): streamed through web in both modes."""
    return sender.post(f"{path}/upload", data=fields, files={"file": (name, content)})


def send_script(
    sender: httpx.Client, path: str, content: bytes, name: str = "sent.bin", **extra: str
) -> dict[str, object]:
    """The sender's page script, in parts (both modes): start, sign, PUT, complete."""
    json = {"Accept": "application/json"}
    start = sender.post(
        f"{path}/uploads",
        headers=json,
        json={"filename": name, "size": len(content), "in_parts": True, **extra},
    ).json()
    if not start["ok"]:
        return start  # type: ignore[no-any-return]
    item, size = start["item_id"], int(start["part_size"])
    count = max(1, -(-len(content) // size))
    signed = sender.post(
        f"{path}/uploads/{item}/parts",
        headers=json,
        json={"part_numbers": list(range(1, count + 1))},
    ).json()
    parts = []
    for number_text, url in signed["urls"].items():
        number = int(number_text)
        chunk = content[(number - 1) * size : number * size]
        put = (
            sender.put(url, content=chunk) if url.startswith("/") else httpx.put(url, content=chunk)
        )
        assert put.status_code == 200, put.text[:300]
        parts.append({"part_number": number, "etag": put.headers["etag"].strip('"')})
    done = sender.post(f"{path}/uploads/{item}/complete", headers=json, json={"parts": parts})
    assert done.status_code == 200
    return done.json()  # type: ignore[no-any-return]


@pytest.fixture
def sender(stranger: httpx.Client) -> httpx.Client:
    """Whoever was sent the link: a stranger to the owner (a browser of their own)."""
    return stranger


def requests_of(stack: Stack, visitor_id: str | None) -> list[dict[str, object]]:
    return database.table(
        stack.config.database_url, "upload_requests", "visitor_id = %s", visitor_id
    )


def test_the_owner_asks_a_sender_sends_and_the_owner_downloads_what_arrived(
    visitor: WebVisitor, sender: httpx.Client, web_stack: Stack
) -> None:
    path = request_path(
        visitor, max_files="3", max_mib="5", message="<b>Slides</b> for Monday", password=""
    )
    owner_page = visitor.page("/files")
    assert "0 of 3 files" in owner_page
    assert "<svg" in owner_page  # the QR code
    page = sender.get(path)
    assert page.status_code == 200
    assert "set-cookie" not in page.headers
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    assert "&lt;b&gt;Slides&lt;/b&gt; for Monday" in page.text  # text, never markup
    assert "0 of 3 files, 0 bytes of 5 MiB" in page.text
    first = bytes(range(256)) * 40
    sent = send_form(sender, path, first, "first.bin", description="from <i>Ann</i>")
    assert sent.status_code == 200, sent.text[:500]
    assert "set-cookie" not in sent.headers
    assert "Sent first.bin" in sent.text
    assert "1 of 3 files" in sent.text
    second = b"second file\n" * 5000
    answer = send_script(sender, path, second, "second.bin", description="the script's")
    assert answer["ok"], answer
    owner_page = visitor.page("/files")
    assert "2 of 3 files" in owner_page
    assert "Received through your request of" in owner_page
    assert "from &lt;i&gt;Ann&lt;/i&gt;" in owner_page
    # byte-identical downloads, by the owner's own routes
    ids = re.findall(r'data-item-id="([0-9a-f-]{36})"', owner_page)
    bodies = {hashlib.sha256(visitor.get(f"/files/{i}/download").content).hexdigest() for i in ids}
    assert bodies == {hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest()}
    # the sender reaches none of them: another visitor's items are not found
    for item_id in ids:
        assert sender.get(f"/files/{item_id}/download").status_code == 404
        assert sender.get(f"/files/{item_id}/shares").status_code in (404, 405)
    # nor the owner's own: the request's steps take only uploads started through it
    assert visitor.upload("file", "own.txt", b"the owner's", description="mine").json()["ok"]
    own = visitor.latest_file_id()
    json = {"Accept": "application/json"}
    for step, body in (("complete", {}), ("parts", {"part_numbers": [1]}), ("abort", {})):
        answer_to = sender.post(f"{path}/uploads/{own}/{step}", headers=json, json=body)
        assert answer_to.status_code in (200, 404), answer_to.text[:300]
        assert step == "abort" or not answer_to.json().get("ok")
    assert sender.get(f"{path}/uploads/{own}/parts", headers=json).status_code == 404
    assert visitor.latest_file_id() == own  # the abort took nothing back
    assert visitor.page("/files").count('class="meta received"') == 2


def test_five_files_land_and_the_sixth_is_refused_in_words(
    visitor: WebVisitor, sender: httpx.Client, web_stack: Stack
) -> None:
    path = request_path(visitor, max_files="5")
    for n in range(5):
        assert send_form(sender, path, f"file {n}".encode()).status_code == 200
    # the script's start, on a page opened while there was room: refused in words
    scripted = send_script(sender, path, b"one too many")
    assert scripted["messages"] == [
        {"level": "error", "text": "This request has received all the files it asked for."}
    ]
    # the form, sent from that page: the request is used up, and says so as every end does
    sixth = send_form(sender, path, b"one too many")
    assert sixth.status_code == 404
    assert GONE in sixth.text
    (asked,) = requests_of(web_stack, visitor.visitor_id)
    files_received = asked["files_received"]
    assert files_received == 5
    # used up: the same page as a link that never existed
    used, unknown = sender.get(path), sender.get("/r/" + "A" * 43)
    assert used.status_code == unknown.status_code == 404
    assert used.text == unknown.text
    assert GONE in used.text


def test_a_stopped_request_answers_as_an_unknown_one_and_the_password_is_asked(
    visitor: WebVisitor, sender: httpx.Client, web_stack: Stack
) -> None:
    path = request_path(visitor, max_files="2", password="open sesame", message="secret words")
    page = sender.get(path)
    assert "secret words" not in page.text
    assert 'name="password"' in page.text
    wrong = sender.post(path, data={"password": "wrong"})
    assert (wrong.status_code, "Wrong password." in wrong.text) == (403, True)
    huge = sender.post(path, data={"password": "p" * 10_240})
    assert (huge.status_code, "Wrong password." in huge.text) == (403, True)
    opened = sender.post(path, data={"password": "open sesame"})
    assert opened.status_code == 200
    assert "secret words" in opened.text
    assert send_form(sender, path, b"no password").status_code == 403
    assert send_form(sender, path, b"with it", password="open sesame").status_code == 200
    (stop,) = _STOP.findall(visitor.page("/files"))
    assert visitor.http.post(stop, params={"csrf": visitor.csrf_token()}).status_code == 303
    stopped, unknown = sender.get(path), sender.get("/r/" + "B" * 43)
    assert stopped.status_code == 404
    assert stopped.text == unknown.text
    assert send_form(sender, path, b"after", password="open sesame").status_code == 404


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"max_files": "0"}, "from 1 to 100"),
        ({"max_files": "101"}, "from 1 to 100"),
        ({"max_files": "two"}, "from 1 to 100"),
        ({"max_files": "1", "max_mib": "999999999"}, "whole number of MiB"),
        ({"max_files": "1", "minutes": "100000"}, "whole number of minutes"),
        ({"max_files": "1", "message": "m" * 10_000}, "at most 1000 characters"),
        ({"max_files": "1", "password": "p" * 10_240}, "at most 256 characters"),
    ],
)
def test_a_request_out_of_range_is_refused_in_words_and_nothing_made(
    visitor: WebVisitor, web_stack: Stack, fields: dict[str, str], words: str
) -> None:
    assert ask(visitor, **fields).status_code == 303
    ((level, text),) = visitor.flashes("/files")
    assert level == "error"
    assert words in text
    assert requests_of(web_stack, visitor.visitor_id) == []


def test_a_huge_note_is_refused_in_words_and_nothing_stored(
    visitor: WebVisitor, sender: httpx.Client, web_stack: Stack
) -> None:
    path = request_path(visitor, max_files="2")
    refused = send_form(sender, path, b"noted", description="n" * 600)
    assert refused.status_code == 400
    assert "The note must be at most 500 characters long." in refused.text
    items = "SELECT count(*) FROM items WHERE visitor_id = %s"
    assert database.one(web_stack.config.database_url, items, visitor.visitor_id) == 0
