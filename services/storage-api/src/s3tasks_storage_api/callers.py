"""Who may call storage-api: each caller presents its own bearer token and has its own scope.

web may call the visitor endpoints, the worker (and beat) the internal ones. A missing or
unknown token is a 401; a known token on the other caller's endpoints is a 403. Each caller
may have two tokens accepted at once, so a credential rotates without downtime.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter
from litestar.types import Guard

from s3tasks_contracts import VISITOR_ID_PATTERN
from s3tasks_storage_api.errors import Forbidden, Unauthorized
from s3tasks_storage_api.settings import StorageApiSettings

#: the visitor web calls for, in the paths of the visitor endpoints
VisitorId = Annotated[
    str, Parameter(pattern=VISITOR_ID_PATTERN, description="The visitor's opaque id (32 hex).")
]


class Caller(StrEnum):
    WEB = "web"
    WORKER = "worker"


@dataclass(frozen=True)
class Credentials:
    """Every accepted token with the caller it names. Never logged: repr shows callers only."""

    tokens: tuple[tuple[bytes, Caller], ...]

    @classmethod
    def from_settings(cls, settings: StorageApiSettings) -> Credentials:
        return cls(
            tuple(
                [(t.encode(), Caller.WEB) for t in settings.accepted_web_tokens]
                + [(t.encode(), Caller.WORKER) for t in settings.accepted_worker_tokens]
            )
        )

    def caller_of(self, presented: bytes) -> Caller | None:
        found = None
        # every token is compared, each in constant time, so the time taken says neither
        # which token matched nor how much of a guess was right
        for token, caller in self.tokens:
            if hmac.compare_digest(presented, token):
                found = caller
        return found

    def __repr__(self) -> str:
        return f"Credentials(callers={sorted({caller.value for _, caller in self.tokens})})"


def only(caller: Caller) -> Guard:
    """A guard that lets `caller` through: 401 without a valid token, 403 for another caller.

    A coroutine although it never awaits: Litestar runs a plain function guard in a worker
    thread, a thread hop on every request for a few constant-time comparisons."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        credentials: Credentials = connection.app.state.credentials
        scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
        presented = credentials.caller_of(token.encode()) if scheme.lower() == "bearer" else None
        if presented is None:
            raise Unauthorized()
        if presented is not caller:
            raise Forbidden(f"This endpoint is for {caller.value}, not {presented.value}.")

    return guard
