"""A link's page, `/s/<token>`, for whoever holds the link: what it shares, a password form
first when it has one, and the download.

No visitor session here: nothing reads or writes the session cookie below `/s/` (the cookie
hook skips these paths, `app.py`), so opening a link sets no cookie. storage-api counts
(`grant`) and signs; web only asks it and passes the bytes on:
- `POST /s/<token>` is the Download button (with the password, if any): one counted grant,
  answered with a 303 to `/s/<token>/download?grant=` in both modes.
- `GET /s/<token>/download?grant=` redeems the grant (not counted) for the client it was
  granted to, under its own token, for `STORAGE_API_SHARE_GRANT_SECONDS`: `proxy` mode
  streams the object with the visitor's Range, `direct` mode answers 303 to a presigned GET
  that expires with the grant. A download started, resumed or ranged within the grant counts
  once; after it nothing the grant handed out starts a download.
- HEAD never grants: it answers the link's state from a lookup.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from litestar import Controller, get, head, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from s3tasks_contracts import (
    MAX_SHARE_PASSWORD_LENGTH,
    REFUSALS,
    GrantRequest,
    ItemKind,
    ProblemType,
    RedeemRequest,
    ShareLookup,
    ShareView,
    TransferMode,
    is_valid_share_token,
)
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.dependencies import (
    CLIENT,
    OBJECTS,
    SETTINGS,
    STORAGE,
    ClientDep,
    ObjectsDep,
    SettingsDep,
    StorageDep,
)
from s3tasks_web.errors import ShareRefused
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.http.share_paths import share_path
from s3tasks_web.pages.views import human_duration
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.transfers.responses import PRIVATE_CACHE_CONTROL, relay_object
from s3tasks_web.visitors.csrf import NO_SESSION

#: a share download is for one client once: no cache, private or shared, may answer for it
SHARE_CACHE_CONTROL = "private, no-store"
#: a grant is storage-api's `<32 hex>.<32 hex>.<seconds>.<mac>`: anything longer is no grant
_MAX_GRANT = 512
_TITLES = {
    403: "Download no longer valid",
    404: "Link not found",
    410: "Link used up",
    429: "Too many attempts",
}


def _checked(token: str) -> str:
    """A well-formed token, or the page every ended link answers (storage-api is not asked)."""
    if not is_valid_share_token(token):
        raise ShareRefused(ProblemType.SHARE_GONE)
    return token


def handle_share_refused(request: WebRequest, exc: ShareRefused) -> Response[object]:
    """Every refusal of a link in the same words and status storage-api gave: the ended
    link's 404 is one page whatever ended it."""
    headers = {}
    if exc.retry_after is not None:
        headers["retry-after"] = str(exc.retry_after)
    if request.method == "HEAD":
        return Response(b"", status_code=exc.status_code, headers=headers)
    page: Response[object] = Template(  # type: ignore[assignment]
        "error.html",
        context={"title": _TITLES.get(exc.status_code, "Sorry"), "message": exc.user_message},
        status_code=exc.status_code,
        headers=headers,
    )
    return page


def _view_context(token: str, view: ShareView, mode: TransferMode) -> dict[str, Any]:
    seconds_left = int((view.ends_at - view.server_time).total_seconds())
    preview = None
    if view.preview_url is not None:
        # `direct`: the browser loads the presigned thumbnail from S3 (the CSP names its
        # origin); `proxy`: web passes it on
        preview = (
            view.preview_url if mode is TransferMode.DIRECT else f"{share_path(token)}/preview"
        )
    left = view.downloads_left
    return {
        "share": view,
        "noun": "image" if view.kind is ItemKind.IMAGE else "file",
        "action": share_path(token),
        "size": human_size(view.size_bytes) if view.size_bytes is not None else None,
        "time_left": human_duration(seconds_left),
        "downloads_left": "no limit" if left is None else str(left),
        "preview": preview,
        "error": None,
        "encrypted_metadata": (
            None
            if view.encrypted_metadata is None
            else base64.b64encode(view.encrypted_metadata).decode("ascii")
        ),
    }


