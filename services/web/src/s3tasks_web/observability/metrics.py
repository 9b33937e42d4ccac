"""Prometheus metrics of one web app (a registry of its own, so apps in tests do not clash);
the HTTP metrics are the shared ones (`s3tasks_servicekit.http_middleware`), on this registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from s3tasks_contracts import ItemKind


@dataclass(frozen=True)
class WebMetrics:
    registry: CollectorRegistry
    uploads: Counter
    upload_bytes: Counter

    @classmethod
    def create(cls) -> WebMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            uploads=Counter(
                "s3tasks_uploads_total",
                "Uploads through web, by kind and outcome (stored or the refusal's reason).",
                ["kind", "outcome"],
                registry=registry,
            ),
            upload_bytes=Counter(
                "s3tasks_upload_bytes_total",
                "Bytes of uploads web passed on to storage-api and that were stored.",
                ["kind"],
                registry=registry,
            ),
        )

    def record_upload(self, kind: ItemKind, outcome: str, stored_bytes: int = 0) -> None:
        self.uploads.labels(kind=kind.value, outcome=outcome).inc()
        if stored_bytes:
            self.upload_bytes.labels(kind=kind.value).inc(stored_bytes)
