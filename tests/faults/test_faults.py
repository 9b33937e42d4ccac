"""Dependencies failing for real (a TCP fault proxy, killed processes, a skewed clock).

For each fault: what the visitor sees (a 503 with a clear message, never a 500 or a
traceback) and, after recovery, the invariant: rows == objects == pages == metrics, no open
multipart upload.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from s3tasks_testkit import database
from s3tasks_testkit.faultproxy import (
    PASS,
    REFUSE,
    Blackhole,
    Latency,
    ResetAfter,
    ResetAtCommit,
)
from s3tasks_testkit.images import png
from s3tasks_testkit.patience import patience, sweep_patience
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, wait_until
from s3tasks_testkit.stack import cli
from s3tasks_testkit.storage_api import upload
from s3tasks_testkit.web_visitor import LEAK_MARKERS, WebVisitor

from .conftest import FaultySite

UNAVAILABLE = "Storage is unavailable right now"
#: The fault stack's storage-api settings (conftest) and the worker's retry policy defaults.
DATABASE_CONNECT_TIMEOUT_SECONDS = 2
RETRY_BACKOFF_TOTAL_SECONDS = 1 + 2 + 4 + 8 + 16
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


@pytest.fixture
def visitor(faulty: FaultySite) -> Iterator[WebVisitor]:
    with faulty.visitor() as v:
        v.page("/images")
        yield v
    for proxy in (faulty.s3_proxy, faulty.db_proxy, faulty.redis_proxy):
        proxy.set_mode(PASS)


def _no_leak(response: httpx.Response) -> None:
    assert response.status_code != 500, response.text[:300]
    for marker in LEAK_MARKERS:
        assert marker not in response.text


def _settled(faulty: FaultySite, visitors: list[WebVisitor]) -> None:
    """After recovery: every leftover of a failed upload is swept and the invariant holds."""
    last: list[str] = []

    def holds() -> bool:
        nonlocal last
        report = faulty.invariant(visitors)
        last = report.problems
        return report.holds

    try:
        # a failed upload's undo, then a sweep for what the undo could not reach
        bound = sweep_patience(faulty.config.sweep_interval_seconds, jobs=2)
        wait_until(holds, timeout=bound, interval=0.5, message="the invariant after recovery")
    except TimeoutError as exc:
        raise AssertionError(f"invariant broken: {last}") from exc


def _refused_as_unavailable(visitor: WebVisitor, kind: str, response: httpx.Response) -> None:
    _no_leak(response)
    assert response.json() == {"ok": False, "status": 503, "redirect": f"/{kind}s"}
    assert any(UNAVAILABLE in text for _, text in visitor.flashes(f"/{kind}s"))


def test_s3_stopped_uploads_answer_503_and_leave_nothing(
    faulty: FaultySite, visitor: WebVisitor
) -> None:
    kept = visitor.upload("file", "kept.txt", b"kept before the outage")
    assert kept.json()["ok"]
    faulty.s3_proxy.set_mode(REFUSE)
    _refused_as_unavailable(visitor, "image", visitor.upload("image", "a.png", png(32, 32)))
    _refused_as_unavailable(visitor, "file", visitor.upload("file", "a.txt", b"x" * 1000))
    file_id = visitor.latest_file_id()  # the page still works: only S3 is down
    assert file_id is not None
    if visitor.transfer == "direct":
        # web only signs the link; the browser meets the outage at S3, as with any site down
        link = visitor.http.get(f"/files/{file_id}/download")
        assert link.status_code == 303
        with pytest.raises(httpx.TransportError):
            visitor.s3.get(link.headers["location"])
    else:
        download = visitor.get(f"/files/{file_id}/download")
        _no_leak(download)
        assert download.status_code == 503
        assert UNAVAILABLE in download.text
    faulty.s3_proxy.set_mode(PASS)
    assert visitor.get(f"/files/{file_id}/download").content == b"kept before the outage"
    _settled(faulty, [visitor])


def test_s3_slow_uploads_and_downloads_still_succeed(
    faulty: FaultySite, visitor: WebVisitor
) -> None:
    data = os.urandom(300_000)
    faulty.s3_proxy.set_mode(Latency(0.05))
    response = visitor.upload("file", "slow.bin", data)
    assert response.json()["ok"], response.text
    file_id = visitor.latest_file_id()
    assert visitor.get(f"/files/{file_id}/download").content == data
    faulty.s3_proxy.set_mode(PASS)
    _settled(faulty, [visitor])


@pytest.mark.parametrize("mode", [ResetAfter(64 * 1024), Blackhole()], ids=["reset", "blackhole"])
def test_s3_cut_mid_upload_answers_503_and_aborts_everything(
    faulty: FaultySite, visitor: WebVisitor, mode: ResetAfter | Blackhole
) -> None:
    faulty.s3_proxy.set_mode(mode)
    response = visitor.upload("file", "cut.bin", os.urandom(1_000_000))
    _refused_as_unavailable(visitor, "file", response)
    faulty.s3_proxy.set_mode(PASS)
    _settled(faulty, [visitor])
    assert visitor.latest_file_id() is None


def test_postgresql_unreachable_pages_and_uploads_answer_503(
    faulty: FaultySite, visitor: WebVisitor
) -> None:
    keys_before = faulty.invariant().objects
    visitor.csrf_token()  # the form was loaded before the database went away
    faulty.db_proxy.set_mode(REFUSE)
    page = visitor.get("/images")
    _no_leak(page)
    assert page.status_code == 503
    assert UNAVAILABLE in page.text
    response = visitor.upload("file", "a.txt", b"data")
    _no_leak(response)
    assert response.json()["status"] == 503
    assert UNAVAILABLE in visitor.get("/files").text  # the flash, on the 503 page
    faulty.db_proxy.set_mode(PASS)
    wait_until(
        lambda: visitor.get("/images").status_code == 200,
        timeout=patience(2 * DATABASE_CONNECT_TIMEOUT_SECONDS),
        message="pages to come back with PostgreSQL",
    )
    assert faulty.invariant().objects == keys_before
    _settled(faulty, [visitor])


def test_redis_unreachable_uploads_and_delete_all_still_work_and_the_sweep_deletes(
    faulty: FaultySite, visitor: WebVisitor
) -> None:
    """storage-api's enqueue is best effort: the rows are hidden and due, beat's sweep (which
    still reaches Redis) deletes them."""
    faulty.redis_proxy.set_mode(REFUSE)
    for n in range(4):  # the 4th hides the oldest and tries to enqueue a purge
        assert visitor.upload("image", f"{n}.png", png(16 + n, 16 + n)).json()["ok"]
    assert len(visitor.image_ids()) == 3
    assert visitor.upload("file", "f.txt", b"file").json()["ok"]
    deleted = visitor.delete_all("file")
    assert deleted.status_code == 303
    assert visitor.latest_file_id() is None  # the page is right at once
    _settled(faulty, [visitor])
    faulty.redis_proxy.set_mode(PASS)
    assert visitor.delete_all("image").status_code == 303
    _settled(faulty, [visitor])
    assert visitor.image_ids() == []


#: the statement that turns an upload into a stored item (ItemRepository.mark_stored)
MARK_STORED = b"UPDATE items SET status="


def test_an_upload_whose_commit_outcome_is_unknown_never_loses_the_oldest_image(
    faulty: FaultySite, visitor: WebVisitor
) -> None:
    """The connection resets after the COMMIT that completes a 4th image reached PostgreSQL:
    the commit lands, storage-api cannot know it did and undoes the upload. The cap must not
    have hidden the oldest image then: the visitor still sees the three they had, each one
    downloadable, and whatever the answer, nothing is lost or left behind."""
    for n in range(3):
        assert visitor.upload("image", f"kept-{n}.png", png(20 + n, 20 + n)).json()["ok"]
    kept = visitor.image_ids()
    assert len(kept) == 3
    fired_before = faulty.db_proxy.fired
    faulty.db_proxy.set_mode(ResetAtCommit(after=MARK_STORED))
    response = visitor.upload("image", "unknown.png", png(40, 40))
    faulty.db_proxy.set_mode(PASS)
    assert faulty.db_proxy.fired == fired_before + 1, "the COMMIT was not reset"
    _no_leak(response)
    if response.json()["ok"]:
        expected = [*visitor.image_ids()[:1], *kept[:2]]  # stored: the oldest is capped
    else:
        assert response.json()["status"] == 503
        expected = kept  # undone: all three are still there
    _settled(faulty, [visitor])
    assert visitor.image_ids() == expected
    for image_id in kept:
        if image_id in expected:
            shown = visitor.get(f"/images/{image_id}")
            assert shown.status_code == 200
            assert shown.content.startswith(b"\x89PNG")


def _seed_expired(faulty: FaultySite, count: int, *, expires_in: str = "-1 second") -> str:
    """`count` files of one visitor through storage-api, then made due (as a TTL would), or
    due only after `expires_in` (one UPDATE: a row made due even for a moment may be swept)."""
    visitor_id = uuid.uuid4().hex
    web_credential = {"Authorization": f"Bearer {faulty.config.web_service_token}"}
    with httpx.Client(base_url=faulty.api_url, timeout=30, headers=web_credential) as client:
        for n in range(count):
            response = upload(client, visitor_id, b"x" * 64, kind="file", filename=f"{n}.txt")
            assert response.status_code == 200, response.text
    database.execute(
        faulty.config.database_url,
        "UPDATE items SET expires_at = now() + %s::interval WHERE visitor_id = %s",
        expires_in,
        visitor_id,
    )
    return visitor_id


def _rows_of(faulty: FaultySite, visitor_id: str) -> int:
    count = "SELECT count(*) FROM items WHERE visitor_id = %s"
    return int(database.one(faulty.config.database_url, count, visitor_id))


@pytest.mark.mode_independent  # the sweep, not the upload, is under test
@pytest.mark.timeout(900)  # the waits below are bounded by the retry policy and restarts
def test_storage_api_and_worker_killed_during_a_sweep_lose_nothing(faulty: FaultySite) -> None:
    stack = faulty.stack
    assert stack.storage_api is not None
    assert stack.worker is not None
    visitor_id = _seed_expired(faulty, 150)
    wait_until(
        lambda: _rows_of(faulty, visitor_id) < 150,
        timeout=sweep_patience(faulty.config.sweep_interval_seconds),
        interval=0.02,
        message="the sweep to start",
    )
    stack.storage_api.kill()  # mid-sweep: the worker's calls fail and are retried
    stack.worker.kill()  # and the worker dies holding its unacked job
    stack.storage_api.stop()  # (closes their log files; they are dead already)
    stack.worker.stop()
    stack.storage_api.start()
    stack.worker.start()
    wait_until(
        lambda: _rows_of(faulty, visitor_id) == 0,
        # two restarts, the worker's retries with backoff, then the sweeps that finish
        timeout=sweep_patience(faulty.config.sweep_interval_seconds, jobs=2, starts=2)
        + patience(RETRY_BACKOFF_TOTAL_SECONDS),
        interval=0.2,
        message="the killed sweep's rows to be deleted after restart",
    )
    _settled(faulty, [])


def _faked_worker(faulty: FaultySite, offset: str) -> ServiceProcess:
    stack = faulty.stack
    assert stack.storage_api is not None
    env = {
        **faulty.config.worker_env(stack.storage_api.url),
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": offset,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_DONT_RESET": "1",
    }
    return ServiceProcess(
        name=f"worker-skewed{offset}",
        argv=cli("s3tasks-worker", "worker"),
        env=env,
        log_dir=faulty.config.log_dir,
        # its /metrics on loopback port 0, not the default 0.0.0.0:9102 (taken on a shared host)
        sock=bind_loopback(),
    )


@pytest.mark.mode_independent  # expiry decisions, not transfers
@pytest.mark.parametrize(
    "offset",
    ["+2h", "-2h"],
)
def test_a_skewed_worker_clock_changes_no_expiry_decision(faulty: FaultySite, offset: str) -> None:
    """Expiry is decided by PostgreSQL's now() inside storage-api; the worker only asks
    "delete what is due". A worker two hours ahead deletes nothing early, one two hours
    behind deletes nothing late. (Without libfaketime the same holds for the unskewed
    worker, and the test still pins that decisions follow the database's clock.)"""
    stack = faulty.stack
    assert stack.worker is not None
    due_id = _seed_expired(faulty, 1)
    future_id = _seed_expired(faulty, 1, expires_in="1 hour")
    skewed = None
    if LIBFAKETIME.exists():
        stack.worker.stop()
        skewed = _faked_worker(faulty, offset).start()
    try:
        sweep = faulty.config.sweep_interval_seconds
        # the skewed worker starts, then the next tick's sweep deletes the due row
        wait_until(
            lambda: _rows_of(faulty, due_id) == 0,
            timeout=sweep_patience(sweep, starts=1),
            message="the due row",
        )
        # later sweeps by the same worker: one more due row goes, the row due in an hour
        # (by the database's clock) stays
        later_id = _seed_expired(faulty, 1)
        wait_until(
            lambda: _rows_of(faulty, later_id) == 0,
            timeout=sweep_patience(sweep),
            message="a later row",
        )
        assert _rows_of(faulty, future_id) == 1
    finally:
        if skewed is not None:
            skewed.stop()
            if skewed.sock is not None:
                skewed.sock.close()
            stack.worker.start()
    database.execute(
        faulty.config.database_url,
        "UPDATE items SET expires_at = now() WHERE visitor_id = %s",
        future_id,
    )
    wait_until(
        lambda: _rows_of(faulty, future_id) == 0,
        timeout=sweep_patience(faulty.config.sweep_interval_seconds, starts=1),
        message="the row, now due",
    )
    _settled(faulty, [])
