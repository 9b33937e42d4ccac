"""UploadRequestService: upload requests of visitors, and the uploads senders make through them.

A request is a write-only capability into its owner's items. The owner makes, lists and stops
them; a sender (anyone with the link, through web) looks one up and uploads files: the owner's
items in every way (their visitor id, quota, TTL and deletion), started, sent and completed by
`TransferService` as any upload is, with the request named on the row. A file counts when it
completes, claimed in the transaction that marks it stored (`TransferService._claim`); what
cannot fit is refused at start when it is known then. Every ended request answers the same 404
as a token nobody made.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.orm import Session, sessionmaker

from s3tasks_contracts import (
    MAX_REQUEST_MESSAGE_LENGTH,
    MAX_REQUESTED_FILES,
    MAX_SENDER_NOTE_LENGTH,
    ItemKind,
    ItemOut,
    PartLinks,
    RequestCreate,
    RequestList,
    RequestLookup,
    RequestOut,
    RequestState,
    RequestView,
    SenderCompletion,
    SenderParts,
    SenderReceipt,
    SenderStep,
    SenderUploadStart,
    StoredParts,
    UploadCompletion,
    UploadTicket,
)
from s3tasks_servicekit.sizes import human_size
from s3tasks_storage_api.capabilities import CapabilityLinks, checked_password
from s3tasks_storage_api.db.engine import transaction
from s3tasks_storage_api.db.models import UploadRequest
from s3tasks_storage_api.db.upload_requests import UploadRequestRepository
from s3tasks_storage_api.errors import (
    InvalidInput,
    NotFound,
    RequestBytesTaken,
    RequestFilled,
    RequestGone,
    RequestWrongPassword,
)
from s3tasks_storage_api.items.naming import clean_description
from s3tasks_storage_api.observability.metrics import RequestMetrics
from s3tasks_storage_api.ratelimits import Limit, RateLimits, client_key
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.transfers.service import Received, TransferService

logger = logging.getLogger(__name__)

TOO_MANY_REQUESTS = (
    "Too many upload requests from your address in a short time (at most {limit}). "
    "Please try again in {wait}."
)
#: a request's own tokens: a share link's token can never open a request, nor the reverse
_TOKEN_PURPOSE = b"s3tasks upload request token v1"


class UploadRequestService:
    def __init__(
        self,
        settings: StorageApiSettings,
        sessions: sessionmaker[Session],
        transfers: TransferService,
        limits: RateLimits,
        metrics: RequestMetrics,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._transfers = transfers
        self._limits = limits
        self._metrics = metrics
        self._links = CapabilityLinks(
            settings.share_secret.get_secret_value(),
            _TOKEN_PURPOSE,
            sessions=sessions,
            limits=limits,
            password_hashes=metrics.password_hashes,
        )

    # -- the owner -----------------------------------------------------------------------

    def create(self, visitor_id: str, request: RequestCreate) -> RequestOut:
        """A new request; every refusal before anything is written and before the password
        is hashed (argon2id: 19 MiB and ~20 ms, paid only by a request that will be made)."""
        if request.client is not None:
            self._limits.take(
                Limit.UPLOAD_REQUESTS_PER_CLIENT, client_key(request.client), TOO_MANY_REQUESTS
            )
        s = self._settings
        if not 1 <= request.max_files <= MAX_REQUESTED_FILES:
            raise InvalidInput(
                f"The number of files must be a whole number from 1 to {MAX_REQUESTED_FILES}."
            )
        most = self.max_request_bytes()
        if not 1 <= request.max_bytes <= most:
            raise InvalidInput(
                f"The total size must be from 1 byte to {human_size(most)}, what you may store."
            )
        if len(request.message) > MAX_REQUEST_MESSAGE_LENGTH:
            raise InvalidInput(
                f"The message must be at most {MAX_REQUEST_MESSAGE_LENGTH} characters long."
            )
        message = _clean_text(request.message, "The message")
        password = checked_password(request.password)
        new = self._links.new()
        with transaction(self._sessions) as session:
            requests = UploadRequestRepository(session)
            now = requests.now()
            latest = now + timedelta(seconds=s.file_ttl_seconds)
            ends_at = request.ends_at or latest
            if ends_at.tzinfo is None:
                raise InvalidInput("The end of the request must carry its time zone.")
            if ends_at > latest:
                raise InvalidInput(
                    "The request cannot stay open longer than your files are kept "
                    f"({s.file_ttl_seconds // 60} minutes)."
                )
            if ends_at <= now:
                raise InvalidInput("The end of the request must be in the future.")
            row = UploadRequest(
                id=new.id,
                visitor_id=visitor_id,
                nonce=new.nonce,
                token_hash=new.token_hash,
                expires_at=ends_at,
                max_files=request.max_files,
                max_bytes=request.max_bytes,
                message=message,
                # last: after it nothing can refuse the request
                password_hash=None if password is None else self._links.hash_password(password),
            )
            requests.insert(row)
            out = self._out(row, now)
        self._metrics.requests.labels("created").inc()
        logger.info("upload request %s made", new.id)
        return out

    def list(self, visitor_id: str) -> RequestList:
        with transaction(self._sessions) as session:
            requests = UploadRequestRepository(session)
            now = requests.now()
            return RequestList(
                requests=[self._out(r, now) for r in requests.list_for_visitor(visitor_id)],
                server_time=now,
            )

    def stop(self, visitor_id: str, request_id: UUID) -> None:
        """End a request at once; stopping it again is no error. Its files stay the owner's."""
        with transaction(self._sessions) as session:
            stopped = UploadRequestRepository(session).stop(visitor_id, request_id)
        if stopped is None:
            raise NotFound("You have no such upload request.")
        if stopped:
            self._metrics.requests.labels("stopped").inc()
            logger.info("upload request %s stopped", request_id)

    def max_request_bytes(self) -> int:
        """The most a request may ask for: the owner's quota (or, with none, what its most
        files may hold)."""
        s = self._settings
        return s.max_stored_bytes_per_visitor or s.max_file_bytes * MAX_REQUESTED_FILES

    # -- a sender (through web) ----------------------------------------------------------

    def lookup(self, request: RequestLookup) -> RequestView:
        """What the sender's page shows; 404 for every ended request. With the password, it
        is checked (and counted) and the message shown when it matches."""
        row, now = self._open(request.token)
        if _state(row, now) is RequestState.FULFILLED:
            # used up: the same page as every other end (a finished upload is told so by its
            # own answer, not by this page)
            raise RequestGone
        unlocked = row.password_hash is None
        if not unlocked and request.password is not None:
            self._check_password(row, request.client, request.password)
            unlocked = True
        return RequestView(
            password_required=row.password_hash is not None,
            unlocked=unlocked,
            message=row.message if unlocked else "",
            ends_at=row.expires_at,
            max_files=row.max_files,
            max_bytes=row.max_bytes,
            files_received=row.files_received,
            bytes_received=row.bytes_received,
            max_file_bytes=min(self._settings.max_file_bytes, row.max_bytes - row.bytes_received),
            server_time=now,
        )

    def start(self, sent: SenderUploadStart) -> UploadTicket:
        """A sender's upload into the owner's files: the password, then what is already known
        not to fit, then `TransferService.start` with the request named on the row."""
        try:
            row, note = self._admit(sent)
            return self._transfers.start(row.visitor_id, sent.upload, Received(row.id, note))
        except Exception as exc:
            self._metrics.refused(exc)
            raise

    def _admit(self, sent: SenderUploadStart) -> tuple[UploadRequest, str]:
        """The open request a sender's upload may start in, and the note cleaned; or why
        not."""
        row, _ = self._open(sent.token)
        if row.password_hash is not None:
            self._check_password(row, sent.upload.client, sent.password)
        if sent.upload.kind is not ItemKind.FILE:
            raise InvalidInput("An upload request receives files.")
        if len(sent.note) > MAX_SENDER_NOTE_LENGTH:
            raise InvalidInput(
                f"The note must be at most {MAX_SENDER_NOTE_LENGTH} characters long."
            )
        if row.files_received >= row.max_files:
            raise RequestFilled
        left = row.max_bytes - row.bytes_received
        if (sent.upload.size_bytes or 1) > left:
            raise RequestBytesTaken(
                f"This file does not fit in what the request has left ({human_size(left)})."
            )
        return row, _clean_text(sent.note, "The note")

    def part_links(self, sent: SenderParts, item_id: UUID) -> PartLinks:
        row, _ = self._open(sent.token)
        parts = sent.parts
        return self._transfers.part_links(
            row.visitor_id, item_id, parts.part_numbers, parts.via, through=row.id
        )

    def stored_parts(self, sent: SenderStep, item_id: UUID) -> StoredParts:
        row, _ = self._open(sent.token)
        return self._transfers.stored_parts(row.visitor_id, item_id, through=row.id)

    def complete(self, sent: SenderCompletion, item_id: UUID) -> SenderReceipt:
        """Complete as any upload, the file claimed against the request in the transaction
        that stores it; a refused one is removed, object and row. A request that ended since
        the upload started is found all the same, so its upload is refused and removed now."""
        row = self._matching(sent.token)
        if row is None:
            self._metrics.refused(RequestGone())
            raise RequestGone
        try:
            item = self._transfers.complete(
                row.visitor_id, item_id, UploadCompletion(parts=sent.parts), through=row.id
            )
        except Exception as exc:
            self._metrics.refused(exc)
            raise
        self._metrics.received(item.size_bytes)
        return self._receipt(row.id, item)

    def abort(self, sent: SenderStep, item_id: UUID) -> None:
        row = self._matching(sent.token)
        if row is not None:
            self._transfers.abort(row.visitor_id, item_id, through=row.id)

    # -- helpers -------------------------------------------------------------------------

    def _receipt(self, request_id: UUID, item: ItemOut) -> SenderReceipt:
        with transaction(self._sessions) as session:
            row = UploadRequestRepository(session).get(request_id)
        files_left = bytes_left = 0
        if row is not None:
            files_left = row.max_files - row.files_received
            bytes_left = row.max_bytes - row.bytes_received
        return SenderReceipt(
            filename=item.filename,
            size_bytes=item.size_bytes,
            files_left=files_left,
            bytes_left=bytes_left,
        )

    def _matching(self, token: str) -> UploadRequest | None:
        """The request the token was made for, in any state."""
        return self._links.find(
            token,
            lambda session, hashed: UploadRequestRepository(session).find(hashed),
            lambda row: (row.id, row.nonce),
        )

    def _open(self, token: str) -> tuple[UploadRequest, datetime]:
        """The open request of that token (perhaps filled) and now(); RequestGone if none."""
        found = self._links.find(
            token,
            lambda session, hashed: UploadRequestRepository(session).find_open(hashed),
            lambda found: (found[0].id, found[0].nonce),
        )
        if found is None:
            raise RequestGone
        return found

    def _check_password(self, row: UploadRequest, client: str | None, password: str | None) -> None:
        """Under the attempt limits of every capability link (`capabilities`)."""
        assert row.password_hash is not None  # noqa: S101
        if client is None:
            raise InvalidInput("A password attempt must name its client.")
        if not self._links.password_holds(row.id, row.password_hash, client_key(client), password):
            raise RequestWrongPassword

    def _out(self, row: UploadRequest, now: datetime) -> RequestOut:
        token = self._links.token(row.id, row.nonce)
        return RequestOut(
            id=row.id,
            token=token,
            path=f"/r/{token}",
            state=_state(row, now),
            created_at=row.created_at,
            ends_at=row.expires_at,
            max_files=row.max_files,
            max_bytes=row.max_bytes,
            files_received=row.files_received,
            bytes_received=row.bytes_received,
            message=row.message,
            password_required=row.password_hash is not None,
        )


def _state(row: UploadRequest, now: datetime) -> RequestState:
    if row.ended_at is not None:
        return RequestState.STOPPED
    if row.expires_at <= now:
        return RequestState.ENDED
    if row.files_received >= row.max_files or row.bytes_received >= row.max_bytes:
        return RequestState.FULFILLED
    return RequestState.ACTIVE


def _clean_text(raw: str, what: str) -> str:
    """Text shown to someone else: control and format characters out, as a description's."""
    try:
        return clean_description(raw, max_length=len(raw))
    except InvalidInput:
        raise InvalidInput(f"{what} contains a NUL byte.") from None
