"""storage-api as tests see it: a running process, its database rows and its bucket."""

from __future__ import annotations

import io
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from minio import Minio
from PIL import Image

from s3tasks_testkit import deps
from s3tasks_testkit.stack import Stack, StackConfig, isolated_config

MIB = 1024 * 1024


@dataclass
class Api:
    stack: Stack
    config: StackConfig
    s3: Minio

    @property
    def url(self) -> str:
        assert self.stack.storage_api is not None
        return self.stack.storage_api.url

    def client(self) -> httpx.Client:
        """A client of the visitor endpoints, with web's credential (as web calls them)."""
        return self.anonymous(headers={"Authorization": f"Bearer {self.config.web_service_token}"})

    def internal(self) -> httpx.Client:
        """A client of the internal endpoints, with the worker's credential."""
        return self.anonymous(
            headers={"Authorization": f"Bearer {self.config.worker_service_token}"}
        )

    def anonymous(self, **kwargs: Any) -> httpx.Client:
        """A client that presents whatever `kwargs` say, no credential by default."""
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def rows(self, where: str = "true", *params: object) -> list[dict[str, Any]]:
        with psycopg.connect(self.config.database_url) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT * FROM items WHERE {where}", params)  # noqa: S608 - test-only SQL
            cols = [d.name for d in cur.description or []]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def execute(self, sql: str, *params: object) -> None:
        with psycopg.connect(self.config.database_url) as conn:
            conn.execute(sql, params)

    def object_keys(self, prefix: str = "") -> set[str]:
        return deps.object_keys(self.s3, self.config.bucket, prefix)

    def open_multipart_uploads(self) -> int:
        # moto, MinIO and radosgw answer ListMultipartUploads; the minio client keeps it private.
        result = self.s3._list_multipart_uploads(self.config.bucket)
        return len(result.uploads)


def start_api(
    es: ExitStack,
    *,
    s3: deps.S3Endpoint,
    postgres_admin_url: str,
    redis_url: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
) -> Api:
    """A fresh database, bucket and Redis prefix, migrated, with storage-api serving on them."""
    config = es.enter_context(
        isolated_config(
            s3=s3,
            postgres_admin_url=postgres_admin_url,
            redis_url=redis_url,
            log_dir=log_dir,
            extra_env=env or {},
        )
    )
    stack = Stack(config)
    es.callback(stack.stop_all)
    stack.migrate()
    stack.start_storage_api()
    return Api(stack, config, s3.client())


def png(width: int = 64, height: int = 48, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def upload(
    client: httpx.Client,
    visitor: str,
    data: bytes,
    *,
    kind: str = "image",
    filename: str = "photo.png",
    description: str = "",
) -> httpx.Response:
    return client.post(
        f"/v1/visitors/{visitor}/items",
        params={"kind": kind, "filename": filename, "description": description},
        content=data,
    )


def run_deletions(api: Api, **body: object) -> dict[str, Any]:
    """Call the internal deletion endpoint until nothing is due; the summed tallies."""
    totals: dict[str, Any] = {"deleted": 0, "tallies": {}, "lag_seconds": []}
    with api.internal() as client:
        while True:
            resp = client.post("/v1/internal/deletions", json={"limit": 100, **body})
            resp.raise_for_status()
            report = resp.json()
            for t in report["tallies"]:
                key = (t["reason"], t["kind"])
                totals["tallies"][key] = totals["tallies"].get(key, 0) + t["count"]
                totals["deleted"] += t["count"]
            totals["lag_seconds"] += report["lag_seconds"]
            if not report["more_due"]:
                return totals


def expire_now(api: Api, visitor: str) -> None:
    """Move the visitor's items to their expiry, as the passing of their TTL would."""
    api.execute(
        "UPDATE items SET expires_at = now() - interval '1 second' WHERE visitor_id = %s", visitor
    )
