"""A typed async client for storage-api (docs/contract.md), one pooled aiohttp session per app."""

from __future__ import annotations

import asyncio
import json as json_module
import logging
import time
from collections.abc import Mapping
from urllib.parse import quote

import aiohttp
from pydantic import ValidationError
from yarl import URL

from s3tasks_contracts import (
    REQUEST_REFUSALS,
    SHARE_REFUSALS,
    ContentLink,
    GrantRequest,
    ItemKind,
    ItemList,
    ItemOut,
    LinkVariant,
    NewSession,
    PartLinks,
    PartRequest,
    Problem,
    ProblemType,
    PurgeResult,
    RedeemRequest,
    RequestCreate,
    RequestList,
    RequestLookup,
    RequestOut,
    RequestView,
    SenderCompletion,
    SenderParts,
    SenderReceipt,
    SenderStep,
    SenderUploadStart,
    ShareCreate,
    ShareGrant,
    ShareLookup,
    ShareOut,
    ShareView,
    SiteConfiguration,
    StoredParts,
    TransferMode,
    UploadCompletion,
    UploadStart,
    UploadTicket,
)
from s3tasks_servicekit.requestid import current_request_id
from s3tasks_web.errors import ItemNotFound, ShareRefused, StorageRefused, StorageUnavailable
from s3tasks_web.outbound import pooled_session
from s3tasks_web.settings import WebSettings

log = logging.getLogger(__name__)

#: a link's refusals, for whoever holds it (a share link's, an upload request's)
_LINK_REFUSALS = SHARE_REFUSALS | REQUEST_REFUSALS

#: storage-api could not be reached, dropped the connection or did not answer in time
_UNREACHABLE = (aiohttp.ClientError, asyncio.TimeoutError)
#: a pooled connection closed under a request before any answer: a storage-api replica
#: shutting down closes its idle kept-alive connections, and one of them may have just been
#: handed this request. aiohttp sends GET, PUT and DELETE once more on its own (RFC 9112,
#: 9.3.1); a POST only where storage-api does the same thing twice (`retry_safe`).
_CLOSED_UNDER_US = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
#: a readiness probe answers quickly or not at all: the kubelet's own timeout is short.
_READY_TIMEOUT_SECONDS = 2.0
#: What a visitor reads when storage-api refuses in words not meant for them, by status.
_FALLBACK_MESSAGES = {
    400: "That upload was not accepted: please check the file and the description.",
    413: "That file is too large.",
    415: "That file is not an image (JPEG, PNG, GIF or WebP).",
    422: "That image could not be read: it is damaged or has too many pixels.",
}


def build_http_client(settings: WebSettings) -> aiohttp.ClientSession:
    """web's pooled session to storage-api, carrying web's own credential."""
    token = settings.service_token.get_secret_value()
    return pooled_session(settings, {"Authorization": f"Bearer {token}"})


