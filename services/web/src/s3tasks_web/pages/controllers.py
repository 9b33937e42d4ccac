"""My Images and My Files: one controller, built once per kind.

My Images: upload an image, see the newest three as thumbnails, delete them all.
My Files: upload a file with a description, download the last one, delete them all.
"""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.response import Response, Template

from s3tasks_web.connections import WebRequest
from s3tasks_web.pages.items import ItemsService
from s3tasks_web.pages.kinds import KindPage
from s3tasks_web.pages.responses import back_to
from s3tasks_web.services import WebServices
from s3tasks_web.storage_client import StorageClient
from s3tasks_web.transfers.objects import ObjectClient
from s3tasks_web.visitors.session import VisitorSession


def items_controller(kind_page: KindPage) -> type[Controller]:
    """A factory rather than subclasses: the page's route name and which content routes exist
    differ by kind, and decorators are evaluated once per class body."""

    def provide_items(
        storage: StorageClient,
        objects: ObjectClient,
        visitor: VisitorSession,
        services: WebServices,
    ) -> ItemsService:
        return ItemsService(kind_page, storage, objects, visitor, services)

    class ItemsController(Controller):
        path = kind_page.path
        tags = ["pages"]
        dependencies = {"items": Provide(provide_items, sync_to_thread=False)}

        @get("/", name=kind_page.noun)
        async def page(self, items: ItemsService) -> Template:
            return Template(kind_page.template, context=await items.page_context())

        @post("/upload", request_max_body_size=None, status_code=303)
        async def upload(self, request: WebRequest, items: ItemsService) -> Response[object]:
            await items.upload(request)
            return back_to(request, kind_page.path)

        @post("/delete", status_code=303)
        async def delete_all(self, request: WebRequest, items: ItemsService) -> Response[object]:
            await items.purge(request)
            return back_to(request, kind_page.path)

        @get("/{item_id:str}" + kind_page.content_leaf)
        async def content(
            self, request: WebRequest, items: ItemsService, item_id: str
        ) -> Response[object]:
            return await items.stream_content(request, item_id, thumbnail=False)

        if kind_page.thumbnails:

            @get("/{item_id:str}/thumbnail")
            async def thumbnail(
                self, request: WebRequest, items: ItemsService, item_id: str
            ) -> Response[object]:
                return await items.stream_content(request, item_id, thumbnail=True)

    return ItemsController
