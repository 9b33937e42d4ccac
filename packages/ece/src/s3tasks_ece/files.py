"""Files in s3tasks' encrypted format: encrypted part by part and decrypted as a stream into a
temporary file that takes the output's name only once the whole file has been verified."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from s3tasks_ece import stream
from s3tasks_ece.aes128gcm import SALT_SIZE, DecryptError, Header
from s3tasks_ece.keys import (
    ARGON2_SALT_SIZE,
    FileKeys,
    needs_password,
    password_keyid,
    root_key,
)
from s3tasks_ece.layout import encrypt_part, layout_for, new_header

METADATA_RECORD_SIZE = 4096

PasswordSource = Callable[[], str]


def new_keyid(password: str | None) -> bytes:
    return password_keyid(os.urandom(ARGON2_SALT_SIZE)) if password is not None else b""


def file_keys(secret: bytes, keyid: bytes, password: str | None) -> FileKeys:
    return FileKeys.from_root(root_key(secret, keyid, password))


def encrypt_parts(
    src: BinaryIO, plaintext_size: int, secret: bytes, password: str | None = None
) -> Iterator[bytes]:
    """The file's parts in order, one part in memory at a time."""
    header = new_header(new_keyid(password))
    keys = file_keys(secret, header.keyid, password)
    layout = layout_for(header, plaintext_size)
    for part_number in range(1, layout.parts + 1):
        start, end = layout.part_plaintext(part_number)
        plaintext = src.read(end - start)
        yield encrypt_part(keys.content, header, plaintext_size, part_number, plaintext)


def encrypt_file(src: Path, dst: Path, secret: bytes, password: str | None = None) -> None:
    with src.open("rb") as reader, dst.open("wb") as writer:
        for part in encrypt_parts(reader, src.stat().st_size, secret, password):
            writer.write(part)


def decrypt_file(
    src: Path, dst: Path, secret: bytes, password: PasswordSource | None = None
) -> int:
    """Decrypts `src` into `dst`; `dst` appears only when every record verified (written to a
    temporary file beside it, renamed at the end); on a refusal nothing is left behind."""

    def ikm_for(header: Header) -> bytes:
        given = password() if password is not None and needs_password(header.keyid) else None
        return file_keys(secret, header.keyid, given).content

    handle, temporary = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    try:
        with src.open("rb") as reader, os.fdopen(handle, "wb") as writer:
            size = stream.decrypt_stream(reader, writer, ikm_for)
        Path(temporary).replace(dst)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return size


def encrypt_metadata(
    keys: FileKeys, keyid: bytes, *, name: str, content_type: str, description: str
) -> bytes:
    """The metadata blob stored beside the item: one aes128gcm message under the metadata key,
    with the file's key id (so a recipient learns whether to ask for a password from it)."""
    document = json.dumps(
        {"name": name, "type": content_type, "description": description},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    return stream.encrypt(
        document,
        keys.metadata,
        salt=os.urandom(SALT_SIZE),
        record_size=METADATA_RECORD_SIZE,
        keyid=keyid,
    )


def decrypt_metadata(keys: FileKeys, blob: bytes) -> dict[str, str]:
    try:
        document = json.loads(stream.decrypt(blob, keys.metadata))
    except json.JSONDecodeError:
        raise DecryptError("the metadata decrypted but is not a JSON document") from None
    if not isinstance(document, dict) or not all(
        isinstance(value, str) for value in document.values()
    ):
        raise DecryptError("the metadata decrypted but is not a document of strings")
    return {str(key): value for key, value in document.items()}
