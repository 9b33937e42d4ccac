# ruff: noqa: E501  (the case table reads best one case per line)
"""Bad input through web, as a visitor sends it: what they are told, and that nothing is stored.

Every case states the status the visitor gets (the HTTP status, or for the page's upload
script the outcome status in its JSON answer), the words they read (the flash message on the
page they go back to, or the error page), which counter counted the refusal, and that no row,
no object and no open multipart upload was left. Cases that are *accepted* (a sanitised name,
a re-encoded polyglot) check what is stored and served instead, then delete it again.
The last test checks the whole invariant after the suite.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import select
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from PIL import Image

from s3tasks_testkit import backing_services, database
from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import Growth, scrape
from s3tasks_testkit.patience import JOB_SECONDS, patience, sweep_patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import TRANSFER_ENV
from s3tasks_testkit.web_visitor import LEAK_MARKERS, Site, WebVisitor

from . import payloads as p
from .conftest import (
    HEADER_TIMEOUT_SECONDS,
    MAX_CONCURRENT_UPLOADS,
    MAX_IMAGE_BYTES,
    MIB,
    SWEEP_INTERVAL_SECONDS,
    UPLOAD_IDLE_TIMEOUT_SECONDS,
    UPLOAD_RATE_GRACE_SECONDS,
)

NOT_AN_IMAGE = "not a JPEG, PNG, GIF or WebP image"
CORRUPT = "corrupt or truncated"
TOO_MANY_PIXELS = "too many pixels"
IMAGE_TOO_LARGE = "That image is too large"
FILE_TOO_LARGE = "That file is too large"
#: direct mode: the browser fetches bytes from S3 itself (S3TASKS_TEST_TRANSFER)
DIRECT = os.environ.get(TRANSFER_ENV) == "direct"
EMPTY = "empty"
RELOAD = "Reload the page"
#: answered by the router before web's middleware runs: no request counter moves (see the
#: report: web's HTTP metrics miss 405s and unrouted 404s).
ROUTER = "router"
NOT_FOUND = "does not exist"
BAD_FORM = "Please send the upload form"
BAD_BOUNDARY = "The upload form is malformed: its boundary"
NAME_TOO_LONG = "The file name is too long: at most 1024 characters."


@dataclass(frozen=True)
class Refusal:
    """A refused request: what the visitor is told and which counter counts it."""

    status: int
    message: str
    #: "api": storage-api refused it (its and web's upload counters move);
    #: "web": web refused it before storage-api (web's upload counter moves);
    #: "http": no upload was attempted (web's request counter for that status moves).
    counted: str
    #: the page whose flash shows the message; None: the response itself shows it.
    flash_on: str | None = None
    #: (kind, outcome) of web's s3tasks_uploads_total series that must count it, if named.
    outcome: tuple[str, str] | None = None


@dataclass(frozen=True)
class Case:
    name: str
    send: Callable[[WebVisitor], httpx.Response]
    refusal: Refusal
    marks: tuple[pytest.MarkDecorator, ...] = field(default_factory=tuple)


def upload(kind: str, filename: str, content: bytes, **kw: object) -> Callable[..., httpx.Response]:
    def send(v: WebVisitor) -> httpx.Response:
        return v.upload(kind, filename, content, **kw)  # type: ignore[arg-type]

    return send


def image_refused(status: int, message: str, counted: str = "api") -> Refusal:
    return Refusal(status, message, counted, flash_on="/images")


def file_refused(status: int, message: str, counted: str = "api") -> Refusal:
    return Refusal(status, message, counted, flash_on="/files")


def multipart(parts: list[tuple[bytes, bytes]], boundary: bytes = b"XyZbOuNdArY") -> bytes:
    """A hand-made multipart body: (Content-Disposition params, data) per part."""
    out = b""
    for disposition, data in parts:
        out += b"--" + boundary + b"\r\nContent-Disposition: form-data; " + disposition
        out += b"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


FORM = "multipart/form-data; boundary=XyZbOuNdArY"


def raw(path: str, body: bytes, content_type: str = FORM) -> Callable[..., httpx.Response]:
    def send(v: WebVisitor) -> httpx.Response:
        return v.post_raw(path, body, {"Content-Type": content_type, "Accept": "application/json"})

    return send


def chunked_upload(kind: str, size: int) -> Callable[..., httpx.Response]:
    """A streamed form body without Content-Length (chunked), as a proxy may forward it."""

    def send(v: WebVisitor) -> httpx.Response:
        head = multipart([(b'name="file"; filename="big.bin"', b"")]).split(b"\r\n--XyZ")[0]

        def body() -> object:
            yield head
            chunk = b"\x89PNG\r\n\x1a\n" + b"\0" * (MIB - 8)
            for _ in range(size // MIB):
                yield chunk
            yield b"\r\n--XyZbOuNdArY--\r\n"

        return v.http.post(
            f"/{kind}s/upload",
            params={"csrf": v.csrf_token()},
            headers={"Content-Type": FORM, "Accept": "application/json"},
            content=body(),  # type: ignore[arg-type]
        )

    return send


def many_fields(count: int) -> bytes:
    fields = [(f'name="f{i}"'.encode(), b"x") for i in range(count)]
    return multipart([*fields, (b'name="file"; filename="a.txt"', b"hello")])


REFUSED: list[Case] = [
    # -- extension/content mismatch: the bytes decide, never the name -------------------
    Case("pdf-as-png", upload("image", "doc.png", p.PDF), image_refused(415, NOT_AN_IMAGE)),
    Case("exe-as-jpg", upload("image", "setup.jpg", p.EXE), image_refused(415, NOT_AN_IMAGE)),
    Case("html-as-gif", upload("image", "page.gif", p.HTML), image_refused(415, NOT_AN_IMAGE)),
    Case("svg-as-png", upload("image", "logo.png", p.SVG, content_type="image/png"),
         image_refused(415, NOT_AN_IMAGE)),
    Case("svg-as-svg", upload("image", "logo.svg", p.SVG, content_type="image/svg+xml"),
         image_refused(415, NOT_AN_IMAGE)),
    Case("zip-as-webp", upload("image", "a.webp", p.zip_bytes()), image_refused(415, NOT_AN_IMAGE)),
    Case("php-double-extension", upload("image", "shell.php.png", p.PHP),
         image_refused(415, NOT_AN_IMAGE)),
    Case("html-polyglot-head", upload("image", "x.jpg", p.HTML + p.jpeg()),
         image_refused(415, NOT_AN_IMAGE)),
    # -- names ----------------------------------------------------------------------------
    Case("only-dots-filename", upload("file", "....", b"data"),
         file_refused(400, "filename is empty or not usable")),
    Case("trailing-dots-and-spaces-only", upload("file", ". . .", b"data"),
         file_refused(400, "filename is empty or not usable")),
    Case("nul-in-filename", raw("/files/upload", multipart([(b'name="file"; filename="a\x00b.txt"', b"data")])),
         file_refused(400, "NUL")),
    Case("traversal-to-nothing", upload("file", "../../", b"data"),
         file_refused(400, "Please choose a file", counted="web")),
    # web refuses a name longer than the one limit both services share, in words (a longer one
    # once reached storage-api and came back as its developer-facing validation text)
    Case("filename-1025-chars", upload("file", "a" * 1021 + ".txt", b"data"),
         file_refused(400, NAME_TOO_LONG, counted="web")),
    Case("filename-4100-chars", upload("file", "L" * 4096 + ".txt", b"data"),
         file_refused(400, NAME_TOO_LONG, counted="web")),
    Case("filename-5000-chars", upload("file", "a" * 5000 + ".txt", b"data"),
         file_refused(400, NAME_TOO_LONG, counted="web")),
    Case("filename-10004-chars", upload("file", "a" * 10_000 + ".txt", b"data"),
         file_refused(400, NAME_TOO_LONG, counted="web")),
    Case("control-chars-only", raw("/files/upload", multipart([(b'name="file"; filename="\x07\x1b\x7f\x08"', b"data")])),
         file_refused(400, "filename is empty or not usable")),
    # -- descriptions ------------------------------------------------------------------
    Case("nul-in-description", upload("file", "a.txt", b"data", description="a\x00b"),
         file_refused(400, "description contains a NUL")),
    Case("description-over-500-chars", upload("file", "a.txt", b"data", description="d" * 600),
         file_refused(400, "longer than 500 characters")),
    Case("description-huge", upload("file", "a.txt", b"data", description="d" * 200_000),
         file_refused(400, "description is too long", counted="web")),
    # -- empty and oversize --------------------------------------------------------------
    Case("zero-byte-image", upload("image", "empty.png", b""), image_refused(400, EMPTY)),
    Case("zero-byte-file", upload("file", "empty.txt", b""), file_refused(400, EMPTY)),
    Case("oversize-image-announced", upload("image", "big.png", png() + b"\0" * (2 * MIB)),
         image_refused(413, IMAGE_TOO_LARGE, counted="web")),
    Case("oversize-image-chunked", chunked_upload("image", 3 * MIB),
         image_refused(413, IMAGE_TOO_LARGE, counted="web")),
    Case("oversize-file-chunked-multipart-aborted", chunked_upload("file", 14 * MIB),
         file_refused(413, FILE_TOO_LARGE, counted="web")),
    # -- pixel bombs around our limit (4 MP) and Pillow's thresholds (89.5 MP warn, 179 MP error)
    Case("pixels-just-over-our-limit", upload("image", "b.png", p.png_claiming(2001, 2000)),
         image_refused(422, TOO_MANY_PIXELS)),
    Case("pixels-over-pillow-warning", upload("image", "b.png", p.png_claiming(9460, 9460)),
         image_refused(422, TOO_MANY_PIXELS)),
    Case("pixels-over-pillow-error", upload("image", "b.png", p.png_claiming(13400, 13400)),
         image_refused(422, TOO_MANY_PIXELS)),
    Case("gif-65535-square", upload("image", "b.gif", p.gif_claiming(65535, 65535)),
         image_refused(422, TOO_MANY_PIXELS)),
    # -- truncated and corrupt -----------------------------------------------------------
    Case("truncated-png", upload("image", "t.png", png(200, 200)[:80]), image_refused(422, CORRUPT)),
    Case("truncated-jpeg", upload("image", "t.jpg", p.jpeg(300, 300)[:400]),
         image_refused(422, CORRUPT)),
    Case("png-signature-then-garbage", upload("image", "g.png", b"\x89PNG\r\n\x1a\n" + b"\xaa" * 500),
         image_refused(422, CORRUPT)),
    Case("gif-header-only", upload("image", "h.gif", b"GIF89a"), image_refused(422, CORRUPT)),
    # -- malformed multipart ---------------------------------------------------------------
    Case("multipart-without-boundary", raw("/files/upload", b"--x\r\n\r\n", "multipart/form-data"),
         file_refused(400, BAD_FORM, counted="web")),
    # RFC 2046 allows 70 characters; the parser itself refuses over 256 (that was a 500)
    Case("boundary-71-chars", raw("/files/upload", multipart([(b'name="file"; filename="a.txt"', b"x")], b"b" * 71),
                                  "multipart/form-data; boundary=" + "b" * 71),
         file_refused(400, BAD_BOUNDARY, counted="web")),
    Case("boundary-257-chars", raw("/images/upload", b"--" + b"b" * 257 + b"\r\n", "multipart/form-data; boundary=" + "b" * 257),
         image_refused(400, BAD_BOUNDARY, counted="web")),
    Case("boundary-5000-chars", raw("/files/upload", b"--" + b"b" * 5000 + b"\r\n", "multipart/form-data; boundary=" + "b" * 5000),
         file_refused(400, BAD_BOUNDARY, counted="web")),
    Case("not-multipart", raw("/files/upload", b'{"file": "x"}', "application/json"),
         file_refused(400, BAD_FORM, counted="web")),
    Case("missing-file-part", raw("/files/upload", multipart([(b'name="description"', b"hi")])),
         file_refused(400, "Please choose a file", counted="web")),
    Case("file-part-without-filename", raw("/files/upload", multipart([(b'name="file"', b"hi")])),
         file_refused(400, "Please choose a file", counted="web")),
    Case("unterminated-multipart", raw("/files/upload", multipart([(b'name="file"; filename="a.txt"', b"hi")])[:-20]),
         file_refused(400, "not sent completely", counted="web")),
    # the file part is complete, then another part opens and the body ends: the form was not
    # sent completely, whatever came before (it was stored as "Uploaded a.txt")
    Case("unfinished-part-after-file", raw("/files/upload", multipart([(b'name="file"; filename="a.txt"', b"hi")])[:-4]
                                       + b"\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nhal"),
         file_refused(400, "not sent completely", counted="web")),
    Case("garbage-after-boundary", raw("/files/upload", b"--XyZbOuNdArY\r\n\x00\x01\x02garbage"),
         file_refused(400, "not sent completely", counted="web")),
    Case("too-many-parts", raw("/files/upload", many_fields(500)),
         file_refused(400, "too many fields", counted="web")),
    Case("duplicated-description", raw("/files/upload", multipart([
        (b'name="description"', b"one"), (b'name="description"', b"two"),
        (b'name="file"; filename="a.txt"', b"hello")])),
         file_refused(400, "more than once", counted="web")),
    # -- CSRF, methods, unknown ids ----------------------------------------------------------
    # an upload refused by the CSRF guard is an upload refused: counted with its reason
    Case("csrf-missing", lambda v: v.http.post("/files/upload", files={"file": ("a.txt", b"x")}),
         Refusal(403, RELOAD, "web", outcome=("file", "csrf"))),
    Case("csrf-wrong", lambda v: v.http.post("/images/upload", params={"csrf": "A" * 43},
                                             files={"file": ("a.png", png())}),
         Refusal(403, RELOAD, "web", outcome=("image", "csrf"))),
    Case("csrf-cross-site-origin", lambda v: v.http.post(
        "/files/delete", params={"csrf": v.csrf_token()}, data={"confirm": "yes"},
        headers={"Origin": "https://evil.example"}), Refusal(403, RELOAD, "http")),
    Case("csrf-on-delete-all", lambda v: v.http.post("/images/delete", data={"confirm": "yes"}),
         Refusal(403, RELOAD, "http")),
    Case("delete-all-unconfirmed", lambda v: v.http.post(
        "/files/delete", params={"csrf": v.csrf_token()}, data={}, headers={"Accept": "application/json"}),
         file_refused(400, "Tick the box", counted="http")),
    Case("get-on-upload", lambda v: v.http.get("/images/upload"), Refusal(405, "", ROUTER)),
    Case("put-on-upload", lambda v: v.http.put("/files/upload", content=b"x"), Refusal(405, "", ROUTER)),
    Case("delete-on-page", lambda v: v.http.delete("/images"), Refusal(405, "", ROUTER)),
    Case("unknown-image-id", lambda v: v.http.get(f"/images/{uuid.uuid4()}"),
         Refusal(404, NOT_FOUND, "http")),
    Case("unknown-thumbnail-id", lambda v: v.http.get(f"/images/{uuid.uuid4()}/thumbnail"),
         Refusal(404, NOT_FOUND, "http")),
    Case("unknown-file-id", lambda v: v.http.get(f"/files/{uuid.uuid4()}/download"),
         Refusal(404, NOT_FOUND, "http")),
    Case("malformed-item-id", lambda v: v.http.get("/files/..%2F..%2Fetc%2Fpasswd/download"),
         Refusal(404, "", ROUTER)),
    Case("item-id-not-a-uuid", lambda v: v.http.get("/images/not-a-uuid"),
         Refusal(404, NOT_FOUND, "http")),
]  # fmt: skip


def _refusals_grew(growth: Growth) -> float:
    assert growth.after is not None
    return growth.after.refusals() - growth.before.refusals()


def _assert_nothing_stored(site: Site, visitor: WebVisitor, keys_before: set[str]) -> None:
    """No row, object or open multipart upload is left. When web refuses a body it has
    started to stream on, it answers at once and storage-api undoes its half-made upload a
    moment later (it notices the cut stream): so this settles with a deadline first."""
    vid = visitor.visitor_id

    def nothing_left() -> bool:
        return (
            (vid is None or not _rows(site, "visitor_id = %s", vid))
            and site.object_keys() <= keys_before
            and backing_services.open_multipart_uploads(site.s3, site.config.bucket) == 0
        )

    with contextlib.suppress(TimeoutError):  # the assertions below say what was left
        wait_until(
            nothing_left, timeout=patience(JOB_SECONDS), interval=0.1, message="nothing stored"
        )
    if vid is not None:
        rows = _rows(site, "visitor_id = %s", vid)
        assert rows == [], f"rows left: {rows}"
    assert site.object_keys() - keys_before == set()
    assert backing_services.open_multipart_uploads(site.s3, site.config.bucket) == 0


def _rows(site: Site, where: str, *params: object) -> list[dict[str, object]]:
    return database.table(site.config.database_url, "items", where, *params)


def _assert_no_leak(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    for marker in LEAK_MARKERS:
        assert marker not in response.text, f"{marker!r} in the response"


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_refused(site: Site, visitor: WebVisitor, case: Case) -> None:
    visitor.page("/images")  # a session, as a browser has before it posts
    keys_before = site.object_keys()
    web, api = Growth(site.web_metrics_url), Growth(site.api_url)

    response = case.send(visitor)

    _assert_no_leak(response)
    r = case.refusal
    if r.flash_on is not None:
        if "application/json" in response.headers.get("content-type", ""):
            assert response.status_code == 200
            assert response.json()["status"] == r.status, response.text
            assert response.json()["ok"] is False
        else:
            assert response.status_code in (303, r.status), response.text
        flashes = visitor.flashes(r.flash_on)
        assert any(level == "error" and r.message in text for level, text in flashes), flashes
    else:
        assert response.status_code == r.status, response.text[:300]
        assert r.message in response.text
    web.read()
    api.read()
    if r.outcome is not None:
        kind, outcome = r.outcome
        assert web.grew("s3tasks_uploads_total", kind=kind, outcome=outcome) == 1
    if r.counted == "api":
        assert _refusals_grew(api) == 1
        assert _refusals_grew(web) == 1
    elif r.counted == "web":
        assert _refusals_grew(web) == 1
        # refused in web; if some bytes had already gone on, storage-api counts its abort too
        assert _refusals_grew(api) in (0, 1)
    elif r.counted == "http":
        assert web.grew("s3tasks_http_requests_total", status=str(response.status_code)) > 0
    _assert_nothing_stored(site, visitor, keys_before)


# -- Accepted, but made safe --------------------------------------------------------------


def _stored_one(site: Site, visitor: WebVisitor, response: httpx.Response) -> str:
    _assert_no_leak(response)
    assert response.json()["ok"] is True, response.text
    rows = _rows(site, "visitor_id = %s AND status = 'stored'", visitor.visitor_id)
    assert len(rows) == 1, rows
    return str(rows[0]["id"])


def _delete_all(visitor: WebVisitor) -> None:
    for kind in ("image", "file"):
        visitor.delete_all(kind)


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Windows\\System32\\evil.dll", "evil.dll"),
        ("report.pdf.exe", "report.pdf.exe"),
        ("evil.exe...", "evil.exe"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("a" * 300 + ".txt", "a" * 251 + ".txt"),
        ("\U0001f600" * 1020 + ".txt", "\U0001f600" * 251 + ".txt"),
        ("caf\u00e9 \u6587\u4ef6.txt", "caf\u00e9 \u6587\u4ef6.txt"),
    ],
    ids=["traversal", "absolute", "windows-path", "double-extension", "trailing-dots",
         "rtl-override", "long-name-truncated", "longest-accepted-name", "unicode-kept"],
)  # fmt: skip
def test_filenames_are_sanitised(site: Site, visitor: WebVisitor, sent: str, shown: str) -> None:
    item_id = _stored_one(site, visitor, visitor.upload("file", sent, b"payload"))
    page = visitor.page("/files")
    assert f"Download {shown}<" in page.replace("&#39;", "'")
    download = visitor.get(f"/files/{item_id}/download")
    assert download.status_code == 200
    assert download.content == b"payload"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "/" not in disposition.split("filename*=")[0]
    assert download.headers["content-type"] == "application/octet-stream"
    _delete_all(visitor)


def test_non_utf8_filename_is_stored_readably(site: Site, visitor: WebVisitor) -> None:
    body = multipart([(b'name="file"; filename="caf\xe9\xff\xfe\x07\x1b[31m.txt"', b"bytes")])
    response = raw("/files/upload", body)(visitor)
    item_id = _stored_one(site, visitor, response)
    download = visitor.get(f"/files/{item_id}/download")
    assert download.content == b"bytes"
    disposition = download.headers["content-disposition"]
    assert "caf" in disposition
    assert "\x07" not in disposition
    assert "%07" not in disposition
    _delete_all(visitor)


def test_crlf_in_filename_injects_no_header(site: Site, visitor: WebVisitor) -> None:
    name = "a\r\nSet-Cookie: pwned=1\r\nX-Evil: 1.txt"
    response = raw(
        "/files/upload", multipart([(f'name="file"; filename="{name}"'.encode(), b"x")])
    )(visitor)
    item_id = _stored_one(site, visitor, response)
    download = visitor.get(f"/files/{item_id}/download")
    assert download.status_code == 200
    assert "x-evil" not in download.headers
    assert all("pwned" not in c for c in download.headers.get_list("set-cookie"))
    assert "\r" not in download.headers["content-disposition"]
    _delete_all(visitor)


def test_stored_xss_in_description_and_filename_is_escaped(site: Site, visitor: WebVisitor) -> None:
    script = "<script>alert(document.cookie)</script>"
    attr = '"><img src=x onerror=alert(1)>'
    _stored_one(site, visitor, visitor.upload("file", f"{attr}.txt", b"x", description=script))
    page = visitor.page("/files")
    assert script not in page
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    _delete_all(visitor)
    visitor.upload("image", f"{attr}.png", png())
    page = visitor.page("/images")
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    _delete_all(visitor)


def _thumbnail(visitor: WebVisitor, item_id: str) -> bytes:
    response = visitor.get(f"/images/{item_id}/thumbnail")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    return response.content


@pytest.mark.parametrize(
    ("name", "content", "payload"),
    [
        ("jpeg-html.jpg", p.jpeg() + p.HTML_TAIL, b"<script>"),
        ("gif-zip.gif", p.gif() + p.zip_bytes(), b"PK\x03\x04"),
    ],
    ids=["jpeg+html", "gif+zip"],
)
def test_polyglot_thumbnail_is_a_reencode(
    site: Site, visitor: WebVisitor, name: str, content: bytes, payload: bytes
) -> None:
    item_id = _stored_one(site, visitor, visitor.upload("image", name, content))
    thumb = _thumbnail(visitor, item_id)
    assert payload not in thumb
    Image.open(io.BytesIO(thumb)).verify()
    original = visitor.get(f"/images/{item_id}")
    assert original.headers["content-type"] in ("image/jpeg", "image/gif")
    assert payload not in original.content  # what followed the image was cut off
    if not DIRECT:  # S3 serves direct mode's bytes: it sets no such headers (SECURITY.md)
        assert original.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in original.headers["content-security-policy"]
    _delete_all(visitor)


def test_exif_gps_is_removed_from_the_thumbnail(site: Site, visitor: WebVisitor) -> None:
    item_id = _stored_one(
        site, visitor, visitor.upload("image", "gps.jpg", p.jpeg(exif=p.exif_with_gps()))
    )
    thumb = _thumbnail(visitor, item_id)
    with Image.open(io.BytesIO(thumb)) as image:
        assert not image.getexif()
    assert b"SecretCam" not in thumb
    _delete_all(visitor)


def _bucket_object(site: Site, item_id: str) -> bytes:
    response = site.s3.get_object(site.config.bucket, f"objects/{item_id}")
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def test_exif_gps_is_removed_from_the_stored_original(site: Site, visitor: WebVisitor) -> None:
    """Visitors of an image host expect their location gone from what is kept and served, not
    only from the thumbnail; the picture itself is not re-encoded and still turns the same way."""
    sent = p.jpeg(exif=p.exif_with_gps(orientation=6))
    item_id = _stored_one(site, visitor, visitor.upload("image", "gps.jpg", sent))
    served = visitor.get(f"/images/{item_id}")
    assert served.status_code == 200
    assert b"SecretCam" not in served.content
    with Image.open(io.BytesIO(served.content)) as image, Image.open(io.BytesIO(sent)) as original:
        exif = image.getexif()
        assert not exif.get_ifd(0x8825), "GPS position kept"
        assert 0x010F not in exif, "camera make kept"
        assert exif.get(0x0112) == 6, "orientation lost"
        assert image.tobytes() == original.tobytes(), "the pixels changed"
    assert _bucket_object(site, item_id) == served.content
    _delete_all(visitor)


@pytest.mark.parametrize(
    ("name", "image", "tail"),
    [
        ("photo.jpg", p.jpeg(), p.HTML_TAIL),
        ("photo.jpg", p.jpeg(), p.zip_bytes()),
        ("anim.gif", p.gif(), p.zip_bytes()),
        ("shot.png", png(), p.HTML_TAIL),
    ],
    ids=["jpeg+html", "jpeg+zip", "gif+zip", "png+html"],
)
def test_bytes_after_the_image_are_removed_from_the_stored_original(
    site: Site, visitor: WebVisitor, name: str, image: bytes, tail: bytes
) -> None:
    item_id = _stored_one(site, visitor, visitor.upload("image", name, image + tail))
    served = visitor.get(f"/images/{item_id}")
    assert served.status_code == 200
    assert served.content == image  # these carry no metadata: the image, byte for byte
    assert _bucket_object(site, item_id) == image
    _delete_all(visitor)


def test_pixels_at_our_limit_are_accepted(site: Site, visitor: WebVisitor) -> None:
    out = io.BytesIO()
    Image.new("L", (2000, 2000)).save(out, format="PNG")
    assert len(out.getvalue()) < MAX_IMAGE_BYTES
    _stored_one(site, visitor, visitor.upload("image", "edge.png", out.getvalue()))
    _delete_all(visitor)


def test_duplicated_file_part_stores_only_the_first(site: Site, visitor: WebVisitor) -> None:
    body = multipart(
        [(b'name="file"; filename="one.txt"', b"first"), (b'name="file"; filename="two.txt"', b"2")]
    )
    item_id = _stored_one(site, visitor, raw("/files/upload", body)(visitor))
    assert visitor.get(f"/files/{item_id}/download").content == b"first"
    _delete_all(visitor)


# -- Other visitors, ranges, cookies ---------------------------------------------------------


@pytest.fixture
def victim(site: Site) -> tuple[WebVisitor, str, str]:
    """A visitor with one image and one file."""
    v = site.visitor()
    image = v.upload("image", "mine.png", png())
    file = v.upload("file", "mine.txt", b"0123456789" * 10, description="private")
    assert image.json()["ok"]
    assert file.json()["ok"]
    image_id = v.image_ids()[0]
    file_id = v.latest_file_id()
    assert file_id is not None
    return v, image_id, file_id


def test_another_visitors_items_are_404_not_403(
    site: Site, visitor: WebVisitor, victim: tuple[WebVisitor, str, str]
) -> None:
    owner, image_id, file_id = victim
    for path in (
        f"/images/{image_id}",
        f"/images/{image_id}/thumbnail",
        f"/files/{file_id}/download",
    ):
        response = visitor.get(path)
        assert response.status_code == 404, path
        assert NOT_FOUND in response.text
        assert owner.get(path).status_code == 200
    assert "private" not in visitor.page("/files")
    _delete_all(owner)
    owner.close()


@pytest.mark.parametrize(
    ("range_header", "status", "body"),
    [
        ("bytes=abc", 200, None),
        ("bytes=5-2", 200, None),
        ("items=0-3", 200, None),
        ("bytes=0-1,3-4", 200, None),
        ("bytes=" + ",".join(f"{i}-{i}" for i in range(200)), 200, None),
        ("bytes=99999-", 416, None),
        ("bytes=2-5", 206, b"2345"),
        ("bytes=-3", 206, b"789"),
    ],
    ids=["garbage", "reversed", "wrong-unit", "multi-range", "200-ranges", "beyond-end",
         "valid", "suffix"],
)  # fmt: skip
def test_range_headers(
    victim: tuple[WebVisitor, str, str], range_header: str, status: int, body: bytes | None
) -> None:
    owner, _, file_id = victim
    response = owner.get(f"/files/{file_id}/download", headers={"Range": range_header})
    _assert_no_leak(response)
    if status == 200:
        # S3 reads a range it cannot serve its own way (web passes `Range` on in proxy mode,
        # the browser sends it in direct mode): whatever it answers, it is this object's bytes
        # and no one else's
        assert response.status_code in (200, 206, 416)
        assert response.content in b"0123456789" * 10 or response.status_code == 416
        _delete_all(owner)
        owner.close()
        return
    assert response.status_code == status
    if status == 416 and DIRECT:
        # the browser asked S3 itself, on the link web's 303 gave: S3's own refusal (S3 says
        # no size in it; the site cannot add one to an answer it does not send)
        assert response.url.port != owner.http.base_url.port
    elif status == 416:
        # the site's own answer, with the size a client needs to ask again (RFC 9110 15.5.17),
        # not S3's XML
        assert response.headers["content-range"] == "bytes */100"
        assert "beyond the end" in response.text
        assert "<Error>" not in response.text
    if status == 200:
        assert response.content == b"0123456789" * 10
    if body is not None:
        assert response.content == body
    _delete_all(owner)
    owner.close()


def test_forged_and_tampered_session_cookies_make_a_new_visitor(
    site: Site, victim: tuple[WebVisitor, str, str]
) -> None:
    owner, image_id, _ = victim
    cookie = owner.session_cookie
    assert cookie is not None
    payload, _, signature = cookie.partition(".")
    import base64
    import json

    other_id = uuid.uuid4().hex
    forged_payload = base64.urlsafe_b64encode(
        json.dumps({"v": owner.visitor_id, "f": []}).encode()
    ).rstrip(b"=")
    candidates = {
        "random": "x" * 40,
        "no-signature": payload,
        "signature-of-another-payload": forged_payload.decode() + "." + signature,
        "bit-flipped-signature": payload + "." + signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"),
        "unsigned-json": base64.urlsafe_b64encode(json.dumps({"v": other_id}).encode()).decode(),
        "huge": "a" * 3000 + "." + "b" * 43,
    }  # fmt: skip
    for name, value in candidates.items():
        with httpx.Client(base_url=site.web_url, timeout=30) as client:
            client.cookies.set("s3tasks_session", value)
            response = client.get("/images")
            _assert_no_leak(response)
            assert response.status_code == 200, name
            assert image_id not in response.text, name
            assert "s3tasks_session=" in response.headers.get("set-cookie", ""), name
            assert client.get(f"/images/{image_id}").status_code == 404, name
    _delete_all(owner)
    owner.close()


# -- Raw sockets: early answers, slow bodies, lying Content-Length ---------------------------


def _upload_head(target: str, length: int, *, script: bool = True, extra: str = "") -> str:
    """The head of a hand-sent upload form POST to `target` (the cookie is filled in by
    `_raw_request`); `script`: as the page's script sends it, asking for a JSON answer."""
    accept = "Accept: application/json\r\n" if script else ""
    return (
        f"POST {target} HTTP/1.1\r\nHost: web\r\nCookie: {{cookie}}\r\n"
        f"Content-Type: {FORM}\r\nContent-Length: {length}\r\n{accept}{extra}\r\n"
    )


