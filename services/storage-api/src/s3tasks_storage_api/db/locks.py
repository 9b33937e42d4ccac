"""PostgreSQL advisory locks: what has no row of its own to lock (a visitor's quota, the cap
on their images, the number of links of an item) is serialised on a key instead."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def advisory_xact_lock(session: Session, key: str) -> None:
    """Wait for, then hold until the transaction ends, the lock named `key` (hashed to the
    64-bit number PostgreSQL locks by)."""
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
