"""storage-api in this process: `create_app(settings, jobs=RecordingJobs())` behind Litestar's
`TestClient`, on real PostgreSQL and Redis and the session's S3 server (testkit's plugin).

No storage-api process starts. Each test module gets a database (migrated once), a bucket
and a Redis prefix of its own; tests within a module are kept apart by fresh visitor ids and
client addresses (`visitor`, `client_ip`). A test that needs other settings builds an app of
its own with `make_api(**settings)` (milliseconds: the app starts nothing but pools).

Helpers are reached through fixtures (pytest's importlib mode makes conftest unimportable).
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from minio import Minio

from s3tasks_storage_api.app import create_app
from s3tasks_storage_api.db.engine import migrate
from s3tasks_storage_api.settings import MIB, StorageApiSettings
from s3tasks_testkit import backing_services, database

WEB_TOKEN = "inprocess-web-token"
WORKER_TOKEN = "inprocess-worker-token"

#: what every in-process app of a module shares, whatever its other settings
SMALL_LIMITS: dict[str, Any] = {
    "max_image_bytes": 2 * MIB,
    "max_file_bytes": 20 * MIB,
    "max_image_pixels": 4_000_000,
    "s3_part_size_bytes": 5 * MIB,
}


@dataclass
class RecordingJobs:
    """The Celery enqueue seam (`JobQueue`), recording what storage-api would have sent."""

    purged: list[str] = field(default_factory=list)
    closed: bool = False

    def purge_visitor(self, visitor_id: str) -> None:
        self.purged.append(visitor_id)

    def close(self) -> None:
        self.closed = True


@dataclass
class InProcessApi:
    """One in-process storage-api: its client (no credential by default), settings, the jobs
    it enqueued, its database rows and its bucket."""

    client: TestClient[Any]
    settings: StorageApiSettings
    jobs: RecordingJobs
    database_url: str
    s3: Minio

    @property
    def web(self) -> dict[str, str]:
        """Headers with web's credential (the visitor endpoints)."""
        return {"Authorization": f"Bearer {WEB_TOKEN}"}

    @property
    def worker(self) -> dict[str, str]:
        """Headers with the worker's credential (the internal endpoints)."""
        return {"Authorization": f"Bearer {WORKER_TOKEN}"}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request as web makes it (web's credential), unless `headers` say otherwise."""
        kwargs.setdefault("headers", self.web)
        return self.client.request(method, path, **kwargs)

    def rows(self, visitor_id: str) -> list[dict[str, Any]]:
        return database.table(self.database_url, "items", "visitor_id = %s", visitor_id)

    def share_rows(self, item_id: str) -> list[dict[str, Any]]:
        return database.table(self.database_url, "share_links", "item_id = %s", item_id)

    def execute(self, sql: str, *params: object) -> None:
        database.execute(self.database_url, sql, *params)

    def object_keys(self, item_id: object) -> set[str]:
        """The bucket's keys of one item (its object and its thumbnail)."""
        keys = backing_services.object_keys(self.s3, self.settings.s3_bucket)
        return {k for k in keys if str(item_id) in k}

    def open_multipart_uploads(self) -> int:
        return backing_services.open_multipart_uploads(self.s3, self.settings.s3_bucket)

    # -- as web does it ----------------------------------------------------------------------

    def start(self, visitor_id: str, **body: Any) -> httpx.Response:
        payload = {"kind": "file", "filename": "notes.txt", "via": "proxy", **body}
        return self.call("POST", f"/v1/visitors/{visitor_id}/uploads", json=payload)

    def upload(
        self, visitor_id: str, data: bytes, *, kind: str = "file", filename: str = "notes.txt"
    ) -> httpx.Response:
        """Start, send the bytes to S3 in one part on the URL storage-api signed, complete:
        the completion's answer, or the first refusal."""
        started = self.start(visitor_id, kind=kind, filename=filename)
        if started.status_code != 201:
            return started
        item_id = started.json()["item_id"]
        base = f"/v1/visitors/{visitor_id}/uploads/{item_id}"
        links = self.call("POST", f"{base}/parts", json={"part_numbers": [1]})
        if links.status_code != 200:
            return links
        put = httpx.put(links.json()["urls"]["1"], content=data, timeout=30)
        assert put.is_success, put.text
        parts = [{"part_number": 1, "etag": put.headers["etag"]}]
        return self.call("POST", f"{base}/complete", json={"parts": parts})

    def stored_file(self, visitor_id: str, data: bytes = b"some text\n") -> str:
        """A stored file of the visitor; its item id."""
        done = self.upload(visitor_id, data)
        assert done.status_code == 200, done.text
        return str(done.json()["id"])

    def share(self, visitor_id: str, item_id: str, **body: Any) -> httpx.Response:
        return self.call(
            "POST", f"/v1/visitors/{visitor_id}/items/{item_id}/shares", json=body or {}
        )


@dataclass(frozen=True)
class ModuleResources:
    database_url: str
    bucket: str
    redis: backing_services.RedisNamespace
    s3: backing_services.S3Endpoint


@pytest.fixture(scope="module")
def module_resources(
    postgres_admin_url: str,
    redis_base_url: str,
    s3_endpoint: backing_services.S3Endpoint,
) -> Iterator[ModuleResources]:
    """A migrated database, a bucket and a Redis prefix for the module's apps."""
    with ExitStack() as stack:
        database_url = stack.enter_context(backing_services.postgres_database(postgres_admin_url))
        bucket = stack.enter_context(backing_services.bucket(s3_endpoint))
        redis = stack.enter_context(backing_services.redis_namespace(redis_base_url))
        resources = ModuleResources(database_url, bucket, redis, s3_endpoint)
        migrate(_settings(resources, {}), wait_seconds=10)
        yield resources


def _settings(resources: ModuleResources, changes: dict[str, Any]) -> StorageApiSettings:
    s3 = resources.s3
    values: dict[str, Any] = {
        "database_url": backing_services.sqlalchemy_url(resources.database_url),
        "database_pool_size": 2,
        "broker_url": resources.redis.url,
        "broker_key_prefix": resources.redis.prefix,
        "s3_endpoint": s3.url,
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key,
        "s3_region": s3.region,
        "s3_bucket": resources.bucket,
        "s3_create_bucket": False,
        # the lifecycle rules have tests of their own (test_lifecycle.py)
        "lifecycle_rules": False,
        "web_tokens": WEB_TOKEN,
        "worker_tokens": WORKER_TOKEN,
        **SMALL_LIMITS,
        **changes,
    }
    return StorageApiSettings(_env_file=None, **values)  # type: ignore[call-arg]


MakeApi = Callable[..., InProcessApi]


@pytest.fixture(scope="module")
def make_api(module_resources: ModuleResources) -> Iterator[MakeApi]:
    """`make_api(**settings)`: a started in-process storage-api on the module's database,
    bucket and Redis prefix with those settings changed; stopped at the module's end."""
    with ExitStack() as stack:

        def make(**changes: Any) -> InProcessApi:
            settings = _settings(module_resources, changes)
            jobs = RecordingJobs()
            client = stack.enter_context(TestClient(create_app(settings, jobs=jobs)))
            return InProcessApi(
                client, settings, jobs, module_resources.database_url, module_resources.s3.client()
            )

        yield make


@pytest.fixture(scope="module")
def api(make_api: MakeApi) -> InProcessApi:
    """The module's in-process storage-api with the default test settings."""
    return make_api()


@pytest.fixture
def visitor() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def client_ip() -> str:
    """An address no other test uses, so no rate limit a test fills reaches another."""
    return str(ipaddress.IPv4Address(random.randrange(0x0A000001, 0x0AFFFFFF)))
