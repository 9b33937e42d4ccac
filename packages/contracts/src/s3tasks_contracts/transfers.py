"""The control plane of uploads and downloads: storage-api signs, S3 carries the bytes.

`direct`: the visitor's browser sends and fetches the bytes itself (a POST policy, a presigned
GET on the S3 endpoint browsers see). `proxy`: web moves them, one hop (presigned multipart
part URLs and presigned GETs on the endpoint the services use). storage-api never carries
bulk bytes in either mode.
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from s3tasks_contracts.items import MAX_SENT_FILENAME_LENGTH, Base64Blob, ItemKind, TransferMode

#: S3's own limits on multipart uploads.
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PARTS = 10_000


class LinkVariant(StrEnum):
    CONTENT = "content"
    THUMBNAIL = "thumbnail"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: the most encrypted metadata (name, type, description) any setting may admit; the database's
#: CHECK constraint holds the same bound
MAX_ENCRYPTED_METADATA_BYTES = 65536
#: RFC 8188's header: salt (16), record size (4), key id length (1), then the key id
ENCRYPTION_HEADER_MIN = 21
ENCRYPTION_HEADER_MAX = 21 + 255


class Encryption(_Model):
    """An upload encrypted in the visitor's browser (docs/encryption.md): the object is one
    RFC 8188 `aes128gcm` message in parts of whole records (part 1 starts with the header),
    its name, type and description one encrypted blob. storage-api holds no plaintext: it
    signs, limits and counts the ciphertext's size, stores the blob and serves it back."""

    #: the header's length (21 and the key id's): with the declared size, it fixes each
    #: part's exact length
    header_size: int = Field(ge=ENCRYPTION_HEADER_MIN, le=ENCRYPTION_HEADER_MAX)
    #: the encrypted metadata, base64 in JSON; at most the site's cap (refused in words)
    metadata: Base64Blob


class UploadStart(_Model):
    """Ask for an upload: storage-api writes the row (status `uploading`) first."""

    kind: ItemKind
    filename: str = Field(min_length=1, max_length=MAX_SENT_FILENAME_LENGTH)
    description: str = Field(default="", max_length=100_000)
    #: who sends the bytes: the visitor's browser (a POST policy) or web (multipart parts)
    via: TransferMode
    #: the size announced by the client, when known: refused at once if over the limit
    size_bytes: int | None = Field(default=None, ge=0)
    #: `direct` only: send the bytes in parts (a multipart upload the browser PUTs parts of,
    #: each below any proxy's body limit, resumable) instead of one POST
    in_parts: bool = False
    #: the visitor's address as web saw it: uploads started are limited per client (None:
    #: a caller with no client behind it, not limited per client)
    client: str | None = Field(default=None, min_length=1, max_length=64)
    #: encrypted in the browser: `size_bytes` is the ciphertext's (required), the file name and
    #: description sent are ignored (the server stores a placeholder name)
    encryption: Encryption | None = None


class NewSession(_Model):
    """web is about to hand a new visitor session (cookie) to this client: new sessions are
    limited per client address, or dropping the cookie would reset every per-visitor quota."""

    client: str = Field(min_length=1, max_length=64)


class UploadTicket(_Model):
    item_id: UUID
    kind: ItemKind
    #: after this the signatures are refused and an unfinished upload is swept
    expires_at: datetime
    #: direct: the S3 URL the form posts to, with its fields (the file goes last)
    post_url: str | None = None
    post_fields: dict[str, str] | None = None
    #: in parts (always for proxy): the size of each part but the last
    part_size: int | None = None


class PartRequest(_Model):
    part_numbers: list[int] = Field(min_length=1, max_length=100)
    #: who sends the parts: the signatures are for the S3 endpoint that sender reaches
    via: TransferMode = TransferMode.PROXY


class StoredPart(_Model):
    part_number: int
    etag: str
    size: int


class StoredParts(_Model):
    """The parts S3 holds of an open upload: a sender resuming skips them."""

    parts: list[StoredPart]
    #: the upload's part size (every part but the last has it)
    part_size: int | None = None


class PartLinks(_Model):
    urls: dict[int, str]
    #: the upload's part size: the most one part may carry (rows older than it: unknown)
    part_size: int | None = None
    #: the exact length each URL is signed for (S3 refuses a body of another length); empty
    #: when the upload declared no size (web's own form in proxy mode)
    sizes: dict[int, int] = Field(default_factory=dict)


class CompletedPart(_Model):
    part_number: int = Field(ge=1, le=MAX_PARTS)
    etag: str = Field(min_length=1, max_length=256)


class UploadCompletion(_Model):
    #: proxy: the parts web sent, in order; direct: empty (the POST made one object)
    parts: list[CompletedPart] = Field(default_factory=list, max_length=MAX_PARTS)


class ContentLink(_Model):
    url: str
    expires_at: datetime
