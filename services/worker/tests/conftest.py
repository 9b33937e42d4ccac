"""Fixtures for the worker's tests: uploads through storage-api, the items table, the bucket,
the worker's /metrics and a Celery client that sends jobs the way storage-api and beat do.

Helpers are reached through fixtures (pytest's importlib mode makes conftest unimportable).
"""

from __future__ import annotations

import dataclasses
import io
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from celery import Celery
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from s3tasks_testkit import deps
from s3tasks_testkit.stack import Stack, StackConfig
from s3tasks_worker.app import create_celery_app
from s3tasks_worker.settings import WorkerSettings

Labels = frozenset[tuple[str, str]]


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Scrape:
    """Every sample of one /metrics page, keyed by sample name and labels."""

    samples: dict[tuple[str, Labels], float]

    @classmethod
    def of(cls, url: str) -> Scrape:
        text = httpx.get(f"{url}/metrics", timeout=5).text
        return cls(
            {
                (sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            }
        )

    @property
    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def deleted(self, reason: str, kind: str) -> float:
        return self.value("s3tasks_deleted_objects_total", reason=reason, kind=kind)

    def jobs(self, reason: str, outcome: str) -> float:
        return self.value("s3tasks_deletion_jobs_total", reason=reason, outcome=outcome)

    def total_deleted(self) -> float:
        return sum(
            value
            for (name, _), value in self.samples.items()
            if name == "s3tasks_deleted_objects_total"
        )


@dataclass
class Deployment:
    """A running stack seen from outside: its HTTP API, database and bucket."""

    stack: Stack

    def configure(self, **changes: object) -> None:
        """Change the stack's settings; before anything is started."""
        self.stack.config = dataclasses.replace(self.stack.config, **changes)  # type: ignore[arg-type]

    @staticmethod
    def new_visitor() -> str:
        return uuid.uuid4().hex

    def worker_metrics(self) -> Scrape:
        return Scrape.of(self.worker_url)

    def storage_api_metrics(self) -> Scrape:
        return Scrape.of(self.api_url)

    @property
    def config(self) -> StackConfig:
        return self.stack.config

    @property
    def api_url(self) -> str:
        assert self.stack.storage_api is not None
        return self.stack.storage_api.url

    @property
    def worker_url(self) -> str:
        assert self.stack.worker is not None
        return self.stack.worker.url

    @property
    def _as_web(self) -> dict[str, str]:
        """storage-api's visitor endpoints take web's credential (the worker's is refused)."""
        return {"Authorization": f"Bearer {self.config.web_service_token}"}

    def upload_image(self, visitor_id: str) -> None:
        self._upload(visitor_id, "image", "dot.png", small_png())

    def upload_file(self, visitor_id: str, content: bytes = b"some text\n") -> None:
        self._upload(visitor_id, "file", "notes.txt", content)

    def _upload(self, visitor_id: str, kind: str, filename: str, content: bytes) -> None:
        response = httpx.post(
            f"{self.api_url}/v1/visitors/{visitor_id}/items",
            params={"kind": kind, "filename": filename, "description": "test"},
            content=content,
            headers={"Content-Type": "application/octet-stream", **self._as_web},
            timeout=30,
        )
        assert response.status_code == 201, response.text

    def delete_all(self, visitor_id: str, kind: str) -> None:
        response = httpx.delete(
            f"{self.api_url}/v1/visitors/{visitor_id}/items",
            params={"kind": kind},
            headers=self._as_web,
            timeout=30,
        )
        assert response.status_code == 202, response.text

    def query_one(self, sql: str, *params: object) -> object:
        with psycopg.connect(self.config.database_url) as conn:
            row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]

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
        with psycopg.connect(self.config.database_url) as conn:
            rows = conn.execute(
                "SELECT object_key, thumbnail_key FROM items WHERE visitor_id = %s", (visitor_id,)
            ).fetchall()
        return {key for row in rows for key in row if key}

    def bucket_keys(self) -> set[str]:
        return deps.object_keys(self.config.s3.client(), self.config.bucket)

    def all_gone(self) -> bool:
        return self.row_count() == 0 and not self.bucket_keys()


@pytest.fixture
def deployment(stack: Stack) -> Deployment:
    """The testkit stack, after checking storage-api is built (a clear failure, not a hang)."""
    script = Path(sys.executable).with_name("s3tasks-storage-api")
    if not script.exists():
        pytest.fail(f"storage-api is not installed ({script} is missing): run `uv sync`")
    return Deployment(stack)


@pytest.fixture
def scrape() -> Callable[[str], Scrape]:
    """Scrape a service's /metrics: `scrape(base_url)`."""
    return Scrape.of


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
