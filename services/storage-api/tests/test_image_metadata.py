"""Stored image originals lose their metadata and trailing bytes, unless the operator keeps them."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest
from PIL import Image, PngImagePlugin

from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import Api, fetch, running_api, upload

TAIL = b"<html><script>alert('polyglot')</script></html>"


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x010F] = "SecretCam"
    exif[0x0112] = 8
    return exif.tobytes()


def _saved(fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    mode = "P" if fmt == "GIF" else "RGB"
    Image.new(mode, (40, 30), 5 if mode == "P" else (30, 120, 200)).save(out, fmt, **options)
    return out.getvalue()


def _png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "SecretCam")
    return _saved("PNG", pnginfo=info, exif=_exif())


#: (format, image with metadata naming SecretCam, whether EXIF orientation can be carried)
WITH_METADATA: dict[str, tuple[Callable[[], bytes], bool]] = {
    "jpeg": (lambda: _saved("JPEG", exif=_exif()), True),
    "png": (_png_with_text, True),
    "gif": (lambda: _saved("GIF", comment=b"SecretCam"), False),
    "webp": (lambda: _saved("WEBP", exif=_exif(), xmp=b"<x>SecretCam</x>", lossless=True), True),
}


@pytest.fixture(scope="module")
def keeping_api(dependencies: Dependencies) -> Iterator[Api]:
    with running_api(
        dependencies, "test_image_metadata-keeping", {"STORAGE_API_KEEP_IMAGE_METADATA": "true"}
    ) as api:
        yield api


def _stored_original(api: Api, visitor: str, data: bytes) -> tuple[dict[str, object], bytes]:
    with api.client() as client:
        response = upload(client, visitor, data, filename="photo")
        assert response.status_code == 200, response.text
        item = response.json()
        content = fetch(client, visitor, item["id"])
        assert content.status_code == 200
        return item, content.content


@pytest.mark.parametrize("fmt", sorted(WITH_METADATA))
def test_originals_lose_metadata_and_trailing_bytes(api: Api, visitor: str, fmt: str) -> None:
    make, turns = WITH_METADATA[fmt]
    sent = make()
    assert b"SecretCam" in sent
    item, stored = _stored_original(api, visitor, sent + TAIL)
    assert b"SecretCam" not in stored
    assert b"<script>" not in stored
    assert item["size_bytes"] == len(stored)
    with Image.open(io.BytesIO(stored)) as image, Image.open(io.BytesIO(sent)) as original:
        assert image.format == original.format
        assert image.convert("RGBA").tobytes() == original.convert("RGBA").tobytes()
        exif = image.getexif()
        assert not exif.get_ifd(0x8825)
        if turns:
            assert exif.get(0x0112) == 8


def test_keep_image_metadata_stores_originals_byte_for_byte(keeping_api: Api, visitor: str) -> None:
    sent = _saved("JPEG", exif=_exif()) + TAIL
    item, stored = _stored_original(keeping_api, visitor, sent)
    assert stored == sent
    assert item["size_bytes"] == len(sent)