def _raw_request(site: Site, visitor: WebVisitor, head: str, body: bytes) -> socket.socket:
    host, port = site.web_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    cookie = f"s3tasks_session={visitor.session_cookie}"
    sock.sendall(head.replace("{cookie}", cookie).encode() + body)
    return sock


def _read_response(sock: socket.socket, timeout: float) -> bytes:
    """Headers and (by Content-Length) body of one response."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = re.search(rb"content-length: (\d+)", head, re.I)
            if length is None or len(body) >= int(length.group(1)):
                break
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _adopt_cookie(visitor: WebVisitor, answer: bytes) -> None:
    """Take the session cookie a raw answer set (it carries the flash) into the visitor's jar."""
    cookie = re.search(rb"set-cookie: s3tasks_session=([^;]+)", answer, re.I)
    assert cookie is not None
    # the same domain and path as the cookies web sets, so that the next answer's cookie
    # replaces this one instead of sitting beside it (httpx then refuses to pick one)
    host = httpx.URL(visitor.base_url).host
    visitor.http.cookies.clear()
    visitor.http.cookies.set("s3tasks_session", cookie.group(1).decode(), domain=host, path="/")


def _status(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3})", response)
    assert match is not None, response[:200]
    return int(match.group(1))


@pytest.mark.parametrize(
    ("what", "path", "with_token", "status"),
    [
        ("no csrf token", "/files/upload", False, 403),
        ("announced 500 MB", "/images/upload", True, 303),
    ],
    ids=["csrf-before-body", "oversize-before-body"],
)
def test_refused_before_the_body_is_read(
    site: Site, visitor: WebVisitor, what: str, path: str, with_token: bool, status: int
) -> None:
    """Headers announce 500 MB, 1 KB follows: the answer comes without waiting for the rest."""
    keys_before = site.object_keys()
    query = f"?csrf={visitor.csrf_token()}" if with_token else ""
    head = _upload_head(f"{path}{query}", 500 * MIB, script=False)
    with _raw_request(site, visitor, head, b"--XyZbOuNdArY\r\n" + b"x" * 1024) as sock:
        answer = _read_response(sock, timeout=15)
    assert _status(answer) == status, answer[:300]
    if status == 303:
        _adopt_cookie(visitor, answer)
        assert any(IMAGE_TOO_LARGE in t for _, t in visitor.flashes("/images"))
    _assert_nothing_stored(site, visitor, keys_before)


