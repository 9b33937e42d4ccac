"""The Python side against published vectors: RFC 8188 section 3, RFC 5869 appendix A,
RFC 9106 section 5.3 and the Argon2 reference implementation's test."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from argon2.low_level import ARGON2_VERSION, Type, core, ffi, hash_secret_raw

from s3tasks_ece import stream
from s3tasks_ece.aes128gcm import CEK_INFO, NONCE_INFO, Header, hkdf_sha256

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "vectors.json").read_text())
RFC8188 = VECTORS["rfc8188"]
RFC5869 = VECTORS["rfc5869"]
RFC9106_ARGON2ID = VECTORS["rfc9106_argon2id"]
REFERENCE_ARGON2ID = VECTORS["reference_argon2id"]


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("vector", RFC8188, ids=lambda v: v["name"])
def test_rfc8188_examples_decrypt(vector: dict[str, str]) -> None:
    encoded = b64(vector["encoded"])
    assert stream.decrypt(encoded, b64(vector["ikm"])) == vector["plaintext"].encode()
    header = Header.parse(encoded)
    assert header.keyid == vector.get("keyid", "").encode()
    assert header.record_size == vector.get("record_size", 4096)


def test_rfc8188_single_record_example_encrypts_to_the_same_bytes() -> None:
    vector = RFC8188[0]
    encoded = b64(vector["encoded"])
    ikm, salt = b64(vector["ikm"]), encoded[:16]
    assert hkdf_sha256(ikm=ikm, salt=salt, info=CEK_INFO, length=16) == b64(vector["cek"])
    assert hkdf_sha256(ikm=ikm, salt=salt, info=NONCE_INFO, length=12) == b64(vector["nonce"])
    ours = stream.encrypt(vector["plaintext"].encode(), ikm, salt=salt, record_size=4096)
    assert ours == encoded


@pytest.mark.parametrize("vector", RFC5869, ids=lambda v: v["name"])
def test_rfc5869_hkdf_sha256(vector: dict[str, str | int]) -> None:
    okm = hkdf_sha256(
        ikm=bytes.fromhex(str(vector["ikm"])),
        salt=bytes.fromhex(str(vector["salt"])),
        info=bytes.fromhex(str(vector["info"])),
        length=int(vector["length"]),
    )
    assert okm.hex() == vector["okm"]


def test_rfc9106_argon2id_vector() -> None:
    """argon2-cffi's high-level calls take no secret or associated data: the vector needs the
    C library's context, which argon2-cffi exposes as `core`."""
    v = RFC9106_ARGON2ID
    buffers = {
        name: ffi.new("uint8_t[]", bytes.fromhex(str(v[name])))
        for name in ("password", "salt", "secret", "associated_data")
    }
    out = ffi.new("uint8_t[]", 32)
    context = ffi.new(
        "argon2_context *",
        {
            "out": out,
            "outlen": 32,
            "pwd": buffers["password"],
            "pwdlen": 32,
            "salt": buffers["salt"],
            "saltlen": 16,
            "secret": buffers["secret"],
            "secretlen": 8,
            "ad": buffers["associated_data"],
            "adlen": 12,
            "t_cost": v["passes"],
            "m_cost": v["memory_kib"],
            "lanes": v["lanes"],
            "threads": v["lanes"],
            "version": ARGON2_VERSION,
            "allocate_cbk": ffi.NULL,
            "free_cbk": ffi.NULL,
            "flags": 0,
        },
    )
    assert core(context, Type.ID.value) == 0
    assert bytes(ffi.buffer(out, 32)).hex() == v["tag"]


def test_reference_argon2id_vector_through_the_call_the_format_uses() -> None:
    v = REFERENCE_ARGON2ID
    tag = hash_secret_raw(
        secret=bytes.fromhex(str(v["password"])),
        salt=bytes.fromhex(str(v["salt"])),
        time_cost=int(v["passes"]),
        memory_cost=int(v["memory_kib"]),
        parallelism=int(v["lanes"]),
        hash_len=32,
        type=Type.ID,
    )
    assert tag.hex() == v["tag"]
