"""Whole aes128gcm messages: encrypted at once (small things, interop tests) and decrypted as a
stream holding two records at a time, whatever the size, refusing anything that is not one
whole, authentic message with words that say what is wrong with it."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO

from s3tasks_ece.aes128gcm import (
    HEADER_FIXED_SIZE,
    TAG_SIZE,
    DecryptError,
    Header,
    RecordCipher,
)

# How far around a record that fails the search for the record it really is reaches: two
# parts each way at s3tasks' layout, so a dropped, repeated or swapped part is named as such.
_DIAGNOSE_REACH = 256


def encrypt(
    plaintext: bytes, ikm: bytes, *, salt: bytes, record_size: int, keyid: bytes = b""
) -> bytes:
    """One message, records of `record_size` (the last one shorter), no padding."""
    header = Header(salt=salt, record_size=record_size, keyid=keyid)
    cipher = RecordCipher(ikm, salt)
    per_record = record_size - TAG_SIZE - 1
    count = max(1, -(-len(plaintext) // per_record))
    records = (
        cipher.seal(
            seq, plaintext[seq * per_record : (seq + 1) * per_record], last=seq == count - 1
        )
        for seq in range(count)
    )
    return header.encode() + b"".join(records)


def decrypt(data: bytes, ikm: bytes) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(data), out, lambda _header: ikm)
    return out.getvalue()


def read_header(src: BinaryIO) -> Header:
    fixed = _read_up_to(src, HEADER_FIXED_SIZE)
    if len(fixed) < HEADER_FIXED_SIZE:
        Header.parse(fixed)  # raises with the reason
    keyid = _read_up_to(src, fixed[-1])
    return Header.parse(fixed + keyid)


def decrypt_stream(src: BinaryIO, dst: BinaryIO, ikm_for: Callable[[Header], bytes]) -> int:
    """Decrypts `src` into `dst` record by record; returns the plaintext size. `ikm_for` gets
    the header (its key id says whether a password enters the key) and answers the key.
    On any refusal part of the plaintext may already be in `dst`: callers that save a file
    write to a temporary one and keep it only when this returns."""
    header = read_header(src)
    cipher = RecordCipher(ikm_for(header), header.salt)
    size = header.record_size
    current = _read_up_to(src, size)
    if not current:
        raise DecryptError("the file ends after its header: it has no records (cut short)")
    seq, offset, written = 0, header.size, 0
    while True:
        following = _read_up_to(src, size)
        try:
            plaintext, last = cipher.open(seq, current)
        except DecryptError:
            raise _why_record_fails(cipher, seq, offset, current, final=not following) from None
        if last and following:
            raise _why_data_follows_last(cipher, seq, following, src)
        if not last and not following:
            raise DecryptError(
                f"the file ends without its last record: it was cut short after record {seq}"
            )
        dst.write(plaintext)
        written += len(plaintext)
        if last:
            return written
        seq, offset, current = seq + 1, offset + len(current), following


def _why_record_fails(
    cipher: RecordCipher, seq: int, offset: int, record: bytes, *, final: bool
) -> DecryptError:
    if seq == 0:
        return DecryptError(
            "the first record failed authentication: wrong key or password, or not this"
            " file (or its first bytes are corrupted)"
        )
    for candidate in range(max(0, seq - _DIAGNOSE_REACH), seq + _DIAGNOSE_REACH + 1):
        if candidate != seq and cipher.authenticates(candidate, record):
            return DecryptError(
                f"record {seq} (at byte {offset}) holds the bytes written as record"
                f" {candidate}: parts were dropped, repeated or put out of order"
            )
    if final:
        # A short last record with bytes appended reads as one record that fails: which of
        # its bytes are the appended ones cannot be told.
        return DecryptError(
            f"the last record ({seq}, at byte {offset}) failed authentication: the file is"
            " corrupted at its end or has bytes appended after it"
        )
    return DecryptError(
        f"record {seq} (at byte {offset}) failed authentication: the file is corrupted"
        " there (the records before it were intact)"
    )


def _why_data_follows_last(
    cipher: RecordCipher, seq: int, following: bytes, src: BinaryIO
) -> DecryptError:
    if cipher.authenticates(seq + 1, following):
        return DecryptError(
            f"two records are marked as the last: record {seq} and record {seq + 1} after it"
        )
    trailing = len(following)
    while chunk := src.read(1 << 16):
        trailing += len(chunk)
    return DecryptError(f"{trailing} bytes of trailing data follow the last record ({seq})")


def _read_up_to(src: BinaryIO, size: int) -> bytes:
    """`size` bytes, fewer only at the end of `src` (a pipe or socket may answer in pieces)."""
    chunks: list[bytes] = []
    wanted = size
    while wanted:
        chunk = src.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)
