"""CSRF: a token bound to the visitor's session, checked before any request body is read.

Forms carry the token in their action's query string (`?csrf=...`) or scripts send it as
`X-CSRF-Token`, so an upload is refused before a byte of it is read. Where the browser says
where a request came from (Origin, Sec-Fetch-Site), it must be this site.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from litestar.handlers.base import BaseRouteHandler

from s3tasks_servicekit.signing import signer
from s3tasks_web.errors import CsrfRejected
from s3tasks_web.http.connections import WebConnection
from s3tasks_web.visitors.session import SessionCookie, VisitorSession

#: `opt` of routes that have no visitor session (a share link's page)
NO_SESSION = "no_session"
CSRF_QUERY_PARAM = "csrf"
CSRF_HEADER = "x-csrf-token"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ACCEPTED_FETCH_SITES = frozenset({"same-origin", "none"})

CsrfGuard = Callable[[WebConnection, BaseRouteHandler], Awaitable[None]]


class CsrfTokens:
    """A visitor's token is the signature of their visitor id (itsdangerous, as
    `s3tasks_servicekit.signing` configures it): the same for every page of the session,
    checked in constant time."""

    def __init__(self, secret_key: str) -> None:
        self._signer = signer(secret_key, b"s3tasks-web csrf v1")

    def token_for(self, session: VisitorSession) -> str:
        return self._signer.get_signature(session.visitor_id).decode()

    def verify(self, session: VisitorSession, token: str | None) -> bool:
        if not token or session.is_new:
            return False
        return self._signer.verify_signature(session.visitor_id, token)


def _same_origin(connection: WebConnection, *, opaque_origin: bool = False) -> bool:
    """`opaque_origin`: a page sent with `Referrer-Policy: no-referrer` (a share link's) has
    its browser send `Origin: null` on its own forms; `Sec-Fetch-Site` still says same-origin."""
    fetch_site = connection.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in _ACCEPTED_FETCH_SITES:
        return False
    origin = connection.headers.get("origin")
    if origin is None or (opaque_origin and origin == "null"):
        return True
    host = connection.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


def csrf_guard(tokens: CsrfTokens, session_cookie: SessionCookie) -> CsrfGuard:
    """The app's guard of every unsafe request, given what it checks with."""

    async def check_csrf(connection: WebConnection, handler: BaseRouteHandler) -> None:
        """Route guard: runs before the handler, so before the body is read. A coroutine
        although it never awaits: Litestar runs a plain function guard in a worker thread, a
        thread hop on every request for a few microseconds of hashing.

        Routes without a visitor session (`opt` NO_SESSION: a share link's page) have no
        token to check: they need the origin only, and no session is made for them."""
        if connection.scope.get("method", "GET") not in _UNSAFE_METHODS:
            return
        if handler.opt.get(NO_SESSION):
            if not _same_origin(connection, opaque_origin=True):
                raise CsrfRejected
            return
        session = session_cookie.load(connection)
        token = connection.query_params.get(CSRF_QUERY_PARAM) or connection.headers.get(CSRF_HEADER)
        if not _same_origin(connection) or not tokens.verify(session, token):
            raise CsrfRejected

    return check_csrf
