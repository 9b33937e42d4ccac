"""The SQL every capability link table shares (`share_links`, `upload_requests`; the rest of
what they share is `s3tasks_storage_api.capabilities`): when a link is open, and stopping one
exactly once."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session


def still_open(
    stopped_at: InstrumentedAttribute[datetime | None], ends_at: InstrumentedAttribute[datetime]
) -> ColumnElement[bool]:
    """Neither stopped nor past its end (it may be used up or filled: that has its own
    answer)."""
    return and_(stopped_at.is_(None), ends_at > func.now())


def stop_once(
    session: Session,
    link: Any,
    stopped_at: InstrumentedAttribute[datetime | None],
    link_id: UUID,
    *owned: ColumnElement[bool],
) -> bool | None:
    """Stop the link `link_id` of the table `link` (its model) where `owned` holds: True if it
    stops now, False if it had stopped already, None if there is no such link of that owner."""
    stopped = session.execute(
        update(link)
        .where(link.id == link_id, *owned, stopped_at.is_(None))
        .values({stopped_at: func.now()})
    )
    if stopped.rowcount:  # type: ignore[attr-defined]
        return True
    found = session.execute(select(link.id).where(link.id == link_id, *owned)).first()
    return False if found is not None else None
