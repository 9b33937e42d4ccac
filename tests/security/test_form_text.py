"""Form fields whose bytes are not UTF-8, at every POST route web has: a 400 in the site's
words (never a 500 with a traceback in the log), and nothing stored, stopped or counted.

The routes are read off web's own app, so a form added later is sent the same bytes without
anyone listing it here; a route this test does not know how to reach fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote_from_bytes

import pytest

from s3tasks_testkit import database
from s3tasks_testkit.images import png
from s3tasks_testkit.web_visitor import Site, WebVisitor, stranger
from s3tasks_web.app import create_app
from s3tasks_web.errors import FormNotText
from s3tasks_web.pages.routes import FORM
from s3tasks_web.settings import WebSettings

NOT_TEXT = FormNotText.user_message
#: what the streamed upload form says to a body that is no multipart form at all
NOT_MULTIPART = "Please send the upload form (multipart/form-data)."
#: bytes no UTF-8 decoder takes: a BOM of UTF-16, a lone surrogate (CESU-8), a cut sequence
BAD_BYTES = [b"\xff\xfe", b"\xed\xa0\x80", b"ok\xc3"]
BOUNDARY = "NoTuTf8BoUnDaRy"
_STOP_PATH = re.compile(r'action="(/(?:images|files)/[0-9a-f-]{36}/shares/[0-9a-f-]{36}/stop)\?')
_REQUEST_LINK = re.compile(
    r'id="request-url-[0-9a-f-]+" class="share-url" type="text" value="[^"]*(/r/[^"]+)"'
)
_REQUEST_STOP = re.compile(r'action="(/files/requests/[0-9a-f-]{36}/stop)\?')
#: {item_id} is an item of the page; {share_id} one of its links; {token} a link's token
_PARAM = re.compile(r"\{(\w+):\w+\}")


@dataclass(frozen=True)
class Route:
    #: its body is JSON (the upload script's steps) rather than a form
    takes_json: bool
    #: a refusal goes back to the page as a flash (a page's form, or a script's step standing
    #: in for one); otherwise the answer itself says it
    flashes: bool


def post_routes() -> dict[str, Route]:
    """Every path web answers POST on, with its parameters as `{name}`."""
    app = create_app(WebSettings(_env_file=None))
    return {
        _PARAM.sub(r"{\1}", route.path): Route(
            takes_json="data" in handler.parsed_fn_signature.parameters,
            flashes=bool(handler.opt.get(FORM)),
        )
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if "POST" in getattr(handler, "http_methods", ())
    }


ROUTES = post_routes()


def multipart(bad: bytes, part_type: bytes = b"") -> tuple[bytes, str]:
    """A form with the bad bytes in its first field, before a file (the streamed upload form
    reads the fields before the file)."""
    body = b""
    for name, value in ((b"password", bad), (b"confirm", b"yes"), (b"description", b"fine")):
        body += f"--{BOUNDARY}\r\n".encode()
        body += b'Content-Disposition: form-data; name="' + name + b'"\r\n' + part_type
        body += b"\r\n" + value + b"\r\n"
    body += f"--{BOUNDARY}\r\n".encode()
    body += b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    body += b"Content-Type: text/plain\r\n\r\nbytes\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def multipart_no_such_charset(bad: bytes) -> tuple[bytes, str]:
    """The fields name a character set there is none of (Litestar decodes a part with the
    charset it names)."""
    return multipart(bad, b"Content-Type: text/plain; charset=x-no-such-charset\r\n")


def urlencoded(bad: bytes) -> tuple[bytes, str]:
    """The same bytes as a %-escape (what a browser sends) and raw."""
    return (
        b"password=" + quote_from_bytes(bad).encode() + b"&confirm=yes&description=" + bad,
        "application/x-www-form-urlencoded",
    )


def json_body(bad: bytes) -> tuple[bytes, str]:
    """The script's JSON with the bytes in a string (a JSON decoder reads before it checks
    which fields a step takes)."""
    return b'{"filename": "' + bad + b'", "size": 1}', "application/json"


@dataclass(frozen=True)
class Owner:
    """A visitor with an image and a file, each shared once, and an upload request."""

    visitor: WebVisitor
    image_id: str
    file_id: str
    stops: dict[str, str]
    tokens: dict[str, str]
    #: the upload request's page (`/r/<token>`) and its Stop asking form's path
    request_path: str
    request_stop: str


@pytest.fixture(scope="module")
def owner(site: Site) -> Iterator[Owner]:
    with site.visitor() as visitor:
        visitor.page("/images")
        assert visitor.upload("image", "kept.png", png(20, 20)).json()["ok"]
        assert visitor.upload("file", "kept.txt", b"kept", description="kept").json()["ok"]
        (image_id,) = visitor.image_ids()
        file_id = visitor.latest_file_id()
        assert file_id is not None
        stops, tokens = {}, {}
        for kind, item_id in (("image", image_id), ("file", file_id)):
            assert visitor.share(kind, item_id).status_code == 303
            page = visitor.page(f"/{kind}s")
            (stops[kind],) = _STOP_PATH.findall(page)
            (path,) = visitor.share_paths_in(page)
            tokens[kind] = path.removeprefix("/s/")
        asked = visitor.http.post(
            "/files/requests", params={"csrf": visitor.csrf_token()}, data={"max_files": "3"}
        )
        assert asked.status_code == 303
        page = visitor.page("/files")
        (request_path,) = _REQUEST_LINK.findall(page)
        (request_stop,) = _REQUEST_STOP.findall(page)
        yield Owner(visitor, image_id, file_id, stops, tokens, request_path, request_stop)


def concrete(route: str, owner: Owner) -> str:
    """The route with the owner's ids and token in it (an image's below /images)."""
    kind = "file" if route.startswith("/files") else "image"
    if route.startswith("/r/"):
        return route.replace("/r/{token}", owner.request_path).replace("{item_id}", owner.file_id)
    if "{request_id}" in route:
        return owner.request_stop
    if "{share_id}" in route:
        return owner.stops[kind]
    item_id = owner.image_id if kind == "image" else owner.file_id
    path = route.replace("{item_id}", item_id).replace("{token}", owner.tokens["file"])
    assert "{" not in path, f"a POST route this test cannot fill in: {route}"
    return path


def state(site: Site, owner: Owner) -> tuple[object, ...]:
    """What a form could change: the owner's items, their links (downloads, stops)."""
    url, visitor_id = site.config.database_url, owner.visitor.visitor_id
    items = database.rows(
        url, "SELECT id, status, hidden_at FROM items WHERE visitor_id = %s ORDER BY id", visitor_id
    )
    links = database.rows(
        url,
        "SELECT s.id, s.downloads, s.stopped_at FROM share_links s JOIN items i"
        " ON i.id = s.item_id WHERE i.visitor_id = %s ORDER BY s.id",
        visitor_id,
    )
    asked = database.rows(
        url,
        "SELECT id, files_received, ended_at FROM upload_requests WHERE visitor_id = %s"
        " ORDER BY id",
        visitor_id,
    )
    return (tuple(items), tuple(links), tuple(asked), frozenset(site.object_keys()))


