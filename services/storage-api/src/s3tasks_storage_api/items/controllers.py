"""The visitor-facing API (web's credential only). Thin: parse, call ItemService, answer.

The bytes never pass here: they go to and from S3 on requests `transfers/` signs."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_202_ACCEPTED

from s3tasks_contracts import ItemKind, ItemList, PurgeResult, SiteConfiguration
from s3tasks_storage_api.callers import Caller, VisitorId, only
from s3tasks_storage_api.items.listing import ItemListing
from s3tasks_storage_api.items.service import ItemService


class SiteConfigurationController(Controller):
    #: its path is from when it held the limits only; web and the tests ask here
    path = "/v1/limits"
    guards = [only(Caller.WEB)]
    tags = ["items"]

    @get("/", sync_to_thread=False)
    def site_configuration(self, items: NamedDependency[ItemService]) -> SiteConfiguration:
        return items.site_configuration()


class ItemsController(Controller):
    path = "/v1/visitors/{visitor_id:str}/items"
    guards = [only(Caller.WEB)]
    tags = ["items"]

    @get("/", sync_to_thread=True)
    def list_items(
        self,
        listing: NamedDependency[ItemListing],
        visitor_id: VisitorId,
        kind: FromQuery[ItemKind],
    ) -> ItemList:
        """The visitor's newest items with their share links (and, in `direct` mode, the
        links the page loads them by): everything a page shows, in one call."""
        return listing.list(visitor_id, kind)

    @delete("/", status_code=HTTP_202_ACCEPTED, sync_to_thread=True)
    def delete_all(
        self, items: NamedDependency[ItemService], visitor_id: VisitorId, kind: FromQuery[ItemKind]
    ) -> PurgeResult:
        """Hide all of the visitor's items of a kind at once; a job deletes them."""
        return PurgeResult(kind=kind, hidden=items.purge(visitor_id, kind))

    @delete("/{item_id:uuid}", status_code=HTTP_202_ACCEPTED, sync_to_thread=True)
    def delete_one(
        self, items: NamedDependency[ItemService], visitor_id: VisitorId, item_id: FromPath[UUID]
    ) -> None:
        """Hide one of the visitor's items at once; a job deletes it (404: not theirs)."""
        items.delete_one(visitor_id, item_id)
