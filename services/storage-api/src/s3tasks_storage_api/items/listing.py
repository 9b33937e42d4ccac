"""The listing behind a page: a visitor's newest items with their share links and, in
`direct` mode, the presigned GETs the page loads them by. One statement in PostgreSQL, one
answer to web: a page view costs one round trip of each."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine

from s3tasks_contracts import ItemKind, ItemList, LinkVariant, ListedItem, ShareOut, TransferMode
from s3tasks_storage_api.db.engine import make_read_engine, read
from s3tasks_storage_api.items.page import PageRow, read_page, shown_fields
from s3tasks_storage_api.items.service import FILES_LISTED
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.shares.repository import LinkRow
from s3tasks_storage_api.storage.signing import Signer, sign_download

#: the longest validity SigV4 allows a presigned request
MAX_PRESIGNED = timedelta(days=7)


class SharesShown(Protocol):
    """How a page shows an item's share links (the share service's view of its owner's)."""

    def out(self, link: LinkRow, now: datetime) -> ShareOut: ...


class ItemListing:
    def __init__(
        self,
        settings: StorageApiSettings,
        reads: Engine,
        shares: SharesShown,
        browser_signer: Signer | None,
    ) -> None:
        """`browser_signer`: `direct` mode's (the page carries S3 links); None in `proxy`
        mode, where pages link to web's own routes."""
        self._settings = settings
        self._reads = reads
        self._shares = shares
        self._signer = browser_signer

    @classmethod
    def on_engine(
        cls,
        settings: StorageApiSettings,
        engine: Engine,
        shares: SharesShown,
        browser_signer: Signer,
    ) -> ItemListing:
        """The listing as storage-api runs it: reads in autocommit on `engine`'s pool, S3
        links in the page only in `direct` mode."""
        direct = settings.transfer_mode is TransferMode.DIRECT
        return cls(settings, make_read_engine(engine), shares, browser_signer if direct else None)

    def list(self, visitor_id: str, kind: ItemKind) -> ItemList:
        # every image kept under the cap is shown: the cap is a setting, so is the list
        limit = self._settings.images_kept if kind is ItemKind.IMAGE else FILES_LISTED
        rows, now = read(
            self._reads, lambda connection: read_page(connection, visitor_id, kind, limit)
        )
        return ItemList(items=[self._listed(row, now) for row in rows], server_time=now)

    def _listed(self, row: PageRow, now: datetime) -> ListedItem:
        content_url = thumbnail_url = None
        if self._signer is not None:
            signed_at, valid = link_window(row.stored_at, row.expires_at, now)
            # the URL is the same on every page view: the browser keeps what it loaded
            cache_control = f"private, max-age={int(valid.total_seconds())}"
            signer = self._signer

            def sign(variant: LinkVariant) -> str:
                return sign_download(
                    signer,
                    row,
                    variant,
                    signed_at=signed_at,
                    valid_for=valid,
                    cache_control=cache_control,
                )

            content_url = sign(LinkVariant.CONTENT)
            if row.thumbnail_key is not None:
                thumbnail_url = sign(LinkVariant.THUMBNAIL)
        return ListedItem(
            **shown_fields(row, row.stored_at),
            shares=[self._shares.out(link, now) for link in row.links],
            content_url=content_url,
            thumbnail_url=thumbnail_url,
            received_through=row.upload_request_id,
            sender_note=row.sender_note or "",
        )


def link_window(
    stored_at: datetime, expires_at: datetime, now: datetime
) -> tuple[datetime, timedelta]:
    """(signing time, validity) of an item's links: signed when it was stored and valid
    until its deletion, so every page view carries the same URL. An item that lives longer
    than S3 lets a link live (7 days) gets links of 7 days signed at half-window steps since
    it was stored: the same URL for 3.5 days, never one about to expire."""
    whole = timedelta(seconds=int((expires_at - stored_at).total_seconds()))
    if whole <= MAX_PRESIGNED:
        return stored_at, max(whole, timedelta(seconds=1))
    step = MAX_PRESIGNED / 2
    signed_at = stored_at + step * ((now - stored_at) // step)
    left = timedelta(seconds=int((expires_at - signed_at).total_seconds()))
    return signed_at, max(timedelta(seconds=1), min(MAX_PRESIGNED, left))
