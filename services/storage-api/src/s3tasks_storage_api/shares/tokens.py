"""Download grants, signed with itsdangerous (`s3tasks_servicekit.signing`) under the share
secret.

A grant says "share S of item I may be fetched until T" and carries its own signature, so a
resumed download within it needs no row and is not counted again. The signature also covers
the link's token and the client the grant was made for, neither of which the grant carries:
they are in the key it is signed under (the purpose, after a separator neither can contain),
so it opens only under its own `/s/<token>`, from the same client address (an IPv6 client by
its /64), and refuses every other pairing as if forged. Its end is in what it says rather than
itsdangerous' timestamp: a grant ends with its item when that comes first.
(The links' own tokens: `capabilities`.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from s3tasks_servicekit.signing import BadData, Signer, signer
from s3tasks_storage_api.capabilities import token_hash

_GRANT_RE = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})\.([0-9]{1,12})$")
#: the grants' own purpose: a link token can never pass for a grant's signature, or back
_PURPOSE = "s3tasks share grant v2"


@dataclass(frozen=True)
class Grant:
    share_id: UUID
    item_id: UUID
    expires_at: int


class GrantKeys:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def sign_grant(self, grant: Grant, token: str, client: str) -> str:
        """`client` is the client's key (`ratelimits.client_key`), not its raw address:
        `share.item.expires.signature`."""
        payload = f"{grant.share_id.hex}.{grant.item_id.hex}.{grant.expires_at}"
        return self._signer(token, client).sign(payload).decode()

    def open_grant(self, signed: str, token: str, client: str, now: float) -> Grant | None:
        """The grant, if its signature holds for this token and client and it has not
        expired."""
        try:
            payload = self._signer(token, client).unsign(signed).decode()
        except (BadData, UnicodeError):
            return None
        found = _GRANT_RE.fullmatch(payload)
        if found is None:
            return None
        share_hex, item_hex, expires = found.groups()
        if int(expires) <= now:
            return None
        return Grant(UUID(hex=share_hex), UUID(hex=item_hex), int(expires))

    def _signer(self, token: str, client: str) -> Signer:
        # the token by its hash and the client by its key, each after a separator neither
        # can contain, so no two (token, client) pairs sign alike
        purpose = f"{_PURPOSE}\n{token_hash(token).hex()}\n{client}"
        return signer(self._secret, purpose.encode())
