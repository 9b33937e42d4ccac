"""The work behind both pages: list, upload (streamed), delete all, and stream content back.

The pages' controller (`pages/controller.py`) only calls this; one `ItemsService` a request,
for the kind of the page it came to."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar.background_tasks import BackgroundTask
from litestar.exceptions import InternalServerException
from litestar.response import Redirect, Response, Stream

from s3tasks_contracts import ItemOut, Limits, LinkVariant, TransferMode
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.connections import WebRequest
from s3tasks_web.errors import (
    ItemNotFound,
    StorageRefused,
    StorageUnavailable,
    UploadRejected,
    WebError,
)
from s3tasks_web.pages.kinds import KindPage
from s3tasks_web.pages.multipart_stream import MultipartStream
from s3tasks_web.pages.views import deleted_after, item_views
from s3tasks_web.services import WebServices
from s3tasks_web.settings import WebSettings
from s3tasks_web.storage_client import StorageClient
from s3tasks_web.transfers.objects import ObjectClient
from s3tasks_web.transfers.uploads import send_in_parts
from s3tasks_web.visitors.session import VisitorSession

log = logging.getLogger(__name__)

FILE_FIELD = "file"
DESCRIPTION_FIELD = "description"
CONFIRM_FIELD = "confirm"
#: multipart boundaries and part headers around the file: a generous allowance.
_FORM_OVERHEAD_BYTES = 64 * 1024
#: how much of a refused upload is still read so the browser gets to see the answer.
_DRAIN_FACTOR = 2

#: the policy storage-api sets on content; kept when web passes the bytes on.
CONTENT_CSP = "default-src 'none'; sandbox"


class _TooLarge(Exception):
    """Raised inside the upload body generator to stop sending once the limit is passed."""


def description_bytes(limits: Limits) -> int:
    """The most a description may take as sent (UTF-8, before storage-api shortens it)."""
    return limits.max_description_length * 4 + 64


def too_large(page: KindPage, limit: int, *, close_connection: bool = False) -> UploadRejected:
    return UploadRejected(
        413,
        f"That {page.what} is too large: the limit is {human_size(limit)}.",
        close_connection=close_connection,
    )


@dataclass(frozen=True)
class ItemsService:
    page: KindPage
    storage: StorageClient
    objects: ObjectClient
    visitor: VisitorSession
    services: WebServices

    async def page_context(self) -> dict[str, Any]:
        listing = await self.storage.list_items(self.visitor.visitor_id, self.page.kind)
        limits = await self.storage.limits()
        max_bytes = self.page.max_bytes(limits)
        views = item_views(listing)
        return {
            "page": self.page,
            "items": views,
            # My Files offers the last uploaded file; older ones wait for their deletion.
            "latest": views[0] if views else None,
            "limits": limits,
            "max_bytes": max_bytes,
            "max_size": human_size(max_bytes),
            "deleted_after": deleted_after(self.page.ttl_seconds(limits)),
            "transfer_mode": limits.transfer_mode.value,
        }

    async def upload(self, request: WebRequest) -> ItemOut:
        """Stream the form's file part to storage-api; flash and count a stored upload
        (refusals are counted where every error becomes an answer, `pages/errors.py`)."""
        body = paced(request.stream(), self.services.settings)
        try:
            limits = await self.storage.limits()
        except WebError as exc:
            exc.close_connection = True  # no limit to drain by: answer, linger briefly, hang up
            raise
        limit = self.page.max_bytes(limits)
        announced = request.headers.get("content-length")
        if (
            announced is not None
            and announced.isdigit()
            and int(announced) > limit + _FORM_OVERHEAD_BYTES
        ):
            # known too large before a byte is read: answer now and hang up, reading nothing
            raise too_large(self.page, limit, close_connection=True)
        self.services.upload_slots.take()
        try:
            form = MultipartStream(
                request.headers.get("content-type", ""),
                body,
                max_field_bytes=description_bytes(limits),
            )
            item = await self._send_file(form, limit)
        except WebError as exc:
            if not exc.close_connection:
                await _drain(body, limit * _DRAIN_FACTOR + _FORM_OVERHEAD_BYTES)
            raise
        finally:
            self.services.upload_slots.give_back()
        kind = self.page.kind
        self.services.metrics.record_upload(kind, "stored", item.size_bytes)
        log.info("upload stored", extra={"kind": kind.value, "size_bytes": item.size_bytes})
        self.visitor.flash("success", f"Uploaded {item.filename} ({human_size(item.size_bytes)}).")
        return item

    async def _send_file(self, form: MultipartStream, limit: int) -> ItemOut:
        head = await form.read_until_file(FILE_FIELD)
        if not head.filename:
            raise UploadRejected(400, "Please choose a file to upload.")
        description = head.fields.get(DESCRIPTION_FIELD, "").strip()
        sent = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            async for chunk in form.file_chunks():
                sent += len(chunk)
                if sent > limit:
                    raise _TooLarge
                yield chunk

        try:
            return await send_in_parts(
                self.storage,
                self.objects,
                self.visitor.visitor_id,
                kind=self.page.kind,
                filename=head.filename,
                description=description if self.page.described else "",
                body=body(),
            )
        except _TooLarge:
            raise too_large(self.page, limit) from None
        except StorageUnavailable:
            # storage-api may answer "too large" and hang up before reading everything.
            if sent > limit:
                raise too_large(self.page, limit) from None
            raise
        except StorageRefused as exc:
            if exc.status_code == 413:
                raise too_large(self.page, limit) from None
            raise

    async def purge(self, request: WebRequest) -> None:
        form = await request.form()
        if form.get(CONFIRM_FIELD) != "yes":
            raise UploadRejected(
                400, f"Tick the box to confirm deleting all your {self.page.noun}."
            )
        result = await self.storage.purge(self.visitor.visitor_id, self.page.kind)
        self.visitor.flash("success", f"Deleted {self.page.count(result.hidden)}.")

    async def stream_content(
        self, request: WebRequest, item_id: str, *, thumbnail: bool
    ) -> Response[object]:
        """The item's bytes, as the operator's transfer mode says: `direct`, a 303 to a
        presigned GET the browser follows to S3; `proxy`, streamed from S3 by web. storage-api
        is not on the byte path either way."""
        try:
            UUID(item_id)
        except ValueError:
            raise ItemNotFound from None
        variant = LinkVariant.THUMBNAIL if thumbnail else LinkVariant.CONTENT
        mode = (await self.storage.limits()).transfer_mode
        link = await self.storage.link(self.visitor.visitor_id, item_id, variant, mode)
        if mode is TransferMode.DIRECT:
            # the link is the visitor's own for a few minutes: not for shared caches
            return Redirect(
                link.url, status_code=303, headers={"cache-control": "private, no-store"}
            )
        content = await self.objects.open(link.url, request.headers)
        headers = dict(content.headers)
        media_type = headers.pop("content-type", "application/octet-stream")
        headers.setdefault("cache-control", "private, max-age=60")
        # Uploaded bytes are data, never a page of ours: no scripts, no same-origin access.
        headers["content-security-policy"] = CONTENT_CSP
        stream: Response[object] = Stream(  # type: ignore[assignment]
            content.chunks(),
            status_code=content.status_code,
            headers=headers,
            media_type=media_type,
            background=BackgroundTask(content.aclose),
        )
        return stream


async def _drain(body: AsyncIterator[bytes], budget: int) -> None:
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


async def paced(body: AsyncIterator[bytes], settings: WebSettings) -> AsyncIterator[bytes]:
    """The request body, cut off (408) when the client stalls for the idle timeout, falls
    below the minimum average rate after the grace period, or passes the total deadline: a
    slow or stalled client must not hold a connection to storage-api and an upload open."""
    idle = settings.upload_idle_timeout_seconds
    ends_at = time.monotonic() + settings.upload_max_seconds
    received = 0
    # Only the time spent waiting for the client's bytes counts against its rate: while
    # storage-api (or S3) is slow, web does not ask for more, and that is not the client's doing.
    waited = 0.0
    while True:
        allowance = (
            settings.upload_rate_grace_seconds
            + received / settings.upload_min_bytes_per_second
            - waited
        )
        wait = max(0.0, min(idle, allowance, ends_at - time.monotonic()))
        asked = time.monotonic()
        try:
            chunk = await asyncio.wait_for(anext(body), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            ended = time.monotonic() >= ends_at
            raise _cut_off(settings, idle_expired=wait >= idle, ended=ended) from None
        except InternalServerException as exc:  # Litestar's word for "the client went away"
            raise UploadRejected(400, "The upload was interrupted before it finished.") from exc
        finally:
            waited += time.monotonic() - asked
        received += len(chunk)
        yield chunk


def _cut_off(settings: WebSettings, *, idle_expired: bool, ended: bool) -> UploadRejected:
    if ended:
        minutes = max(1, round(settings.upload_max_seconds / 60))
        message = f"The upload took too long (more than {minutes} minutes) and was stopped."
    elif idle_expired:
        message = "The upload stalled: nothing arrived for a while. Please try again."
    else:
        message = "The upload was too slow and was stopped. Please try again."
    return UploadRejected(408, message, close_connection=True)
