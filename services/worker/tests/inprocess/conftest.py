"""The deletion jobs in this process: Celery's own `apply()` runs a job (its retries, handlers and
metrics included) against storage-api served by uvicorn in a thread of this process, on a
database, bucket and Redis prefix of the module's own and the session's S3 server.

No process starts: no worker, no beat, no storage-api. What the jobs do is judged by the
database and the bucket, what they report by the app's metrics registry.

Helpers are reached through fixtures (pytest's importlib mode makes conftest unimportable).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from celery import Celery
from litestar import Litestar
from minio import Minio
from prometheus_client import CollectorRegistry

from s3tasks_storage_api.app import create_app
from s3tasks_storage_api.db.engine import migrate
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_testkit import backing_services, database
from s3tasks_testkit.images import png
from s3tasks_worker.app import create_celery_app
from s3tasks_worker.metrics import DeletionMetrics
from s3tasks_worker.settings import WorkerSettings
from s3tasks_worker.tasks import JOB_CONTEXT

WEB_TOKEN = "inprocess-web-token"
WORKER_TOKEN = "inprocess-worker-token"


class NoJobs:
    """storage-api's job seam: these tests run the jobs themselves."""

    def purge_visitor(self, visitor_id: str) -> None:
        pass

    def close(self) -> None:
        pass


@contextmanager
def serving(app: Litestar) -> Iterator[str]:
    """`app` served by uvicorn in a thread on a loopback port it was handed bound; its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "storage-api stopped while starting"
        assert time.monotonic() < deadline, "storage-api did not start in 10 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass(frozen=True)
class Site:
    """The module's storage-api (served in a thread), its database and bucket."""

    url: str
    settings: StorageApiSettings
    database_url: str
    s3: Minio
    redis: backing_services.RedisNamespace

    def web(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {WEB_TOKEN}"}, timeout=30
        )

    def store(self, visitor_id: str, kind: str = "file") -> str:
        """An item stored as web stores it: start, one part to S3, complete; its id."""
        data = png(8, 8) if kind == "image" else b"some text\n"
        with self.web() as client:
            base = f"/v1/visitors/{visitor_id}/uploads"
            started = client.post(base, json={"kind": kind, "filename": "x.png", "via": "proxy"})
            assert started.status_code == 201, started.text
            item_id = started.json()["item_id"]
            links = client.post(f"{base}/{item_id}/parts", json={"part_numbers": [1]})
            put = httpx.put(links.json()["urls"]["1"], content=data, timeout=30)
            assert put.is_success, put.text
            done = client.post(
                f"{base}/{item_id}/complete",
                json={"parts": [{"part_number": 1, "etag": put.headers["etag"]}]},
            )
            assert done.status_code == 200, done.text
        return str(item_id)

    def delete_all(self, visitor_id: str, kind: str = "file") -> None:
        with self.web() as client:
            answer = client.delete(f"/v1/visitors/{visitor_id}/items", params={"kind": kind})
        assert answer.status_code == 202, answer.text

    def execute(self, sql: str, *params: object) -> None:
        database.execute(self.database_url, sql, *params)

    def expire(self, visitor_id: str) -> None:
        """Make the visitor's items due now, as their TTL would."""
        self.execute(
            "UPDATE items SET expires_at = now() - interval '1 second' WHERE visitor_id = %s",
            visitor_id,
        )

    def row_ids(self, visitor_id: str) -> set[str]:
        ids = database.column(
            self.database_url, "SELECT id FROM items WHERE visitor_id = %s", visitor_id
        )
        return {str(item_id) for item_id in ids}

    def keys_of(self, item_ids: set[str]) -> set[str]:
        keys = backing_services.object_keys(self.s3, self.settings.s3_bucket)
        return {k for k in keys if any(i in k for i in item_ids)}


def storage_api_settings(
    database_url: str, bucket: str, redis: backing_services.RedisNamespace, s3: Any
) -> StorageApiSettings:
    return StorageApiSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=backing_services.sqlalchemy_url(database_url),
        database_pool_size=2,
        broker_url=redis.url,
        broker_key_prefix=redis.prefix,
        s3_endpoint=s3.url,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        s3_region=s3.region,
        s3_bucket=bucket,
        s3_create_bucket=False,
        lifecycle_rules=False,
        web_tokens=WEB_TOKEN,
        worker_tokens=WORKER_TOKEN,
    )


@contextmanager
def served_storage_api(settings: StorageApiSettings) -> Iterator[str]:
    app = create_app(settings, jobs=NoJobs())
    with serving(app) as url:
        yield url


@pytest.fixture
def serve_storage_api() -> Callable[[StorageApiSettings], AbstractContextManager[str]]:
    """`with serve_storage_api(settings) as url`: another storage-api, served the same way."""
    return served_storage_api


@pytest.fixture(scope="module")
def site(
    postgres_admin_url: str, redis_base_url: str, s3_endpoint: backing_services.S3Endpoint
) -> Iterator[Site]:
    with ExitStack() as stack:
        database_url = stack.enter_context(backing_services.postgres_database(postgres_admin_url))
        bucket = stack.enter_context(backing_services.bucket(s3_endpoint))
        redis = stack.enter_context(backing_services.redis_namespace(redis_base_url))
        settings = storage_api_settings(database_url, bucket, redis, s3_endpoint)
        migrate(settings, wait_seconds=10)
        url = stack.enter_context(served_storage_api(settings))
        yield Site(url, settings, database_url, s3_endpoint.client(), redis)


@dataclass
class Jobs:
    """A Celery app of the worker's, its metrics in a registry of its own."""

    app: Celery
    registry: CollectorRegistry

    def run(self, name: str, *args: object) -> Any:
        """Run the job here, as a worker would run it (handlers and retries included)."""
        return self.app.tasks[name].apply(args=args)

    def jobs(self, reason: str, outcome: str) -> float:
        value = self.registry.get_sample_value(
            "s3tasks_deletion_jobs_total", {"reason": reason, "outcome": outcome}
        )
        return value or 0.0

    def deleted(self, reason: str, kind: str) -> float:
        value = self.registry.get_sample_value(
            "s3tasks_deleted_objects_total", {"reason": reason, "kind": kind}
        )
        return value or 0.0


MakeJobs = Callable[..., Jobs]


@pytest.fixture
def make_jobs(site: Site, tmp_path: Any) -> Iterator[MakeJobs]:
    """`make_jobs(**worker_settings)`: the worker's Celery app against the module's
    storage-api (or `storage_api_url`), its metrics in a registry of its own."""
    apps: list[Celery] = []

    def make(**changes: Any) -> Jobs:
        values: dict[str, Any] = {
            "storage_api_url": site.url,
            "service_token": WORKER_TOKEN,
            "broker_url": site.redis.url,
            "broker_key_prefix": site.redis.prefix,
            "state_dir": tmp_path,
            "max_retries": 2,
            "http_timeout_seconds": 10,
            "http_connect_timeout_seconds": 2,
            **changes,
        }
        settings = WorkerSettings(_env_file=None, **values)  # type: ignore[call-arg]
        registry = CollectorRegistry()
        app = create_celery_app(settings, DeletionMetrics.create(registry))
        apps.append(app)
        return Jobs(app, registry)

    yield make
    for app in apps:
        app.conf[JOB_CONTEXT].storage_api().close()
        app.close()


@pytest.fixture
def visitor() -> str:
    return uuid.uuid4().hex
