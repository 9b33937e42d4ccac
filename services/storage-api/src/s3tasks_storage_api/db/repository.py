"""ItemRepository: every SQL statement on `items`. The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Select,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from s3tasks_contracts import DeletionReason, ItemKind
from s3tasks_storage_api.db.locks import advisory_xact_lock
from s3tasks_storage_api.db.models import Item, ItemStatus, item_visible

_NOW = func.now()


@dataclass(frozen=True)
class DueItem:
    id: UUID
    kind: ItemKind
    keys: tuple[str, ...]
    reason: DeletionReason
    lag_seconds: float | None
    #: an open multipart upload of the object, to abort before the row goes
    upload_id: str | None = None


@dataclass(frozen=True)
class KindTotals:
    kind: ItemKind
    stored_items: int
    stored_bytes: int
    pending_deletion: int


class ItemRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def now(self) -> datetime:
        return self.session.execute(select(_NOW)).scalar_one()

    def insert_pending(self, item: Item, deadline_seconds: int) -> datetime:
        """Write an upload's row (status `uploading`) with its deadline on the database's
        clock, in one statement; the deadline comes back with it (`RETURNING`). `item` is only
        read: its set columns are the row's, the others take their defaults."""
        values: dict[str, Any] = {
            column.key: value
            for column in Item.__table__.columns
            if (value := getattr(item, column.key)) is not None
        }
        values |= {
            "status": ItemStatus.UPLOADING,
            "expires_at": _NOW + timedelta(seconds=deadline_seconds),
        }
        inserted = insert(Item).values(values).returning(Item.expires_at)
        return self.session.execute(inserted).scalar_one()

    def mark_stored(
        self, item_id: UUID, *, size: int, etag: str, content_type: str, ttl_seconds: int
    ) -> bool:
        """Turn an upload into a stored item; False if its row is gone or hidden (the deadline
        passed, or "delete all" ran while it was arriving: it must not come back)."""
        result = self.session.execute(
            update(Item)
            .where(
                Item.id == item_id, Item.status == ItemStatus.UPLOADING, Item.hidden_at.is_(None)
            )
            .values(
                status=ItemStatus.STORED,
                size_bytes=size,
                etag=etag,
                content_type=content_type,
                stored_at=_NOW,
                expires_at=_NOW + timedelta(seconds=ttl_seconds),
                upload_id=None,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def lock_visitor_kind(self, visitor_id: str, kind: ItemKind) -> None:
        """Serialise cap enforcement for one visitor's images across concurrent uploads."""
        advisory_xact_lock(self.session, f"{visitor_id}:{kind}")

    def lock_visitor(self, visitor_id: str) -> None:
        """Serialise one visitor's completions until the transaction ends: the sum of what
        it stores is read and grown by one of them at a time (the quota is exact)."""
        advisory_xact_lock(self.session, f"{visitor_id}:stored")

    def stored_by_visitor(self, visitor_id: str) -> tuple[int, float | None]:
        """Bytes of the visitor's visible items (every kind), and the seconds until the
        first of them expires (None: it has none)."""
        used, first_expiry = self.session.execute(
            select(
                func.coalesce(func.sum(Item.size_bytes), 0),
                func.extract("epoch", func.min(Item.expires_at) - _NOW),
            ).where(Item.visitor_id == visitor_id, item_visible())
        ).one()
        return int(used), None if first_expiry is None else float(first_expiry)

    def hide_beyond_newest(
        self, visitor_id: str, kind: ItemKind, keep: int, reason: DeletionReason
    ) -> int:
        newest_first = (
            select(Item.id)
            .where(Item.visitor_id == visitor_id, Item.kind == kind, item_visible())
            .order_by(Item.stored_at.desc(), Item.id.desc())
            .offset(keep)
            .scalar_subquery()
        )
        return self._hide(Item.id.in_(newest_first), reason)

    def hide_all(self, visitor_id: str, kind: ItemKind, reason: DeletionReason) -> int:
        return self._hide(
            and_(Item.visitor_id == visitor_id, Item.kind == kind, Item.hidden_at.is_(None)),
            reason,
        )

    def hide_own(self, visitor_id: str, item_id: UUID, reason: DeletionReason) -> int:
        return self._hide(and_(Item.visitor_id == visitor_id, Item.id == item_id), reason)

    def hide_ids(self, ids: list[UUID], reason: DeletionReason) -> int:
        return self._hide(Item.id.in_(ids), reason) if ids else 0

    def _hide(self, condition: object, reason: DeletionReason) -> int:
        result = self.session.execute(
            update(Item)
            .where(condition, Item.hidden_at.is_(None))  # type: ignore[arg-type]
            .values(
                hidden_at=_NOW, deletion_reason=reason, expires_at=func.least(Item.expires_at, _NOW)
            )
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def lock_own(self, visitor_id: str, item_id: UUID, through: UUID | None = None) -> Item | None:
        """The visitor's row in any state, locked until the transaction ends: completions of
        one upload run one at a time (the second finds it stored). `through`: only if it
        came through that upload request."""
        return self.session.scalars(
            _own(visitor_id, item_id, through).with_for_update()
        ).one_or_none()

    def get_own(self, visitor_id: str, item_id: UUID, through: UUID | None = None) -> Item | None:
        """The visitor's row in any state (not locked); `through` as for `lock_own`."""
        return self.session.scalars(_own(visitor_id, item_id, through)).one_or_none()

    def open_upload_keys(self, prefix: str) -> set[tuple[str, str]]:
        """(object key, upload id) of every row with an open multipart upload under `prefix`."""
        rows = self.session.execute(
            select(Item.object_key, Item.upload_id).where(
                Item.upload_id.isnot(None), Item.object_key.startswith(prefix)
            )
        )
        return {(str(key), str(upload)) for key, upload in rows}

    def get_visible(self, visitor_id: str, item_id: UUID) -> Item | None:
        return self.session.scalars(
            select(Item).where(Item.id == item_id, Item.visitor_id == visitor_id, item_visible())
        ).one_or_none()

    def delete_ids(self, ids: list[UUID]) -> None:
        if ids:
            self.session.execute(delete(Item).where(Item.id.in_(ids)))

    def lock_due(
        self, limit: int, visitor_id: str | None = None, ids: list[UUID] | None = None
    ) -> list[DueItem]:
        """Rows whose time has come, locked; rows another job holds are skipped, not waited for."""
        lag = func.extract("epoch", _NOW - Item.expires_at)
        query = (
            select(
                Item.id,
                Item.kind,
                Item.object_key,
                Item.thumbnail_key,
                Item.status,
                Item.deletion_reason,
                lag.label("lag"),
                Item.upload_id,
                Item.staging_key,
            )
            .where(Item.expires_at <= _NOW)
            .order_by(Item.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if visitor_id is not None:
            query = query.where(Item.visitor_id == visitor_id)
        if ids is not None:
            query = query.where(Item.id.in_(ids))
        return [_due(*row) for row in self.session.execute(query).all()]

    def totals(self) -> list[KindTotals]:
        visible = item_visible()
        rows = self.session.execute(
            select(
                Item.kind,
                func.count().filter(visible),
                func.coalesce(func.sum(Item.size_bytes).filter(visible), 0),
                func.count().filter(Item.expires_at <= _NOW),
            ).group_by(Item.kind)
        )
        return [KindTotals(kind, int(n), int(b), int(p)) for kind, n, b, p in rows]

    def iter_keys(
        self,
        key_column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None],
        *,
        settled_before: datetime,
    ) -> Iterator[tuple[str, UUID, bool]]:
        """(key, item id, settled) for rows with a key, in the byte order S3 lists keys in.

        `settled`: stored before `settled_before`, so its object must exist by now.
        """
        settled = and_(Item.status == ItemStatus.STORED, Item.stored_at < settled_before)
        query = (
            select(key_column, Item.id, settled)
            .where(key_column.isnot(None))
            .order_by(key_column.collate("C"))
            .execution_options(yield_per=1000)
        )
        for key, item_id, is_settled in self.session.execute(query):
            yield str(key), item_id, bool(is_settled)

    def iter_staging_keys(self) -> Iterator[tuple[str, UUID, bool]]:
        """(staging key, item id, still uploading) in the byte order S3 lists keys in: a
        staging object is wanted only while its upload is open."""
        uploading = Item.status == ItemStatus.UPLOADING
        query = (
            select(Item.staging_key, Item.id, uploading)
            .where(Item.staging_key.isnot(None))
            .order_by(Item.staging_key.collate("C"))
            .execution_options(yield_per=1000)
        )
        for key, item_id, is_uploading in self.session.execute(query):
            yield str(key), item_id, bool(is_uploading)


def _own(visitor_id: str, item_id: UUID, through: UUID | None) -> Select[Item]:
    query = select(Item).where(Item.id == item_id, Item.visitor_id == visitor_id)
    if through is not None:
        query = query.where(Item.upload_request_id == through)
    return query


def _due(
    item_id: UUID,
    kind: ItemKind,
    object_key: str,
    thumbnail_key: str | None,
    status: str,
    reason: DeletionReason | None,
    lag: float,
    upload_id: str | None,
    staging_key: str | None,
) -> DueItem:
    # the object key first (an open multipart upload is aborted by it); the staging key too,
    # in any state: a POST policy may have written it again after completion
    keys = tuple(k for k in (object_key, thumbnail_key, staging_key) if k is not None)
    if reason is None:
        reason = DeletionReason.EXPIRED if status == ItemStatus.STORED else DeletionReason.RECONCILE
    lag_seconds = float(lag) if reason is DeletionReason.EXPIRED else None
    return DueItem(item_id, kind, keys, reason, lag_seconds, upload_id)
