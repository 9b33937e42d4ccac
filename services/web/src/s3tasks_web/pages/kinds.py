"""Everything web says or serves differently for images and for files, in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from s3tasks_contracts import ItemKind, SiteConfiguration


@dataclass(frozen=True)
class KindPage:
    kind: ItemKind
    #: where the page is; its forms and content live below it.
    path: str
    #: as in "That image is too large".
    singular: str
    #: as in "Delete all images".
    plural: str
    template: str
    #: after `{path}/{item id}`: where an item's content is served.
    content_leaf: str
    #: whether items have a thumbnail route (`{path}/{item id}/thumbnail`).
    thumbnails: bool
    #: whether the upload form asks for a description (and it is passed on).
    described: bool
    #: what the file picker offers (empty: anything); storage-api sniffs the bytes regardless.
    accept: str
    #: the largest upload storage-api accepts, from its limits.
    max_bytes: Callable[[SiteConfiguration], int]
    #: how long after its upload an item is deleted, from storage-api's limits.
    ttl_seconds: Callable[[SiteConfiguration], int]

    def count(self, number: int) -> str:
        """'1 image', '3 images', '0 images'."""
        return f"{number} {self.singular if number == 1 else self.plural}"


IMAGES = KindPage(
    kind=ItemKind.IMAGE,
    path="/images",
    singular="image",
    plural="images",
    template="images.html",
    content_leaf="",
    thumbnails=True,
    described=False,
    accept="image/jpeg,image/png,image/gif,image/webp",
    max_bytes=lambda limits: limits.max_image_bytes,
    ttl_seconds=lambda limits: limits.image_ttl_seconds,
)
FILES = KindPage(
    kind=ItemKind.FILE,
    path="/files",
    singular="file",
    plural="files",
    template="files.html",
    content_leaf="/download",
    thumbnails=False,
    described=True,
    accept="",
    max_bytes=lambda limits: limits.max_file_bytes,
    ttl_seconds=lambda limits: limits.file_ttl_seconds,
)
KIND_PAGES = {page.kind: page for page in (IMAGES, FILES)}
