"""A link's QR code as inline SVG, made on the server (no script, no image request).

segno writes the modules as one path with presentation attributes (`stroke`, `fill`), not
`style` attributes, so the site's CSP (`style-src 'self'`) lets it render.
"""

from __future__ import annotations

from functools import lru_cache

import segno
from markupsafe import Markup

#: QR codes kept made: a link's code is the same on every page view, and making one costs
#: a few milliseconds; an owner's page shows a few links, so a few thousand cover many owners
QR_CACHE_SIZE = 4096


@lru_cache(maxsize=QR_CACHE_SIZE)
def qr_svg(url: str, title: str) -> Markup:
    code = segno.make(url, error="m", micro=False)
    svg = code.svg_inline(
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        title=title,
        svgclass="qr",
        lineclass=None,
    )
    # segno escapes the title and builds the rest from the code's modules: safe to inline
    return Markup(svg)  # noqa: S704
