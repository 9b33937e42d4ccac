"""Probes and metrics: /healthz (alive), /readyz (storage-api reachable), /metrics."""

from __future__ import annotations

from litestar import Controller, MediaType, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from s3tasks_web.services import WebServices
from s3tasks_web.storage_client import StorageClient


class HealthController(Controller):
    include_in_schema = False

    @get("/healthz", media_type=MediaType.JSON)
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", media_type=MediaType.JSON)
    async def readyz(self, storage: StorageClient) -> Response[dict[str, str]]:
        if await storage.ready():
            return Response({"status": "ok"})
        return Response({"status": "storage-api unreachable"}, status_code=503)

    @get("/metrics")
    async def metrics(self, services: WebServices) -> Response[bytes]:
        return Response(
            generate_latest(services.metrics.registry),
            media_type=CONTENT_TYPE_LATEST,
        )
