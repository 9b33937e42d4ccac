"""Lingering close: an answer that ends a request early reaches the client before the hang-up.

web refuses some uploads without reading their body (announced too large, too many uploads,
too slow) and closes the connection instead of draining it. Closing a socket that still
holds unread bytes makes the kernel send a reset, and a client that is still sending then
loses the answer it was sent. So, as nginx's `lingering_close` does, the whole answer is sent
at once, and the connection ends only after reading (and discarding) what the client still
sends, for a short, bounded time.
"""

from __future__ import annotations

import asyncio
import time

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

#: at most this long after the answer, and never longer than the client's pause in sending.
LINGER_SECONDS = 5.0
LINGER_IDLE_SECONDS = 1.0


class LingeringCloseMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = dict(scope.get("headers", []))
        if scope.get("method") != "POST" or headers.get(b"expect", b"").lower() == b"100-continue":
            # no body on its way (or the client waits for our word before sending one)
            await next_app(scope, receive, send)
            return
        closing = False

        async def send_lingering(message: Message) -> None:
            nonlocal closing
            if message["type"] == "http.response.start":
                closing = any(
                    name.lower() == b"connection" and value.lower() == b"close"
                    for name, value in message.get("headers", [])
                )
            elif (
                closing
                and message["type"] == "http.response.body"
                and not message.get("more_body", False)
            ):
                # the answer, whole (Content-Length), but not yet the end of the exchange
                await send({**message, "more_body": True})
                await _discard_the_rest(receive)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await next_app(scope, receive, send_lingering)


async def _discard_the_rest(receive: Receive) -> None:
    ends = time.monotonic() + LINGER_SECONDS
    while (left := ends - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(receive(), min(LINGER_IDLE_SECONDS, left))
        except TimeoutError:
            return
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
