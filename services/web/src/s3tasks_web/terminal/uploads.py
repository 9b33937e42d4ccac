"""Uploads from a terminal, the way people already type them:

    curl -T photo.jpg https://host/        PUT /photo.jpg   (or PUT / : named "upload")
    curl -F file=@photo.jpg https://host/  POST /           (a form whose file field is `file`)

Each upload is a visitor of its own, made for it and counted against the client's new
visitors as a browser's first visit is (STORAGE_API_RATE_LIMIT_SESSIONS_PER_CLIENT); the
visitor id is the hash of the management token the answer carries (`tokens.py`), so no cookie
is read or set, and whoever holds `X-Manage-Url` lists and deletes what the upload made
(`manage.py`). The body goes on to S3 in parts as it arrives, exactly as the plain form's
does (`uploads/form.py`: web's one hop, in both transfer modes); storage-api decides, signs
and checks what arrived (size, type, an image decoded and its metadata dropped, the quotas,
the per-client limits). The first bytes say the kind: an image's signature makes it an image
(storage-api then refuses one it cannot decode), anything else is a file. The answer is a
share link (`Max-Downloads`, `Password`, `Expires-In` headers: `options.py`) on one line, or
JSON when the client accepts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from litestar import Controller, post, put
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.response import Response

from s3tasks_contracts import ItemKind, ItemOut, ShareCreate, ShareOut, SiteConfiguration
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.dependencies import (
    CLIENT,
    METRICS,
    OBJECTS,
    SETTINGS,
    STORAGE,
    UPLOAD_SLOTS,
    ClientDep,
    MetricsDep,
    ObjectsDep,
    SettingsDep,
    StorageDep,
    UploadSlotsDep,
)
from s3tasks_web.errors import UploadRejected, WebError
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.http.share_paths import MANAGE_PREFIX
from s3tasks_web.http.site import site_url
from s3tasks_web.pages.errors import refused_outcome
from s3tasks_web.pages.kinds import KIND_PAGES
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.terminal.answers import answer, refused, refused_by_framework
from s3tasks_web.terminal.named_puts import put_name
from s3tasks_web.terminal.options import TerminalOptions, read_options
from s3tasks_web.terminal.tokens import MANAGE_TOKENS
from s3tasks_web.transfers.pacing import paced
from s3tasks_web.transfers.uploads import VisitorUploads
from s3tasks_web.uploads import rules
from s3tasks_web.uploads.form import (
    DESCRIPTION_FIELD,
    FILE_FIELD,
    drain_refused,
    send_bounded,
)
from s3tasks_web.uploads.multipart_stream import MultipartStream
from s3tasks_web.visitors.csrf import NO_SESSION

log = logging.getLogger(__name__)

#: the name of a body PUT to `/` (curl -T names its file in the path; a pipe does not)
UNNAMED = "upload"
#: multipart boundaries and part headers around a form's file: a generous allowance
_FORM_OVERHEAD_BYTES = 64 * 1024
#: enough of the body to tell an image by its signature (WebP's is at bytes 8 to 12)
_SIGNATURE_BYTES = 12
#: how much of a refused upload is still read so the client gets to see the answer
_DRAIN_FACTOR = 2


def kind_of(first_bytes: bytes) -> ItemKind:
    """An image by its signature (JPEG, PNG, GIF, WebP: what storage-api accepts as one);
    anything else a file. storage-api checks the bytes either way."""
    if first_bytes.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")) or (
        first_bytes[:4] == b"RIFF" and first_bytes[8:12] == b"WEBP"
    ):
        return ItemKind.IMAGE
    return ItemKind.FILE


async def peeked(chunks: AsyncIterator[bytes]) -> tuple[bytes, AsyncIterator[bytes]]:
    """The body's first bytes (up to a signature's length, fewer if it is shorter), and the
    whole body, those bytes included."""
    first = b""
    while len(first) < _SIGNATURE_BYTES:
        try:
            first += await anext(chunks)
        except StopAsyncIteration:
            break

    async def whole() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return first[:_SIGNATURE_BYTES], whole()


@dataclass(frozen=True)
class TerminalUpload:
    """One terminal upload, from its headers to its answer (a handler's `upload`, its fields
    given by name as dependencies)."""

    request: WebRequest
    storage: StorageDep
    objects: ObjectsDep
    client: ClientDep
    settings: SettingsDep
    upload_slots: UploadSlotsDep
    metrics: MetricsDep

    async def receive(self, filename: str | None, *, form: bool) -> Response[object]:
        """Everything refusable before the body is refused before a byte of it is read (and
        the connection closed); what the body tells is refused after it, its rest drained."""
        request, storage = self.request, self.storage
        try:
            limits = await storage.site_configuration()
        except WebError as exc:
            exc.close_connection = True
            raise
        options = read_options(request.headers, limits)
        overhead = _FORM_OVERHEAD_BYTES if form else 0
        most = max(limits.max_image_bytes, limits.max_file_bytes)
        announced = _announced(request)
        if announced is not None and announced > most + overhead:
            raise UploadRejected(
                413,
                f"That upload is too large: the limit is {human_size(most)}.",
                close_connection=True,
            )
        try:
            await storage.admit_session(self.client)  # the new visitor this upload makes
        except WebError as exc:
            exc.close_connection = True
            raise
        token = MANAGE_TOKENS.new_token()
        visitor_id = MANAGE_TOKENS.visitor_of(token)
        assert visitor_id is not None  # noqa: S101 - a token just made is well formed
        self.upload_slots.take()
        body = paced(request.stream(), self.settings)
        try:
            item = await self._send(
                body, filename, limits, announced, options, visitor_id, form=form
            )
        except WebError as exc:
            if not exc.close_connection:
                await drain_refused(body, most * _DRAIN_FACTOR + overhead)
            raise
        finally:
            self.upload_slots.give_back()
        now = datetime.now(UTC)
        share = await self._share(
            visitor_id,
            item,
            ShareCreate(
                max_downloads=options.max_downloads,
                password=options.password,
                ends_at=options.ends_at(now, item.expires_at),
                client=self.client,
            ),
        )
        self.metrics.record_upload(item.kind, "stored", item.size_bytes)
        log.info(
            "terminal upload stored",
            extra={"kind": item.kind.value, "size_bytes": item.size_bytes},
        )
        site = site_url(request, self.settings)
        link = f"{site}{share.path}"
        manage_url = f"{site}{MANAGE_PREFIX}{token}"
        return answer(
            request,
            link,
            {
                "link": link,
                "manage_url": manage_url,
                "item": _item_json(item),
                "share": {
                    "ends_at": share.ends_at.isoformat(),
                    "max_downloads": share.max_downloads,
                    "password_required": share.password_required,
                },
            },
            status_code=201,
            headers={"x-manage-url": manage_url},
        )

    async def _send(
        self,
        body: AsyncIterator[bytes],
        filename: str | None,
        limits: SiteConfiguration,
        announced: int | None,
        options: TerminalOptions,
        visitor_id: str,
        *,
        form: bool,
    ) -> ItemOut:
        description = ""
        if form:
            stream = MultipartStream(
                self.request.headers.get("content-type", ""),
                body,
                max_field_bytes=rules.description_max_bytes(limits),
            )
            head = await stream.read_until_file(FILE_FIELD)
            filename, chunks = head.filename, stream.file_chunks()
            description = head.fields.get(DESCRIPTION_FIELD, "").strip()
        else:
            chunks = body
        assert filename is not None  # noqa: S101 - a PUT's name, or the form's file's
        first, chunks = await peeked(chunks)
        page = KIND_PAGES[kind_of(first)]
        limit = page.max_bytes(limits)
        try:
            if announced is not None and not form and announced > limit:
                raise rules.too_large(page, limit)
            options.check_life(page, limits)
            return await send_bounded(
                VisitorUploads(self.storage, visitor_id),
                self.objects,
                chunks,
                filename,
                page,
                limit,
                rules.description_to_store(page, description),
                self.client,
            )
        except WebError as exc:
            # counted as the pages' refused uploads are, once the kind is known (refusals
            # before the body say no kind, and started no upload)
            self.metrics.record_upload(page.kind, refused_outcome(exc.status_code, exc.reason))
            raise

    async def _share(self, visitor_id: str, item: ItemOut, share: ShareCreate) -> ShareOut:
        """The upload's link; refused (the client's links limit, say), the upload is deleted
        again: the client is told it failed, so nothing of it may stay behind."""
        try:
            return await self.storage.create_share(visitor_id, str(item.id), share)
        except BaseException:
            await asyncio.shield(_forget_quietly(self.storage, visitor_id))
            raise


async def _forget_quietly(storage: StorageApiClient, visitor_id: str) -> None:
    try:
        await forget(storage, visitor_id)
    except Exception:  # noqa: BLE001 - the sweep deletes it at its deadline anyway
        log.warning("could not delete a terminal upload whose link was refused")


async def forget(storage: StorageApiClient, visitor_id: str) -> int:
    """Delete everything a terminal visitor has (both kinds); how many items that was."""
    hidden = 0
    for kind in ItemKind:
        hidden += (await storage.purge(visitor_id, kind)).hidden
    return hidden


def _announced(request: WebRequest) -> int | None:
    sent = request.headers.get("content-length")
    return int(sent) if sent is not None and sent.isascii() and sent.isdigit() else None


def _item_json(item: ItemOut) -> dict[str, object]:
    return {
        "id": str(item.id),
        "kind": item.kind.value,
        "filename": item.filename,
        "content_type": item.content_type,
        "size_bytes": item.size_bytes,
        "expires_at": item.expires_at.isoformat(),
    }


#: a handler's terminal upload (`TerminalUpload`, made for the request)
TerminalUploadDep = NamedDependency[TerminalUpload]


class TerminalUploadController(Controller):
    """No session (no cookie read or written) and no CSRF token: a browser's cross-site form
    is still refused by its Origin (`visitors/csrf.py`), and it would only make a visitor of
    its own anyway."""

    path = "/"
    tags = ["terminal"]
    opt = {NO_SESSION: True}
    dependencies = {
        **STORAGE,
        **OBJECTS,
        **CLIENT,
        **SETTINGS,
        **UPLOAD_SLOTS,
        **METRICS,
        "upload": Provide(TerminalUpload, sync_to_thread=False),
    }
    exception_handlers = {WebError: refused, HTTPException: refused_by_framework}

    @put("/", request_max_body_size=None, status_code=201)
    async def put_file(self, upload: TerminalUploadDep) -> Response[object]:
        """`curl -T photo.jpg https://host/`: the body is the file, the path its name
        (`PUT /photo.jpg`, brought here by `named_puts.py`); `curl -T - https://host/` (a
        pipe): `PUT /`, named "upload"."""
        name = put_name(upload.request)
        return await upload.receive(rules.filename_to_store(name) if name else UNNAMED, form=False)

    @post("/", request_max_body_size=None, status_code=201)
    async def post_form(self, upload: TerminalUploadDep) -> Response[object]:
        """`curl -F file=@photo.jpg https://host/`: the form's `file` field is the file."""
        return await upload.receive(None, form=True)
