"""s3tasks' end-to-end encrypted format: RFC 8188 aes128gcm records laid out in S3 parts, keys
from the share link's fragment (and a password, through Argon2id). Self-contained: it imports
no other s3tasks package, so the command-line client and the decrypter can use it alone."""

from s3tasks_ece.aes128gcm import DecryptError, Header, RecordCipher
from s3tasks_ece.files import (
    decrypt_file,
    decrypt_metadata,
    encrypt_file,
    encrypt_metadata,
    encrypt_parts,
    file_keys,
    new_keyid,
)
from s3tasks_ece.keys import FileKeys, decode_secret, encode_secret
from s3tasks_ece.layout import Layout, encrypt_part, layout_for, new_header

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
