"""New visitors are limited per client address: dropping the cookie must not reset the quotas.

A guard of the pages' routers (the only routes that hand a visitor a cookie): a request with
no valid session asks storage-api (which counts in Redis, shared by every replica) before the
new visitor is made; refused, it gets a 429 page with Retry-After and no cookie.
"""

from __future__ import annotations

import contextlib

from litestar.handlers.base import BaseRouteHandler

from s3tasks_web.errors import StorageUnavailable
from s3tasks_web.http.connections import WebConnection
from s3tasks_web.resources import provide_resources, provide_storage


async def admit_new_visitor(connection: WebConnection, _: BaseRouteHandler) -> None:
    resources = provide_resources(connection.app.state)
    session = resources.session_cookie.load(connection)
    if not session.is_new or session.admitted:
        return
    # the count lives in storage-api: with it unreachable there is nothing to count against,
    # and the page itself says "Storage is unavailable" (the rate limits also let requests
    # through while their Redis is down)
    with contextlib.suppress(StorageUnavailable):
        await provide_storage(connection.app.state).admit_session(
            resources.client_addresses.of(connection)
        )
    session.admitted = True
