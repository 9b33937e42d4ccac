"""UploadRequestRepository: every SQL statement on `upload_requests`. The caller owns the
transaction. Beside the items' repository rather than in `upload_requests/`: completing an
upload (`transfers`), "Delete all" (`items`) and the sweep (`deletions`) claim, end and remove
requests in their own transactions, and `upload_requests/` builds on `transfers`."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, delete, exists, func, select, text, update
from sqlalchemy.orm import Session

from s3tasks_storage_api.db.capabilities import still_open, stop_once
from s3tasks_storage_api.db.models import Item, UploadRequest

_NOW = func.now()


def _open() -> ColumnElement[bool]:
    """Neither stopped nor past its end (it may be filled: that has its own answer)."""
    return still_open(UploadRequest.ended_at, UploadRequest.expires_at)


# One statement claims a file's place and bytes: PostgreSQL re-checks the conditions on the
# row as it is after any concurrent claim it waited for (the row lock queues them), so the
# bounds hold for any number of replicas, with no read-then-write. Run in the transaction that
# marks the item stored: a claim and its item commit together, or neither does.
_CLAIM = text(
    """
    UPDATE upload_requests
    SET files_received = files_received + 1, bytes_received = bytes_received + :size
    WHERE id = :id
      AND ended_at IS NULL AND expires_at > now()
      AND files_received < max_files
      AND bytes_received + :size <= max_bytes
    RETURNING files_received, bytes_received
    """
)


class UploadRequestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def now(self) -> datetime:
        return self.session.execute(select(_NOW)).scalar_one()

    def insert(self, request: UploadRequest) -> None:
        self.session.add(request)
        self.session.flush()
        self.session.refresh(request)  # created_at and the counts from the server

    def list_for_visitor(self, visitor_id: str) -> list[UploadRequest]:
        return list(
            self.session.scalars(
                select(UploadRequest)
                .where(UploadRequest.visitor_id == visitor_id, UploadRequest.expires_at > _NOW)
                .order_by(UploadRequest.created_at.desc(), UploadRequest.id)
            )
        )

    def find_open(self, token_hash: bytes) -> tuple[UploadRequest, datetime] | None:
        """The request if it is open (perhaps filled), with now()."""
        row = self.session.execute(
            select(UploadRequest, _NOW).where(UploadRequest.token_hash == token_hash, _open())
        ).first()
        return None if row is None else (row[0], row[1])

    def find(self, token_hash: bytes) -> UploadRequest | None:
        """The request of that token's hash, in any state."""
        return self.session.scalars(
            select(UploadRequest).where(UploadRequest.token_hash == token_hash)
        ).one_or_none()

    def get(self, request_id: UUID) -> UploadRequest | None:
        return self.session.get(UploadRequest, request_id, populate_existing=True)

    def claim(self, request_id: UUID, size: int) -> bool:
        """Count one file of `size` bytes if the request is open and it fits."""
        row = self.session.execute(_CLAIM, {"id": request_id, "size": size}).first()
        return row is not None

    def stop(self, visitor_id: str, request_id: UUID) -> bool | None:
        """End a request: True if it ends now, False if it had ended, None if the visitor has
        no such request."""
        return stop_once(
            self.session,
            UploadRequest,
            UploadRequest.ended_at,
            request_id,
            UploadRequest.visitor_id == visitor_id,
        )

    def end_all(self, visitor_id: str) -> int:
        """ "Delete all files" ends every request of the visitor: they would fill the page the
        visitor just emptied."""
        ended = self.session.execute(
            update(UploadRequest)
            .where(UploadRequest.visitor_id == visitor_id, UploadRequest.ended_at.is_(None))
            .values(ended_at=_NOW)
        )
        return int(ended.rowcount)  # type: ignore[attr-defined]

    def delete_expired(self) -> int:
        """Requests past their end whose received items are all gone (the owner's page names
        the request of each item it shows until then)."""
        deleted = self.session.execute(
            delete(UploadRequest).where(
                UploadRequest.expires_at <= _NOW,
                ~exists().where(Item.upload_request_id == UploadRequest.id),
            )
        )
        return int(deleted.rowcount)  # type: ignore[attr-defined]
