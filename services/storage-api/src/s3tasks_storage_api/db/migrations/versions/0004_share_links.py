"""share_links: links that let anyone download one item, with a limit, a password and an end

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "share_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "item_id",
            sa.Uuid(),
            sa.ForeignKey("items.id", ondelete="CASCADE", name="fk_share_links_item_id"),
            nullable=False,
        ),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_downloads", sa.Integer(), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("octet_length(nonce) = 16", name="ck_share_links_nonce"),
        sa.CheckConstraint("octet_length(token_hash) = 32", name="ck_share_links_token_hash"),
        sa.CheckConstraint(
            "max_downloads IS NULL OR max_downloads BETWEEN 1 AND 1000",
            name="ck_share_links_max_downloads",
        ),
        # the grant's conditional UPDATE keeps this; the constraint says it cannot be broken
        sa.CheckConstraint(
            "downloads >= 0 AND (max_downloads IS NULL OR downloads <= max_downloads)",
            name="ck_share_links_downloads",
        ),
    )
    op.create_index("ux_share_links_token_hash", "share_links", ["token_hash"], unique=True)
    # the cascade from items and the owner's list look links up by item
    op.create_index("ix_share_links_item_id", "share_links", ["item_id"])


def downgrade() -> None:
    op.drop_table("share_links")
