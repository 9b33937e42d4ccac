"""Images are recognised by their bytes, decoded under a pixel limit and re-encoded.

The client's filename and Content-Type are never trusted. A thumbnail is always a fresh
WebP encode of the decoded pixels, so nothing of the original file (EXIF with GPS,
trailing HTML or ZIP of a polyglot) survives into it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

from s3tasks_storage_api.errors import BadImage, UnsupportedImage

SNIFF_BYTES = 16
_ORIENTATION_TAG = 0x0112

_FORMATS: dict[str, tuple[str, str]] = {
    # Pillow format: (content type, extension)
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}


def sniff_image_format(head: bytes) -> str | None:
    """The Pillow format name for a JPEG/PNG/GIF/WebP signature, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int
    thumbnail: bytes
    #: the EXIF orientation (1: as stored), kept when the original's metadata is stripped.
    orientation: int = 1


def inspect_image(body: IO[bytes], *, max_pixels: int, thumbnail_px: int) -> ImageInfo:
    """Check that `body` (seekable) is a decodable image within limits; make its thumbnail."""
    head = body.read(SNIFF_BYTES)
    body.seek(0)
    fmt = sniff_image_format(head)
    if fmt is None:
        raise UnsupportedImage()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(body, formats=[fmt]) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise BadImage(
                        f"The image is too large: {width}x{height} pixels "
                        f"(at most {max_pixels:,} pixels)."
                    )
                orientation = _orientation(img)
                thumbnail = _thumbnail(img, thumbnail_px)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"The image has too many pixels (at most {max_pixels:,}).") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage("The image is corrupt or truncated and cannot be decoded.") from exc
    content_type, _ = _FORMATS[fmt]
    return ImageInfo(fmt, content_type, width, height, thumbnail, orientation)


def _orientation(img: Image.Image) -> int:
    value = img.getexif().get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _thumbnail(img: Image.Image, max_px: int) -> bytes:
    if img.format == "JPEG":
        img.draft("RGB", (max_px * 2, max_px * 2))  # decode at a reduced scale: faster, less memory
    img.load()
    oriented = ImageOps.exif_transpose(img)
    oriented.thumbnail((max_px, max_px))
    mode = "RGBA" if oriented.mode in {"RGBA", "LA", "P", "PA"} else "RGB"
    out = io.BytesIO()
    oriented.convert(mode).save(out, format="WEBP", quality=80, method=4)
    return out.getvalue()
