"""The plain form's upload (no JavaScript needed): one request, streamed through web.

    POST /{images|files}/upload   -> the file part goes on to S3 in parts as it arrives; 303

The multipart body is read as it arrives and the file part passed on to S3 (web's one hop,
`transfers/uploads.py`), never held whole. A refusal goes back to the page with a flash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from litestar import Controller, Response, post

from s3tasks_contracts import ItemOut, SiteConfiguration
from s3tasks_web.dependencies import (
    CLIENT,
    METRICS,
    OBJECTS,
    SETTINGS,
    STORAGE,
    UPLOAD_SLOTS,
    VISITOR,
    ClientDep,
    MetricsDep,
    ObjectsDep,
    SettingsDep,
    StorageDep,
    UploadSlotsDep,
    VisitorDep,
)
from s3tasks_web.errors import StorageRefused, StorageUnavailable, UploadRejected, WebError
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.pages.kinds import KindPage
from s3tasks_web.pages.responses import back_to
from s3tasks_web.pages.routes import UPLOAD_ROUTE, PageDep
from s3tasks_web.settings import WebSettings
from s3tasks_web.transfers.objects import ObjectClient
from s3tasks_web.transfers.pacing import paced
from s3tasks_web.transfers.slots import UploadSlots
from s3tasks_web.transfers.uploads import UploadSteps, VisitorUploads, send_in_parts
from s3tasks_web.uploads import rules
from s3tasks_web.uploads.multipart_stream import FileHead, MultipartStream

FILE_FIELD = "file"
DESCRIPTION_FIELD = "description"
#: multipart boundaries and part headers around the file: a generous allowance.
_FORM_OVERHEAD_BYTES = 64 * 1024
#: how much of a refused upload is still read so the browser gets to see the answer.
_DRAIN_FACTOR = 2
Stored = TypeVar("Stored")


class _TooLarge(Exception):
    """Raised inside the upload body generator to stop sending once the limit is passed."""


class FormUploadController(Controller):
    """Below each page's router (app.py), which says which page it is."""

    path = "/"
    dependencies = {
        **STORAGE,
        **OBJECTS,
        **VISITOR,
        **CLIENT,
        **SETTINGS,
        **UPLOAD_SLOTS,
        **METRICS,
    }

    @post("/upload", request_max_body_size=None, status_code=303, opt=UPLOAD_ROUTE)
    async def upload(
        self,
        request: WebRequest,
        page: PageDep,
        storage: StorageDep,
        objects: ObjectsDep,
        visitor: VisitorDep,
        settings: SettingsDep,
        upload_slots: UploadSlotsDep,
        metrics: MetricsDep,
        client: ClientDep,
    ) -> Response[object]:
        """Stream the form's file part on to S3; a stored upload is counted, logged and flashed."""
        try:
            limits = await storage.site_configuration()
        except WebError as exc:
            exc.close_connection = True  # no limit to drain by: answer, linger briefly, hang up
            raise
        limit = page.max_bytes(limits)
        steps = VisitorUploads(storage, visitor.visitor_id)

        async def send(form: MultipartStream, head: FileHead) -> ItemOut:
            description = head.fields.get(DESCRIPTION_FIELD, "").strip()
            return await send_file(
                steps,
                objects,
                form,
                head,
                page,
                limit,
                rules.description_to_store(page, description),
                client,
            )

        item = await receive_form(request, settings, upload_slots, limits, page, limit, send)
        rules.stored(page, item, metrics, visitor)
        return back_to(request, page.path)


async def receive_form(
    request: WebRequest,
    settings: WebSettings,
    upload_slots: UploadSlots,
    limits: SiteConfiguration,
    page: KindPage,
    limit: int,
    send: Callable[[MultipartStream, FileHead], Awaitable[Stored]],
) -> Stored:
    """Read a form upload as it arrives, up to its file part, and `send` that on (a visitor's
    form, or a sender's on an upload request's page). Refused before a byte is read when its
    announced length is over `limit`; a refused upload's rest is drained so the browser sees
    the answer."""
    body = paced(request.stream(), settings)
    announced = request.headers.get("content-length")
    if (
        announced is not None
        and announced.isdigit()
        and int(announced) > limit + _FORM_OVERHEAD_BYTES
    ):
        # known too large before a byte is read: answer now and hang up, reading nothing
        raise rules.too_large(page, limit, close_connection=True)
    upload_slots.take()
    try:
        form = MultipartStream(
            request.headers.get("content-type", ""),
            body,
            max_field_bytes=rules.description_max_bytes(limits),
        )
        head = await form.read_until_file(FILE_FIELD)
        return await send(form, head)
    except WebError as exc:
        if not exc.close_connection:
            await drain_refused(body, limit * _DRAIN_FACTOR + _FORM_OVERHEAD_BYTES)
        raise
    finally:
        upload_slots.give_back()


async def send_file(
    steps: UploadSteps[Stored],
    objects: ObjectClient,
    form: MultipartStream,
    head: FileHead,
    page: KindPage,
    limit: int,
    description: str,
    client: str,
) -> Stored:
    """The form's file part on to S3 through `steps`, refused as too large past `limit`."""
    return await send_bounded(
        steps, objects, form.file_chunks(), head.filename, page, limit, description, client
    )


async def send_bounded(
    steps: UploadSteps[Stored],
    objects: ObjectClient,
    chunks: AsyncIterator[bytes],
    filename: str,
    page: KindPage,
    limit: int,
    description: str,
    client: str,
) -> Stored:
    """A body's bytes (a form's file part, a terminal's PUT) on to S3 through `steps`, refused
    as too large past `limit`."""
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        async for chunk in chunks:
            sent += len(chunk)
            if sent > limit:
                raise _TooLarge
            yield chunk

    try:
        return await send_in_parts(
            steps,
            objects,
            kind=page.kind,
            filename=filename,
            description=description,
            body=body(),
            max_bytes=limit,
            client=client,
        )
    except _TooLarge:
        raise rules.too_large(page, limit) from None
    except StorageUnavailable:
        # storage-api may answer "too large" and hang up before reading everything.
        if sent > limit:
            raise rules.too_large(page, limit) from None
        raise
    except StorageRefused as exc:
        if exc.status_code == 413:
            raise rules.too_large(page, limit) from None
        raise


async def drain_refused(body: AsyncIterator[bytes], budget: int) -> None:
    """Read and discard the rest of a refused upload (up to `budget` bytes): a browser that is
    still sending when the answer comes shows a connection error instead of the answer."""
    discarded = 0
    try:
        async for chunk in body:
            discarded += len(chunk)
            if discarded > budget:
                return
    except UploadRejected:
        return  # stalled, too slow or gone: nothing more to wait for
