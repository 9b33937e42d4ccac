"""The owner's share links, on My Images (each image) and My Files (the latest file): create
one, stop it (the page shows each with `pages/share_rows.py`).

The routes sit below each page's router, as its other forms do: a refusal goes back to the
page as a flash message (`pages/errors.py`), and nothing is created.
"""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Controller, post
from litestar.params import FromPath
from litestar.response import Response

from s3tasks_contracts import MAX_SHARE_DOWNLOADS, ShareCreate
from s3tasks_web.dependencies import CLIENT, STORAGE, VISITOR, ClientDep, StorageDep, VisitorDep
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.pages.kinds import KindPage
from s3tasks_web.pages.owner_forms import ends_at, form_fields, password, path_id, whole_number
from s3tasks_web.pages.responses import back_to
from s3tasks_web.pages.routes import FORM_ROUTE

#: the owner's form field of the download limit (the others: `pages/owner_forms.py`)
LIMIT_FIELD = "max_downloads"


def parse_share_form(form: dict[str, str], now: datetime, client: str) -> ShareCreate:
    """The owner's form as a request to storage-api, or a refusal in words (nothing sent);
    `client` is the owner's address, which links created are limited by."""
    limit = whole_number(
        form.get(LIMIT_FIELD, ""),
        1,
        MAX_SHARE_DOWNLOADS,
        f"The download limit must be a whole number from 1 to {MAX_SHARE_DOWNLOADS}.",
    )
    secret = password(form)
    ends = ends_at(
        form, now, 366 * 24 * 60, "The link's end must be a whole number of minutes from now."
    )
    return ShareCreate(max_downloads=limit, password=secret, ends_at=ends, client=client)


def shares_controller(kind_page: KindPage) -> type[Controller]:
    """The owner's share routes below a page (`/images/<id>/shares`, `/files/<id>/shares`)."""

    class OwnerSharesController(Controller):
        path = "/{item_id:str}/shares"
        tags = ["shares"]
        dependencies = {**STORAGE, **VISITOR, **CLIENT}

        @post("/", status_code=303, opt=FORM_ROUTE)
        async def create(
            self,
            request: WebRequest,
            storage: StorageDep,
            visitor: VisitorDep,
            client: ClientDep,
            item_id: FromPath[str],
        ) -> Response[object]:
            share = parse_share_form(await form_fields(request), datetime.now(UTC), client)
            await storage.create_share(visitor.visitor_id, path_id(item_id), share)
            visitor.flash("success", f"Share link created for your {kind_page.singular}.")
            return back_to(request, kind_page.path)

        @post("/{share_id:str}/stop", status_code=303, opt=FORM_ROUTE)
        async def stop(
            self,
            request: WebRequest,
            storage: StorageDep,
            visitor: VisitorDep,
            item_id: FromPath[str],
            share_id: FromPath[str],
        ) -> Response[object]:
            # the button's form has no field, but a body that is not text is refused here as
            # on every other form (http/forms.py), before anything is stopped
            await request.form()
            await storage.stop_share(visitor.visitor_id, path_id(item_id), path_id(share_id))
            visitor.flash("success", "Stopped sharing: that link no longer opens.")
            return back_to(request, kind_page.path)

    return OwnerSharesController
