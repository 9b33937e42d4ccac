"""Share links: whoever holds `/s/<token>` may download one item until the link ends.

storage-api owns the links (the count, the password check, the signing); web renders the
pages. Tokens travel in request bodies, never in a URL storage-api serves, so that no access
log or route label can hold one.
"""

import re
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from s3tasks_contracts.items import Base64Blob, ItemKind, TransferMode

#: a link token: 32 bytes (an HMAC-SHA256) in unpadded base64url, 43 characters
SHARE_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105 - a pattern, not a secret
_SHARE_TOKEN_RE = re.compile(SHARE_TOKEN_PATTERN)
#: a link's download limit goes from 1 to this (none: unlimited until the link ends)
MAX_SHARE_DOWNLOADS = 1000
#: a link's password is 1 to this many characters
MAX_SHARE_PASSWORD_LENGTH = 256
#: what a request may carry at all (longer is a malformed request, not a wrong password)
MAX_SENT_PASSWORD = 4096
MAX_SENT_TOKEN = 512


def is_valid_share_token(value: str) -> bool:
    return _SHARE_TOKEN_RE.fullmatch(value) is not None


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShareState(StrEnum):
    ACTIVE = "active"
    USED_UP = "used_up"
    STOPPED = "stopped"
    #: past its own end, or its item is deleted
    ENDED = "ended"


class ShareCreate(_Model):
    """A new link of the visitor's own item. Bounds are checked by storage-api, which answers
    a refusal in words a visitor can read (a 400 of the invalid-input problem type)."""

    #: 1..MAX_SHARE_DOWNLOADS; none: unlimited until the link ends
    max_downloads: int | None = None
    #: 1..MAX_SHARE_PASSWORD_LENGTH characters; none: no password
    password: str | None = Field(default=None, max_length=MAX_SENT_PASSWORD)
    #: no later than the item's deletion; none: the item's deletion
    ends_at: datetime | None = None
    #: the owner's address as web saw it: links created are limited per client (None: a
    #: caller with no client behind it, not limited per client)
    client: str | None = Field(default=None, min_length=1, max_length=64)


class ShareOut(_Model):
    """A link as its owner sees it: the token is recomputed by storage-api each time."""

    id: UUID
    item_id: UUID
    token: str
    #: the path of the link's page on web's site
    path: str
    state: ShareState
    created_at: datetime
    ends_at: datetime
    max_downloads: int | None
    downloads: int
    #: none: unlimited
    downloads_left: int | None
    password_required: bool
    stopped_at: datetime | None


class ShareList(_Model):
    shares: list[ShareOut]
    #: storage-api's clock, for "time left" without clock skew
    server_time: datetime


class ShareLookup(_Model):
    token: str = Field(max_length=MAX_SENT_TOKEN)
    #: who fetches the preview: the signature is for the S3 endpoint that one reaches
    via: TransferMode = TransferMode.PROXY


class ShareView(_Model):
    """What the link's page shows. With a password, the item's name, description, size and
    preview are withheld until a download is granted: the password protects them too."""

    kind: ItemKind
    password_required: bool
    ends_at: datetime
    #: none: unlimited
    downloads_left: int | None
    filename: str | None = None
    description: str | None = None
    size_bytes: int | None = None
    #: images without a password: a short-lived presigned GET of the thumbnail (not counted)
    preview_url: str | None = None
    server_time: datetime
    #: encrypted in the browser: the encrypted name, type and description, shown with or
    #: without a password (only the key in the link's fragment opens them), so a wrong key or
    #: key password fails before any download is counted
    encrypted_metadata: Base64Blob | None = None


class GrantRequest(_Model):
    token: str = Field(max_length=MAX_SENT_TOKEN)
    password: str | None = Field(default=None, max_length=MAX_SENT_PASSWORD)
    #: the downloading client's address as web saw it: password attempts and grants are
    #: limited per client, and the grant opens for this client only
    client: str = Field(min_length=1, max_length=64)


class ShareGrant(_Model):
    """One counted download: a grant that yields presigned GETs without counting again (the
    download starting, and its ranged or resumed requests), for the client it was made for,
    under its own token, for seconds."""

    grant: str
    #: until then `grant` may be redeemed
    grant_expires_at: datetime
    kind: ItemKind
    filename: str
    description: str
    size_bytes: int
    content_type: str
    downloads_left: int | None


class RedeemRequest(_Model):
    grant: str = Field(max_length=MAX_SENT_TOKEN)
    #: the link's token from the path the grant came in by: a grant opens under its own only
    token: str = Field(max_length=MAX_SENT_TOKEN)
    #: the client's address as web saw it: a grant opens for the client it was made for only
    client: str = Field(min_length=1, max_length=64)
    via: TransferMode
