"""`/api/v1`: thin controllers over web's storage-api client, the rules the pages keep
(`uploads/rules.py`, `uploads/parts.py`) and the same one hop for the bytes in `proxy` mode.

    POST   /visitors                          a visitor token (counted per client: 429)
    GET    /limits                            the site's limits and transfer mode
    GET    /items[?kind=]                     the visitor's items with their share links
    DELETE /items[?kind=]                     delete them all (of a kind)
    GET    /items/{id}/content[?variant=]     its bytes (Range), or a 303 to them on S3
    DELETE /items/{id}                        delete one
    POST   /uploads                           start an upload in parts (its exact size)
    POST   /uploads/{id}/parts                where to PUT some parts
    GET    /uploads/{id}/parts                the parts S3 holds (resume)
    PUT    /uploads/{id}/parts/{n}            `proxy` mode: the part, passed on to S3
    POST   /uploads/{id}/complete             storage-api checks what arrived: the item
    DELETE /uploads/{id}                      cancel
    POST   /items/{id}/shares                 a share link
    DELETE /items/{id}/shares/{share_id}      stop it
    GET    /upload-requests                   the visitor's upload requests
    POST   /upload-requests                   ask for files
    DELETE /upload-requests/{id}              stop asking
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from uuid import UUID

from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import SecurityRequirement
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect

from s3tasks_contracts import (
    ItemKind,
    LinkVariant,
    ListedItem,
    RequestCreate,
    ShareCreate,
    TransferMode,
    UploadCompletion,
    UploadStart,
)
from s3tasks_contracts import RequestOut as StoredRequest
from s3tasks_contracts import ShareOut as StoredShare
from s3tasks_web.api.auth import API_VISITOR, ApiVisitorDep, visitor_tokens
from s3tasks_web.api.schemas import (
    CONTENT_ANSWERS,
    PART_REFUSALS,
    PUBLIC_REFUSALS,
    VISITOR_REFUSALS,
    CompleteIn,
    DeletedOut,
    ItemOut,
    ItemsOut,
    LimitsOut,
    PartOut,
    PartsIn,
    PartsOut,
    RequestIn,
    RequestOut,
    RequestsOut,
    ShareIn,
    ShareOut,
    StoredPart,
    StoredPartsOut,
    UploadIn,
    UploadOut,
    VisitorOut,
)
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
    provide_settings,
)
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.http.site import site_url
from s3tasks_web.pages.kinds import KIND_PAGES
from s3tasks_web.transfers.responses import PRIVATE_CACHE_CONTROL, relay_object
from s3tasks_web.transfers.uploads import complete
from s3tasks_web.uploads import rules
from s3tasks_web.uploads.parts import part_length, pass_part_on, still_open

#: a presigned GET of the visitor's own item is theirs for a few minutes: no shared cache
PRIVATE_LINK = {"cache-control": "private, no-store"}
#: where this API lives on the site
API_PATH = "/api/v1"
#: the scheme the OpenAPI document names for the visitor token
SECURITY: list[SecurityRequirement] = [{"visitorToken": []}]


def provide_site(request: WebRequest) -> str:
    """The site's address, which the links answered are made with (`http/site.py`)."""
    return site_url(request, provide_settings(request.app.state))


#: the site's address as visitors reach it
SiteDep = NamedDependency[str]
SITE = {"site": Provide(provide_site, sync_to_thread=False)}


def _kinds(kind: ItemKind | None) -> list[ItemKind]:
    return [kind] if kind is not None else list(ItemKind)


def _share(share: StoredShare, site: str) -> ShareOut:
    return ShareOut(
        id=share.id,
        url=f"{site}{share.path}",
        state=share.state.value,
        ends_at=share.ends_at,
        max_downloads=share.max_downloads,
        downloads=share.downloads,
        password_required=share.password_required,
    )


def _item(item: ListedItem, site: str) -> ItemOut:
    return ItemOut(
        id=item.id,
        kind=item.kind,
        filename=item.filename,
        description=item.description,
        content_type=item.content_type,
        size_bytes=item.size_bytes,
        created_at=item.created_at,
        expires_at=item.expires_at,
        shares=[_share(share, site) for share in item.shares],
    )


