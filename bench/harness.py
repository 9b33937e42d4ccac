"""The stack under test, started as the end-to-end tests start it, plus a browser-like client.

PostgreSQL and Redis: S3TASKS_BENCH_POSTGRES_URL / S3TASKS_BENCH_REDIS_URL, else the local
servers, else embedded ones (testkit, their data below the run's log directory). S3: a server
of our own, radosgw (a single-node Ceph, the default) or moto (`--s3 moto` /
S3TASKS_BENCH_S3=moto); the results name it. Everything binds 127.0.0.1 on kernel-chosen
ports and is removed on exit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery

from s3tasks_contracts import TASK_SWEEP_DUE
from s3tasks_testkit import backing_services
from s3tasks_testkit.metrics import Scrape, scrape
from s3tasks_testkit.processes import ServiceProcess
from s3tasks_testkit.radosgw import CephOptions, Store
from s3tasks_testkit.s3servers import S3Server, local_dependencies
from s3tasks_testkit.stack import isolated_config, running_stack
from s3tasks_testkit.storage_api import Api
from s3tasks_testkit.web_visitor import WebVisitor

GIB = 1024**3
REPO_ROOT = Path(__file__).resolve().parent.parent
SWEEP_TICK_SECONDS = 5.0


def started(proc: ServiceProcess | None, name: str) -> ServiceProcess:
    if proc is None:
        raise RuntimeError(f"{name} is not started")
    return proc


@dataclass
class BenchEnv(Api):
    s3_server: str = "S3"
    """What served S3 in this run (radosgw with its store, or moto): every ratio depends on it."""
    notes: list[str] = field(default_factory=list)
    timeout: float = 120

    @property
    def web_url(self) -> str:
        return started(self.stack.web, "web").url

    @property
    def bucket(self) -> str:
        return self.config.bucket

    def db(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.config.database_url, autocommit=True)

    def send_sweep(self) -> None:
        """Enqueue `sweep_due` now, as beat does at its tick."""
        app = Celery("s3tasks-bench", broker=self.config.redis_url, set_as_current=False)
        app.conf.update(broker_transport_options={"global_keyprefix": self.config.redis_prefix})
        try:
            app.send_task(TASK_SWEEP_DUE, queue=self.config.task_queue)
        finally:
            app.close()

    def worker_metrics(self) -> Scrape:
        return scrape(started(self.stack.worker, "worker").url)


@contextmanager
def bench_env(
    log_dir: Path,
    server: S3Server,
    ceph_store: Store,
    *,
    transfer_mode: str = "proxy",
    redis_url: str | None = None,
    postgres_url: str | None = None,
) -> Iterator[BenchEnv]:
    """storage-api, worker, beat (5 s tick) and web on a database, prefix and bucket of our own,
    in the transfer mode given (`direct`: the browser's bytes go to S3 on loopback itself);
    `redis_url`, `postgres_url`: servers of the caller's (the costs count a Redis's commands;
    the soak needs a PostgreSQL whose autovacuum runs)."""
    notes: list[str] = []
    # a big run's objects would fill the OSD's memory with memstore: bluestore on a sparse
    # file under build/ (on disk) then; deleted data is freed after a short GC wait
    ceph = CephOptions(store=ceph_store, bluestore_parent=_bluestore_parent(log_dir))
    with (
        local_dependencies(
            log_dir,
            notes.append,
            postgres_url=postgres_url
            or os.environ.get(
                "S3TASKS_BENCH_POSTGRES_URL", backing_services.DEFAULT_POSTGRES_ADMIN_URL
            ),
            redis_url=redis_url
            or os.environ.get("S3TASKS_BENCH_REDIS_URL", backing_services.DEFAULT_REDIS_URL),
            server=server,
            ceph=ceph,
        ) as dependencies,
        isolated_config(
            dependencies,
            "stack" if transfer_mode == "proxy" else f"stack-{transfer_mode}",
            sweep_interval_seconds=SWEEP_TICK_SECONDS,
            transfer_mode=transfer_mode,
            extra_env={"STORAGE_API_MAX_FILE_BYTES": str(2 * GIB)},
        ) as config,
        running_stack(config) as stack,
    ):
        s3 = dependencies.s3
        yield BenchEnv(stack, config, s3.client(), s3_server=s3.server, notes=notes)


def _bluestore_parent(log_dir: Path) -> Path:
    parent = log_dir / "ceph-bluestore"
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def visitor_on(env: BenchEnv) -> WebVisitor:
    """A browser on web, patient enough for the largest transfer."""
    return WebVisitor(env.web_url, timeout=600)


def latest_file_id(visitor: WebVisitor) -> str:
    item_id = visitor.latest_file_id()
    if item_id is None:
        raise RuntimeError("no download link on /files after the upload")
    return item_id


def delete_all(visitor: WebVisitor, kind: str) -> None:
    response = visitor.delete_all(kind)
    if response.status_code != 303:
        raise RuntimeError(f"delete all {kind}s answered {response.status_code}")


def poll(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> float:
    """Poll until predicate() is true; the time it took. Raises TimeoutError at the deadline."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"condition not met within {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - started


START_ATTEMPTS = 3


@contextmanager
def patient_bench_env(*args: Any, **kwargs: Any) -> Iterator[BenchEnv]:
    """`bench_env`, started again (up to 3 times) when a service is not ready within the
    kit's minute: on this shared machine, under a load average of 40, storage-api's start
    alone has taken longer (the long runs: costs, replay, soak)."""
    for attempt in range(1, START_ATTEMPTS + 1):
        stack = ExitStack()
        try:
            env = stack.enter_context(bench_env(*args, **kwargs))
        except TimeoutError:
            stack.close()
            if attempt == START_ATTEMPTS:
                raise
            print(f"bench: the stack was not ready in time, attempt {attempt + 1}", flush=True)
            continue
        with stack:
            yield env
        return
