"""DeletionService: what the worker's jobs call. Idempotent and safe to run concurrently."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.orm import Session, sessionmaker

from s3tasks_contracts import (
    DeletionReason,
    DeletionReport,
    DeletionRequest,
    DeletionTally,
    ItemKind,
    ReconcileReport,
    ReconcileRequest,
)
from s3tasks_servicekit.requestid import current_request_id
from s3tasks_storage_api.db.engine import transaction
from s3tasks_storage_api.db.models import Item
from s3tasks_storage_api.db.repository import DueItem, ItemRepository
from s3tasks_storage_api.db.upload_requests import UploadRequestRepository
from s3tasks_storage_api.storage.bucket import ListedObject, ObjectStore, StorageFailure
from s3tasks_storage_api.storage.keys import OBJECTS_PREFIX, STAGING_PREFIX, THUMBNAILS_PREFIX

logger = logging.getLogger(__name__)
#: One line per committed deletion batch, whatever the log level (configure_logging keeps
#: it at INFO): which job (its request id, the worker's task id) deleted which items, so an
#: operator can answer "when was this deleted, and by whom", and the multi-replica test can
#: prove that no item is deleted by two jobs.
audit_log = logging.getLogger("s3tasks.deletions")
AUDIT_MESSAGE = "job %s deleted %d items (%s): %s"

#: a stored row younger than this is not judged by reconcile (its listing may predate it).
RECONCILE_SETTLE = timedelta(seconds=60)


class DeletionService:
    def __init__(self, sessions: sessionmaker[Session], store: ObjectStore) -> None:
        self._sessions = sessions
        self._store = store

    def delete_due(self, request: DeletionRequest) -> DeletionReport:
        """Delete one batch of due items: objects first (DeleteObjects), then their rows.

        The rows stay locked (`FOR UPDATE SKIP LOCKED`) while their objects are deleted, so a
        concurrent job takes other rows; if S3 fails, the transaction rolls back and the rows
        are due again for the next job. A row is removed only when all its objects are gone.
        """
        due, done, failed = self._delete_due(request.limit, visitor_id=request.visitor_id)
        if request.visitor_id is None:
            # the sweep's tick removes upload requests past their end once the files they
            # received are gone too (their objects are items': nothing in S3 to delete)
            with transaction(self._sessions) as session:
                UploadRequestRepository(session).delete_expired()
        if failed:
            logger.warning("%d objects could not be deleted; their rows stay due", len(failed))
        return DeletionReport(
            tallies=_tally((item.reason, item.kind) for item in done),
            lag_seconds=[item.lag_seconds for item in done if item.lag_seconds is not None],
            more_due=len(due) == request.limit,
        )

    def reconcile(self, request: ReconcileRequest) -> ReconcileReport:
        """Rows whose object is missing are removed; objects with no row, after a grace period."""
        with transaction(self._sessions) as session:
            repo = ItemRepository(session)
            now = repo.now()
            settled_before = now - RECONCILE_SETTLE
            orphan_before = now - timedelta(seconds=request.grace_seconds)
            dangling: set[UUID] = set()
            orphans: list[str] = []
            for column, prefix in (
                (Item.object_key, OBJECTS_PREFIX),
                (Item.thumbnail_key, THUMBNAILS_PREFIX),
            ):
                rows = repo.iter_keys(column, settled_before=settled_before)
                for key, item_id, settled, obj in _merge(rows, self._store.list(prefix)):
                    if obj is None and item_id is not None and settled:
                        dangling.add(item_id)
                    elif item_id is None and obj is not None and _older(obj, orphan_before):
                        orphans.append(key)
            # a staging object is an orphan once its upload is no longer open: completed (a
            # reused POST policy wrote it again), cancelled, deleted or its row gone
            staged = repo.iter_staging_keys()
            for key, _, uploading, obj in _merge(staged, self._store.list(STAGING_PREFIX)):
                if obj is not None and not uploading and _older(obj, orphan_before):
                    orphans.append(key)
            hidden = repo.hide_ids(sorted(dangling), DeletionReason.RECONCILE)
        failed = self._store.delete_many(orphans)
        aborted = self._abort_orphan_uploads(orphan_before)
        removed = self.delete_dangling(sorted(dangling)) if hidden else []
        logger.info(
            "reconcile: %d dangling rows, %d orphan objects, %d orphan multipart uploads",
            len(removed),
            len(orphans) - len(failed),
            aborted,
        )
        return ReconcileReport(
            dangling_rows_removed=len(removed),
            orphan_objects_removed=len(orphans) - len(failed),
            tallies=_tally((DeletionReason.RECONCILE, item.kind) for item in removed),
        )

    def delete_dangling(self, ids: list[UUID]) -> list[DueItem]:
        """Remove the hidden rows (and any of their objects that remain, e.g. a thumbnail)."""
        return self._delete_due(len(ids), ids=ids)[1]

    def _delete_due(
        self, limit: int, *, visitor_id: str | None = None, ids: list[UUID] | None = None
    ) -> tuple[list[DueItem], list[DueItem], set[str]]:
        """Lock due rows, delete their objects, then the rows whose objects are all gone; in
        one transaction, audited after it commits. (due, removed, keys that failed)"""
        with transaction(self._sessions) as session:
            repo = ItemRepository(session)
            due = repo.lock_due(limit, visitor_id, ids)
            failed = self._delete_objects(due)
            removed = [item for item in due if not failed.intersection(item.keys)]
            repo.delete_ids([item.id for item in removed])
        _audit(removed)
        return due, removed, failed

    def _delete_objects(self, due: list[DueItem]) -> set[str]:
        """Abort the open multipart uploads of the rows (their parts are invisible to a
        listing but kept, and billed, until then), then delete their objects; the keys that
        failed either way."""
        failed: set[str] = set()
        for item in due:
            if item.upload_id is not None:
                try:
                    self._store.abort_multipart(item.keys[0], item.upload_id)
                except StorageFailure:
                    failed.add(item.keys[0])
        return failed | self._store.delete_many(key for item in due for key in item.keys)

    def _abort_orphan_uploads(self, started_before: datetime) -> int:
        """Abort multipart uploads no row knows of (a row removed while web was still sending
        parts), once they are older than the grace period."""
        with transaction(self._sessions) as session:
            known = ItemRepository(session).open_upload_keys(OBJECTS_PREFIX)
        aborted = 0
        for upload in self._store.open_uploads(OBJECTS_PREFIX):
            if (upload.key, upload.upload_id) in known:
                continue
            if upload.initiated is not None and upload.initiated > started_before:
                continue
            self._store.abort_multipart(upload.key, upload.upload_id)
            aborted += 1
        return aborted


def _audit(done: list[DueItem]) -> None:
    """After the commit: only deletions that happened are recorded."""
    for reason in sorted({item.reason for item in done}):
        ids = " ".join(str(item.id) for item in done if item.reason == reason)
        audit_log.info(AUDIT_MESSAGE, current_request_id() or "-", ids.count(" ") + 1, reason, ids)


def _merge(
    rows: Iterable[tuple[str, UUID, bool]], objects: Iterable[ListedObject]
) -> Iterator[tuple[str, UUID | None, bool, ListedObject | None]]:
    """Full outer merge join of two key-ordered streams, in bounded memory."""
    row_iter, obj_iter = iter(rows), iter(objects)
    row, obj = next(row_iter, None), next(obj_iter, None)
    while row is not None or obj is not None:
        if obj is None or (row is not None and row[0] < obj.key):
            assert row is not None  # noqa: S101
            yield row[0], row[1], row[2], None
            row = next(row_iter, None)
        elif row is None or obj.key < row[0]:
            yield obj.key, None, False, obj
            obj = next(obj_iter, None)
        else:
            yield row[0], row[1], row[2], obj
            row, obj = next(row_iter, None), next(obj_iter, None)


def _older(obj: ListedObject, than: datetime) -> bool:
    return obj.last_modified is None or obj.last_modified <= than


def _tally(pairs: Iterable[tuple[str, str]]) -> list[DeletionTally]:
    counts = Counter(pairs)
    return [
        DeletionTally(reason=DeletionReason(reason), kind=ItemKind(kind), count=n)
        for (reason, kind), n in sorted(counts.items())
    ]
