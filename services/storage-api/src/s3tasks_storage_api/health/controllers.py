"""`/healthz` (the process answers), `/readyz` (PostgreSQL and S3 answer, and no SIGTERM came),
`/metrics`."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine, text

from s3tasks_storage_api.storage.bucket import ObjectStore


class HealthController(Controller):
    include_in_schema = False

    @get("/healthz", sync_to_thread=False)
    def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", sync_to_thread=True)
    def readyz(
        self, state: State, store: NamedDependency[ObjectStore]
    ) -> Response[dict[str, object]]:
        if state.draining.started:  # SIGTERM came: web and the worker must stop sending here
            return Response(content={"status": "shutting down"}, status_code=503)
        checks = {
            "database": _check(lambda: _ping_database(state.engine)),
            "s3": _check(store.ping),
        }
        ready = all(v == "ok" for v in checks.values())
        return Response(
            content={"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @get("/metrics", sync_to_thread=True)
    def metrics(self, state: State) -> Response[bytes]:
        registry: CollectorRegistry = state.registry
        return Response(content=generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _ping_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _check(probe: object) -> str:
    try:
        probe()  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
        return f"failed: {type(exc).__name__}"
    return "ok"
