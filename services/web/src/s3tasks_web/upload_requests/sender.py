"""An upload request's page, `/r/<token>`, for whoever holds the link: the owner's message,
what is left, and the upload form of My Files, configured for this request. Write-only: a
sender lists, downloads and deletes nothing.

No visitor session here (as below `/s/`, `app.py`): nothing reads or writes the cookie, so the
page has no flash messages; its answers carry their words (the page itself, or `messages` in
the script's JSON). A password is asked once on the page and sent with every upload's start,
where storage-api checks it (and counts every attempt per client).

    GET  /r/<token>                             the page (or its password form)
    POST /r/<token>                             the password: the page, unlocked
    POST /r/<token>/upload                      the plain form, streamed through web
    POST /r/<token>/uploads                     the script: start (the row first)
    POST /r/<token>/uploads/{id}/parts          where to PUT parts
    GET  /r/<token>/uploads/{id}/parts          the parts S3 holds (resume)
    PUT  /r/<token>/uploads/{id}/parts/{n}      `proxy` mode: the part on to S3
    POST /r/<token>/uploads/{id}/complete       storage-api checks what arrived and claims it
    POST /r/<token>/uploads/{id}/abort          S3 refused or the sender gave up
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.response import Template
from pydantic import Field

from s3tasks_contracts import (
    MAX_SHARE_PASSWORD_LENGTH,
    REFUSALS,
    CompletedPart,
    ItemKind,
    PartRequest,
    ProblemType,
    RequestLookup,
    RequestView,
    SenderCompletion,
    SenderParts,
    SenderReceipt,
    SenderStep,
    SenderUploadStart,
    SiteConfiguration,
    TransferMode,
    UploadStart,
    UploadTicket,
    is_valid_share_token,
)
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.dependencies import (
    CLIENT,
    OBJECTS,
    SETTINGS,
    STORAGE,
    UPLOAD_SLOTS,
    ClientDep,
    ObjectsDep,
    SettingsDep,
    StorageDep,
    UploadSlotsDep,
)
from s3tasks_web.errors import ItemNotFound, ShareRefused, UploadRejected, WebError
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.http.share_paths import REQUEST_PREFIX
from s3tasks_web.pages.kinds import FILES
from s3tasks_web.pages.requests import received_words
from s3tasks_web.pages.responses import wants_json
from s3tasks_web.pages.views import human_duration
from s3tasks_web.shares.public import handle_share_refused
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.uploads import rules
from s3tasks_web.uploads.form import DESCRIPTION_FIELD, receive_form, send_file
from s3tasks_web.uploads.multipart_stream import FileHead, MultipartStream
from s3tasks_web.uploads.parts import SignRequest, part_length, pass_part_on, still_open
from s3tasks_web.uploads.script import AbortRequest, CompleteRequest, StartRequest
from s3tasks_web.visitors.csrf import NO_SESSION

PASSWORD_FIELD = "password"  # noqa: S105 - a field's name
WRONG_PASSWORD = REFUSALS[ProblemType.REQUEST_WRONG_PASSWORD].words
CANCELLED = "The upload was cancelled."


class SenderStartRequest(StartRequest):
    """The script's start (`uploads/script.py`'s; its description is the sender's note to
    the owner), with the page's password."""

    password: str | None = Field(default=None, max_length=100_000)


def request_path(token: str) -> str:
    return f"{REQUEST_PREFIX}{token}"


def _checked(token: str) -> str:
    """A well-formed token, or the page every ended link answers (storage-api is not asked)."""
    if not is_valid_share_token(token):
        raise ShareRefused(ProblemType.REQUEST_GONE)
    return token


def _password(sent: str | None) -> str | None:
    """A password as sent, or None; one longer than any request's is refused without asking
    storage-api (and hashing) for it."""
    if not sent:
        return None
    if len(sent) > MAX_SHARE_PASSWORD_LENGTH:
        raise ShareRefused(ProblemType.REQUEST_WRONG_PASSWORD)
    return sent


