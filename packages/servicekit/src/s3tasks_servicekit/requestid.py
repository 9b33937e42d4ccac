"""The request id: adopted from `X-Request-ID` (web's, or the worker's job id) or made here,
answered in the same header and written on every log line, so one upload or one deletion job
can be followed through web, storage-api and the worker."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

REQUEST_ID_HEADER = "x-request-id"
#: Letters, digits and `._:-` only: the id goes into logs and response headers unescaped,
#: and a uuid (web's, Celery's job ids) always passes.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("s3tasks_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(incoming: str | None) -> tuple[str, Token[str | None]]:
    """Adopt a well-formed incoming id, else make one; returns the id now bound and the token
    that unbinds it (`unbind_request_id`)."""
    request_id = (
        incoming if incoming is not None and _ACCEPTED.fullmatch(incoming) else uuid.uuid4().hex
    )
    return request_id, _request_id.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)
