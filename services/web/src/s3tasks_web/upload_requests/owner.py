"""The owner's upload requests, on My Files: ask for files (how many, how much in all, until
when, a message, a password), see each with what arrived, its URL to copy and its QR code,
stop asking. Built as the share links' panel is (`shares/owner.py`): a refusal goes back to the
page as a flash message and nothing is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from litestar import Controller, post
from litestar.response import Response
from markupsafe import Markup

from s3tasks_contracts import (
    MAX_REQUEST_MESSAGE_LENGTH,
    MAX_REQUESTED_FILES,
    MAX_SHARE_PASSWORD_LENGTH,
    Limits,
    ListedItem,
    RequestCreate,
    RequestList,
    RequestOut,
    RequestState,
)
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.errors import ItemNotFound, UploadRejected
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.pages.kinds import FILES
from s3tasks_web.pages.responses import back_to
from s3tasks_web.pages.routes import FORM_ROUTE
from s3tasks_web.pages.views import human_duration
from s3tasks_web.shares.owner import whole_number
from s3tasks_web.shares.qr import qr_svg
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.visitors.session import VisitorSession

#: the owner's form fields
FILES_FIELD = "max_files"
MEBIBYTES_FIELD = "max_mib"
MINUTES_FIELD = "minutes"
MESSAGE_FIELD = "message"
PASSWORD_FIELD = "password"  # noqa: S105 - a field's name
MIB = 1024 * 1024
_STATE_WORDS = {
    RequestState.ACTIVE: "active",
    RequestState.FULFILLED: "received all it asked for",
    RequestState.STOPPED: "stopped",
    RequestState.ENDED: "ended",
}


@dataclass(frozen=True)
class RequestRow:
    """One request as its owner's page shows it."""

    id: str
    #: how the page names it, on the request and on the files it received
    name: str
    url: str
    state: str
    active: bool
    received: str
    time_left: str
    message: str
    password: bool
    qr: Markup | None


def request_rows(listing: RequestList, site: str) -> list[RequestRow]:
    return [_row(request, site, listing.server_time) for request in listing.requests]


def _row(request: RequestOut, site: str, server_time: datetime) -> RequestRow:
    url = f"{site}{request.path}"
    active = request.state is RequestState.ACTIVE
    seconds_left = int((request.ends_at - server_time).total_seconds())
    return RequestRow(
        id=str(request.id),
        name=f"your request of {request.created_at:%H:%M} UTC",
        url=url,
        state=_STATE_WORDS[request.state],
        active=active,
        received=received_words(
            request.files_received, request.max_files, request.bytes_received, request.max_bytes
        ),
        time_left=human_duration(seconds_left) if active else "—",
        message=request.message,
        password=request.password_required,
        qr=qr_svg(url, "QR code of the upload request") if active else None,
    )


def received_words(files: int, max_files: int, received: int, max_bytes: int) -> str:
    """'2 of 5 files, 80 MiB of 100 MiB': what arrived, and what may."""
    return f"{files} of {max_files} files, {human_size(received)} of {human_size(max_bytes)}"


def received_through(item: ListedItem, rows: list[RequestRow]) -> str | None:
    """How My Files names the request a received file came through (None: the owner's own)."""
    if item.received_through is None:
        return None
    names = {row.id: row.name for row in rows}
    return names.get(str(item.received_through), "an upload request that has ended")


def parse_request_form(
    form: dict[str, str], limits: Limits, quota: int, now: datetime, client: str
) -> RequestCreate:
    """The owner's form as a request to storage-api, or a refusal in words (nothing sent)."""
    files = whole_number(
        form.get(FILES_FIELD, ""),
        1,
        MAX_REQUESTED_FILES,
        f"The number of files must be a whole number from 1 to {MAX_REQUESTED_FILES}.",
    )
    if files is None:
        raise UploadRejected(400, "Say how many files you ask for (1 to 100).")
    most = max(1, quota // MIB)
    mebibytes = whole_number(
        form.get(MEBIBYTES_FIELD, ""),
        1,
        most,
        f"The total size must be a whole number of MiB from 1 to {most}.",
    )
    ttl_minutes = max(1, limits.file_ttl_seconds // 60)
    minutes = whole_number(
        form.get(MINUTES_FIELD, ""),
        1,
        ttl_minutes,
        f"The request's end must be a whole number of minutes from 1 to {ttl_minutes}.",
    )
    message = form.get(MESSAGE_FIELD, "")
    if len(message) > MAX_REQUEST_MESSAGE_LENGTH:
        raise UploadRejected(
            400, f"The message must be at most {MAX_REQUEST_MESSAGE_LENGTH} characters long."
        )
    password = form.get(PASSWORD_FIELD, "")
    if len(password) > MAX_SHARE_PASSWORD_LENGTH:
        raise UploadRejected(
            400, f"The password must be at most {MAX_SHARE_PASSWORD_LENGTH} characters long."
        )
    return RequestCreate(
        max_files=files,
        max_bytes=min(quota, (mebibytes or most) * MIB),
        ends_at=now + timedelta(minutes=minutes) if minutes is not None else None,
        message=message.strip(),
        password=password or None,
        client=client,
    )


def request_quota(limits: Limits) -> int:
    """The most one request may ask for: what the owner may store (the page states it)."""
    return limits.max_stored_bytes_per_visitor or limits.max_file_bytes * MAX_REQUESTED_FILES


def _request_id(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise ItemNotFound from None


class OwnerRequestsController(Controller):
    """Below My Files' router (app.py): `/files/requests`."""

    path = "/requests"
    tags = ["upload requests"]

    @post("/", status_code=303, opt=FORM_ROUTE)
    async def create(
        self,
        request: WebRequest,
        storage: StorageApiClient,
        visitor: VisitorSession,
        client: str,
    ) -> Response[object]:
        form = await request.form()
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        limits = await storage.limits()
        asked = parse_request_form(fields, limits, request_quota(limits), datetime.now(UTC), client)
        await storage.create_request(visitor.visitor_id, asked)
        visitor.flash("success", "Upload request made: send its link to whoever has the files.")
        return back_to(request, FILES.path)

    @post("/{request_id:str}/stop", status_code=303, opt=FORM_ROUTE)
    async def stop(
        self,
        request: WebRequest,
        storage: StorageApiClient,
        visitor: VisitorSession,
        request_id: str,
    ) -> Response[object]:
        # no field, but a body that is not text is refused (http/forms.py) before it stops
        await request.form()
        await storage.stop_request(visitor.visitor_id, _request_id(request_id))
        visitor.flash("success", "Stopped asking: that link no longer opens.")
        return back_to(request, FILES.path)
