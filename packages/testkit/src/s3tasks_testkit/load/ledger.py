"""The visitors of a load run and their client-side ledger: nothing acknowledged is lost.

N visitor threads upload images and files, download, look at the pages and delete all, for
the duration. Each keeps a ledger of what it was told was stored: every acknowledged upload
must be downloadable byte-identical whenever it is looked at before it expired or was
deleted. After the TTL has passed, no row, object or multipart upload may be left, and the
metrics must agree.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from s3tasks_testkit.backing_services import S3Endpoint
from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.web_visitor import WebVisitor, check_invariant

#: an item counts as expected-alive until this long before its expiry (clock and sweep slack).
_EXPIRY_MARGIN_SECONDS = 2.0


@dataclass
class Entry:
    """One acknowledged upload in the client's ledger."""

    client_id: str
    kind: str
    sha256: str
    acked_at: float
    item_id: str | None = None
    deleted_at: float | None = None  # delete all, or hidden by the image cap
    checks: int = 0


@dataclass
class LoadReport:
    visitors: int
    duration_seconds: float
    chaos: bool
    requests: int = 0
    uploads_acknowledged: int = 0
    downloads_verified: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lost_items: int = 0
    leaked_objects: int = 0
    open_multipart_uploads: int = 0
    dangling_rows: int = 0
    invariant_problems: list[str] = field(default_factory=list)
    requests_per_second: float = 0.0
    #: what each loss was (kind, item, seconds since its acknowledgement, what was seen)
    losses: list[str] = field(default_factory=list)
    #: requests sent again on a new connection, as a browser does, after the kept-alive one
    #: they went out on was closed before any answer (`BrowserTransport`): not errors
    resent_on_closed_connections: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.lost_items == 0
            and self.leaked_objects == 0
            and self.open_multipart_uploads == 0
            and self.dangling_rows == 0
            and not self.invariant_problems
            and self.errors.get("server_error_500", 0) == 0
        )

    def figures(self) -> str:
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        return "\n".join(
            [
                f"visitors: {self.visitors}, duration: {self.duration_seconds:.0f} s,"
                f" chaos: {'on' if self.chaos else 'off'}",
                f"requests: {self.requests} ({self.requests_per_second:.1f}/s)",
                f"uploads acknowledged: {self.uploads_acknowledged},"
                f" downloads verified byte-identical: {self.downloads_verified}",
                f"errors by kind: {errors}",
                f"resent as a browser resends (a kept-alive connection closed before any"
                f" answer): {self.resent_on_closed_connections}",
                f"lost items: {self.lost_items}" + (f" {self.losses[:10]}" if self.losses else ""),
                f"leaked objects: {self.leaked_objects},"
                f" dangling rows: {self.dangling_rows},"
                f" open multipart uploads: {self.open_multipart_uploads}",
                f"invariant: {'holds' if not self.invariant_problems else self.invariant_problems}",
            ]
        )


def assert_nothing_lost_or_leaked(report: LoadReport) -> None:
    """What every load test holds its run to: it did something, lost no acknowledged item,
    left nothing behind and answered no 500."""
    assert report.uploads_acknowledged > 0
    assert report.downloads_verified > 0
    assert report.lost_items == 0, report.figures()
    assert report.leaked_objects == 0, report.figures()
    assert report.open_multipart_uploads == 0, report.figures()
    assert report.invariant_problems == [], report.figures()
    assert report.errors.get("server_error_500", 0) == 0, report.figures()


class _Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.errors: Counter[str] = Counter()
        self.lost = 0
        self.verified = 0
        self.acked = 0
        self.losses: list[str] = []

    def lose(self, what: str) -> None:
        with self._lock:
            self.lost += 1
            self.losses.append(what)

    def request(self, n: int = 1) -> None:
        with self._lock:
            self.requests += n

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def add(self, *, lost: int = 0, verified: int = 0, acked: int = 0) -> None:
        with self._lock:
            self.lost += lost
            self.verified += verified
            self.acked += acked


