"""New visitors are limited per client address: dropping the cookie must not reset the quotas.

A guard of the pages' routers (the only routes that hand a visitor a cookie): a request with
no valid session asks storage-api (which counts in Redis, shared by every replica) before the
new visitor is made; refused, it gets a 429 page with Retry-After and no cookie.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from s3tasks_web.errors import StorageUnavailable
from s3tasks_web.http.client_address import ClientAddresses
from s3tasks_web.http.connections import WebConnection
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.visitors.session import SessionCookie

AdmissionGuard = Callable[[WebConnection, BaseRouteHandler], Awaitable[None]]


def admission_guard(
    session_cookie: SessionCookie,
    client_addresses: ClientAddresses,
    storage_of: Callable[[State], StorageApiClient],
) -> AdmissionGuard:
    """The guard, given what it reads (`storage_of`: the app's storage-api client, made by
    its lifespan)."""

    async def admit_new_visitor(connection: WebConnection, _: BaseRouteHandler) -> None:
        session = session_cookie.load(connection)
        if not session.is_new or session.admitted:
            return
        # the count lives in storage-api: with it unreachable there is nothing to count
        # against, and the page itself says "Storage is unavailable" (the rate limits also let
        # requests through while their Redis is down)
        with contextlib.suppress(StorageUnavailable):
            await storage_of(connection.app.state).admit_session(client_addresses.of(connection))
        session.admitted = True

    return admit_new_visitor
