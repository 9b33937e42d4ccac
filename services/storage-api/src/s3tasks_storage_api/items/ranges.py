"""HTTP Range (RFC 9110 §14) for one byte range; anything else is served whole."""

from __future__ import annotations

import re

from s3tasks_storage_api.errors import RangeNotSatisfiable

_SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte positions, inclusive; None to send the whole representation.

    Malformed headers and multi-range requests are ignored (a 200 with everything is a
    valid answer to both); a well-formed range that starts past the end is a 416.
    """
    if not header:
        return None
    match = _SINGLE_RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first_s, last_s = match.groups()
    if not first_s and not last_s:
        return None
    if not first_s:  # suffix: the last N bytes
        suffix = int(last_s)
        if suffix == 0:
            raise RangeNotSatisfiable("An empty suffix range selects nothing.", size)
        return max(size - suffix, 0), size - 1
    first = int(first_s)
    if last_s and int(last_s) < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(f"The range starts beyond the {size} bytes of this item.", size)
    last = int(last_s) if last_s else size - 1
    return first, min(last, size - 1)
