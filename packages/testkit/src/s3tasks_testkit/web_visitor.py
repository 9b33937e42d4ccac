"""web as a visitor and an operator see it: pages, forms, /metrics and the storage invariant.

Used by the web, security, fault and load tests and the benchmarks: a `WebVisitor` is one
browser (its own cookie jar), a `Site` a running stack seen from outside, and
`check_invariant` compares the database, the bucket, the pages and the metrics after things
settle.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from minio import Minio

from s3tasks_testkit import backing_services
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.stack import Stack, StackConfig

_CSRF_IN_ACTION = re.compile(r'action="/(?:images|files)/upload\?csrf=([A-Za-z0-9_-]+)"')
_TRANSFER = re.compile(r'data-transfer="(\w+)"')
_S3_CODE = re.compile(r"<Code>([^<]{1,64})</Code>")
_FLASH = re.compile(r'<p class="flash flash-(\w+)"[^>]*>(.*?)</p>', re.S)
#: the items a page shows (their links may be web's routes or, in `direct` mode, S3's)
_THUMBNAIL = re.compile(r'<li class="gallery-item" data-item-id="([0-9a-f-]{36})"')
_DOWNLOAD = re.compile(r'<div class="card file" data-item-id="([0-9a-f-]{36})"')
#: a share link's path in the owner's panel (the field its copy button copies)
_SHARE_PATH = re.compile(r'class="share-url" type="text" value="[^"]*(/s/[A-Za-z0-9_-]{43})"')
#: what the upload script tells web when it could not reach S3 or S3's answer never came
CONNECTION_LOST = "ConnectionLost"
#: what a response must never show a visitor.
LEAK_MARKERS = ("Traceback", 'File "/', "psycopg", "sqlalchemy", "botocore", "minio.error")


class BrowserTransport(httpx.HTTPTransport):
    """httpx's transport, resending a request once as a browser does when the kept-alive
    connection it went out on was closed before any answer came back.

    A server or proxy may close an idle kept-alive connection at any moment (nginx does with
    every idle connection of its old workers on a reload; uvicorn with its own when it shuts
    down), and a request sent on it at that moment is lost before anyone read it. Chromium
    sends such a request again, whatever its method, when the connection was a reused one and
    no response header had arrived (`HttpNetworkTransaction::ShouldResendRequest`); Firefox
    does the same. httpx does not, so without this a test client reports a failure that no
    visitor's browser shows. A new connection that fails is not resent, nor is an answer
    cut off after its headers (httpx has returned the response by then). `resent` counts
    what was sent again, for the report.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # httpcore hands the request an idle connection to its origin when it has one
        reused = any(connection.is_idle() for connection in self._pool.connections)
        try:
            return super().handle_request(request)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            if not reused:
                raise
        self.resent += 1
        return super().handle_request(request)


def visitor_id_of(session_cookie: str) -> str:
    """The anonymous id in web's session cookie (its payload is readable, only signed)."""
    payload = session_cookie.partition(".")[0]
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(body["v"])


