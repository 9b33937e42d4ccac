"""Engine and session factory, built from settings (never at import time)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from s3tasks_storage_api.errors import DependencyUnavailable
from s3tasks_storage_api.settings import StorageApiSettings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def make_engine(settings: StorageApiSettings) -> Engine:
    return create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_timeout=settings.database_connect_timeout_seconds,
        connect_args={"connect_timeout": settings.database_connect_timeout_seconds},
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for a single read statement: in autocommit, psycopg sends no BEGIN and the
    session's end no COMMIT, so a page's list is one round trip (after the pool's ping)."""
    return sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


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
        raise DependencyUnavailable("The database is unavailable; try again shortly.") from exc
