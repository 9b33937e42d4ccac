"""My Images: upload an image, see the newest three as thumbnails, delete them all."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.response import Response, Template

from s3tasks_contracts import ItemKind
from s3tasks_web.pages import items
from s3tasks_web.pages.responses import back_to
from s3tasks_web.services import WebServices
from s3tasks_web.storage_client import StorageClient
from s3tasks_web.visitors.session import VisitorSession

KIND = ItemKind.IMAGE


class ImagesController(Controller):
    path = "/images"
    tags = ["pages"]

    @get("/", name="images")
    async def page(
        self, storage: StorageClient, visitor: VisitorSession, services: WebServices
    ) -> Template:
        context = await items.page_context(storage, visitor, services, KIND)
        return Template("images.html", context=context)

    @post("/upload", request_max_body_size=None, status_code=303)
    async def upload(
        self,
        request: Request,  # type: ignore[type-arg]
        storage: StorageClient,
        visitor: VisitorSession,
        services: WebServices,
    ) -> Response[object]:
        await items.upload(request, KIND, storage, visitor, services)
        return back_to(request, items.PAGE_OF[KIND])

    @post("/delete", status_code=303)
    async def delete_all(
        self,
        request: Request,  # type: ignore[type-arg]
        storage: StorageClient,
        visitor: VisitorSession,
    ) -> Response[object]:
        await items.purge(request, KIND, storage, visitor)
        return back_to(request, items.PAGE_OF[KIND])

    @get("/{item_id:str}")
    async def content(
        self,
        request: Request,  # type: ignore[type-arg]
        storage: StorageClient,
        visitor: VisitorSession,
        item_id: str,
    ) -> Response[object]:
        return await items.stream_content(request, storage, visitor, item_id, thumbnail=False)

    @get("/{item_id:str}/thumbnail")
    async def thumbnail(
        self,
        request: Request,  # type: ignore[type-arg]
        storage: StorageClient,
        visitor: VisitorSession,
        item_id: str,
    ) -> Response[object]:
        return await items.stream_content(request, storage, visitor, item_id, thumbnail=True)
