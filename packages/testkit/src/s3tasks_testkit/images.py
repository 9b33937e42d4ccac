"""Images made in memory: the one PNG maker of the tests, the benchmarks and the load run."""

from __future__ import annotations

import io

from PIL import Image

Colour = str | tuple[int, int, int]


def png(width: int = 64, height: int = 48, colour: Colour = "red") -> bytes:
    """A valid RGB PNG of one colour (vary `colour` for images whose bytes differ)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()
