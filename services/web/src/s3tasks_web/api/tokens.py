"""The API's visitor tokens: a client keeps one instead of a cookie (`Authorization: Bearer`).

A token is 256 random bits and web's HMAC-SHA256 of them (RFC 2104; key derived from
WEB_SECRET_KEY for this purpose only), so only tokens web handed out (`POST /api/v1/visitors`,
counted per client as new visitors are) stand for a visitor: a client cannot mint visitors of
its own to escape the per-client bound. The visitor id storage-api keeps is the first 128 bits
of SHA-256 over a purpose label and the token (`terminal/tokens.py`): no token is stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from s3tasks_web.terminal.tokens import TOKEN_BYTES, TokenVisitors

_PURPOSE = b"s3tasks api visitor token v1"
_VISITORS = TokenVisitors(_PURPOSE)
#: the token's two halves, base64url without padding, 43 characters each
_HALF = 43


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class VisitorTokens:
    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()

    def _mac(self, nonce: bytes) -> bytes:
        return hmac.new(self._key, nonce, hashlib.sha256).digest()

    def new_token(self) -> str:
        nonce = secrets.token_bytes(TOKEN_BYTES)
        return f"{_b64(nonce)}.{_b64(self._mac(nonce))}"

    def visitor_of(self, token: str) -> str | None:
        """The visitor a token web made stands for; None for anything else."""
        nonce_text, dot, mac_text = token.partition(".")
        if not dot or len(nonce_text) != _HALF or len(mac_text) != _HALF:
            return None
        try:
            nonce = base64.urlsafe_b64decode(nonce_text + "=")
            mac = base64.urlsafe_b64decode(mac_text + "=")
        except (ValueError, binascii.Error):
            return None
        if not hmac.compare_digest(self._mac(nonce), mac) or _b64(nonce) != nonce_text:
            return None
        return _VISITORS.visitor_of(nonce_text)
