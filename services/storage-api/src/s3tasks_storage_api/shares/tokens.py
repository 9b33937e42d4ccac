"""Download grants, HMAC-SHA256 under a key derived from the share secret.

A grant says "share S of item I may be fetched until T" and carries its own signature, so a
resumed download within it needs no row and is not counted again. The signature also covers
the link's token and the client the grant was made for, neither of which the grant carries:
it opens only under its own `/s/<token>`, from the same client address (an IPv6 client by its
/64), and refuses every other pairing as if forged. (The links' own tokens: `capabilities`.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from uuid import UUID

from s3tasks_storage_api.capabilities import b64url, token_hash

_GRANT_RE = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Grant:
    share_id: UUID
    item_id: UUID
    expires_at: int


class GrantKeys:
    def __init__(self, secret: str) -> None:
        # a key of its own: a link token can never pass for a grant's signature, or back
        self._grant_key = hmac.new(
            secret.encode(), b"s3tasks share grant v1", hashlib.sha256
        ).digest()

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
        return b64url(hmac.new(self._grant_key, bound.encode(), hashlib.sha256).digest())
