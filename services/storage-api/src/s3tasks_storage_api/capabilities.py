"""Capability links: what share links (`shares/`) and upload requests (`upload_requests/`)
have in common, written once.

A capability link is a row with an id, a random nonce, its token's SHA-256 and perhaps an
argon2id password hash. Its token is HMAC-SHA256(the kind's key, id || nonce), base64url
without padding (43 characters), made by itsdangerous as `s3tasks_servicekit.signing`
configures it (the key HMAC-SHA256(the share secret, the kind's purpose): the same bytes as
the hand-made HMAC it replaced, so every live link keeps its token and stored hash). It is a
signature alone, never sent with what it signs: storage-api recomputes it to show the owner
the link again,
while the table keeps only its hash (found by index) and the nonce, so a dump of the table
holds no working link. Each kind of link has its own key (`purpose`), so a token of one kind
never opens another. A token is found by its hash and then checked against the row it found:
a row written straight into the database with the hash of a token of one's choosing opens
nothing.

A password is checked under two limits (SECURITY.md, "Share-link password attempts"): every
attempt counts against its client before the check (atomic in Redis, and it bounds the argon2
work one client causes), and only wrong ones against the link, under a much higher ceiling,
so whoever knows the password never uses it up and strangers must guess from many addresses
at once to fill it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID, uuid4

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Counter
from sqlalchemy.orm import Session, sessionmaker

from s3tasks_contracts import MAX_SHARE_PASSWORD_LENGTH, is_valid_share_token
from s3tasks_servicekit.signing import signer
from s3tasks_storage_api.db.engine import transaction
from s3tasks_storage_api.errors import InvalidInput
from s3tasks_storage_api.ratelimits import Limit, RateLimits

logger = logging.getLogger(__name__)

T = TypeVar("T")

TOO_MANY_ATTEMPTS = "Too many password attempts. Please wait a minute and try again."
#: argon2id with OWASP's minimum for it (19 MiB, 2 passes, 1 lane): each check costs one
#: thread about 20 ms and 19 MiB, and the rate limits bound how many a client can ask for
PASSWORDS = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)


@dataclass(frozen=True)
class NewLink:
    """The id, nonce and token of a link about to be written; `token_hash` is what the row
    keeps of the token."""

    id: UUID
    nonce: bytes
    token: str
    token_hash: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "token_hash", token_hash(self.token))


class CapabilityLinks:
    """One kind of capability link: its tokens (under the key of `purpose`), finding a row by
    token, and its passwords (hashed and checked under the attempt limits, each argon2
    computation counted in `password_hashes{operation}`)."""

    def __init__(
        self,
        secret: str,
        purpose: bytes,
        *,
        sessions: sessionmaker[Session],
        limits: RateLimits,
        password_hashes: Counter,
    ) -> None:
        self._signer = signer(secret, purpose)
        self._sessions = sessions
        self._limits = limits
        self._password_hashes = password_hashes

    # -- tokens ----------------------------------------------------------------------------

    def new(self) -> NewLink:
        link_id, nonce = uuid4(), secrets.token_bytes(16)
        return NewLink(link_id, nonce, self.token(link_id, nonce))

    def token(self, link_id: UUID, nonce: bytes) -> str:
        return self._signer.get_signature(link_id.bytes + nonce).decode()

    def matches(self, token: str, link_id: UUID, nonce: bytes) -> bool:
        """The row found by the token's hash is the one this token was made for (compared
        in constant time)."""
        return self._signer.verify_signature(link_id.bytes + nonce, token)

    def find(
        self,
        token: str,
        lookup: Callable[[Session, bytes], T | None],
        identity: Callable[[T], tuple[UUID, bytes]],
    ) -> T | None:
        """What `lookup(session, token hash)` finds for a well-formed token, if the row it
        names (`identity(found)`: its id and nonce) is the one the token was made for; None
        for anything else, a malformed token as unknown as a well-formed one nobody made."""
        if not is_valid_share_token(token):
            return None
        with transaction(self._sessions) as session:
            found = lookup(session, token_hash(token))
        if found is None or not self.matches(token, *identity(found)):
            logger.debug("capability link %s: none found", log_id(token))
            return None
        return found

    # -- passwords -------------------------------------------------------------------------

    def hash_password(self, password: str) -> str:
        """argon2id of a password `checked_password` returned: call it last, once nothing
        can refuse the link any more (it costs 19 MiB and ~20 ms)."""
        self._password_hashes.labels("hash").inc()
        return PASSWORDS.hash(password)

    def password_holds(self, link_id: UUID, stored: str, client: str, password: str | None) -> bool:
        """Whether `password` is the link's. The attempt counts against `client` (its key,
        `ratelimits.client_key`) first, and the link must be under its ceiling of wrong ones
        (both raise TooManyAttempts, 429); a wrong one counts against the link."""
        self._limits.take(Limit.SHARE_ATTEMPTS_PER_CLIENT, client, TOO_MANY_ATTEMPTS)
        self._limits.refuse_if_full(Limit.SHARE_ATTEMPTS_PER_LINK, str(link_id), TOO_MANY_ATTEMPTS)
        if password is not None and self._password_matches(stored, password):
            return True
        self._limits.count(Limit.SHARE_ATTEMPTS_PER_LINK, str(link_id))
        return False

    def _password_matches(self, stored: str, password: str) -> bool:
        if len(password) > MAX_SHARE_PASSWORD_LENGTH * 4:
            return False  # no argon2 work for what can never be a password
        self._password_hashes.labels("verify").inc()
        try:
            return PASSWORDS.verify(stored, normalised_password(password))
        except (VerificationError, InvalidHashError):
            return False


def token_hash(token: str) -> bytes:
    """What the database keeps of a token (and finds it by)."""
    return hashlib.sha256(token.encode()).digest()


def log_id(token: str) -> str:
    """A token as a log line may name it: a short prefix of its hash, never the token."""
    return token_hash(token).hex()[:8]


def normalised_password(password: str) -> str:
    # the same password typed on two systems may arrive composed or decomposed
    return unicodedata.normalize("NFC", password)


def checked_password(password: str | None) -> str | None:
    """A password a link is made with, normalised, or None for none; InvalidInput when it is
    empty or too long."""
    if password is None:
        return None
    password = normalised_password(password)
    if not 1 <= len(password) <= MAX_SHARE_PASSWORD_LENGTH:
        raise InvalidInput(
            f"The password must be 1 to {MAX_SHARE_PASSWORD_LENGTH} characters long."
        )
    return password
