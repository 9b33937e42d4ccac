"""Probes: /healthz (alive), /readyz (storage-api reachable, and no SIGTERM came). /metrics has a
port of its own (`s3tasks-web serve`, cli.py): this port is the public one."""

from __future__ import annotations

from litestar import Controller, MediaType, Response, get
from litestar.datastructures import State

from s3tasks_web.dependencies import STORAGE, StorageDep


class HealthController(Controller):
    include_in_schema = False
    dependencies = STORAGE

    @get("/healthz", media_type=MediaType.JSON)
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", media_type=MediaType.JSON)
    async def readyz(self, state: State, storage: StorageDep) -> Response[dict[str, str]]:
        if state.draining.started:  # SIGTERM came: the ingress must stop sending here
            return Response({"status": "shutting down"}, status_code=503)
        if await storage.ready():
            return Response({"status": "ok"})
        return Response({"status": "storage-api unreachable"}, status_code=503)
