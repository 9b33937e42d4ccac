"""The owner's share links, on My Images (each image) and My Files (the latest file): create
one, see each with its downloads and time left, its URL to copy and its QR code, stop it.

The routes sit below each page's router, as its other forms do: a refusal goes back to the
page as a flash message (`pages/errors.py`), and nothing is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from litestar import Controller, post
from litestar.response import Response
from markupsafe import Markup

from s3tasks_contracts import (
    MAX_SHARE_DOWNLOADS,
    MAX_SHARE_PASSWORD_LENGTH,
    ItemList,
    ShareCreate,
    ShareOut,
    ShareState,
)
from s3tasks_web.errors import ItemNotFound, UploadRejected
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.pages.kinds import KindPage
from s3tasks_web.pages.responses import back_to
from s3tasks_web.pages.routes import FORM_ROUTE
from s3tasks_web.pages.views import human_duration
from s3tasks_web.resources import AppResources
from s3tasks_web.shares.qr import qr_svg
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.visitors.session import VisitorSession

#: the owner's form fields
LIMIT_FIELD = "max_downloads"
PASSWORD_FIELD = "password"  # noqa: S105 - a field's name
MINUTES_FIELD = "minutes"
_STATE_WORDS = {
    ShareState.ACTIVE: "active",
    ShareState.USED_UP: "used up",
    ShareState.STOPPED: "stopped",
    ShareState.ENDED: "ended",
}


@dataclass(frozen=True)
class ShareRow:
    """One link as its owner's page shows it."""

    id: str
    url: str
    state: str
    active: bool
    used: str
    left: str
    time_left: str
    password: bool
    qr: Markup | None


def share_row(share: ShareOut, site: str, server_time: datetime) -> ShareRow:
    url = f"{site}{share.path}"
    active = share.state is ShareState.ACTIVE
    if share.max_downloads is None:
        used = f"{share.downloads} used"
        left = "no limit"
    else:
        used = f"{share.downloads} of {share.max_downloads} used"
        left = f"{share.downloads_left} left"
    seconds_left = int((share.ends_at - server_time).total_seconds())
    return ShareRow(
        id=str(share.id),
        url=url,
        state=_STATE_WORDS[share.state],
        active=active,
        used=used,
        left=left,
        time_left=human_duration(seconds_left) if active else "—",
        password=share.password_required,
        qr=qr_svg(url, "QR code of the link") if active else None,
    )


def site_url(request: WebRequest, resources: AppResources) -> str:
    """The site's address as visitors reach it, which the links shown to owners are made
    with: the operator's WEB_PUBLIC_URL (required in production: only the operator knows the
    https:// address a TLS ingress serves). Without one (development), the scheme and local
    address of web's own socket the request arrived at, as the server saw them. Never the
    `Host` or `X-Forwarded-*` headers: whoever sends the request writes them, and a page
    fetched with `Host: evil.example` would hand its owner a link to the attacker's site."""
    configured = resources.settings.public_url
    if configured is not None:
        return str(configured).rstrip("/")
    scheme = request.scope["scheme"]
    host, port = request.scope.get("server") or (None, None)
    if host is None or port is None:  # a socket with no address (a Unix socket): the settings'
        host, port = resources.settings.host, resources.settings.port
    if ":" in host:
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port == default_port else f"{scheme}://{host}:{port}"


def share_rows(listing: ItemList, shown: set[str], site: str) -> dict[str, list[ShareRow]]:
    """The links of each shown item, newest first, from the page's listing (no call)."""
    return {
        str(item.id): [share_row(share, site, listing.server_time) for share in item.shares]
        for item in listing.items
        if str(item.id) in shown
    }


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

        @post("/", status_code=303, opt=FORM_ROUTE)
        async def create(
            self,
            request: WebRequest,
            storage: StorageApiClient,
            visitor: VisitorSession,
            client: str,
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
            storage: StorageApiClient,
            visitor: VisitorSession,
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
