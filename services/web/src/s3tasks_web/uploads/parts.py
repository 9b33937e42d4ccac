"""The parts of the upload script's uploads in parts (started by `uploads/script.py`).

    POST /{images|files}/uploads/{id}/parts      -> where to PUT some parts: presigned S3 URLs
                                                    (`direct`) or web's own (`proxy`)
    GET  /{images|files}/uploads/{id}/parts      -> the parts S3 already holds (resume)
    PUT  /{images|files}/uploads/{id}/parts/{n}  -> `proxy` only: web passes the part on to S3

Each part is a request of its own, below any ingress's body limit (100 MB behind common CDNs
and proxies), and only parts S3 does not hold yet are sent again after a dropped connection
or a reload. storage-api signs parts only of the visitor's own open upload.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from s3tasks_contracts import MAX_PARTS, PartLinks, SiteConfiguration, TransferMode
from s3tasks_web.dependencies import (
    OBJECTS,
    SETTINGS,
    STORAGE,
    UPLOAD_SLOTS,
    VISITOR,
    ObjectsDep,
    SettingsDep,
    StorageDep,
    UploadSlotsDep,
    VisitorDep,
)
from s3tasks_web.errors import ItemNotFound, UploadRejected
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.pages.routes import PageDep
from s3tasks_web.settings import WebSettings
from s3tasks_web.transfers.objects import ObjectClient
from s3tasks_web.transfers.pacing import paced
from s3tasks_web.transfers.slots import UploadSlots
from s3tasks_web.uploads.rules import upload_id

log = logging.getLogger(__name__)

#: part URLs handed out at once (storage-api signs at most this many a call)
MAX_SIGNED_AT_ONCE = 100
#: an upload that is no longer open: its row is gone (storage-api says why while it can)
UPLOAD_GONE = (
    "This upload no longer exists: it was deleted by Delete all, cancelled, or took longer "
    "than allowed."
)


@contextmanager
def still_open() -> Iterator[None]:
    """A part of an upload that ended: say so in the upload's words, not "no such item"."""
    try:
        yield
    except ItemNotFound:
        raise UploadRejected(404, UPLOAD_GONE) from None


class SignRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    part_numbers: list[int] = Field(min_length=1, max_length=MAX_SIGNED_AT_ONCE)


class PartUploadsController(Controller):
    """Below each page's router (app.py), beside `ScriptUploadsController`: at
    `/images/uploads/{id}/parts...` and the files'. A refusal is the script's to show, once,
    in the form (several parts are under way at a time; each would leave a flash): these
    routes are not forms of the page (`pages/routes.py`)."""

    path = "/uploads/{item_id:str}/parts"
    tags = ["pages"]
    dependencies = {**STORAGE, **OBJECTS, **VISITOR, **SETTINGS, **UPLOAD_SLOTS}

    @post("/", status_code=200)
    async def sign(
        self,
        item_id: FromPath[str],
        data: JSONBody[SignRequest],
        page: PageDep,
        storage: StorageDep,
        visitor: VisitorDep,
    ) -> dict[str, Any]:
        """Where each part goes. In `proxy` mode the parts come to web, which still asks
        storage-api first: a part of an upload that is not the visitor's own and open is
        refused here, before any byte is sent."""
        item = upload_id(item_id)
        mode = await storage.transfer_mode()
        with still_open():
            links = await storage.part_links(visitor.visitor_id, item, data.part_numbers, mode)
        if mode is TransferMode.DIRECT:
            urls = {str(n): url for n, url in links.urls.items()}
        else:
            urls = {str(n): f"{page.path}/uploads/{item}/parts/{n}" for n in links.urls}
        return {"ok": True, "urls": urls, "part_size": links.part_size}

    @get("/")
    async def stored(
        self, item_id: FromPath[str], storage: StorageDep, visitor: VisitorDep
    ) -> dict[str, Any]:
        """The parts S3 holds already: a client resuming after a reload sends only the rest."""
        with still_open():
            held = await storage.stored_parts(visitor.visitor_id, upload_id(item_id))
        return {
            "ok": True,
            "part_size": held.part_size,
            "parts": [part.model_dump(mode="json") for part in held.parts],
        }

    # the body is limited below to the upload's own part size, known once storage-api answers
    @put("/{number:int}", status_code=200, request_max_body_size=None)
    async def pass_on(
        self,
        request: WebRequest,
        item_id: FromPath[str],
        number: FromPath[int],
        storage: StorageDep,
        objects: ObjectsDep,
        visitor: VisitorDep,
        settings: SettingsDep,
        upload_slots: UploadSlotsDep,
    ) -> Response[dict[str, Any]]:
        """`proxy` mode: the part's body streams on to S3's presigned part URL as it arrives,
        so web holds a chunk of it at a time however large the part."""
        item = upload_id(item_id)
        limits = await storage.site_configuration()
        length = part_length(request, number, limits)
        with still_open():
            links = await storage.part_links(visitor.visitor_id, item, [number])
        return await pass_part_on(
            request, number, length, links, limits, objects, settings, upload_slots
        )


def part_length(request: WebRequest, number: int, limits: SiteConfiguration) -> int:
    """The length a part PUT to web announces, refused before a byte of it is read when it
    cannot be passed on (a part number out of range, no length, not `proxy` mode)."""
    if not 1 <= number <= MAX_PARTS:
        raise UploadRejected(400, f"Part numbers go from 1 to {MAX_PARTS}.")
    announced = request.headers.get("content-length", "")
    if not announced.isdigit():
        raise UploadRejected(411, "A part must say its length.", close_connection=True)
    if limits.transfer_mode is not TransferMode.PROXY:
        raise UploadRejected(
            409, "Uploads go straight to storage here: reload the page.", close_connection=True
        )
    return int(announced)


async def pass_part_on(
    request: WebRequest,
    number: int,
    length: int,
    links: PartLinks,
    limits: SiteConfiguration,
    objects: ObjectClient,
    settings: WebSettings,
    upload_slots: UploadSlots,
) -> Response[dict[str, Any]]:
    """A part's body on to the presigned part URL storage-api signed for it (a visitor's own
    upload, or a sender's through an upload request), as it arrives."""
    part_size = links.part_size or limits.part_size_bytes
    if not 0 < length <= part_size:
        raise UploadRejected(
            413,
            "A part must hold between 1 byte and the upload's part size.",
            close_connection=True,
        )
    signed = links.sizes.get(number)
    if signed is not None and length != signed:
        # S3 would refuse it (the length is signed): said here, in the site's words
        raise UploadRejected(
            400,
            f"Part {number} of this upload must hold exactly {signed} bytes.",
            close_connection=True,
        )
    upload_slots.take()
    try:
        body = paced(request.stream(), settings)
        with still_open():  # aborted meanwhile: S3 answers 404
            sent = await objects.pass_part(links.urls[number], number, body, length)
    finally:
        upload_slots.give_back()
    return Response(
        {"ok": True, "part_number": number, "etag": sent.etag},
        headers={"ETag": f'"{sent.etag}"'},
    )
