"""Items as storage-api shows them to web."""

import base64
import binascii
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer


def _from_base64(value: object) -> object:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError("must be standard base64") from None
    return value


def _to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


#: bytes that travel as standard base64 in JSON and stay bytes in Python (pydantic's own
#: Base64Bytes would take raw bytes given in Python for base64 text and decode them again)
Base64Blob = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(_to_base64, return_type=str, when_used="json"),
]

#: A visitor id is an opaque random token minted by web: 32 lowercase hex digits (uuid4().hex).
VISITOR_ID_PATTERN = r"^[0-9a-f]{32}$"
_VISITOR_ID_RE = re.compile(VISITOR_ID_PATTERN)
#: The longest filename (in characters, as sent) that web passes on and storage-api accepts;
#: storage-api then shortens it to its `max_filename_length`. One number for both services, so
#: that a name web lets through is never refused by storage-api in words meant for developers.
MAX_SENT_FILENAME_LENGTH = 1024


def is_valid_visitor_id(value: str) -> bool:
    return _VISITOR_ID_RE.fullmatch(value) is not None


class ItemKind(StrEnum):
    IMAGE = "image"
    FILE = "file"


class TransferMode(StrEnum):
    """Who carries an item's bytes to and from S3 (see `transfers`)."""

    DIRECT = "direct"  # the visitor's browser, with requests storage-api signed
    PROXY = "proxy"  # web, one hop, with requests storage-api signed


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ItemOut(_Model):
    id: UUID
    kind: ItemKind
    filename: str
    description: str
    content_type: str
    size_bytes: int
    etag: str
    has_thumbnail: bool
    created_at: datetime
    expires_at: datetime
    #: encrypted in the browser: its name, type and description, encrypted (base64 in JSON;
    #: `filename` is a placeholder). None: a plain item
    encrypted_metadata: Base64Blob | None = None


class PurgeResult(_Model):
    kind: ItemKind
    hidden: int


class SiteConfiguration(_Model):
    """What storage-api tells web about the site (`GET /v1/limits`): the limits visitors
    meet, how long items live, and who carries the bytes (the transfer mode, the S3 origin)."""

    max_image_bytes: int
    max_file_bytes: int
    max_description_length: int
    max_filename_length: int
    image_ttl_seconds: int
    file_ttl_seconds: int
    images_kept: int
    #: the part size of uploads in parts (grown for files too large for 10,000 of them); the
    #: upload script sends files larger than this in parts, smaller ones in one request
    part_size_bytes: int = 8 * 1024 * 1024
    #: the operator's choice; web follows it
    transfer_mode: TransferMode = TransferMode.PROXY
    #: `direct` mode: the S3 origin pages send uploads to and load content from (their CSP)
    s3_browser_origin: str | None = None
    #: the most one visitor may store at once (0: no quota); an upload request asks for at
    #: most this many bytes
    max_stored_bytes_per_visitor: int = 0
