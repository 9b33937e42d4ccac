"""What `/api/v1` takes and answers (the OpenAPI document is made from these)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from litestar.openapi import ResponseSpec
from pydantic import BaseModel, ConfigDict, Field

from s3tasks_contracts import (
    MAX_PARTS,
    MAX_REQUEST_MESSAGE_LENGTH,
    MAX_REQUESTED_FILES,
    MAX_SENT_FILENAME_LENGTH,
    MAX_SHARE_DOWNLOADS,
    MAX_SHARE_PASSWORD_LENGTH,
    CompletedPart,
    ItemKind,
    TransferMode,
)


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class VisitorOut(_Out):
    #: keep it: every other call sends it as `Authorization: Bearer <token>`; it cannot be
    #: shown again (web keeps no copy)
    token: str


class LimitsOut(_Out):
    max_image_bytes: int
    max_file_bytes: int
    image_ttl_seconds: int
    file_ttl_seconds: int
    images_kept: int
    max_description_length: int
    #: parts of an upload are this large (the last one smaller)
    part_size_bytes: int
    #: `direct`: parts go straight to S3's presigned URLs; `proxy`: to this site's
    transfer_mode: TransferMode


class ShareOut(_Out):
    id: UUID
    url: str
    state: str
    ends_at: datetime
    max_downloads: int | None
    downloads: int
    password_required: bool


class ItemOut(_Out):
    id: UUID
    kind: ItemKind
    filename: str
    description: str
    content_type: str
    size_bytes: int
    created_at: datetime
    expires_at: datetime
    shares: list[ShareOut] = []


class ItemsOut(_Out):
    items: list[ItemOut]
    server_time: datetime


class DeletedOut(_Out):
    #: items hidden at once; their objects are deleted by a job shortly
    deleted: int


class UploadIn(_In):
    kind: ItemKind
    filename: str = Field(min_length=1, max_length=MAX_SENT_FILENAME_LENGTH)
    description: str = Field(default="", max_length=100_000)
    #: the file's exact size: only the parts it needs are signed, each of its exact length
    size_bytes: int = Field(ge=0)


class UploadOut(_Out):
    upload_id: UUID
    part_size_bytes: int
    #: how many parts the size needs (numbered from 1)
    parts: int
    transfer_mode: TransferMode
    #: until then the upload may be completed; after it, it is swept
    expires_at: datetime


class PartsIn(_In):
    part_numbers: list[int] = Field(min_length=1, max_length=100)


class PartsOut(_Out):
    #: where to PUT each part (`direct`: S3's presigned URL; `proxy`: this site's)
    urls: dict[int, str]
    #: each part's exact length: any other is refused
    sizes: dict[int, int]
    part_size_bytes: int


class StoredPart(_Out):
    part_number: int
    etag: str
    size: int


class StoredPartsOut(_Out):
    part_size_bytes: int
    parts: list[StoredPart]


class PartOut(_Out):
    part_number: int
    etag: str


class CompleteIn(_In):
    parts: list[CompletedPart] = Field(min_length=1, max_length=MAX_PARTS)


class ShareIn(_In):
    max_downloads: int | None = Field(default=None, ge=1, le=MAX_SHARE_DOWNLOADS)
    password: str | None = Field(default=None, min_length=1, max_length=MAX_SHARE_PASSWORD_LENGTH)
    #: the link's end in minutes from now (at most the item's deletion); none: the item's
    expires_in_minutes: int | None = Field(default=None, ge=1, le=366 * 24 * 60)


class RequestIn(_In):
    max_files: int = Field(ge=1, le=MAX_REQUESTED_FILES)
    max_bytes: int = Field(ge=1)
    #: the request's end in minutes from now (at most the file TTL); none: the file TTL
    expires_in_minutes: int | None = Field(default=None, ge=1, le=366 * 24 * 60)
    message: str = Field(default="", max_length=MAX_REQUEST_MESSAGE_LENGTH)
    password: str | None = Field(default=None, min_length=1, max_length=MAX_SHARE_PASSWORD_LENGTH)


class RequestOut(_Out):
    id: UUID
    url: str
    state: str
    ends_at: datetime
    max_files: int
    max_bytes: int
    files_received: int
    bytes_received: int
    message: str
    password_required: bool


class RequestsOut(_Out):
    requests: list[RequestOut]
    server_time: datetime


class ProblemOut(_Out):
    """RFC 9457: match on `type` (the contract's `urn:s3tasks:problem:*`), show `detail`."""

    type: str
    title: str
    status: int
    detail: str


#: what each refusal means, for the document (every one is a `ProblemOut`)
_REFUSED = {
    400: "Invalid input: a field out of range, a malformed body (the detail names it)",
    401: "No visitor token, or one this site did not make",
    403: "A cross-site browser request (refused by its Origin)",
    404: "Not this visitor's, or no longer there",
    408: "A part's body came too slowly",
    409: "The quota is reached, the upload was deleted meanwhile, or the mode is another",
    411: "A part without its length",
    413: "Larger than the limit",
    415: "Not a supported image",
    416: "A Range that starts beyond the end",
    422: "An image that cannot be read",
    429: "Too many: wait Retry-After seconds",
    503: "Storage unavailable: try again shortly",
}


def refusals(*statuses: int) -> dict[int, ResponseSpec]:
    """The refusals an operation may answer, as problems, for its `responses`."""
    return {
        status: ResponseSpec(
            data_container=ProblemOut,
            description=_REFUSED[status],
            media_type="application/problem+json",
            generate_examples=False,
        )
        for status in statuses
    }


#: what any operation may answer
PUBLIC_REFUSALS = refusals(400, 403, 429, 503)
#: what an operation of a visitor's may answer
VISITOR_REFUSALS = refusals(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
#: a part PUT through the site may also answer these
PART_REFUSALS = refusals(400, 401, 403, 404, 408, 409, 411, 413, 429, 503)

#: an item's content: its bytes, a part of them, or (`direct` mode) a 303 to them on S3
CONTENT_ANSWERS = {
    **refusals(400, 401, 403, 404, 416, 429, 503),
    206: ResponseSpec(
        data_container=None,
        description="The part of the bytes a Range asked for",
        media_type="application/octet-stream",
    ),
    303: ResponseSpec(
        data_container=None,
        description="`direct` mode: a presigned GET of the bytes on S3 (Location)",
        media_type="text/plain",
    ),
}