def test_a_stalled_upload_body_is_cut_off_by_the_idle_timeout(
    site: Site, visitor: WebVisitor
) -> None:
    keys_before = site.object_keys()
    body = multipart([(b'name="file"; filename="slow.txt"', b"x" * 100_000)])
    head = _upload_head(f"/files/upload?csrf={visitor.csrf_token()}", len(body))
    started = time.monotonic()
    with _raw_request(site, visitor, head, body[:50_000]) as sock:  # then nothing more
        answer = _read_response(sock, timeout=patience(UPLOAD_IDLE_TIMEOUT_SECONDS))
    assert answer, "web never answered a stalled upload"
    assert time.monotonic() - started < patience(UPLOAD_IDLE_TIMEOUT_SECONDS)
    assert _status(answer) == 200
    assert b'"status":408' in answer, answer[-200:]
    _adopt_cookie(visitor, answer)
    assert any("stalled" in t for _, t in visitor.flashes("/files"))
    wait_until(lambda: not _rows(site, "visitor_id = %s", visitor.visitor_id), timeout=patience(1))
    _assert_nothing_stored(site, visitor, keys_before)


def test_a_body_shorter_than_its_content_length_stores_nothing(
    site: Site, visitor: WebVisitor
) -> None:
    keys_before = site.object_keys()
    body = multipart([(b'name="file"; filename="short.txt"', b"y" * 20_000)])
    head = _upload_head(f"/files/upload?csrf={visitor.csrf_token()}", len(body) + 5000)
    sock = _raw_request(site, visitor, head, body)
    sock.shutdown(socket.SHUT_WR)  # the client hangs up 5000 bytes early
    _read_response(sock, timeout=patience(UPLOAD_IDLE_TIMEOUT_SECONDS))
    sock.close()
    wait_until(
        lambda: not _rows(site, "visitor_id = %s", visitor.visitor_id),
        timeout=patience(UPLOAD_IDLE_TIMEOUT_SECONDS),
        message="the interrupted upload's row to go",
    )
    _assert_nothing_stored(site, visitor, keys_before)
    assert visitor.latest_file_id() is None


