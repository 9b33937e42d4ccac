"""Fixtures for the worker's tests: uploads through storage-api, the items table, the bucket,
the services' /metrics and a Celery client that sends jobs the way storage-api and beat do.

Helpers are reached through fixtures (pytest's importlib mode makes conftest unimportable).
"""

from __future__ import annotations

import dataclasses
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from celery import Celery

from s3tasks_testkit import database
from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import Scrape, scrape
from s3tasks_testkit.stack import Stack, StackConfig
from s3tasks_testkit.storage_api import upload
from s3tasks_testkit.web_visitor import Site
from s3tasks_worker.app import create_celery_app
from s3tasks_worker.settings import WorkerSettings


@dataclass
class Deployment(Site):
    """The test's stack seen from outside: its HTTP API, database, bucket and metrics."""

    def configure(self, **changes: object) -> None:
        """Change the stack's settings; before anything is started."""
        self.stack.config = dataclasses.replace(self.stack.config, **changes)  # type: ignore[arg-type]

    @staticmethod
    def new_visitor() -> str:
        return uuid.uuid4().hex

    def worker_metrics(self) -> Scrape:
        return scrape(self.worker_url)

    def storage_api_metrics(self) -> Scrape:
        return scrape(self.api_url)

    @property
    def worker_url(self) -> str:
        assert self.stack.worker is not None
        return self.stack.worker.url

    @property
    def _as_web(self) -> dict[str, str]:
        """storage-api's visitor endpoints take web's credential (the worker's is refused)."""
        return {"Authorization": f"Bearer {self.config.web_service_token}"}

    def upload_image(self, visitor_id: str) -> None:
        self._upload(visitor_id, "image", "dot.png", png(8, 8))

    def upload_file(self, visitor_id: str, content: bytes = b"some text\n") -> None:
        self._upload(visitor_id, "file", "notes.txt", content)

    def upload_items(self, visitor_id: str, *, images: int = 0, files: int = 0) -> None:
        """`images` images, then `files` files, stored for the visitor through storage-api."""
        for _ in range(images):
            self.upload_image(visitor_id)
        for _ in range(files):
            self.upload_file(visitor_id)

    def _upload(self, visitor_id: str, kind: str, filename: str, content: bytes) -> None:
        """Stored as web stores it: through storage-api's transfer API (testkit's `upload`)."""
        with httpx.Client(base_url=self.api_url, headers=self._as_web, timeout=30) as client:
            response = upload(
                client, visitor_id, content, kind=kind, filename=filename, description="test"
            )
        assert response.status_code == 200, response.text

    def delete_all(self, visitor_id: str, kind: str) -> None:
        response = httpx.delete(
            f"{self.api_url}/v1/visitors/{visitor_id}/items",
            params={"kind": kind},
            headers=self._as_web,
            timeout=30,
        )
        assert response.status_code == 202, response.text

    def query_one(self, sql: str, *params: object) -> object:
        return database.one(self.config.database_url, sql, *params)

    def row_count(self, visitor_id: str | None = None) -> int:
        if visitor_id is None:
            return int(str(self.query_one("SELECT count(*) FROM items")))
        return int(
            str(self.query_one("SELECT count(*) FROM items WHERE visitor_id = %s", visitor_id))
        )

    def not_yet_due(self) -> int:
        return int(str(self.query_one("SELECT count(*) FROM items WHERE expires_at > now()")))

    def object_keys_of(self, visitor_id: str) -> set[str]:
        """The object and thumbnail keys the database holds for a visitor."""
        rows = database.table(self.config.database_url, "items", "visitor_id = %s", visitor_id)
        return {key for row in rows for key in (row["object_key"], row["thumbnail_key"]) if key}

    def all_gone(self) -> bool:
        return self.row_count() == 0 and not self.object_keys()


@pytest.fixture
def deployment(stack: Stack) -> Deployment:
    """The testkit stack, after checking storage-api is built (a clear failure, not a hang)."""
    script = Path(sys.executable).with_name("s3tasks-storage-api")
    if not script.exists():
        pytest.fail(f"storage-api is not installed ({script} is missing): run `uv sync`")
    return Deployment(stack, stack.config.s3.client())


@pytest.fixture
def job_sender(stack_config: StackConfig) -> Iterator[Celery]:
    """A Celery client on the stack's broker, queue and key prefix (as storage-api sends)."""
    settings = WorkerSettings(
        _env_file=None,
        broker_url=stack_config.redis_url,
        broker_key_prefix=stack_config.redis_prefix,
        task_queue=stack_config.task_queue,
    )
    app = create_celery_app(settings)
    try:
        yield app
    finally:
        app.close()