class _VisitorLoop:
    """One visitor: a thread that uploads, checks its ledger and deletes, until the deadline."""

    def __init__(self, web_url: str, ttl: float, deadline: float, seed: int, tally: _Tally):
        # the site's own answers are judged, not the keep-alive races a browser hides
        self.visitor = WebVisitor(web_url, timeout=30, browser_resends=True)
        self.ttl = ttl
        self.deadline = deadline
        self.rng = random.Random(seed)  # noqa: S311 - load shape, not security
        self.tally = tally
        self.ledger: list[Entry] = []
        self.images_kept: list[Entry] = []
        #: an upload was answered "unavailable": it may have been stored all the same
        self.uncertain = False

    def run(self) -> None:
        self._get("/images")
        while time.monotonic() < self.deadline:
            roll = self.rng.random()
            try:
                if roll < 0.35:
                    self._upload("image")
                elif roll < 0.65:
                    self._upload("file")
                elif roll < 0.93:
                    self._check_some()
                else:
                    self._delete_all()
            except Exception as exc:  # noqa: BLE001 - a finding, counted; the visitor goes on
                self.tally.error(f"visitor_step_failed_{type(exc).__name__}")

    def _get(self, path: str) -> httpx.Response | None:
        self.tally.request()
        try:
            response = self.visitor.get(path)
        except httpx.HTTPError as exc:
            self.tally.error(f"transport_{type(exc).__name__}")
            return None
        self._count_status(response)
        return response

    def _count_status(self, response: httpx.Response) -> None:
        if response.status_code == 500:
            self.tally.error("server_error_500")
        elif response.status_code >= 500:
            self.tally.error(f"unavailable_{response.status_code}")

    def _alive(self, entry: Entry, now: float) -> bool:
        return entry.deleted_at is None and now < entry.acked_at + self.ttl - _EXPIRY_MARGIN_SECONDS

    def _upload(self, kind: str) -> None:
        client_id = uuid.uuid4().hex[:12]
        if kind == "image":
            colour = (self.rng.randrange(256), self.rng.randrange(256), self.rng.randrange(256))
            data = png(self.rng.randrange(16, 200), self.rng.randrange(16, 200), colour)
            name = f"img-{client_id}.png"
        else:
            data = os.urandom(self.rng.choice((1_000, 50_000, 400_000)))
            name = f"file-{client_id}.bin"
        self.tally.request()
        try:
            response = self.visitor.upload(kind, name, data, description=f"ledger {client_id}")
        except httpx.HTTPError as exc:
            self.tally.error(f"transport_{type(exc).__name__}")
            self._outcome_unknown(kind, client_id)
            return
        outcome = response.json() if response.status_code == 200 else {}
        if not outcome.get("ok"):
            status = outcome.get("status", response.status_code)
            self.tally.error("server_error_500" if status == 500 else f"upload_refused_{status}")
            if status >= 500:
                # "unavailable" may come after storage-api stored it (web gave up waiting):
                # the outcome is unknown until the page shows it or not
                self._outcome_unknown(kind, client_id)
            return
        entry = Entry(client_id, kind, hashlib.sha256(data).hexdigest(), time.monotonic())
        self.tally.add(acked=1)
        self.ledger.append(entry)
        if kind == "image":
            # acknowledged: it takes a place under the cap now, whether or not the page
            # that would tell its id can be read next
            self.images_kept.append(entry)
            for capped in self.images_kept[:-3]:
                capped.deleted_at = capped.deleted_at or time.monotonic()
            self.images_kept = self.images_kept[-3:]
        page = self._get(f"/{kind}s")
        if page is None or page.status_code != 200:
            return
        # Each visitor is one thread: its newest item on the page is the one just uploaded.
        if kind == "image":
            shown = self.visitor.image_ids_in(page.text)
            entry.item_id = next(iter(shown), None)
            self._resync_images(shown)
        else:
            entry.item_id = self.visitor.latest_file_id_in(page.text)
        self._verify(entry)

    def _outcome_unknown(self, kind: str, client_id: str) -> None:
        """An upload answered "unavailable" (or not at all) may have been stored, or its
        transaction may have committed with the cap applied and then been undone (a reset
        COMMIT whose answer was lost). An image then may have taken a place under the cap:
        a placeholder holds that place, so the ledger never expects more than the cap keeps
        (it may check fewer images; it never calls a capped one lost)."""
        self.uncertain = True
        if kind != "image":
            return
        self.images_kept.append(Entry(client_id, kind, "", time.monotonic()))
        for capped in self.images_kept[:-3]:
            capped.deleted_at = capped.deleted_at or time.monotonic()
        self.images_kept = self.images_kept[-3:]

    def _resync_images(self, shown: list[str]) -> bool:
        """After an upload answered "unavailable": if the page shows an image the ledger
        does not know, that upload was stored after all and took a place under the cap, so
        what the page no longer shows was capped, not lost. True if so."""
        if not self.uncertain:
            return False
        known = {e.item_id for e in self.ledger}
        if not any(i not in known for i in shown):
            return False
        self.tally.error("stored_despite_unavailable")
        now = time.monotonic()
        for kept in self.images_kept:
            if kept.item_id not in shown:
                kept.deleted_at = kept.deleted_at or now
        # The places under the cap are now what the page shows (oldest first), the image stored
        # despite "unavailable" included: it holds a place until a later upload caps it, so it
        # must stay in the count (dropping it, the ledger would expect one image too many).
        by_id = {e.item_id: e for e in self.ledger if e.item_id}
        self.images_kept = [
            by_id.get(item_id) or Entry("stored-despite-unavailable", "image", "", now, item_id)
            for item_id in reversed(shown)
        ]
        self.uncertain = False
        return True

    def _check_some(self) -> None:
        now = time.monotonic()
        alive = [e for e in self.ledger if e.item_id and self._alive(e, now)]
        for entry in self.rng.sample(alive, min(2, len(alive))):
            self._verify(entry)

    def _verify(self, entry: Entry) -> None:
        if entry.item_id is None:
            return
        path = (
            f"/images/{entry.item_id}"
            if entry.kind == "image"
            else f"/files/{entry.item_id}/download"
        )
        started = time.monotonic()
        response = self._get(path)
        if response is None or response.status_code >= 500:
            return  # told "unavailable": not a loss
        entry.checks += 1
        if response.status_code == 200:
            if hashlib.sha256(response.content).hexdigest() == entry.sha256:
                self.tally.add(verified=1)
            else:
                self.tally.error("download_mismatch")
                self.tally.lose(self._describe(entry, started, "bytes differ"))
        # judged when the answer came: a request that waited (a replica restarting) may
        # reach the item after it expired, which is no loss
        elif response.status_code == 404 and self._alive(entry, time.monotonic()):
            if entry.kind == "image" and self.uncertain:
                page = self._get("/images")
                if (
                    page is not None
                    and page.status_code == 200
                    and self._resync_images(self.visitor.image_ids_in(page.text))
                ):
                    return
            entry.deleted_at = time.monotonic()  # counted once
            self.tally.error("lost_before_expiry")
            self.tally.lose(self._describe(entry, started, "404"))

    def _describe(self, entry: Entry, at: float, seen: str) -> str:
        return (
            f"{entry.kind} {entry.item_id} ({entry.client_id}): {seen}"
            f" {at - entry.acked_at:.1f} s after its acknowledgement, checked {entry.checks}x"
        )

    def _delete_all(self) -> None:
        """Delete all of one kind. Only a success flash proves it was done; a refusal while a
        dependency is cut off does not prove it was *not* done (the fault proxy resets
        PostgreSQL connections, so a COMMIT can land while its answer is lost), so after any
        failure the items of that kind are no longer checked: a check could not tell a loss
        from that deletion."""
        kind = self.rng.choice(("image", "file"))
        self.tally.request()
        try:
            response = self.visitor.delete_all(kind)
        except httpx.HTTPError as exc:
            self.tally.error(f"transport_{type(exc).__name__}")
            self._forget(kind)
            return
        self._count_status(response)
        if response.status_code != 303:
            self.tally.error(f"delete_all_{response.status_code}")
            self._forget(kind)
            return
        page = self._get(f"/{kind}s")
        if page is None or page.status_code != 200:
            self.tally.error("delete_all_unknown")  # the flash is lost with the page
        elif any(level == "error" for level, _ in self.visitor.flashes_in(page.text)):
            self.tally.error("delete_all_refused")
        self._forget(kind)

    def _forget(self, kind: str) -> None:
        """Every item of `kind` is deleted, or may be: none is checked again."""
        now = time.monotonic()
        for entry in self.ledger:
            if entry.kind == kind and entry.deleted_at is None:
                entry.deleted_at = now
        if kind == "image":
            self.images_kept = []


