"""The headers every response carries: security headers, and no shared caching of pages.
The session cookie is the visitor's session's (`visitors/session.py`); the request id and the
HTTP metrics are the shared middleware's (`s3tasks_servicekit.http_middleware`)."""

from __future__ import annotations

from collections.abc import Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope


def content_security_policy(s3_origin: str | None = None) -> str:
    """No inline script or style anywhere: everything comes from /static. In `direct` mode
    the browser also sends uploads to, and loads thumbnails from, the S3 origin. Images may
    also be `blob:` URLs: the upload script's previews of the visitor's own files, made in
    the page from the chosen file (nothing a third party can put there). `'wasm-unsafe-eval'`
    lets the upload script compile its own WebAssembly (Argon2id for a key password, from
    /static like the rest); it admits no JavaScript `eval`."""
    extra = f" {s3_origin}" if s3_origin else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "style-src 'self'",
            f"img-src 'self' blob:{extra}",
            f"connect-src 'self'{extra}",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action 'self'{extra}",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def security_headers(production: bool, hsts_max_age: int) -> dict[str, str]:
    headers = {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=()",
    }
    if production:
        headers["strict-transport-security"] = f"max-age={hsts_max_age}; includeSubDomains"
    return headers


#: a share link's pages: its URL is a capability, so no other site learns it from a
#: Referer, and no search engine lists it
CAPABILITY_HEADERS = {"referrer-policy": "no-referrer", "x-robots-tag": "noindex, nofollow"}


def security_headers_hook(
    production: bool,
    hsts_max_age: int,
    s3_origin: Callable[[], str | None],
    capability_path: Callable[[str], bool] = lambda _: False,
) -> BeforeMessageSendHookHandler:
    """A before_send hook: runs for every response, routed or not (404s, static files, errors).
    `s3_origin`: the S3 origin of `direct` mode as last told, or None (`proxy` mode).
    `capability_path`: whether a path holds a capability (CAPABILITY_HEADERS)."""
    fixed = security_headers(production, hsts_max_age)

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        origin = s3_origin()
        for name, value in fixed.items():
            if name == "content-security-policy" and name in headers:
                continue  # served uploads carry their own, stricter policy
            if name == "content-security-policy" and origin:
                value = content_security_policy(origin)
            headers[name] = value
        if capability_path(scope["path"]):
            for name, value in CAPABILITY_HEADERS.items():
                headers[name] = value
        content_type = headers.get("content-type", "")
        personal = content_type.startswith(("text/html", "application/json"))
        if personal and "cache-control" not in headers:
            # Pages carry the visitor's items and CSRF token: never for a shared cache.
            headers["cache-control"] = "no-store"

    return before_send
