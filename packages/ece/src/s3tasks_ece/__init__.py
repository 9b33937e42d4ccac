"""s3tasks' end-to-end encrypted format: RFC 8188 aes128gcm records laid out in S3 parts, keys
from the share link's fragment (and a password, through Argon2id). Self-contained: it imports
no other s3tasks package, so the command-line client and the decrypter can use it alone."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s3tasks_ece.aes128gcm import RecordCipher
    from s3tasks_ece.files import (
        decrypt_file,
        decrypt_metadata,
        encrypt_file,
        encrypt_metadata,
        encrypt_parts,
        file_keys,
        new_keyid,
    )
    from s3tasks_ece.framing import DecryptError, Header
    from s3tasks_ece.keys import FileKeys, decode_secret, encode_secret
    from s3tasks_ece.layout import Layout, encrypt_part, layout_for, new_header

#: where each name lives; imported on first use (PEP 562), so that `s3tasks_ece.layout` or
#: `s3tasks_ece.framing` alone (storage-api's sizing) does not import `cryptography`
_HOME = {
    "DecryptError": "s3tasks_ece.framing",
    "FileKeys": "s3tasks_ece.keys",
    "Header": "s3tasks_ece.framing",
    "Layout": "s3tasks_ece.layout",
    "RecordCipher": "s3tasks_ece.aes128gcm",
    "decode_secret": "s3tasks_ece.keys",
    "decrypt_file": "s3tasks_ece.files",
    "decrypt_metadata": "s3tasks_ece.files",
    "encode_secret": "s3tasks_ece.keys",
    "encrypt_file": "s3tasks_ece.files",
    "encrypt_metadata": "s3tasks_ece.files",
    "encrypt_part": "s3tasks_ece.layout",
    "encrypt_parts": "s3tasks_ece.files",
    "file_keys": "s3tasks_ece.files",
    "layout_for": "s3tasks_ece.layout",
    "new_header": "s3tasks_ece.layout",
    "new_keyid": "s3tasks_ece.files",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 's3tasks_ece' has no attribute {name!r}")


__all__ = [
    "DecryptError",
    "FileKeys",
    "Header",
    "Layout",
    "RecordCipher",
    "decode_secret",
    "decrypt_file",
    "decrypt_metadata",
    "encode_secret",
    "encrypt_file",
    "encrypt_metadata",
    "encrypt_part",
    "encrypt_parts",
    "file_keys",
    "layout_for",
    "new_header",
    "new_keyid",
]
