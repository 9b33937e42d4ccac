"""A typed async client for storage-api (docs/contract.md), one pooled httpx client per app."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from s3tasks_contracts import (
    USER_SAFE_PROBLEM,
    ContentLink,
    ItemKind,
    ItemList,
    ItemOut,
    Limits,
    LinkVariant,
    PartLinks,
    PartRequest,
    Problem,
    PurgeResult,
    StoredParts,
    TransferMode,
    UploadCompletion,
    UploadStart,
    UploadTicket,
)
from s3tasks_servicekit.requestid import current_request_id
from s3tasks_web.errors import ItemNotFound, StorageRefused, StorageUnavailable
from s3tasks_web.settings import WebSettings

log = logging.getLogger(__name__)

#: a readiness probe answers quickly or not at all: the kubelet's own timeout is short.
_READY_TIMEOUT_SECONDS = 2.0
#: What a visitor reads when storage-api refuses in words not meant for them, by status.
_FALLBACK_MESSAGES = {
    400: "That upload was not accepted: please check the file and the description.",
    413: "That file is too large.",
    415: "That file is not an image (JPEG, PNG, GIF or WebP).",
    422: "That image could not be read: it is damaged or has too many pixels.",
}


def pooled_client(settings: WebSettings, **options: Any) -> httpx.AsyncClient:
    """A pooled client with web's timeouts and connection cap (to storage-api, or to S3)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=settings.connect_timeout_seconds,
            read=settings.read_timeout_seconds,
            write=settings.write_timeout_seconds,
            pool=settings.pool_timeout_seconds,
        ),
        limits=httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=min(20, settings.max_connections),
        ),
        **options,
    )


def build_http_client(settings: WebSettings) -> httpx.AsyncClient:
    return pooled_client(
        settings,
        base_url=settings.storage_api_base,
        headers={
            "Accept-Encoding": "identity",
            "User-Agent": "s3tasks-web",
            "Authorization": f"Bearer {settings.service_token.get_secret_value()}",
        },
    )


class StorageClient:
    def __init__(self, http: httpx.AsyncClient, *, limits_cache_seconds: float = 60.0) -> None:
        self._http = http
        self._limits_cache_seconds = limits_cache_seconds
        self._limits: tuple[float, Limits] | None = None

    async def ready(self) -> bool:
        try:
            response = await self._http.get(
                "/healthz", headers=_trace_headers(), timeout=_READY_TIMEOUT_SECONDS
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    @property
    def s3_browser_origin(self) -> str | None:
        """The S3 origin of `direct` mode, as last told (no request: pages' CSP needs it)."""
        return self._limits[1].s3_browser_origin if self._limits is not None else None

    async def limits(self) -> Limits:
        now = time.monotonic()
        if self._limits is not None and now - self._limits[0] < self._limits_cache_seconds:
            return self._limits[1]
        limits = Limits.model_validate(await self._json("GET", "/v1/limits"))
        self._limits = (now, limits)
        return limits

    async def list_items(self, visitor_id: str, kind: ItemKind) -> ItemList:
        body = await self._json("GET", _items_path(visitor_id), params={"kind": kind.value})
        return ItemList.model_validate(body)

    async def purge(self, visitor_id: str, kind: ItemKind) -> PurgeResult:
        body = await self._json("DELETE", _items_path(visitor_id), params={"kind": kind.value})
        return PurgeResult.model_validate(body)

    async def start_upload(self, visitor_id: str, start: UploadStart) -> UploadTicket:
        """The row first: storage-api answers with what the sender needs to send the bytes."""
        body = await self._json(
            "POST", _uploads_path(visitor_id), json=start.model_dump(mode="json")
        )
        return UploadTicket.model_validate(body)

    async def part_links(
        self,
        visitor_id: str,
        item_id: str,
        numbers: list[int],
        via: TransferMode = TransferMode.PROXY,
    ) -> PartLinks:
        """Presigned part PUTs for whoever sends them (`via`: the browser or web)."""
        body = await self._json(
            "POST",
            f"{_uploads_path(visitor_id)}/{quote(item_id, safe='')}/parts",
            json=PartRequest(part_numbers=numbers, via=via).model_dump(mode="json"),
        )
        return PartLinks.model_validate(body)

    async def stored_parts(self, visitor_id: str, item_id: str) -> StoredParts:
        """The parts S3 holds of the visitor's own open upload (a sender resumes from them)."""
        body = await self._json(
            "GET", f"{_uploads_path(visitor_id)}/{quote(item_id, safe='')}/parts"
        )
        return StoredParts.model_validate(body)

    async def complete_upload(
        self, visitor_id: str, item_id: str, completion: UploadCompletion
    ) -> ItemOut:
        body = await self._json(
            "POST",
            f"{_uploads_path(visitor_id)}/{quote(item_id, safe='')}/complete",
            json=completion.model_dump(mode="json"),
        )
        return ItemOut.model_validate(body)

    async def abort_upload(self, visitor_id: str, item_id: str) -> None:
        path = f"{_uploads_path(visitor_id)}/{quote(item_id, safe='')}"
        try:
            response = await self._http.delete(path, headers=_trace_headers())
        except httpx.HTTPError as exc:
            raise StorageUnavailable from exc
        if not response.is_success:
            _raise_for_problem(response)

    async def link(
        self, visitor_id: str, item_id: str, variant: LinkVariant, via: TransferMode
    ) -> ContentLink:
        """A presigned GET of the item, signed for whoever fetches it (`via`)."""
        body = await self._json(
            "GET",
            f"{_items_path(visitor_id)}/{quote(item_id, safe='')}/link",
            params={"variant": variant.value, "via": via.value},
        )
        return ContentLink.model_validate(body)

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: AsyncIterable[bytes] | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> object:
        try:
            response = await self._http.request(
                method,
                path,
                params=params,
                content=content,
                json=json,
                headers={**(headers or {}), **_trace_headers()},
            )
        except httpx.HTTPError as exc:
            raise StorageUnavailable from exc
        if response.is_success:
            try:
                return response.json()
            except ValueError as exc:
                raise StorageUnavailable from exc
        _raise_for_problem(response)
        raise StorageUnavailable  # pragma: no cover - _raise_for_problem always raises here


def _items_path(visitor_id: str) -> str:
    return f"/v1/visitors/{quote(visitor_id, safe='')}/items"


def _uploads_path(visitor_id: str) -> str:
    return f"/v1/visitors/{quote(visitor_id, safe='')}/uploads"


def _trace_headers() -> dict[str, str]:
    request_id = current_request_id()
    return {"X-Request-ID": request_id} if request_id else {}


def _raise_for_problem(response: httpx.Response) -> None:
    status = response.status_code
    if status == 404:
        raise ItemNotFound
    if status >= 500 or status < 400:
        raise StorageUnavailable
    if status in (401, 403):
        # web's own credential is wrong: an operator's mistake, not the visitor's request
        log.error(
            "storage-api refused web's credential (%d): WEB_SERVICE_TOKEN must be one of "
            "storage-api's STORAGE_API_WEB_TOKENS",
            status,
        )
        raise StorageUnavailable
    detail = ""
    try:
        problem = Problem.model_validate(response.json())
    except (ValueError, ValidationError):
        problem = None
    if problem is not None and problem.type == USER_SAFE_PROBLEM:
        detail = problem.detail  # storage-api's own wording for people, nothing else
    if detail:
        raise StorageRefused(status, detail)
    raise StorageRefused(status, _FALLBACK_MESSAGES.get(status, "That request was refused."))
