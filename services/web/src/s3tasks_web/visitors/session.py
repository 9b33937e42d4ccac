"""The visitor's session: a random visitor id and pending flash messages in a signed cookie.

The cookie is `base64url(json).base64url(hmac-sha256)` (itsdangerous, as
`s3tasks_servicekit.signing` configures it: the same bytes as the hand-made scheme it replaced,
so cookies already handed out stay valid); anything that does not verify is treated as no
cookie at all, so a tampered cookie simply makes a new visitor.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from litestar.datastructures import MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from s3tasks_contracts import is_valid_visitor_id
from s3tasks_servicekit.signing import BadData, json_signer
from s3tasks_web.http.connections import WebConnection

FlashLevel = Literal["success", "error", "info"]
_STATE_KEY = "s3tasks_web.session"
_MAX_FLASHES = 5
_MAX_FLASH_LENGTH = 300


@dataclass(frozen=True)
class Flash:
    level: FlashLevel
    text: str


@dataclass
class VisitorSession:
    visitor_id: str
    flashes: list[Flash] = field(default_factory=list)
    is_new: bool = False
    dirty: bool = False
    #: a new session's cookie is written only once storage-api let the client have one more
    #: (`admission.admit_new_visitor`): a response of any other route gives no new visitor
    admitted: bool = False

    def flash(self, level: FlashLevel, text: str) -> None:
        self.flashes = [*self.flashes, Flash(level, text[:_MAX_FLASH_LENGTH])][-_MAX_FLASHES:]
        self.dirty = True

    def pop_flashes(self) -> list[Flash]:
        flashes, self.flashes = self.flashes, []
        if flashes:
            self.dirty = True
        return flashes


class SessionCodec:
    """Signs and verifies session cookies with a key derived from the app's secret."""

    def __init__(self, secret_key: str) -> None:
        self._signer = json_signer(secret_key, b"s3tasks-web session v1")

    def encode(self, session: VisitorSession) -> str:
        body = {"v": session.visitor_id, "f": [[f.level, f.text] for f in session.flashes]}
        return self._signer.dumps(body)

    def decode(self, cookie: str) -> VisitorSession | None:
        try:
            body = self._signer.loads(cookie)
        except BadData:
            return None
        if not isinstance(body, dict):
            return None
        visitor_id = body.get("v")
        if not isinstance(visitor_id, str) or not is_valid_visitor_id(visitor_id):
            return None
        flashes = [
            Flash(level, text)
            for level, text in _pairs(body.get("f"))
            if level in ("success", "error", "info")
        ]
        return VisitorSession(visitor_id=visitor_id, flashes=flashes)


def _pairs(value: object) -> list[tuple[FlashLevel, str]]:
    if not isinstance(value, list):
        return []
    pairs: list[tuple[FlashLevel, str]] = []
    for entry in value[:_MAX_FLASHES]:
        if (
            isinstance(entry, list)
            and len(entry) == 2
            and entry[0] in ("success", "error", "info")
            and isinstance(entry[1], str)
        ):
            pairs.append((entry[0], entry[1]))
    return pairs


@dataclass(frozen=True)
class SessionCookie:
    """Where the session lives in the browser and with which flags."""

    codec: SessionCodec
    name: str
    max_age_seconds: int
    secure: bool

    def load(self, connection: WebConnection) -> VisitorSession:
        """The connection's session, read once per request (a new visitor if none verifies)."""
        state = connection.scope["state"]
        cached = state.get(_STATE_KEY)
        if isinstance(cached, VisitorSession):
            return cached
        raw = connection.cookies.get(self.name)
        session = self.codec.decode(raw) if raw else None
        if session is None:
            session = VisitorSession(visitor_id=uuid.uuid4().hex, is_new=True, dirty=True)
        state[_STATE_KEY] = session
        return session

    def header_for(self, state: dict[str, object]) -> str | None:
        """The Set-Cookie value to send, if this request's session changed."""
        session = state.get(_STATE_KEY)
        if not isinstance(session, VisitorSession) or not session.dirty:
            return None
        if session.is_new and not session.admitted:
            return None
        flags = [
            f"{self.name}={self.codec.encode(session)}",
            "Path=/",
            f"Max-Age={self.max_age_seconds}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self.secure:
            flags.append("Secure")
        return "; ".join(flags)

    def before_send_hook(
        self, sessionless: Callable[[str], bool] = lambda _: False
    ) -> BeforeMessageSendHookHandler:
        """A before_send hook writing the cookie on any response whose session changed (a new
        visitor, a flash added or shown), pages and error pages alike; never on a path that
        `sessionless` names (a share link's: opening one sets no cookie, whatever answers)."""

        async def before_send(message: Message, scope: Scope) -> None:
            if message["type"] != "http.response.start" or sessionless(scope["path"]):
                return
            cookie = self.header_for(scope.get("state", {}))
            if cookie is not None:
                headers = MutableScopeHeaders.from_message(message)
                headers.add("set-cookie", cookie)
                headers.add("vary", "Cookie")

        return before_send
