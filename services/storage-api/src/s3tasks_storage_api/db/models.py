"""The schema. PostgreSQL is the deletion schedule: every row carries its `expires_at`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    and_,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from s3tasks_contracts import DeletionReason, ItemKind


def _stored_as_value(enum: type[StrEnum]) -> Enum:
    """A column of the enum's values as text (the CHECK constraints are the migration's)."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    pass


class ItemStatus:
    UPLOADING = "uploading"
    STORED = "stored"


class Item(Base):
    """One uploaded image or file.

    A row is written *before* its object (status `uploading`, `expires_at` = the upload's
    deadline), so no object ever exists without a row; the object is written, then the row
    becomes `stored` with `expires_at` = now + TTL. Hiding ("delete all", the image cap,
    reconcile) sets `hidden_at` and pulls `expires_at` to now, so a single index range scan
    on `expires_at` finds everything that is due.
    """

    __tablename__ = "items"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    visitor_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[ItemKind] = mapped_column(_stored_as_value(ItemKind))
    status: Mapped[str] = mapped_column(String(16))
    object_key: Mapped[str] = mapped_column(Text, unique=True)
    thumbnail_key: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    content_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger, server_default="0")
    etag: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    stored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hidden_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deletion_reason: Mapped[DeletionReason | None] = mapped_column(_stored_as_value(DeletionReason))
    #: the S3 multipart upload the bytes arrive in (proxy mode), until it is completed; a row
    #: removed with one still open aborts it, so S3 keeps no parts nobody can see
    upload_id: Mapped[str | None] = mapped_column(Text)
    #: the size of every part of that upload but the last, chosen from the announced size:
    #: the most one part may carry (web refuses a larger part body in proxy mode)
    part_size: Mapped[int | None] = mapped_column(BigInteger)
    #: the key a POST policy lets the browser write (`uploads/<id>`, direct mode in one
    #: request): never served; `complete` copies what it checked to `object_key`. Kept after
    #: completion, so deleting the item also deletes what a reused policy may write there
    staging_key: Mapped[str | None] = mapped_column(Text)
    #: the size the sender announced, when it did: part URLs sign each part's exact length
    #: and only the part numbers it needs
    declared_size: Mapped[int | None] = mapped_column(BigInteger)
    #: the owner's upload request a sender sent it through (None: the owner uploaded it); the
    #: item is the owner's all the same (its visitor id, quota, TTL, deletion)
    upload_request_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("upload_requests.id", ondelete="SET NULL")
    )
    #: the sender's note with it, shown to the owner as text
    sender_note: Mapped[str | None] = mapped_column(Text)
    #: encrypted in the browser (docs/encryption.md): the name, type and description as one
    #: encrypted blob (`filename` holds a placeholder), and the length of the RFC 8188 header
    #: at the start of part 1, which with the declared size fixes every part's length
    encrypted_metadata: Mapped[bytes | None] = mapped_column(LargeBinary)
    encryption_header_size: Mapped[int | None] = mapped_column(SmallInteger)

    __table_args__ = (
        Index("ix_items_expires_at", "expires_at"),
        Index(
            "ix_items_visible_by_visitor",
            "visitor_id",
            "kind",
            text("stored_at DESC"),
            postgresql_where=text("status = 'stored' AND hidden_at IS NULL"),
        ),
    )


class ShareLink(Base):
    """A share link of one item: a capability to download it until the link ends.

    The token is HMAC-SHA256(share key, id || nonce): storage-api recomputes it to show the
    owner the link again, while the table keeps only its SHA-256 (found by index) and the
    nonce, so a dump of it holds no working link. Rows go with their item (ON DELETE CASCADE):
    whichever job deletes an item deletes its links in the same statement.
    """

    __tablename__ = "share_links"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    item_id: Mapped[UUID] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_downloads: Mapped[int | None] = mapped_column(Integer)
    downloads: Mapped[int] = mapped_column(Integer, server_default="0")
    #: argon2id, in its PHC string form (parameters and salt included)
    password_hash: Mapped[str | None] = mapped_column(Text)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ux_share_links_token_hash", "token_hash", unique=True),
        Index("ix_share_links_item_id", "item_id"),
    )


class UploadRequest(Base):
    """An upload request: a write-only capability into its owner's items, at most `max_files`
    files and `max_bytes` bytes in all, until `expires_at` or until stopped (`ended_at`).

    A file counts when its upload completes: `files_received` and `bytes_received` grow in
    one conditional UPDATE in the transaction that marks the item stored, so no number of
    concurrent completions takes them past the bounds (the CHECK constraints say it cannot
    happen). The token is made and kept as a share link's is (`capabilities.py`).
    """

    __tablename__ = "upload_requests"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    visitor_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_files: Mapped[int] = mapped_column(Integer)
    max_bytes: Mapped[int] = mapped_column(BigInteger)
    files_received: Mapped[int] = mapped_column(Integer, server_default="0")
    bytes_received: Mapped[int] = mapped_column(BigInteger, server_default="0")
    message: Mapped[str] = mapped_column(Text, server_default="")
    #: argon2id, in its PHC string form (parameters and salt included)
    password_hash: Mapped[str | None] = mapped_column(Text)
    #: stopped by its owner, or ended by their "Delete all files"
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ux_upload_requests_token_hash", "token_hash", unique=True),
        Index("ix_upload_requests_visitor_id", "visitor_id"),
        Index("ix_upload_requests_expires_at", "expires_at"),
    )


def item_visible() -> ColumnElement[bool]:
    """An item its visitor still sees and a link still serves: stored, not hidden (by "delete
    all", the cap or reconcile) and not past its deletion time on the database's clock. Every
    query that needs it says it with this."""
    return and_(
        Item.status == ItemStatus.STORED, Item.hidden_at.is_(None), Item.expires_at > func.now()
    )