def _request(request: StoredRequest, site: str) -> RequestOut:
    return RequestOut(
        id=request.id,
        url=f"{site}{request.path}",
        state=request.state.value,
        ends_at=request.ends_at,
        max_files=request.max_files,
        max_bytes=request.max_bytes,
        files_received=request.files_received,
        bytes_received=request.bytes_received,
        message=request.message,
        password_required=request.password_required,
    )


def _ends_at(minutes: int | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(minutes=minutes) if minutes is not None else None


class VisitorsController(Controller):
    path = "/visitors"
    tags = ["visitors"]
    dependencies = {**STORAGE, **CLIENT}

    @post("/", status_code=201, responses=PUBLIC_REFUSALS)
    async def create(
        self, request: WebRequest, storage: StorageDep, client: ClientDep
    ) -> VisitorOut:
        """A new visitor: keep the token and send it with every other call. Counted as a
        browser's first visit is, per client address (429 with Retry-After past the limit)."""
        await storage.admit_session(client)
        return VisitorOut(token=visitor_tokens(request).new_token())


class LimitsController(Controller):
    path = "/limits"
    tags = ["visitors"]
    dependencies = {**STORAGE}

    @get("/", responses=PUBLIC_REFUSALS)
    async def limits(self, storage: StorageDep) -> LimitsOut:
        """The site's limits, how long items live and who carries the bytes."""
        limits = await storage.site_configuration()
        return LimitsOut(
            max_image_bytes=limits.max_image_bytes,
            max_file_bytes=limits.max_file_bytes,
            image_ttl_seconds=limits.image_ttl_seconds,
            file_ttl_seconds=limits.file_ttl_seconds,
            images_kept=limits.images_kept,
            max_description_length=limits.max_description_length,
            part_size_bytes=limits.part_size_bytes,
            transfer_mode=limits.transfer_mode,
        )


class ItemsController(Controller):
    path = "/items"
    tags = ["items"]
    security = SECURITY
    dependencies = {**STORAGE, **OBJECTS, **SITE, **CLIENT, **API_VISITOR}

    @get("/", responses=VISITOR_REFUSALS)
    async def list_items(
        self,
        storage: StorageDep,
        site: SiteDep,
        api_visitor: ApiVisitorDep,
        kind: FromQuery[ItemKind | None] = None,
    ) -> ItemsOut:
        """The visitor's items (images first), newest first, with their share links."""
        items: list[ItemOut] = []
        server_time = None
        for each in _kinds(kind):
            listed = await storage.list_items(api_visitor, each)
            items += [_item(item, site) for item in listed.items]
            server_time = listed.server_time
        assert server_time is not None  # noqa: S101 - at least one kind was listed
        return ItemsOut(items=items, server_time=server_time)

    @delete("/", status_code=200, responses=VISITOR_REFUSALS)
    async def delete_items(
        self,
        storage: StorageDep,
        api_visitor: ApiVisitorDep,
        kind: FromQuery[ItemKind | None] = None,
    ) -> DeletedOut:
        """Delete all the visitor's items (of a kind): hidden at once, their objects shortly."""
        deleted = 0
        for each in _kinds(kind):
            deleted += (await storage.purge(api_visitor, each)).hidden
        return DeletedOut(deleted=deleted)

    @get(
        "/{item_id:uuid}/content",
        responses=CONTENT_ANSWERS,
        media_type="application/octet-stream",
        response_description="The item's bytes (`proxy` mode), or a 303 to them on S3 (`direct`)",
    )
    async def content(
        self,
        request: WebRequest,
        storage: StorageDep,
        objects: ObjectsDep,
        api_visitor: ApiVisitorDep,
        item_id: FromPath[UUID],
        variant: FromQuery[LinkVariant] = LinkVariant.CONTENT,
    ) -> Response[object]:
        """The visitor's own item (or its thumbnail), with Range: a 303 to a presigned GET on
        S3 in `direct` mode, streamed through the site in `proxy` mode."""
        mode = await storage.transfer_mode()
        link = await storage.link(api_visitor, str(item_id), variant, mode)
        if mode is TransferMode.DIRECT:
            return Redirect(
                link.url, status_code=303, headers=PRIVATE_LINK, media_type="text/plain"
            )
        return await relay_object(objects, link.url, request.headers, PRIVATE_CACHE_CONTROL)

    @delete("/{item_id:uuid}", status_code=204, responses=VISITOR_REFUSALS)
    async def delete_item(
        self, storage: StorageDep, api_visitor: ApiVisitorDep, item_id: FromPath[UUID]
    ) -> None:
        """Delete one item: hidden at once, its object shortly; its links end with it."""
        await storage.delete_item(api_visitor, str(item_id))

    @post("/{item_id:uuid}/shares", status_code=201, responses=VISITOR_REFUSALS)
    async def share(
        self,
        storage: StorageDep,
        site: SiteDep,
        client: ClientDep,
        api_visitor: ApiVisitorDep,
        item_id: FromPath[UUID],
        data: JSONBody[ShareIn],
    ) -> ShareOut:
        """A share link of the visitor's item (a download limit, a password, an end)."""
        share = await storage.create_share(
            api_visitor,
            str(item_id),
            ShareCreate(
                max_downloads=data.max_downloads,
                password=data.password,
                ends_at=_ends_at(data.expires_in_minutes),
                client=client,
            ),
        )
        return _share(share, site)

    @delete("/{item_id:uuid}/shares/{share_id:uuid}", status_code=204, responses=VISITOR_REFUSALS)
    async def stop_share(
        self,
        storage: StorageDep,
        api_visitor: ApiVisitorDep,
        item_id: FromPath[UUID],
        share_id: FromPath[UUID],
    ) -> None:
        """Stop a share link: it opens no more."""
        await storage.stop_share(api_visitor, str(item_id), str(share_id))


class UploadsController(Controller):
    path = "/uploads"
    tags = ["uploads"]
    security = SECURITY
    dependencies = {
        **STORAGE,
        **OBJECTS,
        **SETTINGS,
        **SITE,
        **CLIENT,
        **UPLOAD_SLOTS,
        **METRICS,
        **API_VISITOR,
    }

    @post("/", status_code=201, responses=VISITOR_REFUSALS)
    async def start(
        self,
        storage: StorageDep,
        client: ClientDep,
        api_visitor: ApiVisitorDep,
        data: JSONBody[UploadIn],
    ) -> UploadOut:
        """Start an upload in parts of its exact size: the row first, refused at once when
        over the kind's limit. Then sign parts, PUT them, complete."""
        limits = await storage.site_configuration()
        page = KIND_PAGES[data.kind]
        limit = page.max_bytes(limits)
        if data.size_bytes > limit:
            raise rules.too_large(page, limit)
        rules.check_description(data.description, limits)
        mode = limits.transfer_mode
        ticket = await storage.start_upload(
            api_visitor,
            UploadStart(
                kind=data.kind,
                filename=rules.filename_to_store(data.filename),
                description=rules.description_to_store(page, data.description),
                via=mode,
                in_parts=True,
                size_bytes=data.size_bytes,
                client=client,
            ),
        )
        part_size = ticket.part_size or limits.part_size_bytes
        return UploadOut(
            upload_id=ticket.item_id,
            part_size_bytes=part_size,
            parts=max(1, math.ceil(data.size_bytes / part_size)),
            transfer_mode=mode,
            expires_at=ticket.expires_at,
        )

    @post("/{upload_id:uuid}/parts", status_code=200, responses=VISITOR_REFUSALS)
    async def sign(
        self,
        storage: StorageDep,
        site: SiteDep,
        api_visitor: ApiVisitorDep,
        upload_id: FromPath[UUID],
        data: JSONBody[PartsIn],
    ) -> PartsOut:
        """Where to PUT each part: S3's presigned URLs (`direct`) or this site's (`proxy`)."""
        mode = await storage.transfer_mode()
        with still_open():
            links = await storage.part_links(api_visitor, str(upload_id), data.part_numbers, mode)
        if mode is TransferMode.DIRECT:
            urls = dict(links.urls)
        else:
            urls = {n: f"{site}{API_PATH}/uploads/{upload_id}/parts/{n}" for n in links.urls}
        return PartsOut(urls=urls, sizes=links.sizes, part_size_bytes=links.part_size or 0)

    @get("/{upload_id:uuid}/parts", responses=VISITOR_REFUSALS)
    async def stored(
        self, storage: StorageDep, api_visitor: ApiVisitorDep, upload_id: FromPath[UUID]
    ) -> StoredPartsOut:
        """The parts S3 holds already: a client resuming sends only the rest."""
        with still_open():
            held = await storage.stored_parts(api_visitor, str(upload_id))
        return StoredPartsOut(
            part_size_bytes=held.part_size or 0,
            parts=[
                StoredPart(part_number=p.part_number, etag=p.etag, size=p.size) for p in held.parts
            ],
        )

    @put(
        "/{upload_id:uuid}/parts/{number:int}",
        status_code=200,
        request_max_body_size=None,
        responses=PART_REFUSALS,
    )
    async def pass_on(
        self,
        request: WebRequest,
        storage: StorageDep,
        objects: ObjectsDep,
        settings: SettingsDep,
        upload_slots: UploadSlotsDep,
        api_visitor: ApiVisitorDep,
        upload_id: FromPath[UUID],
        number: FromPath[int],
    ) -> Response[PartOut]:
        """`proxy` mode: the part's body (its exact length) streams on to S3 as it arrives;
        its ETag (in the body and, as S3 answers, the header) goes into the completion."""
        limits = await storage.site_configuration()
        length = part_length(request, number, limits)
        with still_open():
            links = await storage.part_links(api_visitor, str(upload_id), [number])
        sent = await pass_part_on(
            request, number, length, links, limits, objects, settings, upload_slots
        )
        etag = str(sent.content["etag"])
        return Response(PartOut(part_number=number, etag=etag), headers={"ETag": f'"{etag}"'})

    @post("/{upload_id:uuid}/complete", status_code=200, responses=VISITOR_REFUSALS)
    async def complete(
        self,
        storage: StorageDep,
        site: SiteDep,
        metrics: MetricsDep,
        api_visitor: ApiVisitorDep,
        upload_id: FromPath[UUID],
        data: JSONBody[CompleteIn],
    ) -> ItemOut:
        """storage-api checks what arrived (size, type, an image decoded, its metadata
        dropped) and stores it: the item."""
        stored = await complete(
            storage, api_visitor, str(upload_id), UploadCompletion(parts=data.parts)
        )
        metrics.record_upload(stored.kind, "stored", stored.size_bytes)
        return _item(ListedItem.model_validate(stored.model_dump()), site)

    @delete("/{upload_id:uuid}", status_code=204, responses=VISITOR_REFUSALS)
    async def abort(
        self, storage: StorageDep, api_visitor: ApiVisitorDep, upload_id: FromPath[UUID]
    ) -> None:
        """Cancel an upload: its parts and row go at once."""
        await storage.abort_upload(api_visitor, str(upload_id))


class RequestsController(Controller):
    path = "/upload-requests"
    tags = ["upload requests"]
    security = SECURITY
    dependencies = {**STORAGE, **SITE, **CLIENT, **API_VISITOR}

    @get("/", responses=VISITOR_REFUSALS)
    async def list_requests(
        self,
        storage: StorageDep,
        site: SiteDep,
        api_visitor: ApiVisitorDep,
    ) -> RequestsOut:
        """The visitor's upload requests with what arrived."""
        listed = await storage.list_requests(api_visitor)
        return RequestsOut(
            requests=[_request(each, site) for each in listed.requests],
            server_time=listed.server_time,
        )

    @post("/", status_code=201, responses=VISITOR_REFUSALS)
    async def ask(
        self,
        storage: StorageDep,
        site: SiteDep,
        client: ClientDep,
        api_visitor: ApiVisitorDep,
        data: JSONBody[RequestIn],
    ) -> RequestOut:
        """Ask for files: whoever holds the answer's `url` may upload up to `max_files`
        files and `max_bytes` bytes into the visitor's files until it ends."""
        made = await storage.create_request(
            api_visitor,
            RequestCreate(
                max_files=data.max_files,
                max_bytes=data.max_bytes,
                ends_at=_ends_at(data.expires_in_minutes),
                message=data.message.strip(),
                password=data.password,
                client=client,
            ),
        )
        return _request(made, site)

    @delete("/{request_id:uuid}", status_code=204, responses=VISITOR_REFUSALS)
    async def stop(
        self, storage: StorageDep, api_visitor: ApiVisitorDep, request_id: FromPath[UUID]
    ) -> None:
        """Stop asking: the link opens no more."""
        await storage.stop_request(api_visitor, str(request_id))
