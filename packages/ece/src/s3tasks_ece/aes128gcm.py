"""RFC 8188 `aes128gcm` content coding: the header, the key schedule and one record at a time.

Nothing here knows s3tasks' layout or keys (that is `layout` and `keys`): this module is the
standard construction, checked against RFC 8188's own examples (section 3) and against the
independent `http-ece` implementation in the tests.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s3tasks_ece.framing import (
    HEADER_FIXED_SIZE,
    KEY_SIZE,
    MIN_RECORD_SIZE,
    NONCE_SIZE,
    SALT_SIZE,
    TAG_SIZE,
    DecryptError,
    Header,
)

__all__ = [
    "HEADER_FIXED_SIZE",
    "KEY_SIZE",
    "MIN_RECORD_SIZE",
    "NONCE_SIZE",
    "SALT_SIZE",
    "TAG_SIZE",
    "DecryptError",
    "Header",
    "RecordCipher",
    "hkdf_sha256",
]

DELIMITER = b"\x01"
LAST_DELIMITER = b"\x02"
CEK_INFO = b"Content-Encoding: aes128gcm\x00"
NONCE_INFO = b"Content-Encoding: nonce\x00"


def hkdf_sha256(*, ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF (RFC 5869) with SHA-256; an empty salt is the RFC's default (HashLen zero bytes)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


class RecordCipher:
    """The content-encryption key and base nonce of one message (RFC 8188 sections 2.2 and 2.3),
    sealing and opening records by their sequence number, in any order."""

    def __init__(self, ikm: bytes, salt: bytes) -> None:
        if len(salt) != SALT_SIZE:
            raise ValueError(f"the salt must be {SALT_SIZE} bytes, not {len(salt)}")
        cek = hkdf_sha256(ikm=ikm, salt=salt, info=CEK_INFO, length=KEY_SIZE)
        self._nonce = int.from_bytes(
            hkdf_sha256(ikm=ikm, salt=salt, info=NONCE_INFO, length=NONCE_SIZE), "big"
        )
        self._aead = AESGCM(cek)

    def nonce(self, seq: int) -> bytes:
        """The record's nonce: the base nonce XOR the sequence number (RFC 8188 section 2.3)."""
        return (self._nonce ^ seq).to_bytes(NONCE_SIZE, "big")

    def seal(self, seq: int, plaintext: bytes, *, last: bool) -> bytes:
        padded = plaintext + (LAST_DELIMITER if last else DELIMITER)
        return self._aead.encrypt(self.nonce(seq), padded, None)

    def open(self, seq: int, record: bytes) -> tuple[bytes, bool]:
        """The record's plaintext and whether it is marked last; DecryptError when the tag or
        the padding is wrong (the caller words what that means where it knows more)."""
        try:
            padded = self._aead.decrypt(self.nonce(seq), record, None)
        except InvalidTag:
            raise DecryptError(f"record {seq} failed authentication") from None
        body = padded.rstrip(b"\x00")
        if not body or body[-1:] not in (DELIMITER, LAST_DELIMITER):
            raise DecryptError(f"record {seq} has no valid padding delimiter")
        return body[:-1], body[-1:] == LAST_DELIMITER

    def authenticates(self, seq: int, record: bytes) -> bool:
        try:
            self._aead.decrypt(self.nonce(seq), record, None)
        except InvalidTag:
            return False
        return True
