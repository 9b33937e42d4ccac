"""The browser's encrypted format (frontend/src/ece.js) under Node's WebCrypto: its own tests
(`node --test`: RFC 8188, RFC 5869 and Argon2 vectors, layout, refusals), and interop with the
Python format (packages/ece): files and metadata sealed by one side open on the other."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from s3tasks_ece.files import (
    decrypt_file,
    decrypt_metadata,
    encrypt_file,
    encrypt_metadata,
    file_keys,
    new_keyid,
)
from s3tasks_ece.keys import encode_secret
from s3tasks_ece.layout import PART_PLAINTEXT

FRONTEND = Path(__file__).resolve().parents[1] / "frontend"
VECTORS = Path(__file__).resolve().parents[3] / "packages" / "ece" / "tests" / "vectors.json"


@pytest.fixture(scope="module")
def frontend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The frontend with its locked node modules: the working tree's when installed, else a
    copy installed with `npm ci`."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node and npm are not installed: the browser module is not run here")
    if (FRONTEND / "node_modules" / "hash-wasm").is_dir():
        return FRONTEND
    work = tmp_path_factory.mktemp("frontend") / "frontend"
    shutil.copytree(FRONTEND, work, ignore=shutil.ignore_patterns("node_modules"))
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--ignore-scripts"],
        cwd=work,
        check=True,
        timeout=240,
    )
    return work


def node(frontend: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", *map(str, args)],
        cwd=frontend,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def test_the_browser_modules_own_tests_pass(frontend: Path) -> None:
    done = subprocess.run(
        ["node", "--test", "test/ece.test.js"],
        cwd=frontend,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
        env={**os.environ, "ECE_VECTORS": str(VECTORS)},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout


@pytest.mark.parametrize("password", [None, "pässword 1"])
def test_a_file_sealed_by_the_browser_module_decrypts_in_python(
    frontend: Path, tmp_path: Path, password: str | None
) -> None:
    plain, sealed, out = tmp_path / "plain", tmp_path / "sealed", tmp_path / "out"
    plain.write_bytes(os.urandom(PART_PLAINTEXT + 70000))
    secret = os.urandom(16)
    done = node(
        frontend,
        "test/interop.mjs",
        "encrypt",
        encode_secret(secret),
        password or "-",
        plain,
        sealed,
    )
    assert done.returncode == 0, done.stderr
    decrypt_file(sealed, out, secret, (lambda: password) if password else None)
    assert out.read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("password", [None, "pässword 1"])
def test_a_file_sealed_in_python_decrypts_in_the_browser_module(
    frontend: Path, tmp_path: Path, password: str | None
) -> None:
    plain, sealed, out = tmp_path / "plain", tmp_path / "sealed", tmp_path / "out"
    plain.write_bytes(os.urandom(2 * PART_PLAINTEXT + 3))
    secret = os.urandom(16)
    encrypt_file(plain, sealed, secret, password)
    done = node(
        frontend, "test/interop.mjs", "decrypt", encode_secret(secret), password or "-", sealed, out
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == plain.read_bytes()


def test_a_damaged_file_is_refused_by_the_browser_module(frontend: Path, tmp_path: Path) -> None:
    plain, sealed, out = tmp_path / "plain", tmp_path / "sealed", tmp_path / "out"
    plain.write_bytes(os.urandom(PART_PLAINTEXT + 3))
    secret = os.urandom(16)
    encrypt_file(plain, sealed, secret)
    sealed.write_bytes(sealed.read_bytes()[:-1])
    done = node(frontend, "test/interop.mjs", "decrypt", encode_secret(secret), "-", sealed, out)
    assert done.returncode != 0
    assert "failed authentication" in done.stderr


def test_metadata_sealed_on_either_side_opens_on_the_other(frontend: Path, tmp_path: Path) -> None:
    secret, password = os.urandom(16), "correct horse"
    document = {"name": "Été 2026.mov", "type": "video/quicktime", "description": "the lake"}
    keyid = new_keyid(password)
    keys = file_keys(secret, keyid, password)

    from_python = tmp_path / "python.meta"
    from_python.write_bytes(
        encrypt_metadata(
            keys,
            keyid,
            name=document["name"],
            content_type=document["type"],
            description=document["description"],
        )
    )
    opened = node(
        frontend, "test/interop.mjs", "open-metadata", encode_secret(secret), password, from_python
    )
    assert opened.returncode == 0, opened.stderr
    assert json.loads(opened.stdout) == document

    from_node = tmp_path / "node.meta"
    sealed = node(
        frontend,
        "test/interop.mjs",
        "seal-metadata",
        encode_secret(secret),
        password,
        keyid.hex(),
        json.dumps(document),
        from_node,
    )
    assert sealed.returncode == 0, sealed.stderr
    assert decrypt_metadata(keys, from_node.read_bytes()) == document
