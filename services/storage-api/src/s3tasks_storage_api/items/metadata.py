"""Location and other metadata, and any bytes after the image, taken out of stored originals.

Without re-encoding: the segments that carry the picture (JPEG scans and tables, PNG image
chunks, GIF frames, WebP bitstreams) are copied byte for byte; metadata segments (EXIF with
GPS, XMP, IPTC, comments, text chunks) are dropped, and so is whatever follows the format's
end marker (a ZIP or a script of a polyglot). What a viewer needs to show the picture right
stays: colour profiles, transparency, animation, and the EXIF orientation (re-written alone).
Images are at most STORAGE_API_MAX_IMAGE_BYTES and are decoded whole for the thumbnail
anyway, so they are handled in memory here.
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image

from s3tasks_storage_api.errors import BadImage

_ORIENTATION_TAG = 0x0112
_UNREADABLE = "The image's structure could not be read; it is damaged."

# -- JPEG --------------------------------------------------------------------------------------
_EOI, _SOS, _APP0, _APP2, _APP14, _COM = 0xD9, 0xDA, 0xE0, 0xE2, 0xEE, 0xFE
#: APPn segments a decoder uses: JFIF, the ICC colour profile, Adobe's colour transform.
_JPEG_KEPT_APPS = {_APP0: b"JFIF\x00", _APP2: b"ICC_PROFILE\x00", _APP14: b"Adobe"}


def strip_metadata(fmt: str, data: bytes, *, orientation: int = 1) -> bytes:
    """`data` (a `fmt` image Pillow has decoded) without metadata and trailing bytes."""
    try:
        if fmt == "JPEG":
            return _jpeg(data, orientation)
        if fmt == "PNG":
            return _png(data, orientation)
        if fmt == "GIF":
            return _gif(data)
        if fmt == "WEBP":
            return _webp(data, orientation)
    except (IndexError, struct.error) as exc:
        raise BadImage(_UNREADABLE) from exc
    raise ValueError(f"no metadata stripping for {fmt}")


def _orientation_exif(orientation: int) -> bytes | None:
    """An EXIF block ("Exif\\0\\0" + TIFF) holding nothing but the orientation, if it turns."""
    if orientation in (0, 1) or not 1 <= orientation <= 8:
        return None
    exif = Image.Exif()
    exif[_ORIENTATION_TAG] = orientation
    return exif.tobytes()


def _jpeg(data: bytes, orientation: int) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise BadImage(_UNREADABLE)
    out = bytearray(b"\xff\xd8")
    exif = _orientation_exif(orientation)
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise BadImage(_UNREADABLE)
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == _EOI:
            return bytes(out + b"\xff\xd9")  # whatever follows is not the image
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            out += data[pos : pos + 2]
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        if len(segment) < 2 + length or length < 2:
            raise BadImage(_UNREADABLE)
        pos += 2 + length
        if exif is not None and marker != _APP0:
            # the orientation goes right after SOI/JFIF, where a viewer looks for EXIF
            out += b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
            exif = None
        if _is_jpeg_metadata(marker, segment[4:]):
            continue
        out += segment
        if marker == _SOS:
            end = _jpeg_scan_end(data, pos)
            out += data[pos:end]
            pos = end
    return bytes(out)  # no EOI: a truncated file Pillow still decoded; nothing trails it


def _is_jpeg_metadata(marker: int, payload: bytes) -> bool:
    if marker == _COM:
        return True
    if 0xE0 <= marker <= 0xEF:
        kept = _JPEG_KEPT_APPS.get(marker)
        return kept is None or not payload.startswith(kept)
    return False


def _jpeg_scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data that starts at `pos` ends: at the next real marker (0xFF
    followed by neither a stuffed 0x00, a restart marker, nor another 0xFF)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1
            continue
        return pos


# -- PNG ---------------------------------------------------------------------------------------
#: ancillary chunks that change how the picture looks (colour, transparency, animation);
#: every other ancillary chunk (tEXt, zTXt, iTXt, eXIf, tIME, private ones) is dropped.
_PNG_KEPT_ANCILLARY = frozenset(
    {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs", b"hIST", b"cICP",
     b"mDCv", b"cLLi", b"acTL", b"fcTL", b"fdAT"}
)  # fmt: skip


def _png(data: bytes, orientation: int) -> bytes:
    out = bytearray(data[:8])
    exif = _orientation_exif(orientation)
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise BadImage(_UNREADABLE)
        if exif is not None and kind == b"IDAT":
            # eXIf must come before the image data; it holds the orientation alone
            tiff = exif[len(b"Exif\x00\x00") :]
            out += struct.pack(">I", len(tiff)) + b"eXIf" + tiff
            out += struct.pack(">I", zlib.crc32(b"eXIf" + tiff))
            exif = None
        critical = kind[:1].isupper()
        if critical or kind in _PNG_KEPT_ANCILLARY:
            out += data[pos:end]
        if kind == b"IEND":
            return bytes(out)
        pos = end
    raise BadImage(_UNREADABLE)


# -- GIF ---------------------------------------------------------------------------------------
_GIF_TRAILER, _GIF_IMAGE, _GIF_EXTENSION = 0x3B, 0x2C, 0x21
_GIF_GRAPHIC_CONTROL, _GIF_PLAIN_TEXT, _GIF_APPLICATION = 0xF9, 0x01, 0xFF
#: application extensions that only loop an animation; others (XMP, private data) go.
_GIF_KEPT_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


def _gif(data: bytes) -> bytes:
    flags = data[10]
    pos = 13 + (3 << ((flags & 0x07) + 1) if flags & 0x80 else 0)
    out = bytearray(data[:pos])
    while pos < len(data):
        block = data[pos]
        if block == _GIF_TRAILER:
            return bytes(out + b";")
        if block == _GIF_IMAGE:
            local = data[pos + 9]
            start = pos
            pos += 10 + (3 << ((local & 0x07) + 1) if local & 0x80 else 0) + 1  # + LZW size
            pos = _gif_sub_blocks_end(data, pos)
            out += data[start:pos]
        elif block == _GIF_EXTENSION:
            label = data[pos + 1]
            start = pos
            pos = _gif_sub_blocks_end(data, pos + 2)
            keep = label in (_GIF_GRAPHIC_CONTROL, _GIF_PLAIN_TEXT) or (
                label == _GIF_APPLICATION and data[start + 3 : start + 14] in _GIF_KEPT_APPLICATIONS
            )
            if keep:
                out += data[start:pos]
        else:
            raise BadImage(_UNREADABLE)
    return bytes(out + b";")  # no trailer: a truncated file Pillow still decoded


def _gif_sub_blocks_end(data: bytes, pos: int) -> int:
    while True:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


# -- WebP --------------------------------------------------------------------------------------
_VP8X_EXIF_FLAG, _VP8X_XMP_FLAG = 0x08, 0x04


def _webp(data: bytes, orientation: int) -> bytes:
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)  # the RIFF size says where the image ends
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        payload = data[pos + 8 : pos + 8 + size]
        if len(payload) < size:
            raise BadImage(_UNREADABLE)
        pos += 8 + size + (size & 1)
        if kind not in (b"EXIF", b"XMP "):
            chunks.append((kind, payload))
    exif = _orientation_exif(orientation)
    if chunks and chunks[0][0] == b"VP8X":
        flags = chunks[0][1][0] & ~(_VP8X_EXIF_FLAG | _VP8X_XMP_FLAG)
        if exif is not None:
            flags |= _VP8X_EXIF_FLAG
            chunks.append((b"EXIF", exif[len(b"Exif\x00\x00") :]))
        chunks[0] = (b"VP8X", bytes([flags]) + chunks[0][1][1:])
    body = b"".join(
        kind + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
        for kind, payload in chunks
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
