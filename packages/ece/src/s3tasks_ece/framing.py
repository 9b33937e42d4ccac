"""RFC 8188 `aes128gcm`'s framing without its cryptography: the sizes, the header and the error
of a message that is not whole. Importing it costs nothing (no `cryptography`), so a service
that only sizes and signs the parts of an encrypted upload (storage-api) uses it alone."""

from __future__ import annotations

import struct
from dataclasses import dataclass

SALT_SIZE = 16
TAG_SIZE = 16
KEY_SIZE = 16
NONCE_SIZE = 12
HEADER_FIXED_SIZE = SALT_SIZE + 4 + 1  # salt, rs (uint32), idlen (uint8), then keyid
MIN_RECORD_SIZE = TAG_SIZE + 2  # RFC 8188 section 2: rs must exceed 17


class DecryptError(ValueError):
    """The bytes are not a whole, authentic message under this key; the message says why."""


@dataclass(frozen=True, slots=True)
class Header:
    salt: bytes
    record_size: int
    keyid: bytes

    def encode(self) -> bytes:
        return self.salt + struct.pack(">IB", self.record_size, len(self.keyid)) + bytes(self.keyid)

    @property
    def size(self) -> int:
        return HEADER_FIXED_SIZE + len(self.keyid)

    @classmethod
    def parse(cls, data: bytes) -> Header:
        """The header at the start of `data` (which may hold more); refuses a short or bad one."""
        if len(data) < HEADER_FIXED_SIZE:
            raise DecryptError(
                f"not an aes128gcm file: {len(data)} bytes, too short for the"
                f" {HEADER_FIXED_SIZE}-byte header"
            )
        record_size, idlen = struct.unpack(">IB", data[SALT_SIZE:HEADER_FIXED_SIZE])
        if record_size < MIN_RECORD_SIZE:
            raise DecryptError(
                f"not an aes128gcm file: its record size {record_size} is below the minimum"
                f" {MIN_RECORD_SIZE}"
            )
        if len(data) < HEADER_FIXED_SIZE + idlen:
            raise DecryptError("not an aes128gcm file: the header's key id is cut short")
        return cls(
            salt=bytes(data[:SALT_SIZE]),
            record_size=record_size,
            keyid=bytes(data[HEADER_FIXED_SIZE : HEADER_FIXED_SIZE + idlen]),
        )
