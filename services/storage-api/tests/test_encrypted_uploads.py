"""Files encrypted in the browser (docs/encryption.md), as storage-api sees them: a declared
ciphertext size and header length fix every part's exact length; the name, type and
description arrive encrypted and are stored and served back as bytes; nothing of the
plaintext reaches the row or the bucket. On radosgw, which enforces signed part lengths."""

from __future__ import annotations

import base64
import io
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from s3tasks_ece import FileKeys, decrypt_metadata, encrypt_metadata, encrypt_parts, file_keys
from s3tasks_ece.layout import PART_PLAINTEXT, PART_SIZE, Layout
from s3tasks_ece.stream import decrypt
from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import MIB, Api, running_api

NAME, DESCRIPTION = "quarterly-secrets.pdf", "the numbers nobody may see"
METADATA_CAP = 1024


@pytest.fixture(scope="module")
def api(dependencies: Dependencies) -> Iterator[Api]:
    if dependencies.s3.server == "moto":
        pytest.skip("moto does not enforce a signed part length: radosgw only")
    env = {
        "STORAGE_API_MAX_FILE_BYTES": str(24 * MIB),
        "STORAGE_API_MAX_ENCRYPTED_METADATA_BYTES": str(METADATA_CAP),
    }
    with running_api(dependencies, "test_encrypted_uploads", env) as api:
        yield api


class Sealed:
    """A file as the browser encrypts it, with its encrypted metadata."""

    def __init__(self, size: int) -> None:
        self.plaintext = os.urandom(size)
        self.secret = os.urandom(16)
        self.parts = list(encrypt_parts(io.BytesIO(self.plaintext), size, self.secret))
        self.ciphertext = b"".join(self.parts)
        self.header_size = 21
        self.keys: FileKeys = file_keys(self.secret, b"", None)
        self.metadata = encrypt_metadata(
            self.keys, b"", name=NAME, content_type="application/pdf", description=DESCRIPTION
        )


def start(client: httpx.Client, visitor: str, sealed: Sealed, **changed: Any) -> httpx.Response:
    body = {
        "kind": "file",
        "filename": NAME,
        "description": DESCRIPTION,
        "via": "direct",
        "in_parts": True,
        "size_bytes": len(sealed.ciphertext),
        "encryption": {
            "header_size": sealed.header_size,
            "metadata": base64.b64encode(sealed.metadata).decode(),
        },
    }
    return client.post(f"/v1/visitors/{visitor}/uploads", json={**body, **changed})


def test_an_encrypted_upload_is_signed_part_by_part_and_stores_only_ciphertext(api: Api) -> None:
    visitor = uuid.uuid4().hex
    sealed = Sealed(PART_PLAINTEXT + 1000)
    layout = Layout.from_ciphertext(len(sealed.ciphertext), sealed.header_size)
    with api.client() as client:
        resp = start(client, visitor, sealed)
        assert resp.status_code == 201, resp.text
        ticket = resp.json()
        assert ticket["part_size"] == PART_SIZE + 21  # part 1: whole records and the header
        base = f"/v1/visitors/{visitor}/uploads/{ticket['item_id']}"
        links = client.post(f"{base}/parts", json={"part_numbers": [2, 1], "via": "direct"})
        assert links.status_code == 200, links.text
        sizes = {int(n): size for n, size in links.json()["sizes"].items()}
        assert sizes == {1: layout.part_size(1), 2: layout.part_size(2)}
        assert [len(part) for part in sealed.parts] == [sizes[1], sizes[2]]
        urls = links.json()["urls"]

        # a part of another length than signed is refused by S3 (its length is signed)
        padded = httpx.put(urls["2"], content=sealed.parts[1] + b"x", timeout=60)
        assert padded.status_code == 403, padded.text
        # parts in any order: the second first
        etags = {}
        for number in (2, 1):
            put = httpx.put(urls[str(number)], content=sealed.parts[number - 1], timeout=60)
            assert put.status_code == 200, put.text
            etags[number] = put.headers["etag"]
        beyond = client.post(f"{base}/parts", json={"part_numbers": [3], "via": "direct"})
        assert beyond.status_code == 400
        assert "is sent in 2 parts: part 3 is beyond its last part" in beyond.json()["detail"]

        done = client.post(
            f"{base}/complete",
            json={"parts": [{"part_number": n, "etag": etags[n]} for n in (1, 2)]},
        )
        assert done.status_code == 200, done.text
        item = done.json()
        assert item["filename"] == "encrypted.s3tasks"
        assert item["description"] == ""
        assert item["content_type"] == "application/octet-stream"
        assert item["size_bytes"] == len(sealed.ciphertext)
        assert base64.b64decode(item["encrypted_metadata"]) == sealed.metadata

        listed = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"}).json()
        blob = base64.b64decode(listed["items"][0]["encrypted_metadata"])
        assert decrypt_metadata(sealed.keys, blob)["name"] == NAME

    row = api.rows("id = %s", ticket["item_id"])[0]
    stored = api.s3.get_object(api.config.bucket, row["object_key"]).read()
    assert stored == sealed.ciphertext
    assert decrypt(stored, sealed.keys.content) == sealed.plaintext
    # the server holds no plaintext: neither the name, the description nor the content
    row_text = repr(row).encode()
    for secret in (NAME.encode(), DESCRIPTION.encode(), sealed.plaintext[:64]):
        assert secret not in row_text
        assert secret not in stored


def test_the_share_page_gets_the_encrypted_metadata_before_any_download(api: Api) -> None:
    visitor = uuid.uuid4().hex
    sealed = Sealed(5000)
    with api.client() as client:
        ticket = start(client, visitor, sealed).json()
        base = f"/v1/visitors/{visitor}/uploads/{ticket['item_id']}"
        url = client.post(f"{base}/parts", json={"part_numbers": [1], "via": "direct"})
        put = httpx.put(url.json()["urls"]["1"], content=sealed.ciphertext, timeout=60)
        done = client.post(
            f"{base}/complete", json={"parts": [{"part_number": 1, "etag": put.headers["etag"]}]}
        )
        assert done.status_code == 200, done.text
        share = client.post(
            f"/v1/visitors/{visitor}/items/{ticket['item_id']}/shares",
            json={"max_downloads": 1, "password": "link password"},
        )
        assert share.status_code == 201, share.text
        view = client.post("/v1/shares/lookup", json={"token": share.json()["token"]})
        assert view.status_code == 200, view.text
        shown = view.json()
        assert shown["password_required"] is True
        assert shown["filename"] is None
        assert base64.b64decode(shown["encrypted_metadata"]) == sealed.metadata
        assert shown["downloads_left"] == 1  # looking counted nothing


@pytest.mark.parametrize(
    ("changed", "words"),
    [
        ({"kind": "image"}, "Only files can be encrypted in the browser"),
        ({"size_bytes": None}, "must declare its"),
        ({"size_bytes": 21 + 16}, "is not the size of an encrypted file with a 21-byte header"),
        ({"in_parts": False}, "An encrypted upload is sent in parts"),
        (
            {"encryption": {"header_size": 21, "metadata": base64.b64encode(bytes(2000)).decode()}},
            "at most 1 KiB are kept",
        ),
    ],
)
def test_an_encrypted_upload_the_site_cannot_hold_is_refused_in_words(
    api: Api, changed: dict[str, Any], words: str
) -> None:
    visitor = uuid.uuid4().hex
    with api.client() as client:
        resp = start(client, visitor, Sealed(100), **changed)
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["detail"]
    assert api.rows("visitor_id = %s", visitor) == []
