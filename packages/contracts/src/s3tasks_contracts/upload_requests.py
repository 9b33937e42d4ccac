"""Upload requests: whoever holds `/r/<token>` may upload files into its owner's My Files,
at most N files and B bytes in all, until the request ends. The link is write-only: a sender
lists, downloads and deletes nothing.

storage-api owns the requests (the claim of each file at completion, the password check, the
signing); web renders the pages. As for share links, tokens travel in request bodies, never in
a URL storage-api serves.
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from s3tasks_contracts.shares import MAX_SENT_PASSWORD, MAX_SENT_TOKEN
from s3tasks_contracts.transfers import CompletedPart, PartRequest, UploadStart

#: a request asks for 1 to this many files
MAX_REQUESTED_FILES = 100
#: the owner's message to senders, and a sender's note with each file, in characters
MAX_REQUEST_MESSAGE_LENGTH = 1000
MAX_SENDER_NOTE_LENGTH = 500


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RequestState(StrEnum):
    ACTIVE = "active"
    #: every file or every byte it asked for has arrived
    FULFILLED = "fulfilled"
    STOPPED = "stopped"
    #: past its own end
    ENDED = "ended"


class RequestCreate(_Model):
    """A new request of the visitor's; bounds are checked by storage-api, in words."""

    max_files: int
    max_bytes: int
    #: no later than the owner's file TTL from now; none: that
    ends_at: datetime | None = None
    message: str = Field(default="", max_length=100_000)
    password: str | None = Field(default=None, max_length=MAX_SENT_PASSWORD)
    #: the owner's address as web saw it: requests made are limited per client
    client: str | None = Field(default=None, min_length=1, max_length=64)


class RequestOut(_Model):
    """A request as its owner sees it: the token is recomputed by storage-api each time."""

    id: UUID
    token: str
    #: the path of the sender's page on web's site
    path: str
    state: RequestState
    created_at: datetime
    ends_at: datetime
    max_files: int
    max_bytes: int
    files_received: int
    bytes_received: int
    message: str
    password_required: bool


class RequestList(_Model):
    requests: list[RequestOut]
    #: storage-api's clock, for "time left" without clock skew
    server_time: datetime


class RequestLookup(_Model):
    token: str = Field(max_length=MAX_SENT_TOKEN)
    #: with a password: checked (and counted, as every attempt is), and the page's message
    #: shown only when it matches
    password: str | None = Field(default=None, max_length=MAX_SENT_PASSWORD)
    #: the sender's address as web saw it: password attempts are limited per client
    client: str | None = Field(default=None, min_length=1, max_length=64)


class RequestView(_Model):
    """What the sender's page shows: the owner's message and what is left, nothing else.
    With a password, the message is withheld until a lookup carries the password."""

    password_required: bool
    #: the password sent with the lookup matched (always True without a password)
    unlocked: bool
    message: str
    ends_at: datetime
    max_files: int
    max_bytes: int
    files_received: int
    bytes_received: int
    #: the most one file may hold here: what is left, and the site's file limit
    max_file_bytes: int
    server_time: datetime


class SenderUploadStart(_Model):
    """A sender's upload: the token, the password (every start checks it) and the upload."""

    token: str = Field(max_length=MAX_SENT_TOKEN)
    password: str | None = Field(default=None, max_length=MAX_SENT_PASSWORD)
    #: the sender's note, shown to the owner with the file (as text)
    note: str = Field(default="", max_length=100_000)
    upload: UploadStart


class SenderStep(_Model):
    """A step of a sender's started upload: its token names the request the upload is of."""

    token: str = Field(max_length=MAX_SENT_TOKEN)


class SenderParts(SenderStep):
    parts: PartRequest


class SenderCompletion(SenderStep):
    parts: list[CompletedPart] = Field(default_factory=list, max_length=10_000)


class SenderReceipt(_Model):
    """A file received: what the sender's page says of it (the owner's item stays unseen)."""

    filename: str
    size_bytes: int
    files_left: int
    bytes_left: int
