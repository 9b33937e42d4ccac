"""storage-api as tests see it: a running process, its database rows and its bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from minio import Minio

from s3tasks_testkit import backing_services, database
from s3tasks_testkit.stack import Dependencies, Stack, StackConfig, isolated_config

MIB = 1024 * 1024


@dataclass
class Api:
    stack: Stack
    config: StackConfig
    s3: Minio
    #: seconds an HTTP client waits for any one step of a request
    timeout: float = 60

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
        return httpx.Client(base_url=self.url, timeout=self.timeout, **kwargs)

    def rows(self, where: str = "true", *params: object) -> list[dict[str, Any]]:
        """The items table's rows that match `where`."""
        return database.table(self.config.database_url, "items", where, *params)

    def execute(self, sql: str, *params: object) -> None:
        database.execute(self.config.database_url, sql, *params)

    def object_keys(self, prefix: str = "") -> set[str]:
        return backing_services.object_keys(self.s3, self.config.bucket, prefix)

    def open_multipart_uploads(self) -> int:
        return backing_services.open_multipart_uploads(self.s3, self.config.bucket)


@contextmanager
def running_api(
    dependencies: Dependencies, name: str, env: dict[str, str] | None = None
) -> Iterator[Api]:
    """storage-api alone, migrated and serving on a fresh database, bucket and Redis prefix
    (`env` sets its settings), logging below `name`; stopped and removed on exit."""
    with isolated_config(dependencies, name, extra_env=env or {}) as config:
        stack = Stack(config)
        try:
            stack.migrate()
            stack.start_storage_api()
            yield Api(stack, config, dependencies.s3.client())
        finally:
            stack.stop_all()


def upload(
    client: httpx.Client,
    visitor: str,
    data: bytes,
    *,
    kind: str = "image",
    filename: str = "photo.png",
    description: str = "",
    via: str = "proxy",
    size_bytes: int | None = None,
) -> httpx.Response:
    """Store `data` as web does, through the transfer API: start an upload, send the bytes to
    S3 on the requests storage-api signed (`proxy`: multipart parts, cut as web cuts them;
    `direct`: the browser's POST policy), then complete. The answer of the first step that
    refuses, else the completion's (200 with the stored item). `size_bytes` is announced at
    the start, as a sender that knows the size does."""
    started = client.post(
        f"/v1/visitors/{visitor}/uploads",
        json={
            "kind": kind,
            "filename": filename,
            "description": description,
            "via": via,
            "size_bytes": size_bytes,
        },
    )
    if started.status_code != 201:
        return started
    ticket = started.json()
    return _send_and_complete(
        client,
        f"/v1/visitors/{visitor}/uploads/{ticket['item_id']}",
        ticket,
        data,
        filename,
        sign=lambda numbers: {"part_numbers": numbers},
    )


def _send_and_complete(
    client: httpx.Client,
    base: str,
    ticket: dict[str, Any],
    data: bytes,
    filename: str,
    *,
    sign: Callable[[list[int]], dict[str, Any]],
    step: dict[str, Any] | None = None,
) -> httpx.Response:
    """The bytes of a started upload to S3, then its completion at `base`: in one POST on the
    policy the ticket carries (`direct`), else in parts on URLs signed at `base`/parts, with
    `sign(numbers)` as the body (`proxy`, cut as web cuts them; an empty upload is one empty
    part). `step` goes along with each call (an upload request's token). The answer of the
    signing if it refuses, else the completion's."""
    step = step or {}
    parts: list[dict[str, Any]] = []
    if ticket["post_url"] is not None:
        posted = httpx.post(
            ticket["post_url"],
            data=ticket["post_fields"],
            files={"file": (filename, data, "application/octet-stream")},
            timeout=client.timeout,
        )
        assert posted.is_success, posted.text
    else:
        size = ticket["part_size"]
        chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        links = client.post(f"{base}/parts", json={**step, **sign(list(range(1, len(chunks) + 1)))})
        if links.status_code != 200:
            return links
        for number, chunk in enumerate(chunks, start=1):
            put = httpx.put(
                links.json()["urls"][str(number)], content=chunk, timeout=client.timeout
            )
            assert put.is_success, put.text
            parts.append({"part_number": number, "etag": put.headers["etag"]})
    return client.post(f"{base}/complete", json={**step, "parts": parts})


def send(
    client: httpx.Client,
    token: str,
    data: bytes,
    *,
    filename: str = "sent.bin",
    note: str = "",
    via: str = "proxy",
    declare: bool = True,
    password: str | None = None,
    sender: str = "198.51.100.20",
) -> httpx.Response:
    """Send `data` through an upload request as web does for a sender: start with the token,
    send the bytes to S3 as `upload` does, complete. The first refusal, else the receipt."""
    step = {"token": token}
    started = client.post(
        "/v1/upload-requests/uploads",
        json={
            **step,
            "password": password,
            "note": note,
            "upload": {
                "kind": "file",
                "filename": filename,
                "via": via,
                "size_bytes": len(data) if declare else None,
                "client": sender,
            },
        },
    )
    if started.status_code != 201:
        return started
    ticket = started.json()
    return _send_and_complete(
        client,
        f"/v1/upload-requests/uploads/{ticket['item_id']}",
        ticket,
        data,
        filename,
        sign=lambda numbers: {"parts": {"part_numbers": numbers, "via": via}},
        step=step,
    )


def fetch(
    client: httpx.Client, visitor: str, item_id: str, *, variant: str = "content"
) -> httpx.Response:
    """The item's bytes (or its thumbnail) as web fetches them: a presigned GET storage-api
    signs for the visitor's own visible item; its refusal (404) when it signs none."""
    link = client.get(
        f"/v1/visitors/{visitor}/items/{item_id}/link",
        params={"via": "proxy", "variant": variant},
    )
    if link.status_code != 200:
        return link
    return httpx.get(link.json()["url"], timeout=client.timeout)


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
