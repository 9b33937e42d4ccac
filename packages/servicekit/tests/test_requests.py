"""The shared request middleware on a real ASGI conversation: the request id, and every answer
counted by route template, unrouted ones as `unmatched`."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from s3tasks_servicekit.http_middleware import HttpMetrics, RequestMiddleware
from s3tasks_servicekit.requestid import current_request_id
from s3tasks_testkit import aio

seen_ids: list[str | None] = []


async def _app(scope: Any, receive: Any, send: Any) -> None:
    """Routes `/items/<id>` (as a framework would: it sets `path_template`), 404 otherwise."""
    seen_ids.append(current_request_id())
    if scope["path"].startswith("/items/"):
        scope["path_template"] = "/items/{item_id}"
        status = 200
    else:
        status = 404
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _request(
    middleware: RequestMiddleware, path: str, headers: list[tuple[bytes, bytes]]
) -> dict[str, Any]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": headers}
    aio.run(middleware(scope, receive, send))
    return sent[0]


def _counted(registry: CollectorRegistry, route: str, status: str) -> float:
    labels = {"service": "svc", "method": "GET", "route": route, "status": status}
    return registry.get_sample_value("s3tasks_http_requests_total", labels) or 0.0


def test_answers_are_counted_by_route_template_unrouted_as_unmatched() -> None:
    registry = CollectorRegistry()
    middleware = RequestMiddleware(_app, HttpMetrics(registry, "svc"))
    for path in ("/items/1", "/items/2", "/nowhere"):
        _request(middleware, path, [])
    assert _counted(registry, "/items/{item_id}", "200") == 2
    assert _counted(registry, "unmatched", "404") == 1
    latency = {"service": "svc", "method": "GET", "route": "unmatched"}
    assert registry.get_sample_value("s3tasks_http_request_duration_seconds_count", latency) == 1


def test_a_well_formed_request_id_is_adopted_and_answered_any_other_replaced() -> None:
    middleware = RequestMiddleware(_app, HttpMetrics(CollectorRegistry(), "svc"))
    seen_ids.clear()
    kept = _request(middleware, "/items/1", [(b"x-request-id", b"job-1:a.b_c")])
    assert (b"x-request-id", b"job-1:a.b_c") in kept["headers"]
    forged = _request(middleware, "/items/1", [(b"x-request-id", b"a\r\nforged line")])
    (answered,) = [value for name, value in forged["headers"] if name == b"x-request-id"]
    assert answered != b"a\r\nforged line"
    assert len(answered) == 32  # a fresh uuid4 hex
    assert seen_ids == ["job-1:a.b_c", answered.decode()]
    assert current_request_id() is None  # unbound once the request is answered
