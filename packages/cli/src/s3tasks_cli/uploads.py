"""An upload in parts that resumes: running the same command again after a cut, a Ctrl-C or a
kill sends only the parts the site does not hold yet.

The state of an upload under way is a small JSON file in the user's cache dir, named by the
site, the file's path, size and modification time (the same file again resumes; a changed
file starts afresh): the upload's id and part size. What S3 holds is asked of the site
(`GET /uploads/{id}/parts`), never trusted from the file. Parts go straight to S3 in `direct`
mode (presigned URLs, each signed for its exact length) and through the site in `proxy`
mode, several at a time.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from s3tasks_cli.api import ApiError, Site, checked
from s3tasks_cli.config import Places

#: part URLs asked for at once (the API signs at most 100 a call)
SIGN_AT_ONCE = 50
#: what the first bytes of an image start with (the kind decides the limit and the page)
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


class RateLimit:
    """At most `bytes_per_second` on average over the parts sent (curl's --limit-rate): a
    part waits for its turn before it is sent, whichever thread sends it."""

    def __init__(self, bytes_per_second: int | None) -> None:
        self._rate = bytes_per_second
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def wait_for(self, size: int) -> None:
        if not self._rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + size / self._rate
        time.sleep(max(0.0, start - now))


def kind_of(path: Path) -> str:
    with path.open("rb") as file:
        first = file.read(12)
    is_webp = first[:4] == b"RIFF" and first[8:12] == b"WEBP"
    return "image" if first.startswith(_IMAGE_SIGNATURES) or is_webp else "file"


@dataclass(frozen=True)
class Upload:
    path: Path
    size: int
    state_file: Path

    @classmethod
    def of(cls, site: Site, path: Path, places: Places) -> Upload:
        stat = path.stat()
        identity = f"{site.url}\n{path.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}"
        name = hashlib.sha256(identity.encode()).hexdigest()[:32]
        return cls(path, stat.st_size, places.uploads_dir / f"{name}.json")

    def saved(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.state_file)  # whole or not at all, even when killed

    def forget(self) -> None:
        self.state_file.unlink(missing_ok=True)


def send(
    site: Site,
    upload: Upload,
    *,
    jobs: int,
    progress: Callable[[int], None],
    resumed: Callable[[int, int], None],
    rate: RateLimit | None = None,
) -> dict[str, Any]:
    """Upload the file in parts (resuming what the site holds) and complete it: the item."""
    state = upload.saved()
    held: dict[int, str] = {}
    if state is not None:
        try:
            stored = site.call("GET", f"/uploads/{state['upload_id']}/parts")
            held = {int(p["part_number"]): str(p["etag"]).strip('"') for p in stored["parts"]}
        except ApiError as exc:
            if exc.status != 404:
                raise
            state = None  # swept, cancelled or deleted meanwhile: start afresh
    if state is None:
        started = site.call(
            "POST",
            "/uploads",
            json={
                "kind": kind_of(upload.path),
                "filename": upload.path.name,
                "size_bytes": upload.size,
            },
        )
        state = {
            "upload_id": started["upload_id"],
            "part_size": started["part_size_bytes"],
            "parts": started["parts"],
            "mode": started["transfer_mode"],
        }
        upload.save(state)
    part_size, count = int(state["part_size"]), int(state["parts"])
    sizes = {n: min(part_size, upload.size - (n - 1) * part_size) for n in range(1, count + 1)}
    held = {n: etag for n, etag in held.items() if n in sizes}
    if held:
        resumed(len(held), count)
        progress(sum(sizes[n] for n in held))
    missing = [n for n in range(1, count + 1) if n not in held]
    etags = dict(held)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for start in range(0, len(missing), SIGN_AT_ONCE):
            batch = missing[start : start + SIGN_AT_ONCE]
            signed = site.call(
                "POST", f"/uploads/{state['upload_id']}/parts", json={"part_numbers": batch}
            )
            proxied = state["mode"] != "direct"
            futures: dict[Future[str], int] = {
                pool.submit(
                    _put_part,
                    site,
                    upload.path,
                    signed["urls"][str(n)],
                    (n - 1) * part_size,
                    sizes[n],
                    proxied,
                    progress,
                    rate or RateLimit(None),
                ): n
                for n in batch
            }
            try:
                for future in as_completed(futures):
                    etags[futures[future]] = future.result()  # a failed part raises here
                    # a hint of how far it got (what counts is what the site says it holds)
                    upload.save({**state, "sent": sorted(etags)})
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    parts = [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]
    item: dict[str, Any] = site.call(
        "POST", f"/uploads/{state['upload_id']}/complete", json={"parts": parts}
    )
    upload.forget()
    return item


def _put_part(
    site: Site,
    path: Path,
    url: str,
    offset: int,
    length: int,
    proxied: bool,
    progress: Callable[[int], None],
    rate: RateLimit,
) -> str:
    rate.wait_for(length)
    with path.open("rb") as file:
        file.seek(offset)
        data = file.read(length)
    if len(data) != length:
        raise ApiError(f"{path} changed while it was being uploaded; run the command again.")
    headers = site.auth() if proxied else {}
    try:
        response = site.http.put(url, content=data, headers=headers)
    except httpx.HTTPError as exc:
        raise ApiError(f"a part could not be sent: {exc}; run the command again to resume") from exc
    etag = str(checked(response).headers.get("etag", "")).strip('"')
    if not etag:
        raise ApiError("the storage answered a part without its ETag")
    progress(length)
    return etag
