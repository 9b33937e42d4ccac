"""Hostile and broken inputs, made in memory."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image


def jpeg(width: int = 40, height: int = 30, exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), (30, 120, 200))
    if exif is None:
        image.save(out, format="JPEG")
    else:
        image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def gif(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("P", (width, height), 3).save(out, format="GIF")
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas: a decompression bomb's signature."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF header with a huge logical screen and a 1x1 frame."""
    return (
        b"GIF89a"
        + struct.pack("<HH", width, height)
        + b"\x00\x00\x00"
        + b"\x2c"
        + struct.pack("<HHHH", 0, 0, width, height)
        + b"\x00\x02\x02\x44\x01\x00\x3b"
    )


GPS_LATITUDE = (48.0, 51.0, 29.0)


def exif_with_gps(orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    gps = {1: "N", 2: GPS_LATITUDE, 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x8825] = gps
    exif[0x010F] = "SecretCam"  # Make
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.txt", "zip payload inside a gif")
    return out.getvalue()


PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64 + b"PE\x00\x00"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
PHP = b"<?php system($_GET['c']); ?>"
HTML_TAIL = b"<html><script>alert('polyglot')</script></html>"
