"""Uploads and download links (web's credential only). Thin: parse, call TransferService."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from s3tasks_contracts import (
    ContentLink,
    ItemOut,
    LinkVariant,
    PartLinks,
    PartRequest,
    StoredParts,
    TransferMode,
    UploadCompletion,
    UploadStart,
    UploadTicket,
)
from s3tasks_storage_api.callers import Caller, VisitorId, only
from s3tasks_storage_api.transfers.service import TransferService


class UploadsController(Controller):
    path = "/v1/visitors/{visitor_id:str}/uploads"
    guards = [only(Caller.WEB)]
    tags = ["transfers"]

    @post("/", status_code=201, sync_to_thread=True)
    def start(
        self,
        transfers: NamedDependency[TransferService],
        visitor_id: VisitorId,
        data: JSONBody[UploadStart],
    ) -> UploadTicket:
        """Write the row first, then sign the upload: a POST policy for the visitor's browser
        (`via=direct`) or a multipart upload web sends the parts of (`via=proxy`)."""
        return transfers.start(visitor_id, data)

    @post("/{item_id:uuid}/parts", status_code=200, sync_to_thread=True)
    def parts(
        self,
        transfers: NamedDependency[TransferService],
        visitor_id: VisitorId,
        item_id: FromPath[UUID],
        data: JSONBody[PartRequest],
    ) -> PartLinks:
        return transfers.part_links(visitor_id, item_id, data.part_numbers, data.via)

    @get("/{item_id:uuid}/parts", sync_to_thread=True)
    def stored_parts(
        self,
        transfers: NamedDependency[TransferService],
        visitor_id: VisitorId,
        item_id: FromPath[UUID],
    ) -> StoredParts:
        """The parts S3 already holds, for a sender that resumes."""
        return transfers.stored_parts(visitor_id, item_id)

    @post("/{item_id:uuid}/complete", status_code=200, sync_to_thread=True)
    def complete(
        self,
        transfers: NamedDependency[TransferService],
        visitor_id: VisitorId,
        item_id: FromPath[UUID],
        data: JSONBody[UploadCompletion],
    ) -> ItemOut:
        """Check what arrived and mark it stored; a second call answers the same."""
        return transfers.complete(visitor_id, item_id, data)

    @delete("/{item_id:uuid}", status_code=204, sync_to_thread=True)
    def abort(
        self,
        transfers: NamedDependency[TransferService],
        visitor_id: VisitorId,
        item_id: FromPath[UUID],
    ) -> None:
        transfers.abort(visitor_id, item_id)


class LinksController(Controller):
    path = "/v1/visitors/{visitor_id:str}/items/{item_id:uuid}/link"
    guards = [only(Caller.WEB)]
    tags = ["transfers"]

    @get("/", sync_to_thread=True)
    def link(
        self,
        transfers: NamedDependency[TransferService],
        visitor_id: VisitorId,
        item_id: FromPath[UUID],
        via: FromQuery[TransferMode],
        variant: FromQuery[LinkVariant] = LinkVariant.CONTENT,
    ) -> ContentLink:
        """A short-lived presigned GET of the item, signed for the host `via` names: the S3
        endpoint browsers reach (`direct`) or the one web reaches (`proxy`)."""
        return transfers.link(visitor_id, item_id, variant, via)
