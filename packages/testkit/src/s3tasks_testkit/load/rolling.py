"""A rolling restart under load: every replica replaced one at a time with SIGTERM and a
restart (`ReplicatedStack.replace`), `rounds` times over, while the load's visitors list,
upload, download and delete, and a large upload in parts goes on beside them (one after
another until the restarts are over), each downloaded again and compared by digest.

Visitors must not notice: no failed request (no 5xx, no connection error, no timeout), no
upload lost, nothing leaked, nothing deleted twice, every replica exits 0.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from s3tasks_testkit.load.replicas import ReplicatedStack
from s3tasks_testkit.web_visitor import WebVisitor

#: the order a release rolls the Deployments in: storage-api first (web and the worker
#: keep their contract with it), web last
ROLL_ORDER = ("storage-api", "worker", "beat", "web")
MIB = 1024 * 1024


def stack_env(part_upload_bytes: int) -> dict[str, str]:
    """The replicated stack's settings for a rolling run: files as large as its upload in
    parts (1 GiB in `make load`, above storage-api's default limit), and the default hour for
    an upload to finish (a load run's is as short as its TTL; nothing here is cut off and
    left to its deadline)."""
    return {
        "STORAGE_API_MAX_FILE_BYTES": str(max(part_upload_bytes, 512 * MIB)),
        "STORAGE_API_UPLOAD_DEADLINE_SECONDS": "3600",
    }


@dataclass
class RollingFigures:
    rounds: int
    #: each replaced incarnation: name, exit status (None: did not exit), seconds to exit
    exits: list[tuple[str, int | None, float]] = field(default_factory=list)
    part_upload_bytes: int = 0
    #: uploads in parts completed and downloaded again with the same SHA-256
    part_uploads_verified: int = 0
    #: every request of an upload in parts that failed, and how
    part_upload_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unclean_exits(self) -> list[tuple[str, int | None, float]]:
        return [exit_ for exit_ in self.exits if exit_[1] != 0]

    @property
    def ok(self) -> bool:
        return (
            not self.unclean_exits
            and not self.part_upload_failures
            and self.part_uploads_verified > 0
        )

    def figures(self) -> str:
        slowest = max((seconds for _, _, seconds in self.exits), default=0.0)
        return "\n".join(
            [
                f"rolling restart: {self.rounds} rounds, {len(self.exits)} replicas replaced"
                f" with SIGTERM in {self.seconds:.0f} s; exits not 0: {self.unclean_exits or 0}"
                f" (slowest exit {slowest:.1f} s)",
                f"uploads in parts of {self.part_upload_bytes // MIB} MiB verified by digest:"
                f" {self.part_uploads_verified}, failed requests:"
                f" {self.part_upload_failures[:5] or 0}",
            ]
        )


class RollingRestart:
    """The load run's chaos plan: call it with the run's duration (unused: it takes as long as
    the replicas take to drain and start)."""

    def __init__(self, stack: ReplicatedStack, *, rounds: int, part_upload_bytes: int) -> None:
        self.stack = stack
        self.figures = RollingFigures(rounds=rounds, part_upload_bytes=part_upload_bytes)
        self._over = threading.Event()

    def __call__(self, _duration: float) -> None:
        started = time.monotonic()
        uploader = threading.Thread(target=self._upload_in_parts_until_over, name="in-parts")
        uploader.start()
        try:
            for _ in range(self.figures.rounds):
                for kind in ROLL_ORDER:
                    for index in range(len(self.stack.replicas[kind])):
                        self.stack.replace(kind, index)
        finally:
            self._over.set()
            uploader.join()
            self.figures.exits = list(self.stack.exits)
            self.figures.seconds = time.monotonic() - started

    def _upload_in_parts_until_over(self) -> None:
        seed = 0
        while not self._over.is_set() or (
            self.figures.part_uploads_verified == 0 and not self.figures.part_upload_failures
        ):
            seed += 1
            with WebVisitor(self.stack.web_url, timeout=120, browser_resends=True) as visitor:
                try:
                    self._one_upload_in_parts(visitor, seed)
                except httpx.HTTPError as exc:
                    self.figures.part_upload_failures.append(f"{type(exc).__name__}: {exc}")
            if self.figures.part_upload_failures:
                return

    def _one_upload_in_parts(self, visitor: WebVisitor, seed: int) -> None:
        size = self.figures.part_upload_bytes
        visitor.page("/files")  # the form's token, and the transfer mode it announces
        start = visitor.start_in_parts("file", f"big-{seed}.bin", size, "in parts")
        ticket = start.json() if start.is_success else {}
        if not ticket.get("ok"):
            self._failed("start", start)
            return
        item_id, part_size = ticket["item_id"], int(ticket["part_size"])
        count = -(-size // part_size)
        digest = hashlib.sha256()
        parts: list[tuple[int, str]] = []
        for first in range(1, count + 1, 100):
            numbers = list(range(first, min(first + 100, count + 1)))
            signed = visitor.sign_parts("file", item_id, numbers)
            if signed.status_code != 200 or not signed.json().get("ok"):
                self._failed("sign", signed)
                return
            urls = signed.json()["urls"]
            for number in numbers:
                length = min(part_size, size - (number - 1) * part_size)
                data = random.Random(seed * 100_003 + number).randbytes(length)  # noqa: S311
                digest.update(data)
                put = visitor.put_part(urls[str(number)], data)
                if put.status_code != 200:
                    self._failed(f"part {number}", put)
                    return
                parts.append((number, put.headers["etag"].strip('"')))
        done = visitor.complete_in_parts("file", item_id, parts)
        if done.status_code != 200 or not done.json().get("ok"):
            self._failed("complete", done)
            return
        fetched = _download_digest(visitor, f"/files/{item_id}/download")
        if fetched != digest.hexdigest():
            self.figures.part_upload_failures.append(f"{item_id}: digest differs ({fetched})")
            return
        self.figures.part_uploads_verified += 1

    def _failed(self, step: str, response: httpx.Response) -> None:
        self.figures.part_upload_failures.append(
            f"{step}: {response.status_code} {response.text[:200]}"
        )


def _download_digest(visitor: WebVisitor, path: str) -> str:
    """The SHA-256 of what a browser downloads from `path` (web's stream, or S3's after
    `direct` mode's 303), read as it arrives."""
    digest = hashlib.sha256()
    with visitor.http.stream("GET", path) as response:
        location = response.headers.get("location", "")
        if response.status_code == 303 and location.startswith(("http://", "https://")):
            with visitor.s3.stream("GET", location) as direct:
                direct.raise_for_status()
                for chunk in direct.iter_bytes():
                    digest.update(chunk)
            return digest.hexdigest()
        response.raise_for_status()
        for chunk in response.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()
