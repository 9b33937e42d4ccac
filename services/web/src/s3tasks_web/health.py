"""Probes: /healthz (alive), /readyz (storage-api reachable). /metrics has a port of its own
(`s3tasks-web serve`, cli.py): this port is the public one."""

from __future__ import annotations

from litestar import Controller, MediaType, Response, get

from s3tasks_web.storage_api_client import StorageApiClient


class HealthController(Controller):
    include_in_schema = False

    @get("/healthz", media_type=MediaType.JSON)
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", media_type=MediaType.JSON)
    async def readyz(self, storage: StorageApiClient) -> Response[dict[str, str]]:
        if await storage.ready():
            return Response({"status": "ok"})
        return Response({"status": "storage-api unreachable"}, status_code=503)
