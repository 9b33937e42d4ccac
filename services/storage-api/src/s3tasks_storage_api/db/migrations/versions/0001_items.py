"""items: uploaded images and files with their deletion schedule

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("visitor_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=False, unique=True),
        sa.Column("thumbnail_key", sa.Text(), nullable=True),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("etag", sa.Text(), nullable=False, server_default=""),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deletion_reason", sa.String(16), nullable=True),
        sa.CheckConstraint("kind IN ('image', 'file')", name="ck_items_kind"),
        sa.CheckConstraint("status IN ('uploading', 'stored')", name="ck_items_status"),
    )
    op.create_index("ix_items_expires_at", "items", ["expires_at"])
    op.create_index(
        "ix_items_visible_by_visitor",
        "items",
        ["visitor_id", "kind", sa.text("stored_at DESC")],
        postgresql_where=sa.text("status = 'stored' AND hidden_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("items")
