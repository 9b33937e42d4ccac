"""itsdangerous as the services sign with it: the same bytes as the hand-made HMAC-SHA256
schemes it replaced (links made and cookies handed out before stay valid), one form of signed
JSON, and nothing that does not verify is taken."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid

import pytest

from s3tasks_servicekit.signing import BadData, json_signer, signer

SECRET = "not-a-secret-" * 4


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _by_hand(purpose: bytes, value: bytes) -> str:
    key = hmac.new(SECRET.encode(), purpose, hashlib.sha256).digest()
    return _b64(hmac.new(key, value, hashlib.sha256).digest())


def test_a_signature_is_the_hand_made_hmac_of_before() -> None:
    value = uuid.uuid4().bytes + os.urandom(16)
    made = signer(SECRET, b"s3tasks share link token v1").get_signature(value).decode()
    assert made == _by_hand(b"s3tasks share link token v1", value)
    assert len(made) == 43
    assert signer(SECRET, b"another purpose").get_signature(value).decode() != made


def test_a_cookie_signed_by_hand_before_still_opens() -> None:
    body = {"v": uuid.uuid4().hex, "f": [["success", "Uploaded \u00e9t\u00e9.png"]]}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    cookie = f"{payload}.{_by_hand(b's3tasks-web session v1', payload.encode())}"
    assert json_signer(SECRET, b"s3tasks-web session v1").loads(cookie) == body


def test_signed_json_is_never_compressed() -> None:
    repetitive = {"f": ["the same words again"] * 20}
    signed = json_signer(SECRET, b"purpose").dumps(repetitive)
    payload, _, _ = signed.rpartition(".")
    assert not signed.startswith(".")
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == repetitive


@pytest.mark.parametrize("forged", ["", "x" * 40, "a.b", "é.é", "." * 5])
def test_what_does_not_verify_is_refused(forged: str) -> None:
    with pytest.raises(BadData):
        json_signer(SECRET, b"purpose").loads(forged)
    assert not signer(SECRET, b"purpose").verify_signature(b"value", forged)


def _other_spellings(signature: str) -> list[str]:
    """The same 32 bytes spelled otherwise: the last character's two unused bits set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    used = alphabet.index(signature[-1]) & ~0b11
    return [
        signature[:-1] + alphabet[used | low]
        for low in range(4)
        if used | low != alphabet.index(signature[-1])
    ]


def test_a_signature_is_taken_in_its_one_spelling_only() -> None:
    value = b"a capability"
    sign = signer(SECRET, b"purpose")
    made = sign.get_signature(value).decode()
    others = _other_spellings(made)
    assert len(others) == 3
    for other in others:
        assert base64.urlsafe_b64decode(other + "=") == base64.urlsafe_b64decode(made + "=")
        assert not sign.verify_signature(value, other)
    assert sign.verify_signature(value, made)
    cookie = json_signer(SECRET, b"purpose").dumps({"v": 1})
    for other in _other_spellings(cookie):
        with pytest.raises(BadData):
            json_signer(SECRET, b"purpose").loads(other)
    assert json_signer(SECRET, b"purpose").loads(cookie) == {"v": 1}