class WebVisitor:
    """One browser's worth of state, posting forms like a browser (or the upload script)."""

    def __init__(
        self, base_url: str, *, timeout: float = 60.0, browser_resends: bool = False
    ) -> None:
        """`browser_resends`: requests to the site are resent as a browser resends them
        (`BrowserTransport`); off, every closed connection is the test's to see."""
        self.base_url = base_url
        self.transport = BrowserTransport() if browser_resends else None
        self.http = httpx.Client(
            base_url=base_url, timeout=timeout, follow_redirects=False, transport=self.transport
        )
        #: the browser's own connections to S3 (`direct` mode): no cookies of the site
        self.s3 = httpx.Client(timeout=timeout, follow_redirects=False)
        self._token: str | None = None
        #: the transfer mode the last page's upload form announced
        self.transfer: str | None = None

    def close(self) -> None:
        self.http.close()
        self.s3.close()

    def __enter__(self) -> WebVisitor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """A GET as a browser makes it: a 303 to another origin (`direct` mode's presigned
        link to S3) is followed, with the request's own headers (Range, If-None-Match)."""
        response = self.http.get(path, **kwargs)
        location = response.headers.get("location", "")
        if response.status_code == 303 and location.startswith(("http://", "https://")):
            return self.s3.get(location, headers=kwargs.get("headers"))
        return response

    def page(self, path: str) -> str:
        """A page's HTML; the form's CSRF token on it is kept, as a browser's form keeps it."""
        response = self.http.get(path)
        if response.status_code != 200:
            raise AssertionError(f"GET {path}: {response.status_code} {response.text[:300]}")
        if match := _CSRF_IN_ACTION.search(response.text):
            self._token = match.group(1)
        if match := _TRANSFER.search(response.text):
            self.transfer = match.group(1)
        return response.text

    def csrf_token(self, *, fresh: bool = False) -> str:
        """The token of the last form seen (My Images is looked at when none was yet)."""
        if self._token is None or fresh:
            self._token = None
            self.page("/images")
        if self._token is None:
            raise AssertionError("the upload form carries no CSRF token")
        return self._token

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get("s3tasks_session")

    @property
    def visitor_id(self) -> str | None:
        """The anonymous id web minted for this browser (the cookie's payload is not secret,
        only signed)."""
        cookie = self.session_cookie
        return None if cookie is None else visitor_id_of(cookie)

    def upload(
        self,
        kind: str,
        filename: str,
        content: bytes,
        *,
        description: str | None = None,
        content_type: str = "application/octet-stream",
        script: bool = True,
    ) -> httpx.Response:
        """Post the upload form. `script`: as the page's JavaScript does (token in a header,
        JSON answer with the outcome's status); otherwise as a plain form (token in the query,
        303 back to the page)."""
        token = self.csrf_token()
        if script and self.transfer == "direct":
            return self._upload_to_s3(kind, filename, content, description or "", token)
        data = {} if description is None else {"description": description}
        headers = {"X-CSRF-Token": token, "Accept": "application/json"} if script else {}
        params = {} if script else {"csrf": token}
        return self.http.post(
            f"/{kind}s/upload",
            params=params,
            headers=headers,
            data=data,
            files={"file": (filename, content, content_type)},
        )

    def _upload_to_s3(
        self, kind: str, filename: str, content: bytes, description: str, token: str
    ) -> httpx.Response:
        """What the upload script does in `direct` mode: web starts the upload (the row, a POST
        policy), the file goes to S3 in one POST, web completes it; if S3 refused, web is told
        why (S3's error code) and undoes it. Web's last answer is returned."""
        headers = {"X-CSRF-Token": token, "Accept": "application/json"}
        start = self.http.post(
            f"/{kind}s/uploads",
            headers=headers,
            json={"filename": filename, "description": description, "size": len(content)},
        )
        ticket = (
            start.json()
            if start.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if not ticket.get("ok") or not ticket.get("post_url"):
            return start
        path = f"/{kind}s/uploads/{ticket['item_id']}"
        try:
            posted = self.s3.post(
                ticket["post_url"],
                data=ticket["fields"],
                files={"file": (filename, content, "application/octet-stream")},
            )
        except httpx.TransportError:
            # S3 unreachable, or its answer never came: the script undoes it the same way
            return self.http.post(
                f"{path}/abort", headers=headers, json={"s3_code": CONNECTION_LOST}
            )
        if posted.is_success:
            return self.http.post(f"{path}/complete", headers=headers, json={})
        code = _S3_CODE.search(posted.text)
        return self.http.post(
            f"{path}/abort", headers=headers, json={"s3_code": code.group(1) if code else "Refused"}
        )

    # -- the upload script's uploads in parts (both modes) -----------------------------------

    def _script_headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf_token(), "Accept": "application/json"}

    def start_in_parts(
        self, kind: str, filename: str, size: int, description: str = ""
    ) -> httpx.Response:
        """Start an upload in parts as the script does: web answers with the item id and the
        part size storage-api chose for `size` (`{"ok": true, "item_id", "part_size"}`)."""
        return self.http.post(
            f"/{kind}s/uploads",
            headers=self._script_headers(),
            json={
                "filename": filename,
                "description": description,
                "size": size,
                "in_parts": True,
            },
        )

    def sign_parts(self, kind: str, item_id: str, numbers: list[int]) -> httpx.Response:
        """Where to PUT those parts: S3's presigned URLs (`direct`) or web's own (`proxy`)."""
        return self.http.post(
            f"/{kind}s/uploads/{item_id}/parts",
            headers=self._script_headers(),
            json={"part_numbers": numbers},
        )

    def put_part(self, url: str, data: bytes) -> httpx.Response:
        """PUT one part where `sign_parts` said: web's own path (with the session and the
        CSRF token, as the script sends it) or S3 (no cookie of the site)."""
        if url.startswith("/"):
            return self.http.put(url, headers=self._script_headers(), content=data)
        return self.s3.put(url, content=data)

    def stored_parts(self, kind: str, item_id: str) -> httpx.Response:
        return self.http.get(
            f"/{kind}s/uploads/{item_id}/parts", headers={"Accept": "application/json"}
        )

    def complete_in_parts(
        self, kind: str, item_id: str, parts: list[tuple[int, str]]
    ) -> httpx.Response:
        return self.http.post(
            f"/{kind}s/uploads/{item_id}/complete",
            headers=self._script_headers(),
            json={"parts": [{"part_number": n, "etag": etag} for n, etag in parts]},
        )

    def abort_upload(self, kind: str, item_id: str) -> httpx.Response:
        """Cancel, as the script's Cancel button does."""
        return self.http.post(
            f"/{kind}s/uploads/{item_id}/abort", headers=self._script_headers(), json={}
        )

    def upload_in_parts(
        self, kind: str, filename: str, content: bytes, *, description: str = ""
    ) -> httpx.Response:
        """The whole upload in parts, each part a request of its own; web's last answer."""
        start = self.start_in_parts(kind, filename, len(content), description)
        ticket = start.json()
        if not ticket.get("ok"):
            return start
        item_id, part_size = ticket["item_id"], int(ticket["part_size"])
        count = max(1, -(-len(content) // part_size))
        numbers = list(range(1, count + 1))
        parts: list[tuple[int, str]] = []
        for first in range(0, count, 100):
            signed = self.sign_parts(kind, item_id, numbers[first : first + 100]).json()
            if not signed.get("ok"):
                return self.abort_upload(kind, item_id)
            for number_text, url in signed["urls"].items():
                number = int(number_text)
                chunk = content[(number - 1) * part_size : number * part_size]
                put = self.put_part(url, chunk)
                if put.status_code != 200:
                    return self.abort_upload(kind, item_id)
                parts.append((number, put.headers["etag"].strip('"')))
        return self.complete_in_parts(kind, item_id, sorted(parts))

    def post_raw(
        self, path: str, body: bytes, headers: dict[str, str], *, with_token: bool = True
    ) -> httpx.Response:
        """A hand-made request body (malformed forms); the token in the query string."""
        params = {"csrf": self.csrf_token()} if with_token else {}
        return self.http.post(path, params=params, content=body, headers=headers)

    def delete_all(self, kind: str, *, confirm: bool = True) -> httpx.Response:
        data = {"confirm": "yes"} if confirm else {}
        return self.http.post(f"/{kind}s/delete", params={"csrf": self.csrf_token()}, data=data)

    def flashes(self, path: str) -> list[tuple[str, str]]:
        """The flash messages the next view of `path` shows (level, text unescaped)."""
        return self.flashes_in(self.page(path))

    @staticmethod
    def flashes_in(page: str) -> list[tuple[str, str]]:
        return [(level, html.unescape(text.strip())) for level, text in _FLASH.findall(page)]

    def image_ids(self) -> list[str]:
        return self.image_ids_in(self.page("/images"))

    def latest_file_id(self) -> str | None:
        return self.latest_file_id_in(self.page("/files"))

    @staticmethod
    def image_ids_in(page: str) -> list[str]:
        """The images a My Images page shows, newest first."""
        return list(_THUMBNAIL.findall(page))

    @staticmethod
    def latest_file_id_in(page: str) -> str | None:
        found = _DOWNLOAD.findall(page)
        return str(found[0]) if found else None

    @staticmethod
    def share_paths_in(page: str) -> list[str]:
        """The share links' paths (`/s/<token>`) an owner's page shows, in its order."""
        return list(_SHARE_PATH.findall(page))

    def share(self, kind: str, item_id: str, **fields: str) -> httpx.Response:
        """The owner's Share form for one item (`fields`: max_downloads, password, expires),
        posted as a browser posts it: 303 back to the page when the link is made."""
        return self.http.post(
            f"/{kind}s/{item_id}/shares", params={"csrf": self.csrf_token()}, data=fields
        )

    def share_new_file(
        self,
        content: bytes = b"shared bytes\n",
        *,
        filename: str = "shared.bin",
        description: str = "shared",
        **fields: str,
    ) -> tuple[str, str]:
        """Upload a file from My Files and share it with `fields`: (its item id, the new
        link's path `/s/<token>`)."""
        self.page("/files")
        self.upload("file", filename, content, description=description, script=False)
        item_id = self.latest_file_id()
        assert item_id is not None, "My Files offers the new file"
        created = self.share("file", item_id, **fields)
        assert created.status_code == 303, created.text[:300]
        links = self.share_paths_in(self.page("/files"))
        assert links, "the owner's page shows the new link"
        return item_id, links[0]


def stranger(web_url: str, *, timeout: float = 60.0) -> httpx.Client:
    """Someone given a link (a share link, an upload request): a browser of their own, no
    cookie or session of the owner's; redirects are not followed, so a test sees each one."""
    return httpx.Client(base_url=web_url, timeout=timeout, follow_redirects=False)


@dataclass
class InvariantReport:
    rows: int = 0
    objects: int = 0
    orphan_objects: set[str] = field(default_factory=set)
    dangling_rows: list[str] = field(default_factory=list)
    unsettled_rows: list[str] = field(default_factory=list)
    open_multipart_uploads: int = 0
    metric_mismatches: list[str] = field(default_factory=list)
    page_mismatches: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.orphan_objects:
            found.append(f"objects without a row: {sorted(self.orphan_objects)[:10]}")
        if self.dangling_rows:
            found.append(f"rows without their object: {self.dangling_rows[:10]}")
        if self.unsettled_rows:
            found.append(f"rows not settled (uploading, hidden or due): {self.unsettled_rows[:10]}")
        if self.open_multipart_uploads:
            found.append(f"{self.open_multipart_uploads} open multipart uploads")
        return found + self.metric_mismatches + self.page_mismatches

    @property
    def holds(self) -> bool:
        return not self.problems


def check_invariant(
    *,
    database_url: str,
    s3: Minio,
    bucket: str,
    storage_api_url: str | None = None,
    visitors: list[WebVisitor] | None = None,
) -> InvariantReport:
    """rows == objects == pages == metrics, and no open multipart upload (after settling)."""
    report = InvariantReport()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id::text, visitor_id, kind, object_key, thumbnail_key, size_bytes,"
            " status = 'stored' AND hidden_at IS NULL AND expires_at > now() AS visible,"
            " stored_at FROM items"
        ).fetchall()
    keys = backing_services.object_keys(s3, bucket)
    report.rows, report.objects = len(rows), len(keys)
    expected: set[str] = set()
    visible_by_kind: Counter[str] = Counter()
    bytes_by_kind: Counter[str] = Counter()
    for item_id, _, kind, object_key, thumbnail_key, size, visible, _ in rows:
        if not visible:
            report.unsettled_rows.append(item_id)
            continue
        visible_by_kind[kind] += 1
        bytes_by_kind[kind] += size
        for key in (object_key, thumbnail_key):
            if key is None:
                continue
            expected.add(key)
            if key not in keys:
                report.dangling_rows.append(f"{item_id} ({key})")
    report.orphan_objects = keys - expected
    report.open_multipart_uploads = backing_services.open_multipart_uploads(s3, bucket)
    if storage_api_url is not None:
        metrics = scrape(storage_api_url)
        for kind in ("image", "file"):
            shown = metrics.value("s3tasks_items_stored", kind=kind)
            if shown != visible_by_kind[kind]:
                report.metric_mismatches.append(
                    f"s3tasks_items_stored{{kind={kind}}} = {shown}, rows: {visible_by_kind[kind]}"
                )
            size = metrics.value("s3tasks_bytes_stored", kind=kind)
            if size != bytes_by_kind[kind]:
                report.metric_mismatches.append(
                    f"s3tasks_bytes_stored{{kind={kind}}} = {size}, rows: {bytes_by_kind[kind]}"
                )
    for visitor in visitors or []:
        report.page_mismatches += _page_mismatches(visitor, rows)
    return report


def _page_mismatches(visitor: WebVisitor, rows: list[tuple[Any, ...]]) -> list[str]:
    """The visitor's pages show exactly their visible rows (3 newest images, the last file)."""
    visitor_id = visitor.visitor_id
    if visitor_id is None:
        return []
    mine = sorted(
        (r for r in rows if r[1] == visitor_id and r[6]), key=lambda r: r[7], reverse=True
    )
    images = [r[0] for r in mine if r[2] == "image"]
    files = [r[0] for r in mine if r[2] == "file"]
    problems = []
    shown_images = visitor.image_ids()
    if shown_images != images[:3]:
        problems.append(f"{visitor_id}: images page shows {shown_images}, rows say {images[:3]}")
    latest = visitor.latest_file_id()
    if latest != (files[0] if files else None):
        problems.append(f"{visitor_id}: files page offers {latest}, rows say {files[:1]}")
    return problems


@dataclass
class Site:
    """A running stack seen from outside: its URLs, its database and bucket, its visitors."""

    stack: Stack
    s3: Minio

    @property
    def config(self) -> StackConfig:
        return self.stack.config

    @property
    def web_url(self) -> str:
        assert self.stack.web is not None
        return self.stack.web.url

    @property
    def web_metrics_url(self) -> str:
        assert self.stack.web is not None
        return self.stack.web.metrics_url

    @property
    def api_url(self) -> str:
        assert self.stack.storage_api is not None
        return self.stack.storage_api.url

    def visitor(self) -> WebVisitor:
        return WebVisitor(self.web_url)

    def object_keys(self) -> set[str]:
        return backing_services.object_keys(self.s3, self.config.bucket)

    def invariant(self, visitors: list[WebVisitor] | None = None) -> InvariantReport:
        return check_invariant(
            database_url=self.config.database_url,
            s3=self.s3,
            bucket=self.config.bucket,
            storage_api_url=self.api_url,
            visitors=visitors,
        )
