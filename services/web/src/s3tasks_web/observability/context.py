"""The request id of the request being served, carried to storage-api and into every log line."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("s3tasks_web_request_id", default=None)
_ACCEPTED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(incoming: str | None) -> str:
    """Adopt a well-formed incoming X-Request-ID, else mint one; returns the id now bound."""
    if incoming is not None and _ACCEPTED_REQUEST_ID.fullmatch(incoming):
        request_id = incoming
    else:
        request_id = uuid.uuid4().hex
    _request_id.set(request_id)
    return request_id
