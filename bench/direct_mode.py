"""Cases 8-9, `direct` mode: the client does exactly what the upload script and a browser do.
Upload: web starts it (the row, a POST policy), the bytes go to S3 in one POST, web
completes it (storage-api checks what arrived). Download: web answers 303, the client GETs the
presigned URL from S3. The two small control calls are inside the measured time."""

from __future__ import annotations

import time

from bench.transfer import MultipartForm, fetch
from s3tasks_testkit.web_visitor import WebVisitor

SCRIPT_HEADERS = {"Accept": "application/json"}


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
    form = MultipartForm.for_file(size, ticket["fields"])
    posted = s3.post(
        ticket["post_url"],
        content=form.body(size),
        headers={"Content-Type": form.content_type, "Content-Length": str(form.length)},
    )
    if posted.status_code not in (200, 201, 204):
        raise RuntimeError(f"S3 refused the policy POST ({posted.status_code}): {posted.text}")
    done = visitor.http.post(
        f"/files/uploads/{ticket['item_id']}/complete",
        params={"csrf": token},
        headers=SCRIPT_HEADERS,
    )
    elapsed = time.perf_counter() - started
    if done.status_code != 200 or not done.json().get("ok"):
        raise RuntimeError(f"direct completion answered {done.status_code}: {done.text[:300]}")
    return elapsed


def browser_download(visitor: WebVisitor, item_id: str, size: int) -> float:
    """Seconds for one download as a browser follows it: web's 303, then S3's bytes."""
    started = time.perf_counter()
    redirect = visitor.http.get(f"/files/{item_id}/download")
    if redirect.status_code != 303:
        raise RuntimeError(f"direct download answered {redirect.status_code}, not 303")
    fetch(redirect.headers["location"], size, "S3's presigned GET")
    return time.perf_counter() - started
