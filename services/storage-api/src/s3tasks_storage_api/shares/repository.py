"""ShareRepository: every SQL statement on `share_links`. The caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Update,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from s3tasks_contracts import ItemKind
from s3tasks_storage_api.db.capabilities import still_open, stop_once
from s3tasks_storage_api.db.locks import advisory_xact_lock
from s3tasks_storage_api.db.models import Item, ShareLink, item_visible

_NOW = func.now()


def _link_open() -> ColumnElement[bool]:
    """Neither stopped nor past its end (it may be used up: that has its own answer)."""
    return still_open(ShareLink.stopped_at, ShareLink.ends_at)


@dataclass(frozen=True)
class LinkRow:
    """A share link as its owner's page shows it (the token is recomputed from id and nonce)."""

    id: UUID
    item_id: UUID
    nonce: bytes
    created_at: datetime
    ends_at: datetime
    max_downloads: int | None
    downloads: int
    password_required: bool
    stopped_at: datetime | None


def link_row(link: ShareLink) -> LinkRow:
    return LinkRow(
        id=link.id,
        item_id=link.item_id,
        nonce=link.nonce,
        created_at=link.created_at,
        ends_at=link.ends_at,
        max_downloads=link.max_downloads,
        downloads=link.downloads,
        password_required=link.password_hash is not None,
        stopped_at=link.stopped_at,
    )


@dataclass(frozen=True)
class Granted:
    """One counted download, with what is needed to sign the GET."""

    share_id: UUID
    item_id: UUID
    downloads: int
    max_downloads: int | None
    kind: ItemKind
    object_key: str
    filename: str
    description: str
    size_bytes: int
    content_type: str
    item_expires_at: datetime


# One statement: the item is locked FOR SHARE while the count goes up. "Delete all" (and the
# cap, reconcile) hide an item with an UPDATE that takes the item's row lock, so a grant and a
# deletion serialise on that row: a grant that comes second waits for the deletion's commit,
# then PostgreSQL re-checks its conditions on the hidden row and finds none. The count's own
# condition is re-checked the same way when concurrent grants queue on the link's row: exact
# for any number of replicas, with no read-then-write. Built once, with a bound parameter.
@cache
def _grant_statement() -> Update:
    token = bindparam("token", type_=LargeBinary)
    item = (
        select(
            Item.id,
            Item.kind,
            Item.object_key,
            Item.filename,
            Item.description,
            Item.size_bytes,
            Item.content_type,
            Item.expires_at,
        )
        .where(
            Item.id
            == select(ShareLink.item_id).where(ShareLink.token_hash == token).scalar_subquery(),
            item_visible(),
        )
        .with_for_update(read=True)
        .cte("item")
    )
    return (
        update(ShareLink)
        .where(
            ShareLink.token_hash == token,
            ShareLink.item_id == item.c.id,
            _link_open(),
            or_(ShareLink.max_downloads.is_(None), ShareLink.downloads < ShareLink.max_downloads),
        )
        .values(downloads=ShareLink.downloads + 1)
        .returning(
            ShareLink.id,
            ShareLink.item_id,
            ShareLink.downloads,
            ShareLink.max_downloads,
            item.c.kind,
            item.c.object_key,
            item.c.filename,
            item.c.description,
            item.c.size_bytes,
            item.c.content_type,
            item.c.expires_at,
        )
    )


class ShareRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def now(self) -> datetime:
        return self.session.execute(select(_NOW)).scalar_one()

    def own_visible_item(self, visitor_id: str, item_id: UUID, *, lock: bool) -> Item | None:
        """The visitor's visible item; `lock`: FOR SHARE until the transaction ends, so the
        item cannot be hidden or deleted under a link being written."""
        query = select(Item).where(
            Item.id == item_id, Item.visitor_id == visitor_id, item_visible()
        )
        if lock:
            query = query.with_for_update(read=True)
        return self.session.scalars(query).one_or_none()

    def lock_item_links(self, item_id: UUID) -> None:
        """Serialise link creation on one item, so the per-item count holds (grants do not
        take this lock)."""
        advisory_xact_lock(self.session, f"share-links:{item_id}")

    def count_for_item(self, item_id: UUID) -> int:
        return int(
            self.session.execute(
                select(func.count()).select_from(ShareLink).where(ShareLink.item_id == item_id)
            ).scalar_one()
        )

    def insert(self, link: ShareLink) -> None:
        self.session.add(link)
        self.session.flush()
        self.session.refresh(link)  # created_at and downloads from the server

    def list_for_item(self, item_id: UUID) -> list[ShareLink]:
        return list(
            self.session.scalars(
                select(ShareLink)
                .where(ShareLink.item_id == item_id)
                .order_by(ShareLink.created_at.desc(), ShareLink.id)
            )
        )

    def stop(self, item_id: UUID, share_id: UUID) -> bool | None:
        """Stop a link: True if it stops now, False if it had stopped already, None if the
        item has no such link."""
        return stop_once(
            self.session, ShareLink, ShareLink.stopped_at, share_id, ShareLink.item_id == item_id
        )

    def find_open(self, token_hash: bytes) -> tuple[ShareLink, Item, datetime] | None:
        """The link and its item if both are alive (the link perhaps used up), with now()."""
        row = self.session.execute(
            select(ShareLink, Item, _NOW)
            .join(Item, Item.id == ShareLink.item_id)
            .where(ShareLink.token_hash == token_hash, _link_open(), item_visible())
        ).first()
        return None if row is None else (row[0], row[1], row[2])

    def grant(self, token_hash: bytes) -> Granted | None:
        """Count one download if the link is open, not used up and its item alive."""
        row = self.session.execute(_grant_statement(), {"token": token_hash}).first()
        if row is None:
            return None
        return Granted(
            share_id=row.id,
            item_id=row.item_id,
            downloads=row.downloads,
            max_downloads=row.max_downloads,
            kind=ItemKind(row.kind),
            object_key=row.object_key,
            filename=row.filename,
            description=row.description,
            size_bytes=row.size_bytes,
            content_type=row.content_type,
            item_expires_at=row.expires_at,
        )

    def alive_for_redeem(self, share_id: UUID, item_id: UUID) -> Item | None:
        """The item of a granted download while the link is not stopped and the item alive
        (the link's end or its limit do not cut short a download it granted)."""
        return self.session.scalars(
            select(Item)
            .join(ShareLink, ShareLink.item_id == Item.id)
            .where(
                ShareLink.id == share_id,
                Item.id == item_id,
                ShareLink.stopped_at.is_(None),
                item_visible(),
            )
        ).one_or_none()
