"""Prometheus metrics of storage-api, on a registry of the app's own (never a global)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from s3tasks_storage_api.db.repository import KindTotals
from s3tasks_storage_api.errors import StorageApiError

KINDS = ("image", "file")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class UploadMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.uploads = Counter(
            "s3tasks_uploads_total",
            "Uploads by kind and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.upload_bytes = Counter(
            "s3tasks_upload_bytes_total", "Bytes of stored uploads.", ["kind"], registry=registry
        )
        for kind in KINDS:
            self.upload_bytes.labels(kind)
            self.uploads.labels(kind, "success")

    def stored(self, kind: str, size: int) -> None:
        self.uploads.labels(kind, "success").inc()
        self.upload_bytes.labels(kind).inc(size)

    def refused(self, kind: str, exc: BaseException) -> None:
        outcome = type(exc).__name__ if isinstance(exc, StorageApiError) else "error"
        self.uploads.labels(kind, _snake(outcome)).inc()


class ItemsCollector(Collector):
    """Stored items, bytes and the deletion backlog, read from PostgreSQL at scrape time.

    Every replica reports the same global numbers; dashboards take `max`.
    """

    def __init__(self, totals: Callable[[], list[KindTotals]]) -> None:
        self._totals = totals

    def collect(self) -> Iterable[GaugeMetricFamily]:
        stored = GaugeMetricFamily(
            "s3tasks_items_stored", "Items visible to visitors.", labels=["kind"]
        )
        size = GaugeMetricFamily("s3tasks_bytes_stored", "Bytes of visible items.", labels=["kind"])
        pending = GaugeMetricFamily(
            "s3tasks_items_pending_deletion",
            "Items expired or hidden and not yet deleted.",
            labels=["kind"],
        )
        try:
            by_kind = {t.kind: t for t in self._totals()}
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database does
            return
        for kind in KINDS:
            t = by_kind.get(kind, KindTotals(kind, 0, 0, 0))
            stored.add_metric([kind], t.stored_items)
            size.add_metric([kind], t.stored_bytes)
            pending.add_metric([kind], t.pending_deletion)
        yield from (stored, size, pending)


class HttpMetrics:
    """Requests and latency by route template (not raw path: ids would explode cardinality)."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.requests = Counter(
            "s3tasks_http_requests_total",
            "HTTP requests.",
            ["service", "method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "s3tasks_http_request_duration_seconds",
            "HTTP request latency.",
            ["service", "method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_wrapper)
        finally:
            m = self._metrics
            route = scope.get("path_template") or "unmatched"
            method = scope.get("method", "GET")
            m.requests.labels(m.service, method, route, str(status)).inc()
            m.latency.labels(m.service, method, route).observe(time.perf_counter() - started)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
