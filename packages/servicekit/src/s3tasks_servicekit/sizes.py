"""Sizes in words, in binary units as the limits are set: 20 MiB, 1.5 KiB, 512 bytes."""

from __future__ import annotations


def human_size(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} bytes"
    size = float(size_bytes)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f}".removesuffix(".0") + f" {unit}"
