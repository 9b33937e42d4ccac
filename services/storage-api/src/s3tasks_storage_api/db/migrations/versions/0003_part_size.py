"""items.part_size: the part size chosen for an upload in parts, the most one part may carry

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("part_size", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "part_size")
