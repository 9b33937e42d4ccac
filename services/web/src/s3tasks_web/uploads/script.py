"""The upload script's uploads: web starts and completes them, the bytes go another way.

In one request (`direct` mode only): the browser posts the file to S3 itself, with the POST
policy storage-api signed for this one item. In parts (`in_parts`, both modes): the browser
sends each part to the URL `uploads/parts.py` hands out (S3's, or web's own in `proxy`
mode), then completes with the parts' ETags.

    POST /{images|files}/uploads              -> the policy or the part size (the row first)
    (the browser POSTs the file to S3, or PUTs its parts)
    POST /{images|files}/uploads/{id}/complete -> storage-api checks what arrived; flash
    POST /{images|files}/uploads/{id}/abort    -> S3 refused or the visitor gave up; flash

Refusals answer as every form of the pages does (a flash and `{"ok": false, "redirect"}`).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, post
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from s3tasks_contracts import (
    MAX_PARTS,
    CompletedPart,
    Encryption,
    TransferMode,
    UploadCompletion,
    UploadStart,
)
from s3tasks_web.dependencies import (
    CLIENT,
    METRICS,
    STORAGE,
    VISITOR,
    ClientDep,
    MetricsDep,
    StorageDep,
    VisitorDep,
)
from s3tasks_web.errors import StorageUnavailable, UploadRejected
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.pages.responses import back_to
from s3tasks_web.pages.routes import UPLOAD_ROUTE, PageDep
from s3tasks_web.transfers.uploads import complete
from s3tasks_web.uploads import rules

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
    #: encrypted in the browser (docs/encryption.md): `size` is the ciphertext's, the name and
    #: description sent are placeholders; storage-api keeps the encrypted metadata
    encryption: Encryption | None = None


class CompleteRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: in parts: each part's number and the ETag its PUT answered with, in order
    parts: list[CompletedPart] = Field(default_factory=list, max_length=MAX_PARTS)


class AbortRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: S3's error code when S3 refused the POST ("EntityTooLarge"...), empty when cancelled
    s3_code: str = Field(default="", max_length=64)


class ScriptUploadsController(Controller):
    """Below each page's router (app.py), which says which page it is: `/images/uploads...`
    and `/files/uploads...`."""

    path = "/uploads"
    tags = ["pages"]
    dependencies = {**STORAGE, **VISITOR, **CLIENT, **METRICS}

    # a description may be long as the form allows it, then refused in words below
    @post("/", status_code=200, request_max_body_size=1024 * 1024, opt=UPLOAD_ROUTE)
    async def start(
        self,
        data: JSONBody[StartRequest],
        page: PageDep,
        storage: StorageDep,
        visitor: VisitorDep,
        client: ClientDep,
    ) -> dict[str, Any]:
        limits = await storage.site_configuration()
        mode = limits.transfer_mode
        if mode is not TransferMode.DIRECT and not data.in_parts:
            raise UploadRejected(409, "Uploads go through this site here: reload the page.")
        limit = page.max_bytes(limits)
        if data.size > limit:
            raise rules.too_large(page, limit)
        # the form's checks, in its words; the rest (an empty file included) is storage-api's
        filename = rules.filename_to_store(data.filename)
        rules.check_description(data.description, limits)
        ticket = await storage.start_upload(
            visitor.visitor_id,
            UploadStart(
                kind=page.kind,
                filename=filename,
                description=rules.description_to_store(page, data.description),
                via=mode,
                in_parts=data.in_parts,
                size_bytes=data.size,
                client=client,
                encryption=data.encryption,
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

    @post("/{item_id:str}/complete", status_code=200, opt=UPLOAD_ROUTE)
    async def complete(
        self,
        request: WebRequest,
        item_id: FromPath[str],
        page: PageDep,
        storage: StorageDep,
        visitor: VisitorDep,
        metrics: MetricsDep,
        data: JSONBody[CompleteRequest | None] = None,
    ) -> Response[object]:
        completion = UploadCompletion(parts=data.parts if data is not None else [])
        item = await complete(storage, visitor.visitor_id, rules.upload_id(item_id), completion)
        rules.stored(page, item, metrics, visitor)
        return back_to(request, page.path)

    @post("/{item_id:str}/abort", status_code=200, opt=UPLOAD_ROUTE)
    async def abort(
        self,
        request: WebRequest,
        item_id: FromPath[str],
        data: JSONBody[AbortRequest],
        page: PageDep,
        storage: StorageDep,
        visitor: VisitorDep,
    ) -> Response[object]:
        """Remove the upload at once (its row, any object) and tell the visitor why."""
        await storage.abort_upload(visitor.visitor_id, rules.upload_id(item_id))
        if not data.s3_code:
            visitor.flash("success", "The upload was cancelled.")
            return back_to(request, page.path)
        if data.s3_code == CONNECTION_LOST:
            raise StorageUnavailable  # as a proxy-mode upload answers when S3 is down
        if S3_REFUSALS.get(data.s3_code) == 413:
            raise rules.too_large(page, page.max_bytes(await storage.site_configuration()))
        raise UploadRejected(
            400, "The upload was refused by the storage service. Please try again."
        )
