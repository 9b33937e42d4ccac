"""Engine and session factory, built from settings (never at import time)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from s3tasks_storage_api.errors import DependencyUnavailable
from s3tasks_storage_api.settings import StorageApiSettings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_T = TypeVar("_T")
_IDLE_SINCE = "s3tasks_idle_since"
_UNAVAILABLE = "The database is unavailable; try again shortly."

logger = logging.getLogger(__name__)


def make_engine(settings: StorageApiSettings) -> Engine:
    """No ping before each use (a round trip on every request): connections are judged by
    age instead. One idle past `database_idle_seconds` is replaced when taken, one older than
    `database_recycle_seconds` too; one the server closed under a busy pool (a restart, a
    failover) fails its statement, SQLAlchemy then invalidates the whole pool, and `read`
    runs a read again once on a fresh connection."""
    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_recycle=settings.database_recycle_seconds,
        # the most recently used connection first: busy ones stay warm, the rest age out
        pool_use_lifo=True,
        pool_timeout=settings.database_connect_timeout_seconds,
        connect_args={"connect_timeout": settings.database_connect_timeout_seconds},
    )
    _replace_idle_connections(engine, settings.database_idle_seconds)
    return engine


def _replace_idle_connections(engine: Engine, idle_seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _idle_from_now(_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _refuse_long_idle(
        _conn: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is not None and time.monotonic() - idle_since > idle_seconds:
            # the pool closes this one and connects afresh (SQLAlchemy's documented way)
            raise DisconnectionError("idle too long")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_engine(engine: Engine) -> Engine:
    """The same pool for single read statements: in autocommit, psycopg sends no BEGIN and
    the connection's end no COMMIT, so a page's list is one round trip."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def wait_for_database(engine: Engine, *, timeout: float) -> None:
    """Poll until PostgreSQL answers, so a migration Job can start before the database."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        else:
            return  # a start-up wait in a one-shot command, not a test or a task


def alembic_config(settings: StorageApiSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def migrate(settings: StorageApiSettings, *, wait_seconds: float = 60.0) -> None:
    engine = make_engine(settings)
    try:
        wait_for_database(engine, timeout=wait_seconds)
    finally:
        engine.dispose()
    command.upgrade(alembic_config(settings), "head")


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction, committed on success; PostgreSQL unreachable becomes a 503."""
    try:
        with sessions.begin() as session:
            yield session
    except (OperationalError, InterfaceError) as exc:
        raise DependencyUnavailable(_UNAVAILABLE) from exc


def read(engine: Engine, work: Callable[[Connection], _T]) -> _T:
    """`work` (reads only) on one pooled connection, without an ORM session (a page's read
    is rows, not objects; the session's bookkeeping cost a third of its CPU). Run once more if
    it met a connection the server had closed (no ping caught it: see `make_engine`): a read
    has no effect to repeat, so the second try is safe; a write is not retried (its COMMIT
    may have landed)."""
    try:
        with engine.connect() as connection:
            return work(connection)
    except (OperationalError, InterfaceError) as exc:
        if not exc.connection_invalidated:
            raise DependencyUnavailable(_UNAVAILABLE) from exc
        logger.info("a pooled database connection had been closed; reading again")
    try:
        with engine.connect() as connection:
            return work(connection)
    except (OperationalError, InterfaceError) as exc:
        raise DependencyUnavailable(_UNAVAILABLE) from exc
