"""The upload script's uploads: web starts and completes them, the bytes go another way.

In one request (`direct` mode only): the browser posts the file to S3 itself, with the POST
policy storage-api signed for this one item. In parts (`in_parts`, both modes): the browser
sends each part to the URL `pages/part_uploads.py` hands out (S3's, or web's own in `proxy`
mode), then completes with the parts' ETags.

    POST /{images|files}/uploads              -> the policy or the part size (the row first)
    (the browser POSTs the file to S3, or PUTs its parts)
    POST /{images|files}/uploads/{id}/complete -> storage-api checks what arrived; flash
    POST /{images|files}/uploads/{id}/abort    -> S3 refused or the visitor gave up; flash

Refusals answer as every form of the pages does (a flash and `{"ok": false, "redirect"}`).
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from litestar import Controller, Response, post
from pydantic import BaseModel, ConfigDict, Field

from s3tasks_contracts import (
    MAX_PARTS,
    MAX_SENT_FILENAME_LENGTH,
    CompletedPart,
    TransferMode,
    UploadCompletion,
    UploadStart,
)
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.connections import WebRequest
from s3tasks_web.errors import ItemNotFound, StorageUnavailable, UploadRejected
from s3tasks_web.pages.items import description_bytes, too_large
from s3tasks_web.pages.kinds import KIND_PAGES, KindPage
from s3tasks_web.pages.multipart_stream import NAME_TOO_LONG, basename
from s3tasks_web.pages.responses import back_to
from s3tasks_web.services import WebServices
from s3tasks_web.storage_client import StorageClient
from s3tasks_web.transfers.uploads import complete
from s3tasks_web.visitors.session import VisitorSession

log = logging.getLogger(__name__)

_PAGES = {page.path: page for page in KIND_PAGES.values()}
#: what S3 answers a policy POST with, in words for the visitor (the rest: a generic failure)
S3_REFUSALS = {
    "EntityTooLarge": 413,
    "EntityTooSmall": 400,
}
#: the script's word for "S3 could not be reached, or its answer never came"
CONNECTION_LOST = "ConnectionLost"


class StartRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: checked in words below (the form's limits), not by the schema's developer wording
    filename: str = Field(max_length=100_000)
    description: str = Field(default="", max_length=10_000_000)
    size: int = Field(ge=0)
    #: send the file in parts (a multipart upload: each part below any proxy's body limit,
    #: resumable); in one POST to S3 otherwise (`direct` mode only)
    in_parts: bool = False


class CompleteRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: in parts: each part's number and the ETag its PUT answered with, in order
    parts: list[CompletedPart] = Field(default_factory=list, max_length=MAX_PARTS)


class AbortRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: S3's error code when S3 refused the POST ("EntityTooLarge"...), empty when cancelled
    s3_code: str = Field(default="", max_length=64)


def page_of(request: WebRequest) -> KindPage:
    page = _PAGES.get("/" + request.url.path.split("/")[1])
    if page is None:
        raise ItemNotFound
    return page


def item_id_of(item_id: str) -> str:
    try:
        return str(UUID(item_id))
    except ValueError:
        raise ItemNotFound from None


def upload_paths(tail: str) -> list[str]:
    return [f"{path}/uploads{tail}" for path in _PAGES]


class DirectUploadsController(Controller):
    """Beside each page's own controller, at `/images/uploads...` and `/files/uploads...`."""

    path = "/"
    tags = ["pages"]

    # a description may be long as the form allows it, then refused in words below
    @post(upload_paths(""), status_code=200, request_max_body_size=1024 * 1024)
    async def start(
        self,
        request: WebRequest,
        data: StartRequest,
        storage: StorageClient,
        visitor: VisitorSession,
    ) -> dict[str, Any]:
        page = page_of(request)
        kind = page.kind
        limits = await storage.limits()
        mode = limits.transfer_mode
        if mode is not TransferMode.DIRECT and not data.in_parts:
            raise UploadRejected(409, "Uploads go through this site here: reload the page.")
        limit = page.max_bytes(limits)
        if data.size > limit:
            raise too_large(page, limit)
        # the form's checks, in its words; the rest (an empty file included) is storage-api's
        filename = basename(data.filename)
        if not filename:
            raise UploadRejected(400, "Please choose a file to upload.")
        if len(filename) > MAX_SENT_FILENAME_LENGTH:
            raise UploadRejected(400, NAME_TOO_LONG)
        if len(data.description.encode()) > description_bytes(limits):
            raise UploadRejected(400, "The description is too long.")
        ticket = await storage.start_upload(
            visitor.visitor_id,
            UploadStart(
                kind=kind,
                filename=filename,
                description=data.description if page.described else "",
                via=mode,
                in_parts=data.in_parts,
                size_bytes=data.size,
            ),
        )
        if data.in_parts:
            return {
                "ok": True,
                "item_id": str(ticket.item_id),
                "part_size": ticket.part_size,
                "transfer": mode.value,
            }
        return {
            "ok": True,
            "item_id": str(ticket.item_id),
            "post_url": ticket.post_url,
            "fields": ticket.post_fields,
        }

    @post(upload_paths("/{item_id:str}/complete"), status_code=200)
    async def complete(
        self,
        request: WebRequest,
        item_id: str,
        storage: StorageClient,
        visitor: VisitorSession,
        services: WebServices,
        data: CompleteRequest | None = None,
    ) -> Response[object]:
        page = page_of(request)
        kind = page.kind
        completion = UploadCompletion(parts=data.parts if data is not None else [])
        item = await complete(storage, visitor.visitor_id, item_id_of(item_id), completion)
        services.metrics.record_upload(kind, "stored", item.size_bytes)
        log.info("upload stored", extra={"kind": kind.value, "size_bytes": item.size_bytes})
        visitor.flash("success", f"Uploaded {item.filename} ({human_size(item.size_bytes)}).")
        return back_to(request, page.path)

    @post(upload_paths("/{item_id:str}/abort"), status_code=200)
    async def abort(
        self,
        request: WebRequest,
        item_id: str,
        data: AbortRequest,
        storage: StorageClient,
        visitor: VisitorSession,
    ) -> Response[object]:
        """Remove the upload at once (its row, any object) and tell the visitor why."""
        page = page_of(request)
        await storage.abort_upload(visitor.visitor_id, item_id_of(item_id))
        if not data.s3_code:
            visitor.flash("success", "The upload was cancelled.")
            return back_to(request, page.path)
        if data.s3_code == CONNECTION_LOST:
            raise StorageUnavailable  # as a proxy-mode upload answers when S3 is down
        if S3_REFUSALS.get(data.s3_code) == 413:
            raise too_large(page, page.max_bytes(await storage.limits()))
        raise UploadRejected(
            400, "The upload was refused by the storage service. Please try again."
        )