@dataclass
class LoadTarget:
    """A running stack to load, with a look into its database and bucket."""

    web_url: str
    storage_api_url: str
    database_url: str
    s3: S3Endpoint
    bucket: str
    #: what a run with chaos does to the stack during its `duration` seconds
    chaos_plan: Callable[[float], None]
    #: where web's metrics are scraped for 500s once the run is over (every web replica, as
    #: it is then: a replica restarted by chaos listens on a new metrics port)
    web_metrics_urls: Callable[[], list[str]]
    #: visitors go on until the chaos plan is over, however long it takes (a rolling restart
    #: that waits for each replica), instead of stopping after `duration`
    load_until_chaos_ends: bool = False


def run_load(
    target: LoadTarget,
    *,
    visitors: int,
    duration: float,
    ttl: float,
    chaos: bool = False,
    settle_timeout: float = 120.0,
    seed: int = 1,
) -> LoadReport:
    tally = _Tally()
    follow_chaos = chaos and target.load_until_chaos_ends
    deadline = float("inf") if follow_chaos else time.monotonic() + duration
    loops = [
        _VisitorLoop(target.web_url, ttl, deadline, seed * 1000 + n, tally) for n in range(visitors)
    ]
    threads = [
        threading.Thread(target=loop.run, name=f"visitor-{n}") for n, loop in enumerate(loops)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        if chaos:
            target.chaos_plan(duration)
    finally:
        if follow_chaos:
            for loop in loops:
                loop.deadline = time.monotonic()
    for thread in threads:
        thread.join(timeout=duration + 120)
    elapsed = time.monotonic() - started
    report = LoadReport(visitors=visitors, duration_seconds=elapsed, chaos=chaos)
    report.requests = tally.requests
    report.uploads_acknowledged = tally.acked
    report.downloads_verified = tally.verified
    report.lost_items = tally.lost
    report.losses = list(tally.losses)
    report.requests_per_second = tally.requests / elapsed if elapsed else 0.0
    # settle: every item's TTL passes and the sweep deletes it; then nothing may be left
    s3 = target.s3.client()

    def settled() -> bool:
        inv = check_invariant(
            database_url=target.database_url,
            s3=s3,
            bucket=target.bucket,
            storage_api_url=target.storage_api_url,
        )
        return inv.holds and inv.rows == 0 and inv.objects == 0

    try:
        wait_until(settled, timeout=ttl + settle_timeout, interval=1.0, message="settling")
    except TimeoutError:
        tally.error("did_not_settle")
    final = check_invariant(
        database_url=target.database_url,
        s3=s3,
        bucket=target.bucket,
        storage_api_url=target.storage_api_url,
    )
    report.leaked_objects = len(final.orphan_objects)
    report.dangling_rows = len(final.dangling_rows) + len(final.unsettled_rows)
    report.open_multipart_uploads = final.open_multipart_uploads
    report.invariant_problems = final.problems
    if any(
        scrape(url).total("s3tasks_http_requests_total", status="500")
        for url in target.web_metrics_urls()
    ):
        tally.error("server_error_500")
    report.errors = dict(tally.errors)
    report.resent_on_closed_connections = sum(
        loop.visitor.transport.resent for loop in loops if loop.visitor.transport is not None
    )
    for loop in loops:
        loop.visitor.close()
    return report
