"""items.staging_key and items.declared_size: one-shot uploads (issue 33)

`staging_key`: where a POST policy lets the browser write (`uploads/<id>`), never the key
that is served; `complete` copies what it checked from there to `objects/<id>`.
`declared_size`: the size the sender announced, so part URLs sign each part's exact length
and only the part numbers that size needs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("staging_key", sa.Text(), nullable=True))
    op.add_column("items", sa.Column("declared_size", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "declared_size")
    op.drop_column("items", "staging_key")
