"""Rows in storage-api's `items` table (schema: db/models.py) and objects, made directly."""

from __future__ import annotations

import io
import secrets
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from minio.deleteobjects import DeleteObject

from bench.harness import BenchEnv

_COLUMNS = (
    "id, visitor_id, kind, status, object_key, thumbnail_key, filename, description,"
    " content_type, size_bytes, etag, stored_at, expires_at"
)
OBJECT_BYTES = 1024
_PAYLOAD = b"x" * OBJECT_BYTES
PUT_THREADS = 8


def visitor_id() -> str:
    return secrets.token_hex(16)


def copy_rows(
    env: BenchEnv,
    count: int,
    *,
    key_prefix: str,
    expires_at: datetime | None = None,
    visitors: list[str] | None = None,
    ids: list[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """COPY `count` stored items (files; one object each) into `items`; their ids.

    Without `expires_at` they expire in an hour; `visitors` are used round-robin. They are
    stored "just now", so reconcile leaves them alone for a minute even if their objects
    are not there (yet): put the objects first where they matter.
    """
    owners = visitors or [visitor_id()]
    ids = ids or [uuid.uuid4() for _ in range(count)]
    with env.db() as conn:
        now: datetime = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        expiry = expires_at or now + timedelta(hours=1)
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY items ({_COLUMNS}) FROM STDIN") as copy,
        ):
            for n, item_id in enumerate(ids):
                copy.write_row(
                    (
                        item_id,
                        owners[n % len(owners)],
                        "file",
                        "stored",
                        f"{key_prefix}{item_id}",
                        None,
                        f"bench-{n}.bin",
                        "",
                        "application/octet-stream",
                        OBJECT_BYTES,
                        "bench",
                        now - timedelta(microseconds=count - n),
                        expiry,
                    )
                )
    return ids


def new_ids(count: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(count)]


def put_objects(env: BenchEnv, keys: Iterable[str]) -> None:
    """Small objects, put by a few threads (setup only, never timed)."""

    def put(key: str) -> None:
        env.s3.put_object(env.bucket, key, io.BytesIO(_PAYLOAD), length=OBJECT_BYTES)

    with ThreadPoolExecutor(PUT_THREADS) as pool:
        for _ in pool.map(put, keys):
            pass


def count_objects(env: BenchEnv, prefix: str) -> int:
    return sum(1 for _ in env.s3.list_objects(env.bucket, prefix=prefix, recursive=True))


def remove_prefix(env: BenchEnv, prefix: str) -> None:
    keys = [
        DeleteObject(str(o.object_name))
        for o in env.s3.list_objects(env.bucket, prefix=prefix, recursive=True)
    ]
    for _ in env.s3.remove_objects(env.bucket, keys):
        pass


def row_count(env: BenchEnv) -> int:
    with env.db() as conn:
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])  # type: ignore[index]


def truncate(env: BenchEnv) -> None:
    with env.db() as conn:
        conn.execute("TRUNCATE items CASCADE")  # share_links refer to items
