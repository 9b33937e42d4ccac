"""TransferService: storage-api as the control plane of uploads and downloads.

It decides (the row first, limits, who may touch what), signs short-lived S3 requests for
one visitor's one item, and validates what arrived; the bytes go between S3 and the visitor
(`direct`) or web (`proxy`), never through storage-api.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy.orm import Session, sessionmaker

from s3tasks_contracts import (
    MAX_PARTS,
    MIN_PART_BYTES,
    ContentLink,
    ItemKind,
    ItemOut,
    LinkVariant,
    PartLinks,
    StoredPart,
    StoredParts,
    TransferMode,
    UploadCompletion,
    UploadStart,
    UploadTicket,
)
from s3tasks_ece.layout import Layout
from s3tasks_servicekit.sizes import human_size
from s3tasks_storage_api.db.engine import transaction
from s3tasks_storage_api.db.models import Item, ItemStatus
from s3tasks_storage_api.db.repository import ItemRepository
from s3tasks_storage_api.db.upload_requests import UploadRequestRepository
from s3tasks_storage_api.errors import (
    DeletedWhileUploading,
    EmptyUpload,
    InvalidInput,
    NotFound,
    NotSentInParts,
    QuotaReached,
    RequestBytesTaken,
    RequestFilled,
    RequestGone,
    StorageApiError,
    TooLarge,
    UploadNotArrived,
    UploadTookTooLong,
)
from s3tasks_storage_api.items.naming import clean_description, clean_filename
from s3tasks_storage_api.items.service import FILE_CONTENT_TYPE, ItemService, to_item_out
from s3tasks_storage_api.observability.metrics import UploadMetrics
from s3tasks_storage_api.ratelimits import (
    STORED_BYTES_PER_VISITOR,
    Limit,
    RateLimits,
    client_key,
    wait_words,
)
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.storage.bucket import ObjectStore, StorageFailure
from s3tasks_storage_api.storage.keys import (
    object_key,
    staging_key,
    thumbnail_key,
)
from s3tasks_storage_api.storage.signing import Signers, sign_download
from s3tasks_storage_api.transfers.encrypted import (
    ENCRYPTED_FILENAME,
    encrypted_layout,
    encrypted_part_lengths,
    encrypted_part_size,
)

logger = logging.getLogger(__name__)

#: part URLs handed out at once: web asks again for the next ones
MAX_PART_LINKS = 100
UPLOADS_CLIENT = (
    "Too many uploads came from your address in a short time (at most {limit}). "
    "Please try again in {wait}."
)
UPLOADS_VISITOR = (
    "You have started too many uploads in a short time (at most {limit}). "
    "Please try again in {wait}."
)


@dataclass(frozen=True)
class Received:
    """An upload a sender makes through an owner's upload request: the owner's item in every
    other way, claimed against the request when it completes (`upload_requests/`)."""

    request_id: UUID
    #: the sender's note, shown to the owner with the file
    note: str


class TransferService:
    def __init__(
        self,
        settings: StorageApiSettings,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        signers: Signers,
        items: ItemService,
        metrics: UploadMetrics,
        limits: RateLimits,
    ) -> None:
        self._limits = limits
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._signers = signers
        self._items = items
        self._metrics = metrics

    # -- downloads ---------------------------------------------------------------------------

    def link(
        self, visitor_id: str, item_id: UUID, variant: LinkVariant, via: TransferMode
    ) -> ContentLink:
        """A presigned GET of the visitor's own visible item (or its thumbnail).

        The signing time is rounded down to half the validity, so the same link comes back
        for a while and a browser can cache a thumbnail; it stays valid at least that half.
        """
        with transaction(self._sessions) as session:
            item = ItemRepository(session).get_visible(visitor_id, item_id)
        if item is None:
            raise NotFound("No such item.")
        valid = self._settings.link_seconds
        now = datetime.now(UTC)
        window = max(1, valid // 2)
        signed_at = datetime.fromtimestamp(now.timestamp() // window * window, UTC)
        url = sign_download(
            self._signers.for_(via),
            item,
            variant,
            signed_at=signed_at,
            valid_for=timedelta(seconds=valid),
        )
        return ContentLink(url=url, expires_at=signed_at + timedelta(seconds=valid))

    # -- uploads -----------------------------------------------------------------------------

    def start(
        self, visitor_id: str, request: UploadStart, received: Received | None = None
    ) -> UploadTicket:
        """Write the row (status `uploading`, its deadline in `expires_at`), then sign what
        the sender needs: a POST policy (`direct`) or a multipart upload (`proxy`).
        `received`: a sender's upload into the visitor's items through their request."""
        try:
            return self._start(visitor_id, request, received)
        except Exception as exc:
            self._metrics.refused(request.kind, exc)
            raise

    def _start(
        self, visitor_id: str, request: UploadStart, received: Received | None
    ) -> UploadTicket:
        s = self._settings
        limit = s.max_bytes(request.kind)
        if request.size_bytes is not None and request.size_bytes > limit:
            raise TooLarge(request.kind, limit)
        if request.size_bytes == 0:
            raise EmptyUpload()
        in_parts = request.via is TransferMode.PROXY or request.in_parts
        if in_parts and request.via is TransferMode.DIRECT and request.size_bytes is None:
            # the browser holds its part URLs: each signs its exact length, known only from
            # the declared size (web's own form in proxy mode cannot know it, and keeps them)
            raise InvalidInput("An upload in parts from the browser must declare its size.")
        if request.client is not None:
            self._limits.take(Limit.UPLOADS_PER_CLIENT, client_key(request.client), UPLOADS_CLIENT)
        if received is None:
            # a sender is no visitor: the request's own bounds count its files, and the
            # owner's uploads are not held up by what senders send them
            self._limits.take(Limit.UPLOADS_PER_VISITOR, visitor_id, UPLOADS_VISITOR)
        encryption = request.encryption
        if encryption is not None:
            # what the browser encrypted stays encrypted: a placeholder name, no description
            encrypted_layout(
                request.kind, request.size_bytes, encryption, s.max_encrypted_metadata_bytes
            )
            if request.via is TransferMode.DIRECT and not in_parts:
                raise InvalidInput("An encrypted upload is sent in parts.")
            filename, description = ENCRYPTED_FILENAME, ""
            part_size = encrypted_part_size(encryption.header_size)
        else:
            filename = clean_filename(request.filename, max_length=s.max_filename_length)
            description = clean_description(
                request.description, max_length=s.max_description_length
            )
            part_size = part_size_for(request.size_bytes or limit, s.s3_part_size_bytes)
        item_id = uuid4()
        key = object_key(item_id)
        upload_id = self._store.start_multipart(key, FILE_CONTENT_TYPE) if in_parts else None
        row = Item(
            id=item_id,
            visitor_id=visitor_id,
            kind=request.kind,
            object_key=key,
            thumbnail_key=thumbnail_key(item_id) if request.kind is ItemKind.IMAGE else None,
            filename=filename,
            description=description,
            content_type=FILE_CONTENT_TYPE,
            upload_id=upload_id,
            part_size=part_size if upload_id is not None else None,
            # a POST policy is good until the deadline, whatever happens to the upload: it
            # may write only a key nothing serves (docs/s3-compatibility.md, one-shot uploads)
            staging_key=None if in_parts else staging_key(item_id),
            declared_size=request.size_bytes,
            upload_request_id=None if received is None else received.request_id,
            sender_note=None if received is None else received.note,
            encrypted_metadata=None if encryption is None else encryption.metadata,
            encryption_header_size=None if encryption is None else encryption.header_size,
        )
        try:
            # one transaction (issue 26: it was two, and a `SELECT now()`): the quota, early and
            # unlocked (what is stored already plus the announced size leaves no room;
            # `complete` checks again under the visitor's lock, with the size that arrived),
            # then the row. A refusal here, after S3 started a multipart upload, aborts it.
            with transaction(self._sessions) as session:
                repo = ItemRepository(session)
                self._refuse_over_quota(repo, visitor_id, request.size_bytes or 1)
                expires_at = repo.insert_pending(row, s.upload_deadline_seconds)
        except BaseException:
            if upload_id is not None:
                self._abort_quietly(key, upload_id)
            raise
        if row.staging_key is not None:
            signer = self._signers.browser
            declared = request.size_bytes
            fields = signer.post_policy(
                row.staging_key,
                expires_at=expires_at,
                sizes=(1, limit) if declared is None else (declared, declared),
                content_type=FILE_CONTENT_TYPE,
            )
            return UploadTicket(
                item_id=item_id,
                kind=request.kind,
                expires_at=expires_at,
                post_url=signer.bucket_url,
                post_fields=fields,
            )
        return UploadTicket(
            item_id=item_id,
            kind=request.kind,
            expires_at=expires_at,
            part_size=part_size,
        )

    def part_links(
        self,
        visitor_id: str,
        item_id: UUID,
        part_numbers: list[int],
        via: TransferMode = TransferMode.PROXY,
        through: UUID | None = None,
    ) -> PartLinks:
        """Presigned PUTs for parts of the visitor's own open multipart upload, for the S3
        endpoint its sender reaches (`via`): only the part numbers its size needs, each
        signed with its exact length when the size was declared."""
        if not part_numbers or len(part_numbers) > MAX_PART_LINKS:
            raise InvalidInput(f"Ask for 1 to {MAX_PART_LINKS} parts at a time.")
        if any(not 1 <= n <= MAX_PARTS for n in part_numbers):
            raise InvalidInput(f"Part numbers go from 1 to {MAX_PARTS}.")
        row = self._uploading(visitor_id, item_id, through)
        if row.upload_id is None:
            raise NotSentInParts()
        assert row.part_size is not None  # noqa: S101 - chosen with every upload_id
        if row.encryption_header_size is not None and row.declared_size is not None:
            layout = Layout.from_ciphertext(row.declared_size, row.encryption_header_size)
            lengths = encrypted_part_lengths(layout, part_numbers)
        else:
            lengths = part_lengths(
                row.declared_size, row.part_size, self._settings.max_bytes(row.kind), part_numbers
            )
        remaining = (row.expires_at - datetime.now(UTC)).total_seconds()
        valid = timedelta(seconds=max(1, math.floor(remaining)))
        signer = self._signers.for_(via)
        key, upload_id = row.object_key, row.upload_id
        return PartLinks(
            urls={n: signer.part_url(key, upload_id, n, valid, lengths.get(n)) for n in lengths},
            part_size=row.part_size,
            sizes={n: size for n, size in lengths.items() if size is not None},
        )

    def stored_parts(
        self, visitor_id: str, item_id: UUID, through: UUID | None = None
    ) -> StoredParts:
        """The parts S3 already holds of the visitor's own open upload, so that a sender
        resuming after a dropped connection or a reload sends only the rest."""
        row = self._uploading(visitor_id, item_id, through)
        if row.upload_id is None:
            raise NotSentInParts()
        found = self._store.stored_parts(row.object_key, row.upload_id)
        return StoredParts(
            parts=[StoredPart(part_number=n, etag=etag, size=size) for n, etag, size in found],
            part_size=row.part_size,
        )

    def complete(
        self,
        visitor_id: str,
        item_id: UUID,
        completion: UploadCompletion,
        through: UUID | None = None,
    ) -> ItemOut:
        """Check what arrived and mark the item stored; idempotent: a second completion (a
        retry after a lost answer, a double click) answers with the stored item. Anything that
        does not match (missing, empty, too large, not an image, no room left in the upload
        request it came through) removes object and row and says why. `through`: only an
        upload of that request (a sender's)."""
        with transaction(self._sessions) as session:
            repo = ItemRepository(session)
            # held until the row is marked stored
            row = repo.lock_own(visitor_id, item_id, through)
            if row is None:
                raise NotFound("No such upload.")
            kind = row.kind
            already = row.status == ItemStatus.STORED and row.hidden_at is None
            failed = None if already else self._store_if_arrived(row, repo, completion)
            stored = to_item_out(row) if failed is None else None
            keys = [k for k in (row.object_key, row.thumbnail_key, row.staging_key) if k]
            upload_id, staging_key = row.upload_id, row.staging_key
        if stored is None:
            assert failed is not None  # noqa: S101
            if upload_id is not None:
                self._abort_quietly(keys[0], upload_id)
            self._items.discard(item_id, keys)
            self._metrics.refused(kind, failed)
            raise failed
        if staging_key is not None:
            # after a lost answer too: the first completion may have committed and lost its
            # connection before it got to drop the staging object
            self._drop_staging(staging_key)
        if not already:
            self._metrics.stored(kind, stored.size_bytes)
        if kind is ItemKind.IMAGE:
            # after a lost answer too: the first completion may not have reached the cap
            self._items.apply_cap(visitor_id, kind)
        return stored

    def _store_if_arrived(
        self, row: Item, repo: ItemRepository, completion: UploadCompletion
    ) -> StorageApiError | None:
        """Mark the locked row stored if what arrived passes; else the reason it does not.
        S3 being unavailable raises: nothing is known wrong, the client may complete again."""
        try:
            self._refuse_if_gone(row, repo)
            size, etag, content_type = self._check_arrived(row, completion)
            repo.lock_visitor(row.visitor_id)
            self._refuse_over_quota(repo, row.visitor_id, size)
            if row.upload_request_id is not None:
                self._claim(repo, row.upload_request_id, size)
        except StorageFailure:
            raise
        except StorageApiError as exc:
            return exc
        repo.mark_stored(
            row.id,
            size=size,
            etag=etag,
            content_type=content_type,
            ttl_seconds=self._settings.ttl_seconds(row.kind),
        )
        repo.session.flush()
        repo.session.refresh(row)
        return None

    def abort(self, visitor_id: str, item_id: UUID, through: UUID | None = None) -> None:
        """The sender gave up (cancel, a failed part, a completion it never got an answer
        to): abort the multipart upload and remove object and row at once, whatever state
        they reached, so that what the visitor was told (it failed) is what they see. A
        sender (`through` its request) can only take back an upload not yet stored: what
        arrived is the owner's."""
        with transaction(self._sessions) as session:
            row = ItemRepository(session).lock_own(visitor_id, item_id, through)
            if row is None or (through is not None and row.status != ItemStatus.UPLOADING):
                return
            keys = [k for k in (row.object_key, row.thumbnail_key, row.staging_key) if k]
            upload_id = row.upload_id
        if upload_id is not None:
            self._abort_quietly(keys[0], upload_id)
        self._items.discard(item_id, keys)

    # -- helpers -----------------------------------------------------------------------------

    def _refuse_over_quota(self, repo: ItemRepository, visitor_id: str, size: int) -> None:
        """QuotaReached if `size` more bytes would take the visitor over what one visitor
        may store; when to try again is when its first item expires."""
        quota = self._settings.max_stored_bytes_per_visitor
        if not quota:
            return
        used, first_expiry = repo.stored_by_visitor(visitor_id)
        if used + size <= quota:
            return
        retry_after = max(1, math.ceil(first_expiry or 0))
        self._limits.metrics.refused.labels(STORED_BYTES_PER_VISITOR).inc()
        raise QuotaReached(
            f"You are storing {human_size(used)}, and one visitor may store at most "
            f"{human_size(quota)} at once: this upload does not fit. Delete some of your items, "
            f"or try again in {wait_words(retry_after)}, when your oldest one expires.",
            retry_after=retry_after,
        )

    def _claim(self, repo: ItemRepository, request_id: UUID, size: int) -> None:
        """Count the file against its upload request, in the transaction that marks it stored:
        RequestFilled (or the ended request's NotFound) when there is no room for it."""
        requests = UploadRequestRepository(repo.session)
        if requests.claim(request_id, size):
            return
        request = requests.get(request_id)
        now = repo.now()
        if request is None or request.ended_at is not None or request.expires_at <= now:
            raise RequestGone
        if request.files_received >= request.max_files:
            raise RequestFilled
        left = request.max_bytes - request.bytes_received
        raise RequestBytesTaken(
            f"This file ({human_size(size)}) does not fit in what the request has left "
            f"({human_size(left)})."
        )

    def _uploading(self, visitor_id: str, item_id: UUID, through: UUID | None = None) -> Item:
        """The visitor's own open upload; one that "delete all" or its deadline ended is
        refused with the reason (a sender in parts tells the visitor why it stopped)."""
        with transaction(self._sessions) as session:
            repo = ItemRepository(session)
            row = repo.get_own(visitor_id, item_id, through)
            if row is None or row.status != ItemStatus.UPLOADING:
                raise NotFound("No such upload in progress.")
            self._refuse_if_gone(row, repo)
        return row

    def _refuse_if_gone(self, row: Item, repo: ItemRepository) -> None:
        if row.hidden_at is not None:
            raise DeletedWhileUploading()
        if row.expires_at <= repo.now():
            raise UploadTookTooLong()

    def _check_arrived(self, row: Item, completion: UploadCompletion) -> tuple[int, str, str]:
        """(size, etag, content type) of the object as stored, or the reason it is refused."""
        kind = row.kind
        # what is checked and counted is what is served: the served key is written only by
        # S3's CompleteMultipartUpload (one-shot: the upload id is gone after it) or by us,
        # from the staging key a POST policy writes to (and may write again, at any time)
        source = row.object_key
        if row.upload_id is not None:
            self._finish_multipart(row, completion)
        elif row.staging_key is not None and kind is ItemKind.IMAGE:
            source = row.staging_key  # read once below, its checked bytes written to be served
        elif row.staging_key is not None and not self._store.copy(row.staging_key, source):
            raise UploadNotArrived()
        found = self._store.stat(source)
        if found is None:
            raise UploadNotArrived()
        limit = self._settings.max_bytes(kind)
        if found.size > limit:
            raise TooLarge(kind, limit)
        if found.size == 0:
            raise EmptyUpload()
        if kind is ItemKind.FILE:
            return found.size, found.etag, FILE_CONTENT_TYPE
        data = self._store.read(source, found.size)
        if data is None:
            raise UploadNotArrived()
        # the image is fetched back, sniffed, decoded under the pixel limit and thumbnailed;
        # the original is stored again without its metadata (unless the operator keeps it)
        assert row.thumbnail_key is not None  # noqa: S101 - images always get one
        return self._items.store_image(row.object_key, row.thumbnail_key, data)

    def _finish_multipart(self, row: Item, completion: UploadCompletion) -> None:
        assert row.upload_id is not None  # noqa: S101
        if not completion.parts:
            raise InvalidInput("The upload names no parts.")
        numbers = [p.part_number for p in completion.parts]
        if numbers != sorted(set(numbers)):
            raise InvalidInput("The parts must be listed once each, in ascending order.")
        try:
            self._store.complete_multipart(
                row.object_key, row.upload_id, [(p.part_number, p.etag) for p in completion.parts]
            )
        except StorageFailure as exc:
            code = getattr(exc.__cause__, "code", None)
            if code == "NoSuchUpload" and self._store.stat(row.object_key) is not None:
                return  # completed by an earlier attempt that did not get to mark the row
            if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload"}:
                raise InvalidInput(
                    "The upload did not arrive complete: some parts are missing or wrong."
                ) from exc
            raise

    def _drop_staging(self, key: str) -> None:
        """The staging object, once copied: nothing reads it again. Left behind, reconcile
        and the bucket's lifecycle rule remove it."""
        try:
            self._store.delete(key)
        except StorageFailure:
            logger.warning("could not delete staging object %s; reconcile removes it", key)

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        try:
            self._store.abort_multipart(key, upload_id)
        except StorageFailure:
            logger.warning("could not abort upload %s; the sweep aborts it", key)


def part_size_for(size: int, preferred: int) -> int:
    """The part size for an upload of at most `size` bytes: the preferred one, grown so the
    upload fits in S3's 10,000 parts, never under S3's 5 MiB minimum."""
    needed = math.ceil(size / MAX_PARTS)
    mib = 1024 * 1024
    return max(MIN_PART_BYTES, preferred, math.ceil(needed / mib) * mib)


def part_lengths(
    declared: int | None, part_size: int, limit: int, numbers: list[int]
) -> dict[int, int | None]:
    """The length each asked part must have (None: not known, the size was not declared),
    refusing a part number beyond the last part the upload needs: of its declared size, or
    of the kind's limit when it declared none."""
    size = limit if declared is None else declared
    count = max(1, math.ceil(size / part_size))
    beyond = [n for n in numbers if n > count]
    if beyond:
        upload = (
            f"An upload of at most {human_size(size)}"
            if declared is None
            else (f"This upload of {human_size(size)}")
        )
        raise InvalidInput(
            f"{upload} is sent in {count} parts of {human_size(part_size)} at most: "
            f"part {beyond[0]} is beyond its last part."
        )
    if declared is None:
        # web's own form (the only sender that declares no size) asks for none beyond the
        # last part the kind's limit needs (web's `transfers/uploads.py`)
        return dict.fromkeys(numbers)
    return {n: part_size if n < count else declared - (count - 1) * part_size for n in numbers}
