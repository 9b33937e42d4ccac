"""Cases 8-9, `direct` mode: the client does exactly what the upload script and a browser do.
Upload: web starts it (the row, a POST policy), the bytes go to S3 in one POST, web
completes it (storage-api checks what arrived); the two small control calls are inside the
measured time. Download: the client GETs the presigned URL the page links (no call to web or
storage-api: the page, a case of its own, carries it)."""

from __future__ import annotations

import html
import re
import time
from statistics import median
from typing import Any

from bench.transfer import MultipartForm, fetch
from s3tasks_testkit.web_visitor import WebVisitor

SCRIPT_HEADERS = {"Accept": "application/json"}
_DOWNLOAD_LINK = re.compile(r'<a class="download" href="([^"]+)"')
#: item id -> the presigned link its page showed (`page_download_link`)
_PAGE_LINKS: dict[str, str] = {}
#: size -> step -> seconds of each `browser_upload`: where an upload's time goes
_UPLOAD_STEPS: dict[int, dict[str, list[float]]] = {}


def browser_upload(visitor: WebVisitor, size: int) -> float:
    """Seconds for one upload as the script sends it in `direct` mode."""
    token = visitor.csrf_token()
    s3 = visitor.s3
    started = time.perf_counter()
    start = visitor.http.post(
        "/files/uploads",
        params={"csrf": token},
        json={"filename": "bench.bin", "description": "benchmark upload", "size": size},
        headers=SCRIPT_HEADERS,
    )
    ticket = start.json()
    if start.status_code != 200 or not ticket.get("ok"):
        raise RuntimeError(f"direct start answered {start.status_code}: {start.text[:300]}")
    started_post = time.perf_counter()
    form = MultipartForm.for_file(size, ticket["fields"])
    posted = s3.post(
        ticket["post_url"],
        content=form.body(size),
        headers={"Content-Type": form.content_type, "Content-Length": str(form.length)},
    )
    if posted.status_code not in (200, 201, 204):
        raise RuntimeError(f"S3 refused the policy POST ({posted.status_code}): {posted.text}")
    started_complete = time.perf_counter()
    done = visitor.http.post(
        f"/files/uploads/{ticket['item_id']}/complete",
        params={"csrf": token},
        headers=SCRIPT_HEADERS,
    )
    ended = time.perf_counter()
    elapsed = ended - started
    steps = _UPLOAD_STEPS.setdefault(size, {"start": [], "post": [], "complete": []})
    steps["start"].append(started_post - started)
    steps["post"].append(started_complete - started_post)
    steps["complete"].append(ended - started_complete)
    if done.status_code != 200 or not done.json().get("ok"):
        raise RuntimeError(f"direct completion answered {done.status_code}: {done.text[:300]}")
    return elapsed


def browser_download(visitor: WebVisitor, item_id: str, size: int) -> float:
    """Seconds for one download as a browser makes it: the visitor is on My Files, whose link
    is S3's own presigned GET (issue 26: no hop through web or storage-api), and clicks it.
    The page is read once per item (a page view, case 6), outside the time measured here."""
    link = page_download_link(visitor, item_id)
    started = time.perf_counter()
    fetch(link, size, "the page's presigned GET")
    return time.perf_counter() - started


def page_download_link(visitor: WebVisitor, item_id: str) -> str:
    """The Download link My Files shows for `item_id` (its latest file): in `direct` mode an
    S3 URL; web's own route only for bookmarks and pages without a script. Read once per item
    (the link stays the same until the item goes), so that the CPU a case meters around its
    repetitions is the downloads', not page views'; call it before metering to leave even
    that one page out."""
    if item_id in _PAGE_LINKS:
        return _PAGE_LINKS[item_id]
    page = visitor.page("/files")
    if f'data-item-id="{item_id}"' not in page:
        raise RuntimeError(f"My Files does not show {item_id}")
    link = _DOWNLOAD_LINK.search(page)
    if link is None or not link[1].startswith(("http://", "https://")):
        raise RuntimeError("My Files has no S3 link to download from: is the stack in direct mode?")
    _PAGE_LINKS[item_id] = html.unescape(link[1])
    return _PAGE_LINKS[item_id]


def with_upload_steps(result: dict[str, Any]) -> dict[str, Any]:
    """`result` with the median milliseconds of each step of the uploads made since the last
    call (start through web, the POST to S3, completion through web), by size in MiB."""
    result["upload_steps_ms"] = {
        f"{size / (1024 * 1024):g}": {k: round(median(v) * 1000, 2) for k, v in steps.items()}
        for size, steps in sorted(_UPLOAD_STEPS.items())
    }
    _UPLOAD_STEPS.clear()
    return result
