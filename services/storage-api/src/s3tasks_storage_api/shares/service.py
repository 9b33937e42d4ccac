"""ShareService: share links of visitors' items, and the downloads they grant.

storage-api is the only place that grants: one conditional UPDATE counts a download (see
`repository._grant_statement`), then a grant is signed for that client and that link,
redeemable for seconds for presigned GETs (`share_grant_seconds`): the download it was
counted for, and nothing after it once those seconds have passed.
Every way a link can end (stopped, past its end, its item deleted, never existed) answers
the same 404, so nobody can probe which tokens once worked; a link used up says so (410).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.orm import Session, sessionmaker

from s3tasks_contracts import (
    MAX_SHARE_DOWNLOADS,
    ContentLink,
    GrantRequest,
    ItemKind,
    LinkVariant,
    RedeemRequest,
    ShareCreate,
    ShareGrant,
    ShareList,
    ShareLookup,
    ShareOut,
    ShareState,
    ShareView,
    TransferMode,
)
from s3tasks_storage_api.capabilities import CapabilityLinks, checked_password, log_id, token_hash
from s3tasks_storage_api.db.engine import transaction
from s3tasks_storage_api.db.models import Item, ShareLink
from s3tasks_storage_api.errors import (
    GrantEnded,
    InvalidInput,
    NotFound,
    ShareGone,
    ShareUsedUp,
    TooManyAttempts,
    WrongPassword,
)
from s3tasks_storage_api.observability.metrics import ShareMetrics, ShareOutcome
from s3tasks_storage_api.ratelimits import Limit, RateLimits, client_key
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.shares.repository import LinkRow, ShareRepository, link_row
from s3tasks_storage_api.shares.tokens import Grant, GrantKeys
from s3tasks_storage_api.storage.signing import PRIVATE_CACHE_CONTROL, Signers, sign_download

logger = logging.getLogger(__name__)

TOO_MANY_GRANTS = (
    "Too many downloads from your address in a short time (at most {limit}). "
    "Please try again in {wait}."
)
TOO_MANY_LINKS = (
    "Too many share links from your address in a short time (at most {limit}). "
    "Please try again in {wait}."
)
#: what every share download says to caches, whatever the object's own metadata: a link can
#: be stopped, used up or password-protected, so no cache may answer for it
SHARE_DOWNLOAD_CACHE_CONTROL = "private, no-store"


class ShareService:
    def __init__(
        self,
        settings: StorageApiSettings,
        sessions: sessionmaker[Session],
        signers: Signers,
        limits: RateLimits,
        metrics: ShareMetrics,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._signers = signers
        self._limits = limits
        self._metrics = metrics
        secret = settings.share_secret.get_secret_value()
        self._links = CapabilityLinks(
            secret,
            b"s3tasks share link token v1",
            sessions=sessions,
            limits=limits,
            password_hashes=metrics.password_hashes,
        )
        self._grants = GrantKeys(secret)

    # -- the owner -----------------------------------------------------------------------

    def create(self, visitor_id: str, item_id: UUID, request: ShareCreate) -> ShareOut:
        """A new link of the visitor's own visible item; every refusal before anything is
        written, and before the password is hashed: argon2id costs 19 MiB and ~20 ms, so only
        a link that will be written (the client within its rate, the item its owner's, the
        values in range) pays for one."""
        if request.client is not None:
            self._limits.take(
                Limit.SHARE_LINKS_PER_CLIENT, client_key(request.client), TOO_MANY_LINKS
            )
        max_downloads = request.max_downloads
        if max_downloads is not None and not 1 <= max_downloads <= MAX_SHARE_DOWNLOADS:
            raise InvalidInput(
                f"The download limit must be a whole number from 1 to {MAX_SHARE_DOWNLOADS}."
            )
        password = checked_password(request.password)
        new = self._links.new()
        with transaction(self._sessions) as session:
            # held FOR SHARE until the link is written: a deletion of the item waits for it
            item = self._own_item(session, visitor_id, item_id, lock=True)
            links = ShareRepository(session)
            now = links.now()
            ends_at = request.ends_at or item.expires_at
            if ends_at.tzinfo is None:
                raise InvalidInput("The end of the link must carry its time zone.")
            if ends_at > item.expires_at:
                raise InvalidInput(
                    "The link cannot outlive the item: it must end by the item's deletion."
                )
            if ends_at <= now:
                raise InvalidInput("The end of the link must be in the future.")
            links.lock_item_links(item_id)
            if links.count_for_item(item_id) >= self._settings.share_links_per_item:
                raise InvalidInput(
                    f"This item has {self._settings.share_links_per_item} links already; "
                    "stop one or share the ones it has."
                )
            # last, under the item's lock: ~20 ms, after which nothing can refuse the link
            password_hash = None if password is None else self._links.hash_password(password)
            link = ShareLink(
                id=new.id,
                item_id=item_id,
                nonce=new.nonce,
                token_hash=new.token_hash,
                ends_at=ends_at,
                max_downloads=max_downloads,
                password_hash=password_hash,
            )
            links.insert(link)
            out = self.out(link_row(link), now)
            kind = item.kind
        self._metrics.link(kind, ShareOutcome.CREATED)
        logger.info("share link %s of item %s created", new.id, item_id)
        return out

    def list(self, visitor_id: str, item_id: UUID) -> ShareList:
        with transaction(self._sessions) as session:
            self._own_item(session, visitor_id, item_id)
            links = ShareRepository(session)
            now = links.now()
            return ShareList(
                shares=[self.out(link_row(link), now) for link in links.list_for_item(item_id)],
                server_time=now,
            )

    def stop(self, visitor_id: str, item_id: UUID, share_id: UUID) -> None:
        """Stop a link at once; stopping it again is no error."""
        with transaction(self._sessions) as session:
            item = self._own_item(session, visitor_id, item_id)
            stopped = ShareRepository(session).stop(item_id, share_id)
            kind = item.kind
        if stopped is None:
            raise NotFound("This item has no such link.")
        if stopped:
            self._metrics.link(kind, ShareOutcome.STOPPED)
            logger.info("share link %s of item %s stopped", share_id, item_id)

    # -- anyone with the link (through web) ----------------------------------------------

    def lookup(self, request: ShareLookup) -> ShareView:
        """What the link's page shows; 404 for every ended link, 410 when used up."""
        link, item, now = self._open(request.token)
        left = _left(link)
        if left == 0:
            raise ShareUsedUp()
        protected = link.password_hash is not None
        preview = None
        if item.kind is ItemKind.IMAGE and item.thumbnail_key and not protected:
            preview, _ = self._sign(item, LinkVariant.THUMBNAIL, request.via)
        return ShareView(
            kind=item.kind,
            password_required=protected,
            ends_at=link.ends_at,
            downloads_left=left,
            filename=None if protected else item.filename,
            description=None if protected else item.description,
            size_bytes=None if protected else item.size_bytes,
            preview_url=preview,
            server_time=now,
            encrypted_metadata=item.encrypted_metadata,
        )

    def grant(self, request: GrantRequest) -> ShareGrant:
        """Count one download and sign its grant: the password first (limited per client and
        per link), then the one conditional UPDATE. HEAD requests never get here (web answers
        them from `lookup`), so only downloads count."""
        client = client_key(request.client)
        try:
            self._limits.take(Limit.SHARE_GRANTS_PER_CLIENT, client, TOO_MANY_GRANTS)
        except TooManyAttempts:
            self._metrics.download(None, ShareOutcome.RATE_LIMITED)
            raise
        try:
            link, item, _ = self._open(request.token)
        except NotFound:
            self._metrics.download(None, ShareOutcome.GONE)
            raise
        kind = item.kind
        if link.password_hash is not None:
            self._check_password(link, kind, client, request.password)
        with transaction(self._sessions) as session:
            granted = ShareRepository(session).grant(token_hash(request.token))
        if granted is None:
            # between the look and the count the link ended, or another download took its
            # last one: say which, from the row as it is now
            ended = self._find(request.token)
            if ended is not None and _left(ended[0]) == 0:
                self._metrics.download(kind, ShareOutcome.USED_UP)
                raise ShareUsedUp()
            self._metrics.download(kind, ShareOutcome.GONE)
            raise ShareGone()
        self._metrics.download(granted.kind, ShareOutcome.GRANTED)
        grant_until = min(
            int(time.time()) + self._settings.share_grant_seconds,
            int(granted.item_expires_at.timestamp()),
        )
        signed = self._grants.sign_grant(
            Grant(granted.share_id, granted.item_id, grant_until), request.token, client
        )
        left = None
        if granted.max_downloads is not None:
            left = granted.max_downloads - granted.downloads
        return ShareGrant(
            grant=signed,
            grant_expires_at=datetime.fromtimestamp(grant_until, UTC),
            kind=granted.kind,
            filename=granted.filename,
            description=granted.description,
            size_bytes=granted.size_bytes,
            content_type=granted.content_type,
            downloads_left=left,
        )

    def redeem(self, request: RedeemRequest) -> ContentLink:
        """A presigned GET within a grant, not counted: the download starting, or a ranged or
        resumed request of it. Only for the client the grant was made for, under its own
        link's token, until the grant ends; the GET expires with the grant, so once it has
        ended nothing it handed out starts a download (S3 lets a GET already started go on).
        Refused at once when the link was stopped or the item deleted."""
        grant = self._grants.open_grant(
            request.grant, request.token, client_key(request.client), time.time()
        )
        if grant is None:
            raise GrantEnded()
        with transaction(self._sessions) as session:
            item = ShareRepository(session).alive_for_redeem(grant.share_id, grant.item_id)
        if item is None:
            raise ShareGone()
        url, expires_at = self._sign(
            item,
            LinkVariant.CONTENT,
            request.via,
            until=datetime.fromtimestamp(grant.expires_at, UTC),
            cache_control=SHARE_DOWNLOAD_CACHE_CONTROL,
        )
        return ContentLink(url=url, expires_at=expires_at)

    # -- helpers -------------------------------------------------------------------------

    def _own_item(
        self, session: Session, visitor_id: str, item_id: UUID, *, lock: bool = False
    ) -> Item:
        """The visitor's own visible item; another visitor's is as absent as a missing one."""
        item = ShareRepository(session).own_visible_item(visitor_id, item_id, lock=lock)
        if item is None:
            raise NotFound("No such item.")
        return item

    def _find(self, token: str) -> tuple[ShareLink, Item, datetime] | None:
        """The open link of that token, its visible item and now()."""
        return self._links.find(
            token,
            lambda session, hashed: ShareRepository(session).find_open(hashed),
            lambda found: (found[0].id, found[0].nonce),
        )

    def _open(self, token: str) -> tuple[ShareLink, Item, datetime]:
        found = self._find(token)
        if found is None:
            logger.debug("share link %s: none open", log_id(token))
            raise ShareGone()
        return found

    def _check_password(
        self, link: ShareLink, kind: ItemKind, client: str, password: str | None
    ) -> None:
        """Under the attempt limits of every capability link (`capabilities`), each outcome
        counted as a download's."""
        assert link.password_hash is not None  # noqa: S101
        try:
            holds = self._links.password_holds(link.id, link.password_hash, client, password)
        except TooManyAttempts:
            self._metrics.download(kind, ShareOutcome.RATE_LIMITED)
            raise
        if not holds:
            self._metrics.download(kind, ShareOutcome.WRONG_PASSWORD)
            raise WrongPassword()

    def _sign(
        self,
        item: Item,
        variant: LinkVariant,
        via: TransferMode,
        *,
        until: datetime | None = None,
        cache_control: str = PRIVATE_CACHE_CONTROL,
    ) -> tuple[str, datetime]:
        """A presigned GET valid `link_seconds`, or until `until` and not a second longer; a
        download of the content is a file to save, whatever its kind."""
        # SigV4 counts whole seconds from X-Amz-Date, which drops the fraction
        signed_at = datetime.now(UTC).replace(microsecond=0)
        valid = timedelta(seconds=self._settings.link_seconds)
        if until is not None:
            valid = until - signed_at
            if valid < timedelta(seconds=1):
                raise GrantEnded()  # it ended while being redeemed
        url = sign_download(
            self._signers.for_(via),
            item,
            variant,
            signed_at=signed_at,
            valid_for=valid,
            cache_control=cache_control,
            always_attachment=True,
        )
        return url, signed_at + valid

    def out(self, link: LinkRow, now: datetime) -> ShareOut:
        """A link as its owner sees it, its token recomputed (also for the pages' listing)."""
        token = self._links.token(link.id, link.nonce)
        return ShareOut(
            id=link.id,
            item_id=link.item_id,
            token=token,
            path=f"/s/{token}",
            state=_state(link, now),
            created_at=link.created_at,
            ends_at=link.ends_at,
            max_downloads=link.max_downloads,
            downloads=link.downloads,
            downloads_left=_left(link),
            password_required=link.password_required,
            stopped_at=link.stopped_at,
        )


def _left(link: ShareLink | LinkRow) -> int | None:
    if link.max_downloads is None:
        return None
    return max(0, link.max_downloads - link.downloads)


def _state(link: LinkRow, now: datetime) -> ShareState:
    if link.stopped_at is not None:
        return ShareState.STOPPED
    if link.ends_at <= now:
        return ShareState.ENDED
    if _left(link) == 0:
        return ShareState.USED_UP
    return ShareState.ACTIVE
