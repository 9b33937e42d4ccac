"""items.upload_id: the open S3 multipart upload of a row still `uploading`

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("upload_id", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "upload_id")
