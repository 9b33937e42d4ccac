"""s3tasks' layout of an aes128gcm file in S3 parts: 64 KiB records (ciphertext, tag and
delimiter included), 128 records to a part (8 MiB), the header at the start of part 1. Every
part is sealed on its own from (keys, salt, part number, plaintext size), so parts are
encrypted, sent, retried and resumed in any order and always come out the same bytes."""

from __future__ import annotations

import os
from dataclasses import dataclass

from s3tasks_ece.framing import SALT_SIZE, TAG_SIZE, Header

RECORD_SIZE = 65536
RECORD_PLAINTEXT = RECORD_SIZE - TAG_SIZE - 1  # 65519: the delimiter byte, no padding
RECORDS_PER_PART = 128
PART_SIZE = RECORD_SIZE * RECORDS_PER_PART  # 8 MiB; part 1 carries the header besides
PART_PLAINTEXT = RECORD_PLAINTEXT * RECORDS_PER_PART  # 8,386,432 bytes


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each part's plaintext comes from and how long its ciphertext is."""

    plaintext_size: int
    header_size: int

    @property
    def records(self) -> int:
        return max(1, -(-self.plaintext_size // RECORD_PLAINTEXT))

    @property
    def parts(self) -> int:
        return -(-self.records // RECORDS_PER_PART)

    @property
    def ciphertext_size(self) -> int:
        return self.header_size + self.plaintext_size + self.records * (TAG_SIZE + 1)

    @classmethod
    def from_ciphertext(cls, ciphertext_size: int, header_size: int) -> Layout:
        """The layout whose ciphertext is `ciphertext_size` bytes (the server knows only that
        and the header's length); ValueError when no plaintext size encrypts to it."""
        records_bytes = ciphertext_size - header_size
        records = -(-records_bytes // RECORD_SIZE)
        layout = cls(
            plaintext_size=records_bytes - records * (TAG_SIZE + 1), header_size=header_size
        )
        if records < 1 or layout.plaintext_size < 0 or layout.records != records:
            raise ValueError(
                f"{ciphertext_size} bytes is no size of an encrypted file with a"
                f" {header_size}-byte header"
            )
        return layout

    def _check(self, part_number: int) -> None:
        if not 1 <= part_number <= self.parts:
            raise ValueError(f"part {part_number} is not in 1..{self.parts}")

    def part_records(self, part_number: int) -> range:
        self._check(part_number)
        first = (part_number - 1) * RECORDS_PER_PART
        return range(first, min(first + RECORDS_PER_PART, self.records))

    def part_plaintext(self, part_number: int) -> tuple[int, int]:
        """The [start, end) byte range of the plaintext that part `part_number` (1-based) seals."""
        self._check(part_number)
        start = (part_number - 1) * PART_PLAINTEXT
        return start, min(start + PART_PLAINTEXT, self.plaintext_size)

    def part_size(self, part_number: int) -> int:
        start, end = self.part_plaintext(part_number)
        records = len(self.part_records(part_number))
        header = self.header_size if part_number == 1 else 0
        return header + (end - start) + records * (TAG_SIZE + 1)


def new_header(keyid: bytes = b"") -> Header:
    return Header(salt=os.urandom(SALT_SIZE), record_size=RECORD_SIZE, keyid=keyid)


def layout_for(header: Header, plaintext_size: int) -> Layout:
    return Layout(plaintext_size=plaintext_size, header_size=header.size)


def encrypt_part(
    content_key: bytes, header: Header, plaintext_size: int, part_number: int, plaintext: bytes
) -> bytes:
    """Part `part_number` of the file: the header first in part 1, then its whole records."""
    if header.record_size != RECORD_SIZE:
        raise ValueError(f"s3tasks parts hold records of {RECORD_SIZE} bytes")
    layout = layout_for(header, plaintext_size)
    start, end = layout.part_plaintext(part_number)
    if len(plaintext) != end - start:
        raise ValueError(
            f"part {part_number} seals plaintext bytes {start}..{end}: {end - start} bytes,"
            f" not {len(plaintext)}"
        )
    # imported here: sizing a layout (storage-api signs each part's length) needs no cipher
    from s3tasks_ece.aes128gcm import RecordCipher

    cipher = RecordCipher(content_key, header.salt)
    sealed = [header.encode()] if part_number == 1 else []
    last = layout.records - 1
    for seq in layout.part_records(part_number):
        offset = (seq * RECORD_PLAINTEXT) - start
        record = plaintext[offset : offset + RECORD_PLAINTEXT]
        sealed.append(cipher.seal(seq, record, last=seq == last))
    return b"".join(sealed)