def test_a_body_longer_than_its_content_length_is_cut_at_the_length(
    site: Site, visitor: WebVisitor
) -> None:
    keys_before = site.object_keys()
    body = multipart([(b'name="file"; filename="long.txt"', b"z" * 5000)])
    head = _upload_head(
        f"/files/upload?csrf={visitor.csrf_token()}", 200, extra="Connection: close\r\n"
    )
    with _raw_request(site, visitor, head, body) as sock:
        answer = _read_response(sock, timeout=20)
    assert _status(answer) == 200
    assert b'"status":400' in answer, answer[-200:]
    _assert_nothing_stored(site, visitor, keys_before)


def test_a_known_too_large_upload_is_answered_at_once_and_the_connection_closed(
    site: Site, visitor: WebVisitor
) -> None:
    """Content-Length says too large and no body byte has come yet: the answer comes at once
    (no drain waiting for the body or for the idle timeout) with `Connection: close`, and the
    server hangs up instead of reading a body it has already refused."""
    keys_before = site.object_keys()
    head = _upload_head(f"/images/upload?csrf={visitor.csrf_token()}", 4 * MIB, script=False)
    with _raw_request(site, visitor, head, b"") as sock:
        answer = _read_response(sock, timeout=UPLOAD_IDLE_TIMEOUT_SECONDS + 30)
        assert answer, "no answer to a refused upload"
        assert _status(answer) == 303
        assert re.search(rb"\r\nconnection: close\r\n", answer, re.I), answer[:400]
        assert _closed_by_server(sock, timeout=20)
    _adopt_cookie(visitor, answer)
    assert any(IMAGE_TOO_LARGE in t for _, t in visitor.flashes("/images"))
    _assert_nothing_stored(site, visitor, keys_before)


