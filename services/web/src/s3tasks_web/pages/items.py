"""One visitor's items of one kind, behind a page: list them, delete them all, serve their
bytes. The pages' controller (`pages/controllers.py`) only calls this, one `VisitorItems` a
request, for the kind of the page it came to; uploads are `uploads/`'s."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from litestar.response import Redirect, Response

from s3tasks_contracts import ItemKind, ItemList, LinkVariant, SiteConfiguration, TransferMode
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.errors import ItemNotFound, UploadRejected
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.pages.kinds import KindPage
from s3tasks_web.pages.requests import MIB, received_through, request_quota, request_rows
from s3tasks_web.pages.share_rows import share_rows
from s3tasks_web.pages.views import ItemView, deleted_after, item_views
from s3tasks_web.settings import WebSettings
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.transfers.objects import ObjectClient
from s3tasks_web.transfers.responses import PRIVATE_CACHE_CONTROL, relay_object
from s3tasks_web.visitors.session import VisitorSession

CONFIRM_FIELD = "confirm"


@dataclass(frozen=True)
class VisitorItems:
    page: KindPage
    storage: StorageApiClient
    objects: ObjectClient
    visitor: VisitorSession
    settings: WebSettings

    async def page_context(self, site: str) -> dict[str, Any]:
        """Everything the page shows, from one call to storage-api (the limits are cached):
        the items, their share links and, in `direct` mode, the S3 links they load by."""
        listing = await self.storage.list_items(self.visitor.visitor_id, self.page.kind)
        limits = await self.storage.site_configuration()
        max_bytes = self.page.max_bytes(limits)
        views = item_views(listing)
        # My Images shares each image; My Files offers (and shares) its latest file only,
        # and the files senders sent through the visitor's upload requests
        shown = views if self.page.kind is ItemKind.IMAGE else views[:1]
        asked: dict[str, Any] = {}
        if self.page.kind is ItemKind.FILE:
            views, asked = await self._requests(listing, views, limits, site)
            shown = [*shown, *asked["received"]]
        return {
            **asked,
            "page": self.page,
            "items": views,
            # My Files offers the last uploaded file; older ones wait for their deletion.
            "latest": views[0] if views else None,
            "shares": share_rows(listing, {view.id for view in shown}, site),
            "limits": limits,
            "max_bytes": max_bytes,
            "max_size": human_size(max_bytes),
            "deleted_after": deleted_after(self.page.ttl_seconds(limits)),
            "transfer_mode": limits.transfer_mode.value,
        }

    async def _requests(
        self, listing: ItemList, views: list[ItemView], limits: SiteConfiguration, site: str
    ) -> tuple[list[ItemView], dict[str, Any]]:
        """My Files' upload requests, and its files marked with the request they came by."""
        rows = request_rows(await self.storage.list_requests(self.visitor.visitor_id), site)
        marked = [
            replace(view, received_through=named, sender_note=item.sender_note)
            if (named := received_through(item, rows)) is not None
            else view
            for view, item in zip(views, listing.items, strict=True)
        ]
        return marked, {
            "requests": rows,
            "received": [view for view in marked if view.received_through is not None],
            "quota_mib": max(1, request_quota(limits) // MIB),
            "ttl_minutes": max(1, limits.file_ttl_seconds // 60),
        }

    async def purge(self, request: WebRequest) -> None:
        form = await request.form()
        if form.get(CONFIRM_FIELD) != "yes":
            raise UploadRejected(
                400, f"Tick the box to confirm deleting all your {self.page.plural}."
            )
        result = await self.storage.purge(self.visitor.visitor_id, self.page.kind)
        self.visitor.flash("success", f"Deleted {self.page.count(result.hidden)}.")

    async def stream_content(
        self, request: WebRequest, item_id: str, *, thumbnail: bool
    ) -> Response[object]:
        """The item's bytes, as the operator's transfer mode says: `direct`, a 303 to a
        presigned GET the browser follows to S3; `proxy`, streamed from S3 by web. storage-api
        is not on the byte path either way."""
        try:
            UUID(item_id)
        except ValueError:
            raise ItemNotFound from None
        variant = LinkVariant.THUMBNAIL if thumbnail else LinkVariant.CONTENT
        mode = await self.storage.transfer_mode()
        link = await self.storage.link(self.visitor.visitor_id, item_id, variant, mode)
        if mode is TransferMode.DIRECT:
            # the link is the visitor's own for a few minutes: not for shared caches
            return Redirect(
                link.url, status_code=303, headers={"cache-control": "private, no-store"}
            )
        return await relay_object(self.objects, link.url, request.headers, PRIVATE_CACHE_CONTROL)
