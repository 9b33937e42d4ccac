"""My Files: upload a file with a description, download the last one, delete them all."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.response import Response, Template

from s3tasks_contracts import ItemKind
from s3tasks_web.pages import items
from s3tasks_web.pages.responses import back_to
from s3tasks_web.services import WebServices
from s3tasks_web.storage_client import StorageClient
from s3tasks_web.visitors.session import VisitorSession

KIND = ItemKind.FILE


class FilesController(Controller):
    path = "/files"
    tags = ["pages"]

    @get("/", name="files")
    async def page(
        self, storage: StorageClient, visitor: VisitorSession, services: WebServices
    ) -> Template:
        context = await items.page_context(storage, visitor, services, KIND)
        # The page offers the last uploaded file; older ones wait for their deletion.
        context["latest"] = context["items"][0] if context["items"] else None
        return Template("files.html", context=context)

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

    @get("/{item_id:str}/download")
    async def download(
        self,
        request: Request,  # type: ignore[type-arg]
        storage: StorageClient,
        visitor: VisitorSession,
        item_id: str,
    ) -> Response[object]:
        return await items.stream_content(request, storage, visitor, item_id, thumbnail=False)