def _closed_by_server(sock: socket.socket, *, timeout: float) -> bool:
    """True once the server has closed the connection (EOF or reset), within `timeout`."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionError:
        return True
    except TimeoutError:
        return False
    return True


def test_a_request_path_cannot_forge_log_lines(site: Site) -> None:
    """CR/LF, ESC and other control characters a visitor puts in a path are written escaped:
    the log keeps one line per record and carries no terminal escape sequence."""
    assert site.stack.web is not None
    marker = uuid.uuid4().hex
    forged = f"2026-11-25 23:00:00,000 INFO    s3tasks_web.http [-] forged-{marker}"
    path = f"/files/%0d%0a{forged.replace(' ', '%20')}%1b[8m%c2%85%e2%80%a8/download"
    host, port = site.web_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n".encode())
        assert _status(_read_response(sock, timeout=20)) == 404
    log_path = site.stack.web.log_path

    def logged() -> bool:
        return f"forged-{marker}" in log_path.read_text(errors="replace")

    wait_until(logged, timeout=patience(), message="the request's log line")
    text = log_path.read_bytes()
    assert b"\x1b" not in text
    assert "\u2028".encode() not in text
    assert "\x85".encode() not in text
    lines = [line for line in text.decode().splitlines() if f"forged-{marker}" in line]
    assert len(lines) == 1, lines
    assert not lines[0].startswith("2026-11-25 23:00:00,000")
    assert "\\r\\n2026-11-25 23:00:00,000" in lines[0]
    assert "\\x1b[8m" in lines[0]


def test_an_upload_in_flight_during_delete_all_says_it_was_deleted(
    site: Site, visitor: WebVisitor
) -> None:
    keys_before = site.object_keys()
    body = multipart([(b'name="file"; filename="late.txt"', b"q" * 200_000)])
    head = _upload_head(f"/files/upload?csrf={visitor.csrf_token()}", len(body))
    with _raw_request(site, visitor, head, body[:100_000]) as sock:
        wait_until(
            lambda: bool(
                _rows(site, "visitor_id = %s AND status = 'uploading'", visitor.visitor_id)
            ),
            timeout=UPLOAD_IDLE_TIMEOUT_SECONDS * 5,
            message="the upload's row",
        )
        assert visitor.delete_all("file").status_code == 303
        sock.sendall(body[100_000:])
        answer = _read_response(sock, timeout=30)
    assert _status(answer) == 200
    assert b'"status":409' in answer, answer[-300:]
    _adopt_cookie(visitor, answer)
    flashes = visitor.flashes("/files")
    assert any("deleted by Delete all" in t for _, t in flashes), flashes
    assert not any("took longer than allowed" in t for _, t in flashes), flashes
    assert visitor.latest_file_id() is None
    _assert_nothing_stored(site, visitor, keys_before)


TRICKLING_UPLOADS = 45


def test_trickling_uploads_are_cut_and_never_starve_downloads_or_thumbnails(
    site: Site, visitor: WebVisitor, victim: tuple[WebVisitor, str, str]
) -> None:
    """45 uploads sending a few bytes a second: those beyond web's capacity are refused at
    once (503), the rest are cut when their average rate is below the minimum after the grace
    period (408); while they are held, another visitor's download, image, thumbnail and page
    are served as usual."""
    owner, image_id, file_id = victim
    form_head = multipart([(b'name="file"; filename="trickle.txt"', b"")]).split(b"\r\n--XyZ")[0]
    head = _upload_head(f"/files/upload?csrf={visitor.csrf_token()}", len(form_head) + MIB)
    growth = Growth(site.web_metrics_url)
    sockets = [
        _raw_request(site, visitor, head, form_head + b"t") for _ in range(TRICKLING_UPLOADS)
    ]
    #: what each socket received before the server ended it (an answer, or b"" on a reset)
    ended: dict[int, bytes] = {}
    try:
        for sock in sockets:
            sock.setblocking(False)

        def trickle_once(wait: float) -> None:
            pending = [s for i, s in enumerate(sockets) if i not in ended]
            readable, _, _ = select.select(pending, [], [], wait)
            for sock in readable:
                try:
                    ended[sockets.index(sock)] = sock.recv(65536)
                except ConnectionError:
                    ended[sockets.index(sock)] = b""
                except BlockingIOError:
                    pass
            for i, sock in enumerate(sockets):
                if i not in ended:
                    with contextlib.suppress(BlockingIOError, ConnectionError):
                        sock.send(b"t")

        def held() -> bool:
            trickle_once(0.3)
            rows = _rows(site, "visitor_id = %s AND status = 'uploading'", visitor.visitor_id)
            return len(rows) >= MAX_CONCURRENT_UPLOADS

        wait_until(held, timeout=UPLOAD_RATE_GRACE_SECONDS, interval=0, message="uploads held")
        with httpx.Client(
            base_url=site.web_url, timeout=30, cookies=owner.http.cookies, follow_redirects=True
        ) as other:  # follows direct mode's 303 to S3, as a browser does
            download = other.get(f"/files/{file_id}/download")
            assert download.status_code == 200
            assert download.content == b"0123456789" * 10
            assert other.get(f"/images/{image_id}").status_code == 200
            assert other.get(f"/images/{image_id}/thumbnail").status_code == 200
            assert other.get("/images").status_code == 200
        still_held = _rows(site, "visitor_id = %s AND status = 'uploading'", visitor.visitor_id)
        assert still_held, "the trickles ended before the other visitor was served"

        deadline = time.monotonic() + UPLOAD_RATE_GRACE_SECONDS * 3 + 60
        while len(ended) < len(sockets) and time.monotonic() < deadline:
            trickle_once(0.3)
    finally:
        for sock in sockets:
            sock.close()
    _delete_all(owner)
    owner.close()
    # Every trickle was ended by the server. Its answer may not reach the client: web hangs up
    # on a body it refused, and a hang-up with unread bytes is a reset. The counters say all.
    assert len(ended) == TRICKLING_UPLOADS, f"only {len(ended)} were ended"
    statuses = [re.search(rb'"status":(\d+)', a) for a in ended.values()]
    assert {int(m.group(1)) for m in statuses if m is not None} <= {408, 503}
    growth.read()
    busy = growth.grew("s3tasks_uploads_total", kind="file", outcome="busy")
    cut = growth.grew("s3tasks_uploads_total", kind="file", outcome="timeout")
    assert (busy, cut) == (TRICKLING_UPLOADS - MAX_CONCURRENT_UPLOADS, MAX_CONCURRENT_UPLOADS)
    wait_until(
        lambda: not _rows(site, "visitor_id = %s", visitor.visitor_id),
        timeout=patience(1),
        message="the cut uploads' rows to go",
    )


SLOW_HEADER_SOCKETS = 50


def test_slow_headers_are_cut_off_and_other_visitors_are_served(
    site: Site, visitor: WebVisitor
) -> None:
    """50 connections sending their headers a byte at a time ("slowloris") are answered 408 and
    hung up on once the header deadline passes; a visitor meanwhile is served as usual."""
    host, port = site.web_url.removeprefix("http://").split(":")
    header = b"GET /images HTTP/1.1\r\nHost: web\r\nX-Slow: " + b"s" * 10_000
    sockets = [
        socket.create_connection((host, int(port)), timeout=30) for _ in range(SLOW_HEADER_SOCKETS)
    ]
    sent = [0] * len(sockets)
    ended: dict[int, bytes] = {}
    try:
        for sock in sockets:
            sock.setblocking(False)
        deadline = time.monotonic() + HEADER_TIMEOUT_SECONDS + 60
        served = False
        while len(ended) < len(sockets) and time.monotonic() < deadline:
            pending = [s for i, s in enumerate(sockets) if i not in ended]
            readable, _, _ = select.select(pending, [], [], 0.3)
            for sock in readable:
                index = sockets.index(sock)
                try:
                    ended[index] = sock.recv(65536)
                except ConnectionError:
                    ended[index] = b""
                except BlockingIOError:
                    pass
            for i, sock in enumerate(sockets):
                if i not in ended and sent[i] < len(header):
                    with contextlib.suppress(BlockingIOError, ConnectionError):
                        sent[i] += sock.send(header[sent[i] : sent[i] + 1])
            if not served and not ended:
                # while every slow connection is held: a page, as usual
                assert visitor.get("/images").status_code == 200
                served = True
    finally:
        for sock in sockets:
            sock.close()
    assert served
    assert len(ended) == SLOW_HEADER_SOCKETS, f"only {len(ended)} were hung up on"
    assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in ended.values()), ended
    assert max(sent) < len(header), "a slow client finished its headers: the test proves nothing"


# -- After every case: the invariant ---------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def every_case_deletes_what_it_stored(site: Site) -> Iterator[None]:
    """After the module's last case, whatever the order they ran in: the sweep empties the
    bucket again, no row dangles, no multipart upload is open, and the metrics say zero."""
    yield

    def settled() -> bool:
        report = site.invariant()
        return report.holds and report.rows == 0

    wait_until(
        settled,
        timeout=sweep_patience(SWEEP_INTERVAL_SECONDS, jobs=2),
        interval=0.5,
        message="the cases' leftovers to be deleted",
    )
    report = site.invariant()
    assert report.problems == []
    assert report.objects == 0
    web = scrape(site.web_metrics_url)
    api = scrape(site.api_url)
    assert web.total("s3tasks_http_requests_total", status="500") == 0
    assert api.total("s3tasks_http_requests_total", status="500") == 0
    assert api.value("s3tasks_uploads_total", kind="image", outcome="error") == 0
    assert api.value("s3tasks_uploads_total", kind="file", outcome="error") == 0
