"""Signed values, made with itsdangerous and configured once for every service: HMAC-SHA256
under a key derived from the service's secret and the value's purpose (itsdangerous' "hmac"
key derivation, HMAC-SHA256(secret, purpose)), signatures in base64url without padding, 43
characters. One purpose per kind of value, so a signature of one kind never passes for
another's.

- `signer`: a signature of a text, with the text (`sign`, `unsign`) or alone
  (`get_signature`, `verify_signature`);
- `json_signer`: a JSON value as `base64url(JSON).signature`, never compressed, so the
  value's size and form do not depend on what it says.

A signature is accepted in its one canonical spelling only: base64url of 32 bytes leaves two
bits of the last character unused, and a decoder that ignores them (itsdangerous' does) takes
four spellings of one signature. One capability must be one string: a value counted or
refused by its text (a grant, a link) cannot come back as another.
"""

from __future__ import annotations

import hashlib
from typing import Any

from itsdangerous import BadData, Signer, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode, want_bytes
from itsdangerous.serializer import Serializer

__all__ = ["BadData", "Signer", "json_signer", "signer"]

_SIGNING: dict[str, Any] = {"key_derivation": "hmac", "digest_method": hashlib.sha256}


class _CanonicalSigner(Signer):
    """itsdangerous' Signer that refuses a signature in any spelling but its canonical one."""

    def verify_signature(self, value: str | bytes, sig: str | bytes) -> bool:
        raw = want_bytes(sig)
        try:
            canonical = base64_encode(base64_decode(raw)) == raw
        except BadData:
            return False
        return canonical and super().verify_signature(value, raw)


def signer(secret: str, purpose: bytes) -> Signer:
    return _CanonicalSigner(secret, salt=purpose, **_SIGNING)


class _UncompressedSerializer(URLSafeSerializer):
    """itsdangerous' URL-safe serializer less its zlib step (it compresses a payload when that
    makes it shorter): one form, base64url(JSON), for any value."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


def json_signer(secret: str, purpose: bytes) -> URLSafeSerializer:
    return _UncompressedSerializer(
        secret, salt=purpose, signer=_CanonicalSigner, signer_kwargs=_SIGNING
    )
