"""items.encrypted_metadata and items.encryption_header_size: files encrypted in the browser
(issue 35)

The name, type and description of such a file are one encrypted blob (bounded here as in the
contract; the site's cap, a setting, is lower); the header size with the declared size fixes
every part's length. Both or neither.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("encrypted_metadata", sa.LargeBinary(), nullable=True))
    op.add_column("items", sa.Column("encryption_header_size", sa.SmallInteger(), nullable=True))
    op.create_check_constraint(
        "ck_items_encrypted_metadata_size",
        "items",
        "octet_length(encrypted_metadata) <= 65536",
    )
    op.create_check_constraint(
        "ck_items_encryption_both_or_neither",
        "items",
        "(encrypted_metadata IS NULL) = (encryption_header_size IS NULL)",
    )
    op.create_check_constraint(
        "ck_items_encryption_header_size",
        "items",
        "encryption_header_size BETWEEN 21 AND 276",
    )


def downgrade() -> None:
    for name in (
        "ck_items_encryption_header_size",
        "ck_items_encryption_both_or_neither",
        "ck_items_encrypted_metadata_size",
    ):
        op.drop_constraint(name, "items", type_="check")
    op.drop_column("items", "encryption_header_size")
    op.drop_column("items", "encrypted_metadata")
