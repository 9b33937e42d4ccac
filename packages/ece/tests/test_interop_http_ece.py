"""The format against an independent RFC 8188 implementation (http-ece on PyPI), both ways."""

from __future__ import annotations

import io
import os

import http_ece
import pytest

from s3tasks_ece import stream
from s3tasks_ece.aes128gcm import DecryptError
from s3tasks_ece.files import encrypt_parts, file_keys
from s3tasks_ece.layout import PART_PLAINTEXT, RECORD_PLAINTEXT, RECORD_SIZE


@pytest.mark.parametrize(
    "size", [0, 1, RECORD_PLAINTEXT - 1, RECORD_PLAINTEXT + 1, PART_PLAINTEXT + 3]
)
def test_http_ece_decrypts_our_parts(size: int) -> None:
    plaintext = os.urandom(size)
    secret = os.urandom(16)
    ciphertext = b"".join(encrypt_parts(io.BytesIO(plaintext), size, secret))
    key = file_keys(secret, b"", None).content
    assert http_ece.decrypt(ciphertext, key=key, version="aes128gcm") == plaintext


def test_http_ece_decrypts_a_password_files_content_with_its_derived_key() -> None:
    plaintext = os.urandom(3000)
    secret = os.urandom(16)
    ciphertext = b"".join(encrypt_parts(io.BytesIO(plaintext), 3000, secret, "correct horse"))
    keyid = ciphertext[21 : 21 + ciphertext[20]]
    key = file_keys(secret, keyid, "correct horse").content
    assert keyid.startswith(b"argon2id:")
    assert http_ece.decrypt(ciphertext, key=key, version="aes128gcm") == plaintext


@pytest.mark.parametrize("size", [5, RECORD_PLAINTEXT - 1, 3 * RECORD_PLAINTEXT + 7])
def test_we_decrypt_http_ece_and_it_seals_the_same_bytes(size: int) -> None:
    plaintext = os.urandom(size)
    key, salt = os.urandom(16), os.urandom(16)
    theirs = http_ece.encrypt(plaintext, salt=salt, key=key, rs=RECORD_SIZE, version="aes128gcm")
    assert stream.decrypt(theirs, key) == plaintext
    assert stream.encrypt(plaintext, key, salt=salt, record_size=RECORD_SIZE) == theirs


def test_an_empty_plaintext_is_one_last_record_where_http_ece_writes_none() -> None:
    """http-ece encodes nothing as a header alone, which a reader cannot tell from a file cut
    after its header: ours is one record holding only the last delimiter, and we refuse the
    header alone (RFC 8188 section 2: the last record is what proves nothing was cut)."""
    key, salt = os.urandom(16), os.urandom(16)
    theirs = http_ece.encrypt(b"", salt=salt, key=key, rs=RECORD_SIZE, version="aes128gcm")
    ours = stream.encrypt(b"", key, salt=salt, record_size=RECORD_SIZE)
    assert len(theirs) == 21
    assert len(ours) == 21 + 17
    assert http_ece.decrypt(ours, key=key, version="aes128gcm") == b""
    with pytest.raises(DecryptError, match="no records"):
        stream.decrypt(theirs, key)
