"""Bad uploads get a clear 4xx and leave nothing behind: no row, no object, no open upload."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from s3tasks_testkit.images import png
from s3tasks_testkit.storage_api import MIB, Api, fetch, upload


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas: a decompression bomb's signature."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _real_pixels(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, format="PNG")
    return out.getvalue()


REFUSED_IMAGES = {
    "html renamed .png": (b"<!doctype html><script>alert(1)</script>", 415),
    "javascript renamed .png": (b"alert(document.cookie)", 415),
    "svg renamed .png": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', 415),
    "pdf renamed .png": (b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>", 415),
    "elf executable": (b"\x7fELF\x02\x01\x01" + b"\x00" * 64, 415),
    "header claims 50000x50000": (_png_claiming(50_000, 50_000), 422),
    "3000x3000 real pixels over the 4 MP limit": (_real_pixels(3000, 3000), 422),
    "truncated png": (png(200, 200)[:60], 422),
    "empty body": (b"", 400),
}


@pytest.mark.parametrize("case", REFUSED_IMAGES, ids=list(REFUSED_IMAGES))
def test_bad_images_are_refused_and_leave_nothing(api: Api, visitor: str, case: str) -> None:
    body, status = REFUSED_IMAGES[case]
    before = api.object_keys()
    with api.client() as client:
        resp = upload(client, visitor, body, filename="innocent.png")
    assert resp.status_code == status, resp.text
    problem = resp.json()
    assert problem["status"] == status
    assert problem["detail"]
    assert "Traceback" not in resp.text
    assert api.rows("visitor_id = %s", visitor) == []
    assert api.object_keys() == before
    assert api.open_multipart_uploads() == 0


def test_an_oversize_image_sent_without_its_size_is_refused_at_completion(
    api: Api, visitor: str
) -> None:
    with api.client() as client:
        resp = upload(client, visitor, png() + b"\x00" * (3 * MIB), filename="big.png")
    assert resp.status_code == 413
    assert resp.json()["detail"] == "The image is larger than 2 MiB."
    assert api.rows("visitor_id = %s", visitor) == []


def test_an_oversize_file_sent_in_parts_is_refused_at_completion_and_leaves_nothing(
    api: Api, visitor: str
) -> None:
    before = api.object_keys()
    with api.client() as client:
        # 24 MiB against a 20 MiB limit, its size never announced: three 8 MiB parts reach S3
        resp = upload(client, visitor, b"\x01" * (24 * MIB), kind="file", filename="big.bin")
    assert resp.status_code == 413
    assert api.rows("visitor_id = %s", visitor) == []
    assert api.object_keys() == before
    assert api.open_multipart_uploads() == 0


@pytest.mark.parametrize(
    ("filename", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\system32\\evil.exe", "evil.exe"),
        ("/absolute/path.txt", "path.txt"),
        ("trailing.dots...", "trailing.dots"),
        ("photo\u202egpj.exe", "photogpj.exe"),
        ("bell\x07and\x1bescape.txt", "bellandescape.txt"),
        ("two\r\nlines.txt", "twolines.txt"),
        ("café.txt", "café.txt"),
        ("x" * 300 + ".txt", "x" * 251 + ".txt"),
    ],
)
def test_filenames_are_sanitised_and_safe_in_the_download_header(
    api: Api, visitor: str, filename: str, stored: str
) -> None:
    with api.client() as client:
        resp = upload(client, visitor, b"data", kind="file", filename=filename)
        assert resp.status_code == 200, resp.text
        assert resp.json()["filename"] == stored
        got = fetch(client, visitor, resp.json()["id"])
    disposition = got.headers["content-disposition"]
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert disposition.startswith('attachment; filename="')


@pytest.mark.parametrize(
    ("filename", "description"),
    [
        ("nul\x00.txt", ""),
        ("...", ""),
        ("   ", ""),
        ("ok.txt", "nul\x00byte"),
        ("ok.txt", "d" * 501),
    ],
)
def test_unusable_names_and_descriptions_are_refused(
    api: Api, visitor: str, filename: str, description: str
) -> None:
    with api.client() as client:
        resp = upload(
            client, visitor, b"data", kind="file", filename=filename, description=description
        )
    assert resp.status_code == 400, resp.text
    assert api.rows("visitor_id = %s", visitor) == []


def test_exif_gps_is_not_in_the_thumbnail(api: Api, visitor: str) -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPS IFD
    exif[0x0112] = 6  # rotated: the thumbnail must come out upright
    out = io.BytesIO()
    Image.new("RGB", (400, 200), "blue").save(out, format="JPEG", exif=exif)
    with api.client() as client:
        item = upload(client, visitor, out.getvalue(), filename="gps.jpg").json()
        thumb = fetch(client, visitor, item["id"], variant="thumbnail").content
    with Image.open(io.BytesIO(thumb)) as img:
        assert not img.getexif()
        assert img.size == (160, 320)  # orientation 6 applied: portrait
    assert b"GPS" not in thumb


def test_a_polyglot_image_is_kept_only_as_a_reencoded_thumbnail(api: Api, visitor: str) -> None:
    polyglot = png() + b"<html><script>alert(1)</script></html>"
    with api.client() as client:
        resp = upload(client, visitor, polyglot, filename="poly.png")
        assert resp.status_code == 200
        item = resp.json()
        thumb = fetch(client, visitor, item["id"], variant="thumbnail").content
        original = fetch(client, visitor, item["id"])
    assert b"<script>" not in thumb
    # the original is served as what it was sniffed to be, without what followed the image
    assert original.headers["content-type"] == "image/png"
    assert b"<script>" not in original.content


def test_an_announced_oversize_upload_is_refused_at_once_in_binary_units(
    api: Api, visitor: str
) -> None:
    """The limit in the words web shows too (s3tasks_servicekit.sizes): MiB, never bytes."""
    announced = {"kind": "file", "filename": "big.bin", "via": "proxy", "size_bytes": 20 * MIB + 1}
    with api.client() as client:
        resp = client.post(f"/v1/visitors/{visitor}/uploads", json=announced)
    assert resp.status_code == 413
    assert resp.json()["detail"] == "The file is larger than 20 MiB."
    assert api.rows("visitor_id = %s", visitor) == []