@dataclass(frozen=True)
class SenderUploads:
    """A sender's upload steps on storage-api (`transfers/uploads.UploadSteps`): each names
    the request by its token; the start carries the password and the note."""

    storage: StorageApiClient
    token: str
    password: str | None
    note: str

    async def start(self, start: UploadStart) -> UploadTicket:
        sent = SenderUploadStart(
            token=self.token, password=self.password, note=self.note, upload=start
        )
        return await self.storage.start_sent(sent)

    async def part_links(self, item_id: FromPath[str], numbers: list[int]) -> dict[int, str]:
        parts = SenderParts(token=self.token, parts=PartRequest(part_numbers=numbers))
        return (await self.storage.sent_part_links(item_id, parts)).urls

    async def complete(self, item_id: FromPath[str], parts: list[CompletedPart]) -> SenderReceipt:
        completion = SenderCompletion(token=self.token, parts=parts)
        try:
            return await self.storage.complete_sent(item_id, completion)
        except ItemNotFound:
            raise ShareRefused(ProblemType.REQUEST_GONE) from None

    async def abort(self, item_id: FromPath[str]) -> None:
        await self.storage.abort_sent(item_id, SenderStep(token=self.token))


def _page_context(
    token: str, view: RequestView, limits: SiteConfiguration, password: str | None
) -> dict[str, Any]:
    max_bytes = min(view.max_file_bytes, FILES.max_bytes(limits))
    seconds_left = int((view.ends_at - view.server_time).total_seconds())
    return {
        "page": FILES,
        "view": view,
        "action": request_path(token),
        "left": received_words(
            view.files_received, view.max_files, view.bytes_received, view.max_bytes
        ),
        "time_left": human_duration(seconds_left),
        "limits": limits,
        "max_bytes": max_bytes,
        "max_size": human_size(max_bytes),
        "transfer_mode": limits.transfer_mode.value,
        "password": password,
        "messages": [],
        "upload_heading": "Send files",
        "file_label": "File",
        "description_label": "A note for them (optional)",
    }


