"""`s3tasks-decrypt` as a user runs it: the output appears only for a whole, verified file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from s3tasks_ece.files import encrypt_file
from s3tasks_ece.keys import encode_secret
from s3tasks_ece.layout import PART_PLAINTEXT


def run(*args: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "s3tasks_ece.cli", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def encrypted(tmp_path: Path) -> tuple[Path, Path, bytes]:
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(PART_PLAINTEXT + 12345))
    secret = os.urandom(16)
    sealed = tmp_path / "sealed.bin"
    encrypt_file(plain, sealed, secret)
    return plain, sealed, secret


def test_the_command_decrypts_with_the_fragment_key(
    encrypted: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    plain, sealed, secret = encrypted
    out = tmp_path / "out.bin"
    done = run("--key", "#" + encode_secret(secret), sealed, out)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == plain.read_bytes()
    assert f"{plain.stat().st_size} bytes verified" in done.stderr


def test_a_key_that_begins_with_a_dash_is_taken_as_the_key(tmp_path: Path) -> None:
    """One key in 64 begins with '-' in base64url (a first byte 0xf8-0xfb): the command as
    the page shows it (`--key 'KEY'`) must still take it."""
    plain, sealed, out = tmp_path / "p", tmp_path / "s", tmp_path / "o"
    plain.write_bytes(b"a dashing report")
    secret = b"\xf8" + os.urandom(15)
    assert encode_secret(secret).startswith("-")
    encrypt_file(plain, sealed, secret)
    done = run("--key", encode_secret(secret), sealed, out)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == plain.read_bytes()


def test_a_password_file_needs_its_password(tmp_path: Path) -> None:
    plain, sealed, out = tmp_path / "p", tmp_path / "s", tmp_path / "o"
    plain.write_bytes(b"a secret report")
    secret = os.urandom(16)
    encrypt_file(plain, sealed, secret, password="tr0ub4dor")

    missing = run("--key", encode_secret(secret), sealed, out)
    assert missing.returncode == 1
    assert "encrypted with a password" in missing.stderr
    wrong = run("--key", encode_secret(secret), "--password", sealed, out, stdin="guess\n")
    assert wrong.returncode == 1
    assert "wrong key or password" in wrong.stderr
    assert not out.exists()

    right = run("--key", encode_secret(secret), "--password", sealed, out, stdin="tr0ub4dor\n")
    assert right.returncode == 0, right.stderr
    assert out.read_bytes() == b"a secret report"


@pytest.mark.parametrize("damage", ["cut", "flip", "wrong-key"])
def test_a_refused_file_leaves_nothing_behind(
    encrypted: tuple[Path, Path, bytes], tmp_path: Path, damage: str
) -> None:
    _plain, sealed, secret = encrypted
    data = bytearray(sealed.read_bytes())
    if damage == "cut":
        data = data[: len(data) - 1000]
    elif damage == "flip":
        data[-100] ^= 1
    else:
        secret = bytes(16)
    sealed.write_bytes(bytes(data))
    before = set(tmp_path.iterdir())
    out = tmp_path / "out.bin"
    done = run("--key", encode_secret(secret), sealed, out)
    assert done.returncode == 1
    assert "refused:" in done.stderr
    assert "nothing was written" in done.stderr
    assert set(tmp_path.iterdir()) == before


def test_a_key_that_is_not_one_is_told(encrypted: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    _plain, sealed, _secret = encrypted
    done = run("--key", "abc", sealed, tmp_path / "out")
    assert done.returncode == 1
    assert "copy the whole part of the link after '#'" in done.stderr
