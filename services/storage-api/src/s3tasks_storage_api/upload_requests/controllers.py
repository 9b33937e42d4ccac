"""Upload requests (web's credential only). Thin: parse, call UploadRequestService.

The owner's endpoints name the visitor; a sender's carry the request's token in the body,
never in a path a log or a route label could hold, and name an upload by its item id only
below the token it was started with.
"""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from s3tasks_contracts import (
    PartLinks,
    RequestCreate,
    RequestList,
    RequestLookup,
    RequestOut,
    RequestView,
    SenderCompletion,
    SenderParts,
    SenderReceipt,
    SenderStep,
    SenderUploadStart,
    StoredParts,
    UploadTicket,
)
from s3tasks_storage_api.callers import Caller, VisitorId, only
from s3tasks_storage_api.upload_requests.service import UploadRequestService


class OwnerRequestsController(Controller):
    path = "/v1/visitors/{visitor_id:str}/upload-requests"
    guards = [only(Caller.WEB)]
    tags = ["upload requests"]

    @post("/", status_code=201, sync_to_thread=True)
    def create(
        self,
        upload_requests: NamedDependency[UploadRequestService],
        visitor_id: VisitorId,
        data: JSONBody[RequestCreate],
    ) -> RequestOut:
        """A new request: 1-100 files, at most the owner's quota in bytes, an end no later than
        the owner's file TTL, an optional message and password. 400 in words otherwise."""
        return upload_requests.create(visitor_id, data)

    @get("/", sync_to_thread=True)
    def list_requests(
        self, upload_requests: NamedDependency[UploadRequestService], visitor_id: VisitorId
    ) -> RequestList:
        """The visitor's requests not yet past their end, newest first, with what arrived."""
        return upload_requests.list(visitor_id)

    @delete("/{request_id:uuid}", status_code=204, sync_to_thread=True)
    def stop(
        self,
        upload_requests: NamedDependency[UploadRequestService],
        visitor_id: VisitorId,
        request_id: FromPath[UUID],
    ) -> None:
        """Stop asking: the link answers 404 from now on, and uploads under way are refused
        at completion."""
        upload_requests.stop(visitor_id, request_id)


class SenderRequestsController(Controller):
    path = "/v1/upload-requests"
    guards = [only(Caller.WEB)]
    tags = ["upload requests"]

    @post("/lookup", status_code=200, sync_to_thread=True)
    def lookup(
        self, upload_requests: NamedDependency[UploadRequestService], data: JSONBody[RequestLookup]
    ) -> RequestView:
        """What the sender's page shows. 404 for every ended request as for an unknown token;
        with a password, 403 when it is wrong, 429 after too many attempts."""
        return upload_requests.lookup(data)

    @post("/uploads", status_code=201, sync_to_thread=True)
    def start(
        self,
        upload_requests: NamedDependency[UploadRequestService],
        data: JSONBody[SenderUploadStart],
    ) -> UploadTicket:
        """Start an upload into the owner's files; 409 when the request has no room for it."""
        return upload_requests.start(data)

    @post("/uploads/{item_id:uuid}/parts", status_code=200, sync_to_thread=True)
    def parts(
        self,
        upload_requests: NamedDependency[UploadRequestService],
        item_id: FromPath[UUID],
        data: JSONBody[SenderParts],
    ) -> PartLinks:
        return upload_requests.part_links(data, item_id)

    @post("/uploads/{item_id:uuid}/stored-parts", status_code=200, sync_to_thread=True)
    def stored_parts(
        self,
        upload_requests: NamedDependency[UploadRequestService],
        item_id: FromPath[UUID],
        data: JSONBody[SenderStep],
    ) -> StoredParts:
        """The parts S3 already holds, for a sender that resumes."""
        return upload_requests.stored_parts(data, item_id)

    @post("/uploads/{item_id:uuid}/complete", status_code=200, sync_to_thread=True)
    def complete(
        self,
        upload_requests: NamedDependency[UploadRequestService],
        item_id: FromPath[UUID],
        data: JSONBody[SenderCompletion],
    ) -> SenderReceipt:
        """Check what arrived and claim its place in the request, in one transaction; 409
        (files or bytes taken) or 404 (ended) remove what arrived."""
        return upload_requests.complete(data, item_id)

    @post("/uploads/{item_id:uuid}/abort", status_code=204, sync_to_thread=True)
    def abort(
        self,
        upload_requests: NamedDependency[UploadRequestService],
        item_id: FromPath[UUID],
        data: JSONBody[SenderStep],
    ) -> None:
        upload_requests.abort(data, item_id)