class SiteConfigurationCache:
    """storage-api's site configuration (limits, TTLs, the transfer mode and the S3 origin),
    reused for `seconds` before storage-api is asked again: it changes only when storage-api
    is reconfigured, and nearly every request needs some of it."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._held: tuple[float, SiteConfiguration] | None = None

    @property
    def s3_browser_origin(self) -> str | None:
        """The S3 origin of `direct` mode, as last told (no request: pages' CSP needs it)."""
        return self._held[1].s3_browser_origin if self._held is not None else None

    def fresh(self, now: float) -> SiteConfiguration | None:
        if self._held is not None and now - self._held[0] < self._seconds:
            return self._held[1]
        return None

    def keep(self, now: float, configuration: SiteConfiguration) -> None:
        self._held = (now, configuration)


class StorageApiClient:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        site_configuration: SiteConfigurationCache,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._site = site_configuration

    async def ready(self) -> bool:
        try:
            async with self._http.get(
                self._url("/healthz"),
                headers=_trace_headers(),
                timeout=aiohttp.ClientTimeout(total=_READY_TIMEOUT_SECONDS),
            ) as response:
                return response.status == 200
        except _UNREACHABLE:
            return False

    async def site_configuration(self) -> SiteConfiguration:
        """The site's limits and transfer mode, from the cache while it is fresh."""
        now = time.monotonic()
        held = self._site.fresh(now)
        if held is not None:
            return held
        body = await self._json("GET", "/v1/limits")
        configuration = SiteConfiguration.model_validate(body)
        self._site.keep(now, configuration)
        return configuration

    async def transfer_mode(self) -> TransferMode:
        """Who carries the bytes of uploads and downloads (`direct`: the browser)."""
        return (await self.site_configuration()).transfer_mode

    async def list_items(self, visitor_id: str, kind: ItemKind) -> ItemList:
        body = await self._json("GET", _items_path(visitor_id), params={"kind": kind.value})
        return ItemList.model_validate(body)

    async def purge(self, visitor_id: str, kind: ItemKind) -> PurgeResult:
        body = await self._json("DELETE", _items_path(visitor_id), params={"kind": kind.value})
        return PurgeResult.model_validate(body)

    async def delete_item(self, visitor_id: str, item_id: str) -> None:
        """One of the visitor's items, hidden at once and deleted by a job (as `purge`)."""
        path = f"{_items_path(visitor_id)}/{quote(item_id, safe='')}"
        status, body, retry_after = await self._request("DELETE", path)
        if not 200 <= status < 300:
            _raise_for_problem(status, body, retry_after)

    async def start_upload(self, visitor_id: str, start: UploadStart) -> UploadTicket:
        """The row first: storage-api answers with what the sender needs to send the bytes."""
        body = await self._json(
            "POST", _uploads_path(visitor_id), json=start.model_dump(mode="json")
        )
        return UploadTicket.model_validate(body)

    async def admit_session(self, client: str) -> None:
        """Before a new visitor session goes to `client`: refused (429) once the client has
        started too many."""
        status, body, retry_after = await self._request(
            "POST", "/v1/sessions", json=NewSession(client=client).model_dump(mode="json")
        )
        if not 200 <= status < 300:
            _raise_for_problem(status, body, retry_after)

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
            retry_safe=True,  # signing only: the same links again
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
            retry_safe=True,  # a second completion answers with the stored item
        )
        return ItemOut.model_validate(body)

    async def abort_upload(self, visitor_id: str, item_id: str) -> None:
        path = f"{_uploads_path(visitor_id)}/{quote(item_id, safe='')}"
        status, body, retry_after = await self._request("DELETE", path)
        if not 200 <= status < 300:
            _raise_for_problem(status, body, retry_after)

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

    # -- share links: the owner's ----------------------------------------------------------

    async def create_share(self, visitor_id: str, item_id: str, share: ShareCreate) -> ShareOut:
        body = await self._json(
            "POST", _shares_path(visitor_id, item_id), json=share.model_dump(mode="json")
        )
        return ShareOut.model_validate(body)

    async def stop_share(self, visitor_id: str, item_id: str, share_id: str) -> None:
        path = f"{_shares_path(visitor_id, item_id)}/{quote(share_id, safe='')}"
        status, body, retry_after = await self._request("DELETE", path)
        if not 200 <= status < 300:
            _raise_for_problem(status, body, retry_after)

    # -- share links: whoever holds one (tokens travel in bodies, never in a path) ---------

    async def look_up_share(self, lookup: ShareLookup) -> ShareView:
        # a read (a wrong password counts as an attempt once more at worst, never a download)
        view = await self._share_json("/v1/shares/lookup", lookup, retry_safe=True)
        return ShareView.model_validate(view)

    async def grant_share(self, request: GrantRequest) -> ShareGrant:
        """Counts one download: call it for a download only, never for a HEAD."""
        return ShareGrant.model_validate(await self._share_json("/v1/shares/grants", request))

    async def redeem_share(self, request: RedeemRequest) -> ContentLink:
        """A presigned GET within a grant, for the client and link it was made for (the
        download starting, resumed or ranged): not counted."""
        link = await self._share_json("/v1/shares/redeem", request, retry_safe=True)
        return ContentLink.model_validate(link)

    # -- upload requests: the owner's ------------------------------------------------------

    async def create_request(self, visitor_id: str, request: RequestCreate) -> RequestOut:
        body = await self._json(
            "POST", _requests_path(visitor_id), json=request.model_dump(mode="json")
        )
        return RequestOut.model_validate(body)

    async def list_requests(self, visitor_id: str) -> RequestList:
        return RequestList.model_validate(await self._json("GET", _requests_path(visitor_id)))

    async def stop_request(self, visitor_id: str, request_id: str) -> None:
        path = f"{_requests_path(visitor_id)}/{quote(request_id, safe='')}"
        status, body, retry_after = await self._request("DELETE", path)
        if not 200 <= status < 300:
            _raise_for_problem(status, body, retry_after)

    # -- upload requests: whoever holds one (the token in bodies, as a share link's) -------

    async def look_up_request(self, lookup: RequestLookup) -> RequestView:
        """The sender's page; a password in it is checked (and counted), so not retried."""
        return RequestView.model_validate(
            await self._share_json("/v1/upload-requests/lookup", lookup)
        )

    async def start_sent(self, start: SenderUploadStart) -> UploadTicket:
        """A sender's start: its refusals of the link (ended, a wrong password, too many
        attempts) are for whoever holds it, as a share link's are."""
        body = await self._share_json("/v1/upload-requests/uploads", start)
        return UploadTicket.model_validate(body)

    async def sent_part_links(self, item_id: str, request: SenderParts) -> PartLinks:
        body = await self._json(
            "POST",
            f"{_sent_path(item_id)}/parts",
            json=request.model_dump(mode="json"),
            retry_safe=True,  # signing only: the same links again
        )
        return PartLinks.model_validate(body)

    async def sent_stored_parts(self, item_id: str, step: SenderStep) -> StoredParts:
        body = await self._json(
            "POST", f"{_sent_path(item_id)}/stored-parts", json=step.model_dump(mode="json")
        )
        return StoredParts.model_validate(body)

    async def complete_sent(self, item_id: str, completion: SenderCompletion) -> SenderReceipt:
        body = await self._json(
            "POST",
            f"{_sent_path(item_id)}/complete",
            json=completion.model_dump(mode="json"),
            retry_safe=True,  # a second completion answers the same
        )
        return SenderReceipt.model_validate(body)

    async def abort_sent(self, item_id: str, step: SenderStep) -> None:
        status, body, retry_after = await self._request(
            "POST", f"{_sent_path(item_id)}/abort", json=step.model_dump(mode="json")
        )
        if not 200 <= status < 300:
            _raise_for_problem(status, body, retry_after)

    async def _share_json(
        self,
        path: str,
        request: ShareLookup | GrantRequest | RedeemRequest | RequestLookup | SenderUploadStart,
        *,
        retry_safe: bool = False,
    ) -> object:
        """A public call of a link (a share link's, an upload request's): its refusals of the
        link (`SHARE_REFUSALS`, `REQUEST_REFUSALS`) are for whoever holds the link
        (ShareRefused); any other is web's (its credential, say)."""
        payload = request.model_dump(mode="json")
        status, body, retry_after = await self._request(
            "POST", path, json=payload, retry_safe=retry_safe
        )
        if 200 <= status < 300:
            return _decoded(body)
        problem = _problem(body)
        refusal = problem.refusal if problem is not None else None
        if problem is not None and refusal in _LINK_REFUSALS:
            raise ShareRefused(refusal, problem.detail, retry_after)
        _raise_for_problem(status, body, retry_after)
        raise StorageUnavailable  # pragma: no cover - _raise_for_problem always raises here

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: object = None,
        retry_safe: bool = False,
    ) -> object:
        status, body, retry_after = await self._request(
            method, path, params=params, json=json, retry_safe=retry_safe
        )
        if 200 <= status < 300:
            return _decoded(body)
        _raise_for_problem(status, body, retry_after)
        raise StorageUnavailable  # pragma: no cover - _raise_for_problem always raises here

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: object = None,
        retry_safe: bool = False,
    ) -> tuple[int, bytes, int | None]:
        """(status, body, Retry-After) of one call; storage-api unreachable or too slow:
        unavailable. `retry_safe`: a POST that storage-api may be sent twice, sent once more
        if its connection was closed under it (`_CLOSED_UNDER_US`)."""
        try:
            try:
                return await self._send(method, path, params, json)
            except aiohttp.ClientConnectorError:
                raise  # nothing was sent: aiohttp's own connect errors are final
            except _CLOSED_UNDER_US as exc:
                if not retry_safe:
                    raise
                log.info(
                    "storage-api closed the connection under %s %s (%s): sent again",
                    method,
                    path,
                    exc,
                )
                return await self._send(method, path, params, json)
        except _UNREACHABLE as exc:
            raise StorageUnavailable from exc

    async def _send(
        self, method: str, path: str, params: Mapping[str, str] | None, json: object
    ) -> tuple[int, bytes, int | None]:
        async with self._http.request(
            method, self._url(path), params=params, json=json, headers=_trace_headers()
        ) as response:
            retry_after = _retry_after(response.headers.get("retry-after"))
            return response.status, await response.read(), retry_after

    def _url(self, path: str) -> URL:
        # the path's parts are quoted already (`quote` above): sent exactly as built
        return URL(self._base_url + path, encoded=True)


