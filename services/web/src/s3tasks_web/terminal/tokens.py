"""Tokens a terminal client keeps instead of a cookie, and the visitor each one stands for.

A token is 256 random bits (`secrets.token_urlsafe(32)`). The visitor it stands for is the
first 128 bits of SHA-256 over a purpose label and the token, in hex: the visitor id
storage-api keeps with the items (32 lowercase hex digits, as a cookie's). storage-api,
PostgreSQL and the logs therefore hold only the token's hash; nobody can go from a visitor id
back to a token, and a cookie's visitor id (random, signed by web) is never one a token maps to
but by a 2^-128 chance. The purpose label keeps a token of one kind from standing for the
visitor of another kind's token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

#: 32 random bytes, base64url without padding
TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
#: hex digits of the hash a visitor id keeps (as long as a cookie's visitor id)
_VISITOR_ID_HEX = 32


@dataclass(frozen=True)
class TokenVisitors:
    """Tokens of one purpose and the visitors they stand for."""

    purpose: bytes

    def new_token(self) -> str:
        return secrets.token_urlsafe(TOKEN_BYTES)

    def visitor_of(self, token: str) -> str | None:
        """The visitor the token stands for; None for a string that is no token of ours
        (then nothing is asked of storage-api)."""
        if _TOKEN_RE.fullmatch(token) is None:
            return None
        digest = hashlib.sha256(self.purpose + b"\x00" + token.encode("ascii")).hexdigest()
        return digest[:_VISITOR_ID_HEX]


#: the management token a terminal upload answers with (`X-Manage-Url`)
MANAGE_TOKENS = TokenVisitors(b"s3tasks manage token v1")
