"""ItemService: the rules for visitors' items. Sync code, run in worker threads."""

from __future__ import annotations

import io
import logging
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO
from uuid import UUID, uuid4

from sqlalchemy.orm import Session, sessionmaker

from s3tasks_contracts import (
    DeletionReason,
    ItemKind,
    ItemList,
    ItemOut,
    Limits,
    TransferMode,
)
from s3tasks_servicekit.sizes import human_size
from s3tasks_storage_api.db.engine import transaction
from s3tasks_storage_api.db.models import Item
from s3tasks_storage_api.db.repository import ItemRepository
from s3tasks_storage_api.errors import (
    DeletedWhileUploading,
    InvalidInput,
    NotFound,
    StorageApiError,
    TooLarge,
    UploadsBusy,
)
from s3tasks_storage_api.items.images import inspect_image
from s3tasks_storage_api.items.metadata import strip_metadata
from s3tasks_storage_api.items.naming import clean_description, clean_filename
from s3tasks_storage_api.jobs.queue import JobQueue
from s3tasks_storage_api.observability.metrics import UploadMetrics
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.storage.bucket import ByteStream, ObjectStore

logger = logging.getLogger(__name__)

FILE_CONTENT_TYPE = "application/octet-stream"
THUMBNAIL_CONTENT_TYPE = "image/webp"
#: images are checked on local disk before anything reaches the bucket; beyond this, spill.
_SPOOL_IN_MEMORY = 1024 * 1024
#: the files page offers the newest file; a few more are listed for API clients
FILES_LISTED = 10


@dataclass(frozen=True)
class UploadRequest:
    visitor_id: str
    kind: ItemKind
    filename: str
    description: str
    declared_length: int | None


@dataclass(frozen=True)
class Content:
    key: str
    #: known for an item's content; a thumbnail's is not kept (it is never served ranged)
    size: int | None
    etag: str
    content_type: str
    filename: str
    kind: ItemKind


