"""upload_requests, items.upload_request_id and items.sender_note: upload-request links (issue 36)

A request lets whoever holds `/r/<token>` upload files into its owner's items, bounded in
files and bytes; each file is claimed at completion by one conditional UPDATE, and the CHECK
constraints below say the bounds cannot be crossed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("visitor_id", sa.String(32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_files", sa.Integer(), nullable=False),
        sa.Column("max_bytes", sa.BigInteger(), nullable=False),
        sa.Column("files_received", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("bytes_received", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("octet_length(nonce) = 16", name="ck_upload_requests_nonce"),
        sa.CheckConstraint("octet_length(token_hash) = 32", name="ck_upload_requests_token_hash"),
        sa.CheckConstraint("max_files BETWEEN 1 AND 100", name="ck_upload_requests_max_files"),
        sa.CheckConstraint("max_bytes >= 1", name="ck_upload_requests_max_bytes"),
        # the claim's conditional UPDATE keeps these; the constraints say they cannot break
        sa.CheckConstraint(
            "files_received BETWEEN 0 AND max_files", name="ck_upload_requests_files_received"
        ),
        sa.CheckConstraint(
            "bytes_received BETWEEN 0 AND max_bytes", name="ck_upload_requests_bytes_received"
        ),
    )
    op.create_index("ux_upload_requests_token_hash", "upload_requests", ["token_hash"], unique=True)
    # the owner's list, and "Delete all files" ending them
    op.create_index("ix_upload_requests_visitor_id", "upload_requests", ["visitor_id"])
    # the sweep finds expired requests by their end
    op.create_index("ix_upload_requests_expires_at", "upload_requests", ["expires_at"])
    op.add_column(
        "items",
        sa.Column(
            "upload_request_id",
            sa.Uuid(),
            sa.ForeignKey(
                "upload_requests.id", ondelete="SET NULL", name="fk_items_upload_request_id"
            ),
            nullable=True,
        ),
    )
    op.add_column("items", sa.Column("sender_note", sa.Text(), nullable=True))
    # the sweep asks whether an expired request still has items, and the FK's SET NULL finds
    # them: only received items carry one
    op.create_index(
        "ix_items_upload_request_id",
        "items",
        ["upload_request_id"],
        postgresql_where=sa.text("upload_request_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_items_upload_request_id", table_name="items")
    op.drop_column("items", "sender_note")
    op.drop_column("items", "upload_request_id")
    op.drop_table("upload_requests")
