"""The visitor-facing API (web's credential only). Thin: parse, call ItemService, answer."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import anyio
import anyio.to_thread
from litestar import Controller, Request, Response, delete, get, post
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from s3tasks_contracts import (
    MAX_SENT_FILENAME_LENGTH,
    VISITOR_ID_PATTERN,
    ItemKind,
    ItemList,
    ItemOut,
    Limits,
    PurgeResult,
)
from s3tasks_storage_api.callers import Caller, only
from s3tasks_storage_api.errors import InvalidInput
from s3tasks_storage_api.items.body import BodyReader
from s3tasks_storage_api.items.naming import content_disposition
from s3tasks_storage_api.items.ranges import parse_range
from s3tasks_storage_api.items.service import Content, ItemService, UploadRequest
from s3tasks_storage_api.storage.bucket import ObjectBody, ObjectStore

VisitorId = Annotated[
    str, Parameter(pattern=VISITOR_ID_PATTERN, description="The visitor's opaque id (32 hex).")
]
Filename = Annotated[str, Parameter(min_length=1, max_length=MAX_SENT_FILENAME_LENGTH)]
Description = Annotated[str, Parameter(max_length=100_000)]

STREAM_CHUNK = 256 * 1024
#: served content is data, never a page: no scripts, no plugins, no same-origin access.
CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"


class LimitsController(Controller):
    path = "/v1/limits"
    guards = [only(Caller.WEB)]
    tags = ["items"]

    @get("/", sync_to_thread=False)
    def limits(self, items: ItemService) -> Limits:
        return items.limits()


class ItemsController(Controller):
    path = "/v1/visitors/{visitor_id:str}/items"
    guards = [only(Caller.WEB)]
    tags = ["items"]

    @post("/", status_code=201, request_max_body_size=None)
    async def upload(
        self,
        request: Request[Any, Any, Any],
        items: ItemService,
        upload_threads: anyio.CapacityLimiter,
        visitor_id: VisitorId,
        kind: ItemKind,
        filename: Filename,
        description: Description = "",
    ) -> ItemOut:
        """Upload the raw request body as an image or a file (streamed, never held whole).
        503 at once when every upload thread is taken, rather than a wait with no end."""
        if upload_threads.available_tokens < 1:
            raise items.too_busy(kind)
        upload = UploadRequest(visitor_id, kind, filename, description, _content_length(request))
        body = BodyReader(request.stream(), limit=items.limits_for(kind), what=kind.value)
        return await anyio.to_thread.run_sync(items.upload, upload, body, limiter=upload_threads)

    @get("/", sync_to_thread=True)
    def list_items(self, items: ItemService, visitor_id: VisitorId, kind: ItemKind) -> ItemList:
        return items.list(visitor_id, kind)

    @delete("/", status_code=HTTP_202_ACCEPTED, sync_to_thread=True)
    def delete_all(self, items: ItemService, visitor_id: VisitorId, kind: ItemKind) -> PurgeResult:
        """Hide all of the visitor's items of a kind at once; a job deletes them."""
        return PurgeResult(kind=kind, hidden=items.purge(visitor_id, kind))

    @get("/{item_id:uuid}", sync_to_thread=True)
    def get_item(self, items: ItemService, visitor_id: VisitorId, item_id: UUID) -> ItemOut:
        return items.get(visitor_id, item_id)

    @get("/{item_id:uuid}/content")
    async def content(
        self,
        request: Request[Any, Any, Any],
        items: ItemService,
        store: ObjectStore,
        visitor_id: VisitorId,
        item_id: UUID,
    ) -> Response[Any]:
        """The item's bytes; a single `Range` is honoured (206)."""
        return await _item_bytes(request, items, store, visitor_id, item_id, thumbnail=False)

    @get("/{item_id:uuid}/thumbnail")
    async def thumbnail(
        self,
        request: Request[Any, Any, Any],
        items: ItemService,
        store: ObjectStore,
        visitor_id: VisitorId,
        item_id: UUID,
    ) -> Response[Any]:
        return await _item_bytes(request, items, store, visitor_id, item_id, thumbnail=True)


async def _item_bytes(
    request: Request[Any, Any, Any],
    items: ItemService,
    store: ObjectStore,
    visitor_id: str,
    item_id: UUID,
    *,
    thumbnail: bool,
) -> Response[Any]:
    found = await anyio.to_thread.run_sync(
        partial(items.content, visitor_id, item_id, thumbnail=thumbnail)
    )
    return await _serve(request, store, found, ranged=not thumbnail)


async def _serve(
    request: Request[Any, Any, Any], store: ObjectStore, content: Content, *, ranged: bool
) -> Response[Any]:
    etag = f'"{content.etag}"'
    headers = {
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "private, no-cache",
    }
    if content.kind is ItemKind.FILE:
        headers["Content-Disposition"] = content_disposition("attachment", content.filename)
    else:
        headers["Content-Disposition"] = content_disposition("inline", content.filename)
    if etag in request.headers.get("if-none-match", ""):
        return Response(content=b"", status_code=304, headers=headers)
    status, offset, length = 200, 0, None
    if ranged and content.size is not None:
        headers["Accept-Ranges"] = "bytes"
        chosen = parse_range(request.headers.get("range"), content.size)
        if chosen is not None and not _if_range_allows(request, etag):
            chosen = None
        if chosen is not None:
            first, last = chosen
            status, offset, length = 206, first, last - first + 1
            headers["Content-Range"] = f"bytes {first}-{last}/{content.size}"
        headers["Content-Length"] = str(length if length is not None else content.size)
    body = await anyio.to_thread.run_sync(store.open, content.key, offset, length)
    return Stream(
        content=_chunks(body), status_code=status, headers=headers, media_type=content.content_type
    )


def _chunks(body: ObjectBody) -> Iterator[bytes]:
    try:
        yield from body.stream(STREAM_CHUNK)
    finally:
        body.close()
        body.release_conn()


def _if_range_allows(request: Request[Any, Any, Any], etag: str) -> bool:
    if_range = request.headers.get("if-range")
    return if_range is None or if_range == etag


def _content_length(request: Request[Any, Any, Any]) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidInput("The Content-Length header is not a number.")
    return int(raw)