class ItemService:
    def __init__(
        self,
        settings: StorageApiSettings,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        jobs: JobQueue,
        metrics: UploadMetrics,
        *,
        reads: sessionmaker[Session] | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._reads = reads or sessions
        self._store = store
        self._jobs = jobs
        self._metrics = metrics

    def limits(self) -> Limits:
        s = self._settings
        return Limits(
            max_image_bytes=s.max_image_bytes,
            max_file_bytes=s.max_file_bytes,
            max_description_length=s.max_description_length,
            max_filename_length=s.max_filename_length,
            image_ttl_seconds=s.image_ttl_seconds,
            file_ttl_seconds=s.file_ttl_seconds,
            images_kept=s.images_kept,
            part_size_bytes=s.s3_part_size_bytes,
            transfer_mode=s.transfer_mode,
            s3_browser_origin=(
                s.s3_browser_endpoint if s.transfer_mode is TransferMode.DIRECT else None
            ),
        )

    def limits_for(self, kind: ItemKind) -> int:
        return self._settings.max_bytes(kind)

    def too_busy(self, kind: ItemKind) -> UploadsBusy:
        """The refusal of an upload that finds every upload thread taken, counted."""
        exc = UploadsBusy(
            "Too many uploads are in progress right now. Please try again in a moment."
        )
        self._metrics.refused(kind, exc)
        return exc

    # -- upload -------------------------------------------------------------------------

    def upload(self, request: UploadRequest, body: ByteStream) -> ItemOut:
        try:
            item = self._upload(request, body)
        except Exception as exc:
            self._metrics.refused(request.kind, exc)
            raise
        self._metrics.stored(request.kind, item.size_bytes)
        return item

    def _upload(self, request: UploadRequest, body: ByteStream) -> ItemOut:
        s = self._settings
        filename = clean_filename(request.filename, max_length=s.max_filename_length)
        description = clean_description(request.description, max_length=s.max_description_length)
        limit = s.max_bytes(request.kind)
        if request.declared_length is not None and request.declared_length > limit:
            # refused before a byte is read or stored
            raise TooLarge(f"The {request.kind} is larger than {human_size(limit)}.")
        item_id = uuid4()
        object_key = f"objects/{item_id}"
        thumbnail_key = f"thumbnails/{item_id}.webp" if request.kind is ItemKind.IMAGE else None
        pending = Item(
            id=item_id,
            visitor_id=request.visitor_id,
            kind=request.kind,
            object_key=object_key,
            thumbnail_key=thumbnail_key,
            filename=filename,
            description=description,
            content_type=FILE_CONTENT_TYPE,
        )
        # The row first: an object never exists without a row that will delete it.
        with self._db() as session:
            ItemRepository(session).insert_pending(pending, s.upload_deadline_seconds)
        started = time.monotonic()
        try:
            if request.kind is ItemKind.IMAGE:
                size, etag, content_type = self.store_image(object_key, thumbnail_key, body)
            else:
                size, etag, content_type = self._store_file(object_key, body)
            item = self._complete(
                request, item_id, started, size=size, etag=etag, content_type=content_type
            )
        except BaseException:
            self.discard(item_id, [k for k in (object_key, thumbnail_key) if k])
            raise
        if request.kind is ItemKind.IMAGE:
            self.apply_cap(request.visitor_id, request.kind)
        return item

    def store_image(
        self, key: str, thumbnail_key: str | None, body: ByteStream
    ) -> tuple[int, str, str]:
        """Check an image, store it (its metadata stripped unless kept) and its thumbnail:
        (size, etag, content type) of what was stored."""
        assert thumbnail_key is not None  # noqa: S101 - images always get one
        s = self._settings
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            size = _copy(body, spool)
            refuse_empty(size)
            spool.seek(0)
            info = inspect_image(
                spool, max_pixels=s.max_image_pixels, thumbnail_px=s.thumbnail_max_px
            )
            spool.seek(0)
            if s.keep_image_metadata:
                etag = self._store.put_sized(key, spool, size, info.content_type)
            else:
                # visitors expect their location gone: the stored original loses its metadata
                # and anything after the image, its pixels untouched
                cleaned = strip_metadata(info.format, spool.read(), orientation=info.orientation)
                size = len(cleaned)
                etag = self._store.put_sized(key, io.BytesIO(cleaned), size, info.content_type)
        self._store.put_bytes(thumbnail_key, info.thumbnail, THUMBNAIL_CONTENT_TYPE)
        return size, etag, info.content_type

    def _store_file(self, key: str, body: ByteStream) -> tuple[int, str, str]:
        counted = _CountingReader(body)
        if not counted.peek():
            refuse_empty(0)
        etag = self._store.put_stream(key, counted, FILE_CONTENT_TYPE)
        return counted.count, etag, FILE_CONTENT_TYPE

    def _complete(
        self,
        request: UploadRequest,
        item_id: UUID,
        started: float,
        *,
        size: int,
        etag: str,
        content_type: str,
    ) -> ItemOut:
        with self._db() as session:
            stored = ItemRepository(session).mark_stored(
                item_id,
                size=size,
                etag=etag,
                content_type=content_type,
                ttl_seconds=self._settings.ttl_seconds(request.kind),
            )
            if not stored:
                raise _why_not_stored(session.get(Item, item_id), started, self._settings)
            session.flush()
            item = session.get(Item, item_id)
            assert item is not None  # noqa: S101
            session.refresh(item)
            return to_item_out(item)

    def apply_cap(self, visitor_id: str, kind: ItemKind) -> None:
        """Hide the visitor's images beyond the newest few, once the new one is known stored.

        Its own transaction, after the upload's: in the upload's, a commit of unknown outcome
        (a connection lost at COMMIT) is undone as a failed upload, and the oldest image the
        cap hid in it would be lost with it. If this one fails, the upload still stands: the
        pages show the newest few anyway, the next upload caps, and the extra image goes at
        its expiry.
        """
        try:
            with self._db() as session:
                repo = ItemRepository(session)
                repo.lock_visitor_kind(visitor_id, kind)
                capped = repo.hide_beyond_newest(
                    visitor_id, kind, self._settings.images_kept, DeletionReason.CAP
                )
        except StorageApiError:
            logger.warning("could not apply the image cap for %s; the next upload will", visitor_id)
            return
        if capped:
            self._jobs.purge_visitor(visitor_id)

    def discard(self, item_id: UUID, keys: list[str]) -> None:
        """Undo a failed upload: make its row due at once, then delete objects and row.

        The row goes first: if PostgreSQL cannot be reached, the outcome of the last commit is
        unknown, so objects and row are both left as they are: a row still `uploading` is
        deleted with its objects at its deadline, and a row whose commit did land is a
        consistent stored item. Never an object deleted under a row that stays visible.
        """
        try:
            with self._db() as session:
                ItemRepository(session).hide_ids([item_id], DeletionReason.RECONCILE)
        except StorageApiError:
            logger.warning(
                "could not discard failed upload %s; the sweep removes it at its deadline", item_id
            )
            return
        try:
            if self._store.delete_many(keys):
                return  # the sweep retries the objects, then removes the row
            with self._db() as session:
                ItemRepository(session).delete_ids([item_id])
        except StorageApiError:
            logger.warning("failed upload %s is due; the next sweep removes it", item_id)

    # -- read ----------------------------------------------------------------------------

    def list(self, visitor_id: str, kind: ItemKind) -> ItemList:
        # every image kept under the cap is shown: the cap is a setting, so is the list
        limit = self._settings.images_kept if kind is ItemKind.IMAGE else FILES_LISTED
        with transaction(self._reads) as session:
            items, now = ItemRepository(session).list_visible(visitor_id, kind, limit)
            return ItemList(items=[to_item_out(i) for i in items], server_time=now)

    def get(self, visitor_id: str, item_id: UUID) -> ItemOut:
        return to_item_out(self._get(visitor_id, item_id))

    def content(self, visitor_id: str, item_id: UUID, *, thumbnail: bool) -> Content:
        item = self._get(visitor_id, item_id)
        kind = item.kind
        if not thumbnail:
            return Content(
                item.object_key, item.size_bytes, item.etag, item.content_type, item.filename, kind
            )
        if item.thumbnail_key is None:
            raise NotFound("This item has no thumbnail.")
        return Content(
            item.thumbnail_key,
            None,
            f"{item.etag}-thumb",
            THUMBNAIL_CONTENT_TYPE,
            item.filename,
            kind,
        )

    def _get(self, visitor_id: str, item_id: UUID) -> Item:
        with self._db() as session:
            item = ItemRepository(session).get_visible(visitor_id, item_id)
        if item is None:
            raise NotFound("No such item.")
        return item

    # -- delete all ------------------------------------------------------------------------

    def purge(self, visitor_id: str, kind: ItemKind) -> int:
        with self._db() as session:
            hidden = ItemRepository(session).hide_all(visitor_id, kind, DeletionReason.PURGE)
        if hidden:
            self._jobs.purge_visitor(visitor_id)  # after commit: the job sees the hidden rows
        return hidden

    def _db(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)


def to_item_out(item: Item) -> ItemOut:
    assert item.stored_at is not None  # noqa: S101 - only stored items are shown
    return ItemOut(
        id=item.id,
        kind=item.kind,
        filename=item.filename,
        description=item.description,
        content_type=item.content_type,
        size_bytes=item.size_bytes,
        etag=item.etag,
        has_thumbnail=item.thumbnail_key is not None,
        created_at=item.stored_at,
        expires_at=item.expires_at,
    )


def _why_not_stored(
    row: Item | None, started: float, settings: StorageApiSettings
) -> StorageApiError:
    """Say what happened to an upload whose row could not be marked stored. Before its
    deadline only "delete all" hides an upload's row (and the sweep may then remove it)."""
    within_deadline = time.monotonic() - started < settings.upload_deadline_seconds
    purged = row.deletion_reason == DeletionReason.PURGE if row is not None else within_deadline
    if purged:
        return DeletedWhileUploading(
            "The upload was deleted by Delete all before it finished arriving."
        )
    return InvalidInput("The upload took longer than allowed and was discarded.")


def refuse_empty(size: int) -> None:
    if size == 0:
        raise InvalidInput("The upload is empty (0 bytes); there is nothing to keep.")


def _copy(src: ByteStream, dst: IO[bytes], chunk: int = 1024 * 1024) -> int:
    total = 0
    while data := src.read(chunk):
        dst.write(data)
        total += len(data)
    return total


class _CountingReader:
    """Counts what the minio client reads; `peek` looks at the first bytes without losing them."""

    def __init__(self, body: ByteStream) -> None:
        self._body = body
        self._head = b""
        self.count = 0

    def peek(self, size: int = 16) -> bytes:
        self._head = self._body.read(size)
        return self._head

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            data = self._body.read(size)
        elif 0 <= size < len(self._head):
            data, self._head = self._head[:size], self._head[size:]
        else:
            data, self._head = self._head, b""
            data += self._body.read(-1 if size < 0 else size - len(data))
        self.count += len(data)
        return data