async def _password_form(
    storage: StorageApiClient, token: str, mode: TransferMode, error: str
) -> Response[object]:
    """The link's page again, its password form saying what was wrong (403)."""
    view = await storage.look_up_share(ShareLookup(token=token, via=mode))
    context = {**_view_context(token, view, mode), "error": error}
    page: Response[object] = Template(  # type: ignore[assignment]
        "share.html", context=context, status_code=403
    )
    return page


class PublicShareController(Controller):
    path = "/s"
    tags = ["shares"]
    opt = {NO_SESSION: True}
    dependencies = {**STORAGE, **OBJECTS, **CLIENT, **SETTINGS}
    exception_handlers = {ShareRefused: handle_share_refused}

    @get("/{token:str}")
    async def page(
        self, storage: StorageDep, settings: SettingsDep, token: FromPath[str]
    ) -> Template:
        mode = await storage.transfer_mode()
        view = await storage.look_up_share(ShareLookup(token=_checked(token), via=mode))
        context = {
            **_view_context(token, view, mode),
            "blob_max_bytes": settings.encrypted_download_blob_max_bytes,
            "blob_max": human_size(settings.encrypted_download_blob_max_bytes),
        }
        return Template("share.html", context=context)

    @post("/{token:str}", status_code=303)
    async def download(
        self,
        request: WebRequest,
        storage: StorageDep,
        client: ClientDep,
        token: FromPath[str],
    ) -> Response[object]:
        """One counted download: the Download button, with the password if the link has one."""
        _checked(token)
        form = await request.form()
        sent = form.get("password")
        password = sent if isinstance(sent, str) and sent else None
        mode = await storage.transfer_mode()
        if password is not None and len(password) > MAX_SHARE_PASSWORD_LENGTH:
            # longer than any password of a link: wrong, without asking (and hashing) for it
            return await _password_form(
                storage, token, mode, REFUSALS[ProblemType.WRONG_PASSWORD].words
            )
        try:
            grant = await storage.grant_share(
                GrantRequest(token=token, password=password, client=client)
            )
        except ShareRefused as refused:
            if refused.problem_type is not ProblemType.WRONG_PASSWORD:
                raise
            return await _password_form(storage, token, mode, refused.user_message)
        # through web in `direct` mode too: S3 cannot check who follows its link, web can
        target = f"{share_path(token)}/download?grant={quote(grant.grant, safe='')}"
        return Redirect(target, status_code=303, headers={"cache-control": "no-store"})

    @get("/{token:str}/download")
    async def redeemed(
        self,
        request: WebRequest,
        storage: StorageDep,
        objects: ObjectsDep,
        client: ClientDep,
        token: FromPath[str],
        grant: FromQuery[str] = "",
    ) -> Response[object]:
        """The bytes of a granted download, again within the grant (resumed or ranged
        requests) from the client it was granted to: redeemed, never counted."""
        _checked(token)
        if not grant or len(grant) > _MAX_GRANT or not grant.isascii():
            raise ShareRefused(ProblemType.GRANT_ENDED)
        mode = await storage.transfer_mode()
        link = await storage.redeem_share(
            RedeemRequest(grant=grant, token=token, client=client, via=mode)
        )
        if mode is TransferMode.DIRECT:
            return Redirect(
                link.url, status_code=303, headers={"cache-control": SHARE_CACHE_CONTROL}
            )
        return await relay_object(objects, link.url, request.headers, SHARE_CACHE_CONTROL)

    @get("/{token:str}/preview")
    async def preview(
        self, request: WebRequest, storage: StorageDep, objects: ObjectsDep, token: FromPath[str]
    ) -> Response[object]:
        """An image link's thumbnail through web (`proxy` mode): not counted."""
        view = await storage.look_up_share(
            ShareLookup(token=_checked(token), via=TransferMode.PROXY)
        )
        if view.preview_url is None:
            raise ShareRefused(ProblemType.SHARE_GONE)
        return await relay_object(objects, view.preview_url, {}, PRIVATE_CACHE_CONTROL)

    @head(["/{token:str}", "/{token:str}/download"], status_code=200)
    async def state(self, storage: StorageDep, token: FromPath[str]) -> None:
        """A HEAD (link checkers, download managers) learns whether the link opens, and is
        never a download: no grant is asked for, nothing is counted."""
        mode = await storage.transfer_mode()
        await storage.look_up_share(ShareLookup(token=_checked(token), via=mode))
