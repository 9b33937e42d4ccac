"""ItemService: the rules for visitors' items. Sync code, run in worker threads."""

from __future__ import annotations

import io
import logging
from contextlib import AbstractContextManager
from uuid import UUID

from sqlalchemy.orm import Session, sessionmaker

from s3tasks_contracts import DeletionReason, ItemKind, ItemOut, SiteConfiguration, TransferMode
from s3tasks_storage_api.db.engine import transaction
from s3tasks_storage_api.db.models import Item
from s3tasks_storage_api.db.repository import ItemRepository
from s3tasks_storage_api.db.upload_requests import UploadRequestRepository
from s3tasks_storage_api.errors import NotFound, StorageApiError
from s3tasks_storage_api.items.images import inspect_image
from s3tasks_storage_api.items.metadata import strip_metadata
from s3tasks_storage_api.items.page import shown_fields
from s3tasks_storage_api.jobs.queue import JobQueue
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.storage.bucket import ObjectStore
from s3tasks_storage_api.storage.keys import THUMBNAIL_CONTENT_TYPE

logger = logging.getLogger(__name__)

FILE_CONTENT_TYPE = "application/octet-stream"
#: the files page offers the newest file; a few more are listed for API clients
FILES_LISTED = 10


class ItemService:
    def __init__(
        self,
        settings: StorageApiSettings,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        jobs: JobQueue,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._jobs = jobs

    def site_configuration(self) -> SiteConfiguration:
        s = self._settings
        return SiteConfiguration(
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
            max_stored_bytes_per_visitor=s.max_stored_bytes_per_visitor,
        )

    def store_image(self, key: str, thumbnail_key: str, data: bytes) -> tuple[int, str, str]:
        """Check an image, store it (its metadata stripped unless kept) and its thumbnail:
        (size, etag, content type) of what was stored. `data` is at most the image limit."""
        s = self._settings
        info = inspect_image(
            io.BytesIO(data), max_pixels=s.max_image_pixels, thumbnail_px=s.thumbnail_max_px
        )
        if not s.keep_image_metadata:
            # visitors expect their location gone: the stored original loses its metadata
            # and anything after the image, its pixels untouched
            data = strip_metadata(info.format, data, orientation=info.orientation)
        etag = self._store.put_bytes(key, data, info.content_type)
        self._store.put_bytes(thumbnail_key, info.thumbnail, THUMBNAIL_CONTENT_TYPE)
        return len(data), etag, info.content_type

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

    # -- delete all ------------------------------------------------------------------------

    def purge(self, visitor_id: str, kind: ItemKind) -> int:
        with self._db() as session:
            hidden = ItemRepository(session).hide_all(visitor_id, kind, DeletionReason.PURGE)
            if kind is ItemKind.FILE:
                # after the items (the lock order of a completion: item, then request): the
                # visitor's upload requests end with the files they filled My Files with
                UploadRequestRepository(session).end_all(visitor_id)
        if hidden:
            self._jobs.purge_visitor(visitor_id)  # after commit: the job sees the hidden rows
        return hidden

    def delete_one(self, visitor_id: str, item_id: UUID) -> None:
        """One of the visitor's items, as "delete all" deletes them (hidden at once, a job
        deletes object and row): NotFound when it is not theirs or gone already."""
        with self._db() as session:
            hidden = ItemRepository(session).hide_own(visitor_id, item_id, DeletionReason.PURGE)
        if not hidden:
            raise NotFound("That item does not exist (any more).")
        self._jobs.purge_visitor(visitor_id)  # after commit: the job sees the hidden row

    def _db(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)


def to_item_out(item: Item) -> ItemOut:
    assert item.stored_at is not None  # noqa: S101 - only stored items are shown
    return ItemOut(**shown_fields(item, item.stored_at))