def test_every_post_route_is_sent_the_bytes() -> None:
    """The enumeration finds the forms a visitor has, so it finds new ones too."""
    assert {
        "/images/delete",
        "/files/upload",
        "/files/{item_id}/shares",
        "/images/{item_id}/shares/{share_id}/stop",
        "/s/{token}",
        "/files/requests",
        "/files/requests/{request_id}/stop",
        "/r/{token}",
        "/r/{token}/upload",
    } <= set(ROUTES)


ENCODINGS = {
    "multipart": multipart,
    "multipart-no-such-charset": multipart_no_such_charset,
    "urlencoded": urlencoded,
    "json": json_body,
}
SENT = [
    (route, encoding)
    for route, role in ROUTES.items()
    for encoding in (
        ("json",) if role.takes_json else ("multipart", "multipart-no-such-charset", "urlencoded")
    )
]


@pytest.mark.parametrize("bad", BAD_BYTES, ids=["utf16-bom", "surrogate", "cut"])
@pytest.mark.parametrize(("route", "encoding"), SENT, ids=[f"{r}-{e}" for r, e in SENT])
def test_a_field_that_is_not_utf8_is_refused_in_words_and_changes_nothing(
    site: Site, owner: Owner, route: str, encoding: str, bad: bytes
) -> None:
    body, content_type = ENCODINGS[encoding](bad)
    before = state(site, owner)
    path = concrete(route, owner)
    visitor = owner.visitor
    expected = NOT_MULTIPART if route.endswith("/upload") and encoding == "urlencoded" else NOT_TEXT
    if path.startswith(("/s/", "/r/")):
        # a link's page: no session, no token; whoever holds the link reads the page
        with stranger(site.web_url) as someone:
            response = someone.post(path, content=body, headers={"Content-Type": content_type})
        assert response.status_code == 400, response.text[:300]
        assert expected in response.text.replace("&#39;", "'")
    else:
        # a page's form as the page's script sends it (and the script's own steps): the
        # status in JSON, the words flashed on the page it goes back to
        response = visitor.http.post(
            path,
            params={"csrf": visitor.csrf_token()},
            content=body,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )
        assert response.status_code < 500, response.text[:300]
        outcome = response.json()
        if ROUTES[route].flashes:
            assert outcome["status"] == 400, outcome
            page = "/files" if route.startswith("/files") else "/images"
            assert ("error", expected) in visitor.flashes(page)
        else:
            assert response.status_code == 400, outcome
            assert outcome["detail"] == expected
    assert state(site, owner) == before
