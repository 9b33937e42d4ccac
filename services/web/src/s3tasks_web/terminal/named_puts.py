"""`curl -T photo.jpg https://host/` sends `PUT /photo.jpg`: any name at all. A route
`PUT /{name}` would also answer every other method on every one-segment path (`GET /metrics`,
`GET /typo`) with 405 where the site answers 404; so, around the app, a PUT to a one-segment
path is taken to `PUT /` with its name kept beside it (`put_name`), and nothing else changes.
No other route takes a PUT there."""

from __future__ import annotations

from typing import Any

from litestar.types import ASGIApp

from s3tasks_web.http.connections import WebRequest

_NAME_KEY = "s3tasks.put_name"


class NamedPuts:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "PUT":
            name = scope["path"][1:]
            if name and "/" not in name:
                scope = {**scope, "path": "/", "raw_path": b"/", _NAME_KEY: name}
        await self._app(scope, receive, send)


def put_name(request: WebRequest) -> str | None:
    """The name a PUT was sent to (`PUT /photo.jpg`), None for `PUT /`."""
    name = request.scope.get(_NAME_KEY)
    return name if isinstance(name, str) else None
