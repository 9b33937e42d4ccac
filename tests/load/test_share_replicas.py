"""Share links and upload requests counted exactly under replicas: 3 web and 2 storage-api
behind nginx (with 2 workers and 2 beats), many downloads of one link, many senders on one
request, at once. No process-local lock can make this pass: only PostgreSQL's one conditional
UPDATE per grant, and per received file, does."""

from __future__ import annotations

import html
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import psycopg
import pytest

from s3tasks_testkit import backing_services
from s3tasks_testkit.balancer import nginx_available
from s3tasks_testkit.load.replicas import ReplicatedStack, replicated_stack
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.web_visitor import WebVisitor

LIMIT = 25
ATTEMPTS = 200


def shared_file(owner: WebVisitor, **fields: str) -> str:
    """The path of a new link of the owner's new file."""
    _, path = owner.share_new_file(
        b"hot" * 1000, filename="hot.bin", description="wanted", **fields
    )
    return path


def downloads_counted(stack: ReplicatedStack) -> Counter[str]:
    """storage-api's share download outcomes, summed over its replicas."""
    counted: Counter[str] = Counter()
    for replica in stack.replicas["storage-api"]:
        metrics = scrape(replica.current.url)
        for outcome in ("granted", "used_up", "gone"):
            counted[outcome] += int(metrics.total("s3tasks_share_downloads_total", outcome=outcome))
    return counted


# 3 web, 2 storage-api, 2 workers, 2 beats and 200 clients: one at a time under xdist
# grants are counted in PostgreSQL before either mode serves the bytes (test_shares runs in both)
pytestmark = [pytest.mark.heavy, pytest.mark.mode_independent]


@pytest.fixture(scope="module")
def stack(dependencies: Dependencies) -> Iterator[ReplicatedStack]:
    """One replicated stack for the module: starting it is most of each test's time."""
    if not nginx_available():
        pytest.fail("nginx is not installed: `make install` installs it (Debian's nginx)")
    with replicated_stack(dependencies, ttl=900, name="replicas-shares") as stack:
        yield stack


@pytest.mark.timeout(900)
def test_one_link_under_replicas_grants_exactly_its_limit(stack: ReplicatedStack) -> None:
    with (
        WebVisitor(stack.web_url) as owner,
        httpx.Client(
            base_url=stack.web_url,
            timeout=60.0,
            limits=httpx.Limits(max_connections=64),
        ) as strangers,
    ):
        path = shared_file(owner, max_downloads=str(LIMIT))
        before = downloads_counted(stack)
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = Counter(
                pool.map(lambda _: strangers.post(path).status_code, range(ATTEMPTS))
            )
        assert statuses == {303: LIMIT, 410: ATTEMPTS - LIMIT}, statuses
        counted = downloads_counted(stack) - before
        assert counted == {"granted": LIMIT, "used_up": ATTEMPTS - LIMIT}, counted
        assert f"{LIMIT} of {LIMIT} used" in owner.page("/files")

        # "Delete all" while 50 downloads of a link run: none is granted after it commits
        path = shared_file(owner)
        purged_at: list[float] = []
        answers: list[tuple[float, int]] = []
        lock = threading.Lock()

        def keep_downloading() -> None:
            while True:
                sent = time.monotonic()
                status = strangers.post(path).status_code
                with lock:
                    answers.append((sent, status))
                if status != 303:
                    return

        with ThreadPoolExecutor(max_workers=50) as pool:
            running = [pool.submit(keep_downloading) for _ in range(50)]
            # the downloads get going, then the purge lands among them
            wait_until(
                lambda: len(answers) >= 100,
                timeout=patience(10),
                interval=0.01,
                message="downloads to get going",
            )
            assert owner.delete_all("file").status_code == 303
            purged_at.append(time.monotonic())
            for future in running:
                future.result()
        assert {status for _, status in answers} <= {303, 404}, Counter(s for _, s in answers)
        late = [status for sent, status in answers if sent > purged_at[0] and status == 303]
        assert late == []
        assert any(status == 303 for _, status in answers)


REQUESTED = 10
SENDERS = 50
_REQUEST_LINK = re.compile(
    r'id="request-url-[0-9a-f-]+" class="share-url" type="text" value="([^"]+)"'
)


@pytest.mark.timeout(900)
def test_fifty_senders_on_one_request_under_replicas_land_exactly_its_files(
    stack: ReplicatedStack, dependencies: Dependencies
) -> None:
    """50 senders at once on a request for 10 files, each through any web replica and any
    storage-api replica: exactly 10 land, and a refused one leaves no row and no object."""
    with (
        WebVisitor(stack.web_url) as owner,
        httpx.Client(
            base_url=stack.web_url, timeout=120.0, limits=httpx.Limits(max_connections=64)
        ) as senders,
    ):
        owner.page("/files")
        asked = owner.http.post(
            "/files/requests",
            params={"csrf": owner.csrf_token()},
            data={"max_files": str(REQUESTED)},
        )
        assert asked.status_code == 303
        (url,) = _REQUEST_LINK.findall(owner.page("/files"))
        path = httpx.URL(html.unescape(url)).path
        barrier = Barrier(SENDERS)

        def send(n: int) -> int:
            barrier.wait(timeout=patience(60))
            files = {"file": (f"sent-{n}.bin", f"sender {n}\n".encode() * 2000)}
            return senders.post(f"{path}/upload", files=files).status_code

        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            statuses = Counter(pool.map(send, range(SENDERS)))
        # 200: received; 409: refused at its start or completion; 404: the page found the
        # request used up before the upload began
        assert statuses[200] == REQUESTED, statuses
        assert set(statuses) <= {200, 404, 409}, statuses
        with psycopg.connect(stack.config.database_url) as conn:
            rows = conn.execute(
                "SELECT status FROM items WHERE visitor_id = %s", (owner.visitor_id,)
            ).fetchall()
            ((files_received,),) = conn.execute(
                "SELECT files_received FROM upload_requests WHERE visitor_id = %s",
                (owner.visitor_id,),
            ).fetchall()
            # every row, read before the bucket is listed: the worker deletes an object
            # before its row, never the other way round
            every_row = {str(item_id) for (item_id,) in conn.execute("SELECT id FROM items")}
        assert files_received == REQUESTED
        assert rows == [("stored",)] * REQUESTED  # no row of a refused upload is left
        s3 = dependencies.s3.client()
        keys = backing_services.object_keys(s3, stack.config.bucket, "")
        # no object of a refused upload either, served or staged
        orphans = {
            key
            for key in keys
            if key.startswith(("objects/", "uploads/")) and key.split("/", 1)[1] not in every_row
        }
        assert orphans == set()
        assert backing_services.open_multipart_uploads(s3, stack.config.bucket) == 0
        assert owner.page("/files").count('class="meta received"') >= 1
