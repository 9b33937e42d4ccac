"""The listing behind a page: a visitor's items with everything the page shows of them, so
that one page view is one call from web to storage-api (and one statement in PostgreSQL)."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from s3tasks_contracts.items import ItemOut
from s3tasks_contracts.shares import ShareOut


class ListedItem(ItemOut):
    #: the item's share links, newest first
    shares: list[ShareOut] = []
    #: `direct` mode: a presigned GET of the content (inline for an image, an attachment for a
    #: file) and of the thumbnail, signed at the item's stored time and valid until its
    #: deletion (at most S3's 7 days), so the same URL comes back on every page view and the
    #: browser caches what it loaded. None in `proxy` mode: pages link to web's own routes.
    content_url: str | None = None
    thumbnail_url: str | None = None
    #: the owner's upload request a sender sent it through (None: the owner uploaded it)
    received_through: UUID | None = None
    #: the sender's note with it (text, shown as text)
    sender_note: str = ""


class ItemList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    items: list[ListedItem]
    #: storage-api's clock (the database's), so callers compute "time left" without clock skew.
    server_time: datetime
