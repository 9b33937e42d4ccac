"""The owner's share links, on My Images (each image) and My Files (the latest file): create
one, stop it (the page shows each with `pages/share_rows.py`).

The routes sit below each page's router, as its other forms do: a refusal goes back to the
page as a flash message (`pages/errors.py`), and nothing is created.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from litestar import Controller, post
from litestar.response import Response

from s3tasks_contracts import (
    MAX_SHARE_DOWNLOADS,
    MAX_SHARE_PASSWORD_LENGTH,
    ShareCreate,
)
from s3tasks_web.dependencies import CLIENT, STORAGE, VISITOR, ClientDep, StorageDep, VisitorDep
from s3tasks_web.errors import ItemNotFound, UploadRejected
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.pages.kinds import KindPage
from s3tasks_web.pages.responses import back_to
from s3tasks_web.pages.routes import FORM_ROUTE

#: the owner's form fields
LIMIT_FIELD = "max_downloads"
PASSWORD_FIELD = "password"  # noqa: S105 - a field's name
MINUTES_FIELD = "minutes"


def parse_share_form(form: dict[str, str], now: datetime, client: str) -> ShareCreate:
    """The owner's form as a request to storage-api, or a refusal in words (nothing sent);
    `client` is the owner's address, which links created are limited by."""
    limit = whole_number(
        form.get(LIMIT_FIELD, ""),
        1,
        MAX_SHARE_DOWNLOADS,
        f"The download limit must be a whole number from 1 to {MAX_SHARE_DOWNLOADS}.",
    )
    password = form.get(PASSWORD_FIELD, "")
    if len(password) > MAX_SHARE_PASSWORD_LENGTH:
        raise UploadRejected(
            400, f"The password must be at most {MAX_SHARE_PASSWORD_LENGTH} characters long."
        )
    minutes = whole_number(
        form.get(MINUTES_FIELD, ""),
        1,
        366 * 24 * 60,
        "The link's end must be a whole number of minutes from now.",
    )
    return ShareCreate(
        max_downloads=limit,
        password=password or None,
        ends_at=now + timedelta(minutes=minutes) if minutes is not None else None,
        client=client,
    )


def whole_number(text: str, low: int, high: int, refusal: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9 or not low <= int(text) <= high:
        raise UploadRejected(400, refusal)
    return int(text)


def _item_id(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise ItemNotFound from None


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
            item_id: str,
        ) -> Response[object]:
            form = await request.form()
            fields = {name: value for name, value in form.items() if isinstance(value, str)}
            share = parse_share_form(fields, datetime.now(UTC), client)
            await storage.create_share(visitor.visitor_id, _item_id(item_id), share)
            visitor.flash("success", f"Share link created for your {kind_page.singular}.")
            return back_to(request, kind_page.path)

        @post("/{share_id:str}/stop", status_code=303, opt=FORM_ROUTE)
        async def stop(
            self,
            request: WebRequest,
            storage: StorageDep,
            visitor: VisitorDep,
            item_id: str,
            share_id: str,
        ) -> Response[object]:
            # the button's form has no field, but a body that is not text is refused here as
            # on every other form (http/forms.py), before anything is stopped
            await request.form()
            await storage.stop_share(visitor.visitor_id, _item_id(item_id), _item_id(share_id))
            visitor.flash("success", "Stopped sharing: that link no longer opens.")
            return back_to(request, kind_page.path)

    return OwnerSharesController
