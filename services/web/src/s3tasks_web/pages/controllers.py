"""My Images and My Files: one controller, built once per kind, below the page's router
(`page_router` in app.py, which says which page its routes belong to).

My Images: see the newest three as thumbnails, delete them all.
My Files: download the last one, delete them all.
Uploading to either is `uploads/`'s.
"""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Response, Template

from s3tasks_web.dependencies import provide_objects, provide_storage, provide_visitor, services_of
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.http.site import site_url
from s3tasks_web.pages.items import VisitorItems
from s3tasks_web.pages.kinds import KindPage
from s3tasks_web.pages.responses import back_to
from s3tasks_web.pages.routes import FORM_ROUTE

#: everything a page's routes need (`provide_items`)
ItemsDep = NamedDependency[VisitorItems]


def items_controller(kind_page: KindPage) -> type[Controller]:
    """A factory rather than subclasses: the page's route name and which content routes exist
    differ by kind, and decorators are evaluated once per class body."""

    def provide_items(request: WebRequest) -> VisitorItems:
        """Everything a page's routes need, as one dependency made from the request alone:
        Litestar resolves several independent dependencies of a handler in an anyio task
        group per request (a tenth of web's CPU per page view in a profile of bench case 6),
        one without any."""
        state = request.app.state
        return VisitorItems(
            kind_page,
            provide_storage(state),
            provide_objects(state),
            provide_visitor(request),
            services_of(state).settings,
        )

    class ItemsController(Controller):
        path = "/"
        tags = ["pages"]
        dependencies = {"items": Provide(provide_items, sync_to_thread=False)}

        @get("/", name=kind_page.plural)
        async def page(self, request: WebRequest, items: ItemsDep) -> Template:
            context = await items.page_context(site_url(request, items.settings))
            return Template(kind_page.template, context=context)

        @post("/delete", status_code=303, opt=FORM_ROUTE)
        async def delete_all(self, request: WebRequest, items: ItemsDep) -> Response[object]:
            await items.purge(request)
            return back_to(request, kind_page.path)

        @get("/{item_id:str}" + kind_page.content_leaf)
        async def content(
            self, request: WebRequest, items: ItemsDep, item_id: FromPath[str]
        ) -> Response[object]:
            return await items.stream_content(request, item_id, thumbnail=False)

        if kind_page.thumbnails:

            @get("/{item_id:str}/thumbnail")
            async def thumbnail(
                self, request: WebRequest, items: ItemsDep, item_id: FromPath[str]
            ) -> Response[object]:
                return await items.stream_content(request, item_id, thumbnail=True)

    return ItemsController
