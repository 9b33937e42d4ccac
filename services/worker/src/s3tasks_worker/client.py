"""storage-api's internal endpoints as the worker calls them: typed, pooled, with timeouts."""

from __future__ import annotations

import httpx

from s3tasks_contracts import DeletionReport, DeletionRequest, ReconcileReport, ReconcileRequest
from s3tasks_worker.settings import WorkerSettings

DELETIONS_PATH = "/v1/internal/deletions"
RECONCILE_PATH = "/v1/internal/reconcile"


class InternalCallFailed(Exception):
    """storage-api answered, but not with a report."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"storage-api answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail

    def __reduce__(self) -> tuple[type[InternalCallFailed], tuple[int, str]]:
        # Celery pickles a task's error for its handlers and logs; without this they would see a
        # wrapper around the error's repr (the default rebuilds from the message alone)
        return type(self), (self.status_code, self.detail)

    @classmethod
    def for_answer(cls, status_code: int, detail: str) -> InternalCallFailed:
        error = InternalApiUnavailable if status_code >= 500 else InternalCallFailed
        return error(status_code, detail)


class InternalApiUnavailable(InternalCallFailed):
    """storage-api answered 5xx: down, overloaded or failing for now, so a retry may succeed.

    A 4xx is not: a refused credential (401, 403) or request (422) stays refused.
    """


class InternalApiClient:
    """One pooled HTTP client per process; a prefork child makes its own after the fork."""

    def __init__(self, settings: WorkerSettings, transport: httpx.BaseTransport | None = None):
        self._http = httpx.Client(
            base_url=str(settings.storage_api_url).rstrip("/"),
            headers={"Authorization": f"Bearer {settings.service_token.get_secret_value()}"},
            timeout=httpx.Timeout(
                settings.http_timeout_seconds, connect=settings.http_connect_timeout_seconds
            ),
            transport=transport,
        )

    def delete_due(self, request: DeletionRequest, *, request_id: str) -> DeletionReport:
        body = self._post(DELETIONS_PATH, request.model_dump(mode="json"), request_id)
        return DeletionReport.model_validate_json(body)

    def reconcile(self, request: ReconcileRequest, *, request_id: str) -> ReconcileReport:
        body = self._post(RECONCILE_PATH, request.model_dump(mode="json"), request_id)
        return ReconcileReport.model_validate_json(body)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, payload: dict[str, object], request_id: str) -> bytes:
        response = self._http.post(path, json=payload, headers={"X-Request-ID": request_id})
        if response.status_code != httpx.codes.OK:
            raise InternalCallFailed.for_answer(response.status_code, response.text[:500])
        return response.content
