"""Link tokens and download grants, both HMAC-SHA256 under keys derived from the share secret.

A link token is HMAC(link key, id || nonce): storage-api can show it to the owner again, and
the database keeps only its SHA-256 and the nonce, so a dump without the secret holds no
working link. A grant says "share S of item I may be fetched until T" and carries its own
signature, so a resumed download within it needs no row and is not counted again. The
signature also covers the link's token and the client the grant was made for, neither of
which the grant carries: it opens only under its own `/s/<token>`, from the same client
address (an IPv6 client by its /64), and refuses every other pairing as if forged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from uuid import UUID

_GRANT_RE = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Grant:
    share_id: UUID
    item_id: UUID
    expires_at: int


class ShareKeys:
    def __init__(self, secret: str, link_purpose: bytes = b"s3tasks share link token v1") -> None:
        """`link_purpose`: what the tokens are of (upload requests have their own), so a
        token of one kind of link can never open another kind."""
        root = secret.encode()
        # one key per purpose: a link token can never pass for a grant's signature, or back
        self._link_key = hmac.new(root, link_purpose, hashlib.sha256).digest()
        self._grant_key = hmac.new(root, b"s3tasks share grant v1", hashlib.sha256).digest()

    def token(self, share_id: UUID, nonce: bytes) -> str:
        mac = hmac.new(self._link_key, share_id.bytes + nonce, hashlib.sha256).digest()
        return _b64(mac)

    def matches(self, token: str, share_id: UUID, nonce: bytes) -> bool:
        """The row found by the token's hash is the one this token was made for: a row written
        straight into the database with a hash of a token of one's choosing opens nothing."""
        return hmac.compare_digest(self.token(share_id, nonce).encode(), token.encode())

    def sign_grant(self, grant: Grant, token: str, client: str) -> str:
        """`client` is the client's key (`ratelimits.client_key`), not its raw address."""
        payload = f"{grant.share_id.hex}.{grant.item_id.hex}.{grant.expires_at}"
        return f"{payload}.{self._grant_mac(payload, token, client)}"

    def open_grant(self, signed: str, token: str, client: str, now: float) -> Grant | None:
        """The grant, if its signature holds for this token and client and it has not
        expired."""
        found = _GRANT_RE.fullmatch(signed)
        if found is None:
            return None
        share_hex, item_hex, expires, mac = found.groups()
        payload = f"{share_hex}.{item_hex}.{expires}"
        if not hmac.compare_digest(self._grant_mac(payload, token, client).encode(), mac.encode()):
            return None
        if int(expires) <= now:
            return None
        return Grant(UUID(hex=share_hex), UUID(hex=item_hex), int(expires))

    def _grant_mac(self, payload: str, token: str, client: str) -> str:
        # the token by its hash and the client by its key, each after a separator neither
        # can contain, so no two (token, client) pairs sign alike
        bound = f"{payload}\n{token_hash(token).hex()}\n{client}"
        return _b64(hmac.new(self._grant_key, bound.encode(), hashlib.sha256).digest())


def token_hash(token: str) -> bytes:
    """What the database keeps of a token (and finds it by)."""
    return hashlib.sha256(token.encode()).digest()


def log_id(token: str) -> str:
    """A token as a log line may name it: a short prefix of its hash, never the token."""
    return token_hash(token).hex()[:8]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