def _items_path(visitor_id: str) -> str:
    return f"/v1/visitors/{quote(visitor_id, safe='')}/items"


def _uploads_path(visitor_id: str) -> str:
    return f"/v1/visitors/{quote(visitor_id, safe='')}/uploads"


def _shares_path(visitor_id: str, item_id: str) -> str:
    return f"{_items_path(visitor_id)}/{quote(item_id, safe='')}/shares"


def _requests_path(visitor_id: str) -> str:
    return f"/v1/visitors/{quote(visitor_id, safe='')}/upload-requests"


def _sent_path(item_id: str) -> str:
    return f"/v1/upload-requests/uploads/{quote(item_id, safe='')}"


def _problem(body: bytes) -> Problem | None:
    try:
        return Problem.model_validate_json(body)
    except ValidationError:
        return None


def _trace_headers() -> dict[str, str]:
    request_id = current_request_id()
    return {"X-Request-ID": request_id} if request_id else {}


#: the `reason` web counts a refused upload under, by storage-api's problem type (others: by
#: status, `pages/errors.py`)
_REASONS = {ProblemType.QUOTA_REACHED: "quota", ProblemType.RATE_LIMITED: "rate_limited"}


def _retry_after(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _raise_for_problem(status: int, body: bytes, retry_after: int | None = None) -> None:
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
    problem = _problem(body)
    refusal = problem.refusal if problem is not None else None
    # storage-api's own wording for people (a problem of one of its refusal types), nothing else
    detail = problem.detail if problem is not None and refusal is not None else ""
    reason = _REASONS.get(refusal) if refusal is not None else None
    if not detail:
        detail = _FALLBACK_MESSAGES.get(status, "That request was refused.")
    raise StorageRefused(
        status, detail, reason=reason, retry_after=retry_after, problem_type=refusal
    )


def _decoded(body: bytes) -> object:
    """A success answer's JSON; one that is not JSON is a storage-api we cannot use."""
    try:
        return json_module.loads(body)
    except ValueError as exc:
        raise StorageUnavailable from exc
