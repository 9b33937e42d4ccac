"""Alembic environment: the URL comes from the settings given to `s3tasks-storage-api migrate`."""

from alembic import context
from sqlalchemy import create_engine, pool

from s3tasks_storage_api.db.models import Base

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
