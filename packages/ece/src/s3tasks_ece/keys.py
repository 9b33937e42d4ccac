"""s3tasks' keys: the 16-byte secret of the link's fragment, a password mixed in with Argon2id
(RFC 9106), and the content, metadata and preview keys derived from them with HKDF-SHA256
(RFC 5869). docs/encryption.md states every label and parameter; services/web/frontend/src/
ece.js derives the same keys in the browser."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw

from s3tasks_ece.aes128gcm import KEY_SIZE, DecryptError, hkdf_sha256

SECRET_SIZE = 16

# The key id (RFC 8188's keyid field) says how the key is made: empty, the fragment's secret
# alone; PASSWORD_KEYID_PREFIX then the Argon2id salt in base64url, a password enters it (text,
# since implementations such as http-ece read a key id as UTF-8).
PASSWORD_KEYID_PREFIX = b"argon2id:"
ARGON2_SALT_SIZE = 16

# RFC 9106 section 4, the second recommended option (for memory-constrained environments):
# Argon2id, t=3 passes, p=4 lanes, m=64 MiB, 128-bit salt, 256-bit tag.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 4
ARGON2_TAG_SIZE = 32

PASSWORD_INFO = b"s3tasks v1 password"
CONTENT_INFO = b"s3tasks v1 content"
METADATA_INFO = b"s3tasks v1 metadata"
PREVIEW_INFO = b"s3tasks v1 preview"


class BadKey(DecryptError):
    """The key given is not a key (bad text, wrong length) or a needed password is missing."""


def encode_secret(secret: bytes) -> str:
    """The fragment's form: base64url without padding (22 characters)."""
    return base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")


def decode_secret(text: str) -> bytes:
    cleaned = text.strip().lstrip("#")
    try:
        secret = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise BadKey("the key is not base64url text (the part of the link after '#')") from None
    if len(secret) != SECRET_SIZE:
        raise BadKey(
            f"the key is {len(secret)} bytes, not {SECRET_SIZE}: copy the whole part of the"
            " link after '#'"
        )
    return secret


def password_keyid(argon2_salt: bytes) -> bytes:
    if len(argon2_salt) != ARGON2_SALT_SIZE:
        raise ValueError(f"the Argon2id salt must be {ARGON2_SALT_SIZE} bytes")
    return PASSWORD_KEYID_PREFIX + encode_secret(argon2_salt).encode("ascii")


def password_salt(keyid: bytes) -> bytes | None:
    """The Argon2id salt the key id carries, None when no password enters the key."""
    if not keyid:
        return None
    if keyid.startswith(PASSWORD_KEYID_PREFIX):
        text = keyid[len(PASSWORD_KEYID_PREFIX) :].decode("ascii", "replace")
        salt = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) if text.isascii() else b""
        if len(salt) == ARGON2_SALT_SIZE:
            return salt
    raise DecryptError(f"unknown key id {keyid!r}: made by another program or a newer s3tasks")


def needs_password(keyid: bytes) -> bool:
    return password_salt(keyid) is not None


def argon2id(password: str, salt: bytes) -> bytes:
    return hash_secret_raw(
        secret=password.encode("utf-8"),
        salt=salt,
        time_cost=ARGON2_TIME_COST,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_PARALLELISM,
        hash_len=ARGON2_TAG_SIZE,
        type=Type.ID,
    )


def root_key(secret: bytes, keyid: bytes, password: str | None) -> bytes:
    """The file's root key: the secret itself, or with a password
    HKDF(salt = Argon2id salt, IKM = secret || Argon2id(password, salt), info = PASSWORD_INFO)."""
    salt = password_salt(keyid)
    if salt is None:
        return secret
    if password is None:
        raise BadKey("this file was encrypted with a password: give it (--password)")
    return hkdf_sha256(
        ikm=secret + argon2id(password, salt), salt=salt, info=PASSWORD_INFO, length=KEY_SIZE
    )


@dataclass(frozen=True, slots=True)
class FileKeys:
    """The input keying material of the file's three aes128gcm messages: the content (the S3
    object), the metadata (name, type, description) and the preview (an image's thumbnail)."""

    content: bytes
    metadata: bytes
    preview: bytes

    @classmethod
    def from_root(cls, root: bytes) -> FileKeys:
        def derive(info: bytes) -> bytes:
            return hkdf_sha256(ikm=root, salt=b"", info=info, length=KEY_SIZE)

        return cls(
            content=derive(CONTENT_INFO),
            metadata=derive(METADATA_INFO),
            preview=derive(PREVIEW_INFO),
        )