async def _page(
    storage: StorageApiClient,
    token: str,
    *,
    password: str | None = None,
    client: str | None = None,
    messages: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response[object]:
    """The sender's page: the password form until it is unlocked, else the upload form."""
    view = await storage.look_up_request(
        RequestLookup(token=token, password=password, client=client)
    )
    context = _page_context(token, view, await storage.site_configuration(), password)
    context["messages"] = messages or []
    page: Response[object] = Template(  # type: ignore[assignment]
        "request.html", context=context, status_code=status_code
    )
    return page


def _said(level: str, text: str) -> dict[str, str]:
    return {"level": level, "text": text}


def _stored_words(receipt: SenderReceipt) -> str:
    return (
        f"Sent {receipt.filename} ({human_size(receipt.size_bytes)}). "
        f"The request takes {receipt.files_left} more file"
        f"{'' if receipt.files_left == 1 else 's'} ({human_size(receipt.bytes_left)})."
    )


def _json_answer(messages: list[dict[str, str]], status: int = 200) -> Response[object]:
    """The script's answer: 200 whatever happened (a 4xx is logged by the browser as an
    error), the words in `messages`, as `pages/responses.back_to` does with a redirect."""
    ok = not any(m["level"] == "error" for m in messages)
    return Response({"ok": ok, "status": status, "messages": messages}, status_code=200)


class SenderController(Controller):
    path = REQUEST_PREFIX.rstrip("/")
    tags = ["upload requests"]
    opt = {NO_SESSION: True}
    dependencies = {**STORAGE, **OBJECTS, **CLIENT, **SETTINGS, **UPLOAD_SLOTS}
    exception_handlers = {ShareRefused: handle_share_refused}

    @get("/{token:str}")
    async def page(self, storage: StorageDep, token: FromPath[str]) -> Response[object]:
        return await _page(storage, _checked(token))

    @post("/{token:str}", status_code=200)
    async def unlock(
        self, request: WebRequest, storage: StorageDep, client: ClientDep, token: FromPath[str]
    ) -> Response[object]:
        """The password form: the page again, unlocked, or its form saying what was wrong."""
        _checked(token)
        form = await request.form()
        sent = form.get(PASSWORD_FIELD)
        try:
            password = _password(sent if isinstance(sent, str) else None)
            if password is not None:
                return await _page(storage, token, password=password, client=client)
            wrong = WRONG_PASSWORD
        except ShareRefused as refused:
            if refused.problem_type is not ProblemType.REQUEST_WRONG_PASSWORD:
                raise
            wrong = refused.user_message
        return await _page(storage, token, messages=[_said("error", wrong)], status_code=403)

    @post("/{token:str}/upload", request_max_body_size=None, status_code=200)
    async def upload(
        self,
        request: WebRequest,
        storage: StorageDep,
        objects: ObjectsDep,
        settings: SettingsDep,
        upload_slots: UploadSlotsDep,
        client: ClientDep,
        token: FromPath[str],
    ) -> Response[object]:
        """The plain form (and the script's one-request upload in `proxy` mode): the file
        part streamed on to S3, then the page again saying what became of it."""
        _checked(token)
        try:
            limits = await storage.site_configuration()
            view = await storage.look_up_request(RequestLookup(token=token))
        except WebError as exc:
            exc.close_connection = True  # no limit to drain by: answer and hang up
            raise
        limit = min(view.max_file_bytes, FILES.max_bytes(limits))
        password: str | None = None

        async def send(form: MultipartStream, head: FileHead) -> SenderReceipt:
            nonlocal password
            password = _password(head.fields.get(PASSWORD_FIELD))
            note = head.fields.get(DESCRIPTION_FIELD, "").strip()
            steps = SenderUploads(storage, token, password, note)
            return await send_file(steps, objects, form, head, FILES, limit, "", client)

        try:
            receipt = await receive_form(
                request, settings, upload_slots, limits, FILES, limit, send
            )
        except ShareRefused as refused:
            if refused.problem_type is ProblemType.REQUEST_GONE:
                raise
            return await self._refused(request, storage, token, password, refused)
        except WebError as refused:
            return await self._refused(request, storage, token, password, refused)
        said = [_said("success", _stored_words(receipt))]
        if wants_json(request):
            return _json_answer(said)
        return await self._after(storage, token, password, said, 200)

    async def _refused(
        self,
        request: WebRequest,
        storage: StorageApiClient,
        token: FromPath[str],
        password: str | None,
        refused: WebError,
    ) -> Response[object]:
        said = [_said("error", refused.user_message)]
        if wants_json(request):
            return _json_answer(said, refused.status_code)
        response = await self._after(storage, token, password, said, refused.status_code)
        if refused.close_connection:
            response.headers["Connection"] = "close"
        return response

    async def _after(
        self,
        storage: StorageApiClient,
        token: FromPath[str],
        password: str | None,
        said: list[dict[str, str]],
        status_code: int,
    ) -> Response[object]:
        """The page after an upload, unlocked again with the password it was sent with; the
        request filled or ended meanwhile: the words, on the page every ended link shows."""
        try:
            view = await storage.look_up_request(RequestLookup(token=token))
        except ShareRefused:
            words = " ".join(m["text"] for m in said)
            raise ShareRefused(ProblemType.REQUEST_GONE, words, status_code=status_code) from None
        context = _page_context(token, view, await storage.site_configuration(), password)
        context["messages"] = said
        page: Response[object] = Template(  # type: ignore[assignment]
            "request.html", context=context, status_code=status_code
        )
        return page

    # -- the upload script's steps (JSON) ------------------------------------------------

    @post("/{token:str}/uploads", status_code=200, request_max_body_size=1024 * 1024)
    async def start(
        self,
        request: WebRequest,
        data: JSONBody[SenderStartRequest],
        storage: StorageDep,
        client: ClientDep,
        token: FromPath[str],
    ) -> Response[object]:
        _checked(token)
        limits = await storage.site_configuration()
        mode = limits.transfer_mode
        try:
            if mode is not TransferMode.DIRECT and not data.in_parts:
                raise UploadRejected(409, "Uploads go through this site here: reload the page.")
            if data.size > FILES.max_bytes(limits):
                raise rules.too_large(FILES, FILES.max_bytes(limits))
            steps = SenderUploads(
                storage, token, _password(data.password), data.description.strip()
            )
            ticket = await steps.start(
                UploadStart(
                    kind=ItemKind.FILE,
                    filename=rules.filename_to_store(data.filename),
                    via=mode,
                    in_parts=data.in_parts,
                    size_bytes=data.size,
                    client=client,
                )
            )
        except WebError as refused:
            return _json_answer([_said("error", refused.user_message)], refused.status_code)
        if data.in_parts:
            body: dict[str, Any] = {
                "ok": True,
                "item_id": str(ticket.item_id),
                "part_size": ticket.part_size,
                "transfer": mode.value,
            }
        else:
            body = {
                "ok": True,
                "item_id": str(ticket.item_id),
                "post_url": ticket.post_url,
                "fields": ticket.post_fields,
            }
        return Response(body)

    @post("/{token:str}/uploads/{item_id:str}/parts", status_code=200)
    async def sign(
        self,
        data: JSONBody[SignRequest],
        storage: StorageDep,
        token: FromPath[str],
        item_id: FromPath[str],
    ) -> dict[str, Any]:
        """Where each part goes: S3's presigned URLs (`direct`) or web's own (`proxy`)."""
        item = rules.upload_id(item_id)
        mode = await storage.transfer_mode()
        parts = SenderParts(
            token=_checked(token), parts=PartRequest(part_numbers=data.part_numbers, via=mode)
        )
        with still_open():
            links = await storage.sent_part_links(item, parts)
        if mode is TransferMode.DIRECT:
            urls = {str(n): url for n, url in links.urls.items()}
        else:
            base = f"{request_path(token)}/uploads/{item}/parts"
            urls = {str(n): f"{base}/{n}" for n in links.urls}
        return {"ok": True, "urls": urls, "part_size": links.part_size}

    @get("/{token:str}/uploads/{item_id:str}/parts")
    async def stored(
        self, storage: StorageDep, token: FromPath[str], item_id: FromPath[str]
    ) -> dict[str, Any]:
        """The parts S3 holds already: a sender resuming sends only the rest."""
        with still_open():
            held = await storage.sent_stored_parts(
                rules.upload_id(item_id), SenderStep(token=_checked(token))
            )
        return {
            "ok": True,
            "part_size": held.part_size,
            "parts": [part.model_dump(mode="json") for part in held.parts],
        }

    @put("/{token:str}/uploads/{item_id:str}/parts/{number:int}", request_max_body_size=None)
    async def pass_on(
        self,
        request: WebRequest,
        storage: StorageDep,
        objects: ObjectsDep,
        settings: SettingsDep,
        upload_slots: UploadSlotsDep,
        token: FromPath[str],
        item_id: FromPath[str],
        number: FromPath[int],
    ) -> Response[dict[str, Any]]:
        """`proxy` mode: the part streams on to S3's presigned part URL as it arrives."""
        item = rules.upload_id(item_id)
        limits = await storage.site_configuration()
        length = part_length(request, number, limits)
        parts = SenderParts(token=_checked(token), parts=PartRequest(part_numbers=[number]))
        with still_open():
            links = await storage.sent_part_links(item, parts)
        return await pass_part_on(
            request, number, length, links, limits, objects, settings, upload_slots
        )

    @post("/{token:str}/uploads/{item_id:str}/complete", status_code=200)
    async def complete(
        self,
        storage: StorageDep,
        token: FromPath[str],
        item_id: FromPath[str],
        data: JSONBody[CompleteRequest | None] = None,
    ) -> Response[object]:
        steps = SenderUploads(storage, _checked(token), None, "")
        try:
            receipt = await steps.complete(
                rules.upload_id(item_id), list(data.parts) if data is not None else []
            )
        except WebError as refused:
            return _json_answer([_said("error", refused.user_message)], refused.status_code)
        return _json_answer([_said("success", _stored_words(receipt))])

    @post("/{token:str}/uploads/{item_id:str}/abort", status_code=200)
    async def abort(
        self,
        data: JSONBody[AbortRequest],
        storage: StorageDep,
        token: FromPath[str],
        item_id: FromPath[str],
    ) -> Response[object]:
        steps = SenderUploads(storage, _checked(token), None, "")
        await steps.abort(rules.upload_id(item_id))
        if not data.s3_code:
            return _json_answer([_said("success", CANCELLED)])
        return _json_answer(
            [_said("error", "The upload was refused by the storage service. Please try again.")],
            400,
        )
