"""How My Files shows its owner's upload requests, and the files senders sent through them
(`upload_requests/` holds their routes: the owner's panel and the sender's page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from s3tasks_contracts import (
    MAX_REQUESTED_FILES,
    ListedItem,
    RequestList,
    RequestOut,
    RequestState,
    SiteConfiguration,
)
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.pages.views import human_duration

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


def request_quota(limits: SiteConfiguration) -> int:
    """The most one request may ask for: what the owner may store (the page states it)."""
    return limits.max_stored_bytes_per_visitor or limits.max_file_bytes * MAX_REQUESTED_FILES
