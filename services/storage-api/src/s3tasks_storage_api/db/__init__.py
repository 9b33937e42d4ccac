"""PostgreSQL: the items table, its repository and the Alembic migrations."""
