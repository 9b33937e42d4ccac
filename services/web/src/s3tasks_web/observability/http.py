"""Per-request plumbing: request ids, security headers, the session cookie, HTTP metrics."""

from __future__ import annotations

import logging
import time

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from s3tasks_web.observability.context import bind_request_id, current_request_id
from s3tasks_web.services import WebServices

log = logging.getLogger("s3tasks_web.http")
#: Probes are asked every few seconds; their lines would drown everything else.
_PROBE_ROUTES = frozenset({"/healthz", "/readyz"})


def content_security_policy(s3_origin: str | None = None) -> str:
    """No inline script or style anywhere: everything comes from /static. In `direct` mode
    the browser also sends uploads to, and loads thumbnails from, the S3 origin."""
    extra = f" {s3_origin}" if s3_origin else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self'{extra}",
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


def make_before_send(services: WebServices) -> object:
    """A before_send hook: runs for every response, routed or not (404s, static files, errors)."""
    fixed = security_headers(services.settings.production, services.settings.hsts_max_age_seconds)

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        s3_origin = services.storage.s3_browser_origin if services.storage else None
        for name, value in fixed.items():
            if name == "content-security-policy" and name in headers:
                continue  # served uploads carry their own, stricter policy
            if name == "content-security-policy" and s3_origin:
                value = content_security_policy(s3_origin)
            headers[name] = value
        content_type = headers.get("content-type", "")
        personal = content_type.startswith(("text/html", "application/json"))
        if personal and "cache-control" not in headers:
            # Pages carry the visitor's items and CSRF token: never for a shared cache.
            headers["cache-control"] = "no-store"
        request_id = current_request_id()
        if request_id:
            headers["x-request-id"] = request_id
        cookie = services.session_cookie.header_for(scope.get("state", {}))
        if cookie is not None:
            headers.add("set-cookie", cookie)
            headers.add("vary", "Cookie")

    return before_send


class RequestMiddleware(ASGIMiddleware):
    """Binds the request id and records HTTP metrics by route template (`unmatched` where no
    route takes the request: 404, 405) and status. Wraps the whole app, see `create_app`."""

    def __init__(self, services: WebServices) -> None:
        self.services = services

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        incoming = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
        bind_request_id(incoming)
        if scope["type"] != ScopeType.HTTP:
            await next_app(scope, receive, send)
            return
        method = scope["method"]
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, send_wrapper)
        finally:
            labels = {
                "service": "web",
                "method": method,
                "route": scope.get("path_template") or "unmatched",
                "status": str(status),
            }
            elapsed = time.perf_counter() - started
            metrics = self.services.metrics
            metrics.http_requests.labels(**labels).inc()
            metrics.http_duration.labels(**labels).observe(elapsed)
            probe = labels["route"] in _PROBE_ROUTES
            log.log(
                logging.DEBUG if probe else logging.INFO,
                "%s %s %s %.1f ms",
                method,
                scope["path"],
                status,
                elapsed * 1000,
                extra={"route": labels["route"], "status": status, "duration_s": elapsed},
            )
