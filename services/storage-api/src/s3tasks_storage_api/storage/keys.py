"""Where an item's bytes live in the bucket: every key and key prefix storage-api writes,
lists (reconcile), ages (the lifecycle rules) or aborts uploads under (the sweep)."""

from __future__ import annotations

from typing import Final
from uuid import UUID

#: what visitors' items are served from
OBJECTS_PREFIX: Final = "objects/"
#: images' thumbnails (WebP)
THUMBNAILS_PREFIX: Final = "thumbnails/"
#: where POST policies let browsers write: never served, copied to `objects/` at completion
STAGING_PREFIX: Final = "uploads/"
THUMBNAIL_CONTENT_TYPE: Final = "image/webp"


def object_key(item_id: UUID) -> str:
    return f"{OBJECTS_PREFIX}{item_id}"


def thumbnail_key(item_id: UUID) -> str:
    return f"{THUMBNAILS_PREFIX}{item_id}.webp"


def staging_key(item_id: UUID) -> str:
    return f"{STAGING_PREFIX}{item_id}"
