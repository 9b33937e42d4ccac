"""What the templates show: items with their time left, sizes in words, page links."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from s3tasks_contracts import ItemList, ListedItem
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.pages.kinds import KIND_PAGES


@dataclass(frozen=True)
class ItemView:
    id: str
    filename: str
    description: str
    size: str
    size_bytes: int
    seconds_left: int
    time_left: str
    expires_at: str
    #: `direct` mode: S3's presigned GETs from the listing (no 303 through web); `proxy`
    #: mode: web's own routes
    content_url: str
    thumbnail_url: str | None
    #: a file a sender sent: how the page names the request it came through, and their note
    received_through: str | None = None
    sender_note: str = ""
    #: encrypted in the browser: the encrypted name, type and description (base64), which the
    #: owner's browser decrypts in place of the placeholder; None for a plain item
    encrypted_metadata: str | None = None


def human_duration(seconds: int) -> str:
    if seconds <= 0:
        return "deleting now"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min left"
    if minutes:
        return f"{minutes} min {secs} s left"
    return f"{secs} s left"


def deleted_after(ttl_seconds: int) -> str:
    """How long items live, as the page's lead says it: whole minutes from a minute on."""
    if ttl_seconds >= 60:
        return f"{ttl_seconds // 60} minutes"
    return f"{ttl_seconds} seconds"


def item_view(item: ListedItem, server_time: datetime) -> ItemView:
    seconds_left = max(0, int((item.expires_at - server_time).total_seconds()))
    page = KIND_PAGES[item.kind]
    base = f"{page.path}/{item.id}"
    return ItemView(
        id=str(item.id),
        filename=item.filename,
        description=item.description,
        size=human_size(item.size_bytes),
        size_bytes=item.size_bytes,
        seconds_left=seconds_left,
        time_left=human_duration(seconds_left),
        expires_at=item.expires_at.isoformat(),
        content_url=item.content_url or base + page.content_leaf,
        thumbnail_url=(item.thumbnail_url or f"{base}/thumbnail") if item.has_thumbnail else None,
        encrypted_metadata=(
            None
            if item.encrypted_metadata is None
            else base64.b64encode(item.encrypted_metadata).decode("ascii")
        ),
    )


def item_views(listing: ItemList) -> list[ItemView]:
    return [item_view(item, listing.server_time) for item in listing.items]
