"""The request id and the HTTP metrics of a service, in one ASGI middleware around the whole
app: Litestar runs its own middleware only for requests a route takes, so wrapped around
`app.asgi_handler` this also counts (as route `unmatched`) and tags the unrouted 404s and 405s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from s3tasks_servicekit.graceful import Draining
from s3tasks_servicekit.requestid import REQUEST_ID_HEADER, bind_request_id, unbind_request_id

#: any ASGI app (Litestar's handler included); scopes and messages are ASGI's dicts
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
UNMATCHED_ROUTE = "unmatched"
#: probes are asked every few seconds; their access lines would drown everything else
PROBE_ROUTES = frozenset({"/healthz", "/readyz"})
#: uploads and downloads of hundreds of megabytes take minutes, pages milliseconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_CLOSE = (b"connection", b"close")


class HttpMetrics:
    """Requests by route template (never the raw path: ids would explode cardinality),
    method and status; latency by route template and method."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.requests = Counter(
            "s3tasks_http_requests_total",
            "HTTP requests answered, by route template and status.",
            ["service", "method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "s3tasks_http_request_duration_seconds",
            "Time to answer an HTTP request (until the response body is sent).",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.latency.labels(self.service, method, route).observe(seconds)


class RequestMiddleware:
    """Binds the request id (answered in `X-Request-ID`), counts and times every answer, and
    writes an access line to `access_log` when given (probes at DEBUG), its path as
    `log_path` writes it (a path that holds a secret, such as a share link's token, must not
    reach a log).

    Once `draining` has begun (SIGTERM), every answer says `Connection: close` and uvicorn
    closes its connection after it: a client's kept-alive connection to a replica that is
    going away ends after an answer, where the client knows not to reuse it, instead of idle
    when the listener closes, where a request the client was just sending on it is lost."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: HttpMetrics,
        access_log: logging.Logger | None = None,
        log_path: Callable[[str], str] = lambda path: path,
        draining: Draining | None = None,
    ) -> None:
        self._app = app
        self._draining = draining
        self._metrics = metrics
        self._access_log = access_log
        self._log_path = log_path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        incoming: bytes | None = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode())
        request_id, token = bind_request_id(incoming.decode("latin-1") if incoming else None)
        method: str = scope["method"]
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                    *([_CLOSE] if self._draining is not None and self._draining.started else []),
                ]
            await send(message)

        try:
            await self._app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or UNMATCHED_ROUTE
            self._metrics.observe(method, route, status, elapsed)
            if self._access_log is not None:
                self._access_log.log(
                    logging.DEBUG if route in PROBE_ROUTES else logging.INFO,
                    "%s %s %s %.1f ms",
                    method,
                    self._log_path(scope["path"]),
                    status,
                    elapsed * 1000,
                    extra={"route": route, "status": status, "duration_s": elapsed},
                )
            unbind_request_id(token)
