"""The page's one statement: a visitor's newest visible items with their share links and
the database's now(), in one round trip (the listing's, `items/listing.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import Integer, Select, bindparam, func, select, true
from sqlalchemy.engine import Connection

from s3tasks_contracts import ItemKind
from s3tasks_storage_api.db.models import Item, ShareLink, item_visible
from s3tasks_storage_api.shares.repository import LinkRow

_NOW = func.now()


@cache
def _page_statement() -> Select[Any]:
    """A page's items with their share links, in one statement: the page's newest items (a
    subquery with its limit) outer-joined to their links, one row per link (or one per item
    without links), and to a one-row clock so an empty page still has its time. Columns,
    not ORM objects: nothing on a page needs an identity map. Built once with bound
    parameters: building the expression and its cache key on each call took more of
    storage-api's time than running it."""
    clock = select(_NOW.label("now")).subquery("clock")
    page = (
        select(
            Item.id,
            Item.kind,
            Item.filename,
            Item.description,
            Item.content_type,
            Item.size_bytes,
            Item.etag,
            Item.object_key,
            Item.thumbnail_key,
            Item.stored_at,
            Item.expires_at,
            Item.upload_request_id,
            Item.sender_note,
            Item.encrypted_metadata,
        )
        .where(
            Item.visitor_id == bindparam("visitor_id"),
            Item.kind == bindparam("kind"),
            item_visible(),
        )
        .order_by(Item.stored_at.desc(), Item.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .subquery("page")
    )
    return (
        select(
            clock.c.now,
            *page.c,
            ShareLink.id.label("link_id"),
            ShareLink.nonce,
            ShareLink.created_at.label("link_created_at"),
            ShareLink.ends_at,
            ShareLink.max_downloads,
            ShareLink.downloads,
            ShareLink.password_hash.isnot(None).label("password_required"),
            ShareLink.stopped_at,
        )
        .select_from(clock)
        .outerjoin(page, true())
        .outerjoin(ShareLink, ShareLink.item_id == page.c.id)
        .order_by(
            page.c.stored_at.desc().nulls_last(),
            page.c.id.desc(),
            ShareLink.created_at.desc(),
            ShareLink.id,
        )
    )


@dataclass(frozen=True)
class PageRow:
    """A visible item as a page shows it, with its links newest first."""

    id: UUID
    kind: ItemKind
    filename: str
    description: str
    content_type: str
    size_bytes: int
    etag: str
    object_key: str
    thumbnail_key: str | None
    stored_at: datetime
    expires_at: datetime
    links: list[LinkRow]
    #: the upload request a sender sent it through, and the sender's note
    upload_request_id: UUID | None = None
    sender_note: str | None = None
    #: encrypted in the browser: the encrypted name, type and description
    encrypted_metadata: bytes | None = None


def shown_fields(item: Item | PageRow, stored_at: datetime) -> dict[str, Any]:
    """What a visitor is shown of a stored item (`ItemOut`'s fields), from its row or its
    page's row; `stored_at` is when it was stored (shown as its creation)."""
    return {
        "id": item.id,
        "kind": item.kind,
        "filename": item.filename,
        "description": item.description,
        "content_type": item.content_type,
        "size_bytes": item.size_bytes,
        "etag": item.etag,
        "has_thumbnail": item.thumbnail_key is not None,
        "created_at": stored_at,
        "expires_at": item.expires_at,
        "encrypted_metadata": item.encrypted_metadata,
    }


def read_page(
    connection: Connection, visitor_id: str, kind: ItemKind, limit: int
) -> tuple[list[PageRow], datetime]:
    """The newest visible items with their share links, and the database's now(): one
    statement, one round trip."""
    rows = connection.execute(
        _page_statement(), {"visitor_id": visitor_id, "kind": kind, "limit": limit}
    ).all()
    now: datetime = rows[0].now
    items: dict[UUID, PageRow] = {}
    for row in rows:
        if row.id is None:
            continue  # the clock's row of an empty page
        item = items.get(row.id)
        if item is None:
            item = items[row.id] = PageRow(
                id=row.id,
                kind=ItemKind(row.kind),
                filename=row.filename,
                description=row.description,
                content_type=row.content_type,
                size_bytes=row.size_bytes,
                etag=row.etag,
                object_key=row.object_key,
                thumbnail_key=row.thumbnail_key,
                stored_at=row.stored_at,
                expires_at=row.expires_at,
                links=[],
                upload_request_id=row.upload_request_id,
                sender_note=row.sender_note,
                encrypted_metadata=row.encrypted_metadata,
            )
        if row.link_id is not None:
            item.links.append(
                LinkRow(
                    id=row.link_id,
                    item_id=row.id,
                    nonce=row.nonce,
                    created_at=row.link_created_at,
                    ends_at=row.ends_at,
                    max_downloads=row.max_downloads,
                    downloads=row.downloads,
                    password_required=row.password_required,
                    stopped_at=row.stopped_at,
                )
            )
    return list(items.values()), now
