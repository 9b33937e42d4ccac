"""Internal endpoints for the worker, behind the service token."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from s3tasks_contracts import DeletionReport, DeletionRequest, ReconcileReport, ReconcileRequest
from s3tasks_storage_api.deletions.service import DeletionService
from s3tasks_storage_api.errors import Unauthorized


def require_service_token(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    expected: bytes = connection.app.state.service_token
    header = connection.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    # constant-time: the comparison must not leak how much of a guess was right
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
        raise Unauthorized("A valid service token is required.")


class InternalDeletionsController(Controller):
    path = "/v1/internal"
    guards = [require_service_token]
    tags = ["internal"]

    @post("/deletions", status_code=200, sync_to_thread=True)
    def delete_due(self, deletions: DeletionService, data: DeletionRequest) -> DeletionReport:
        """Delete one batch of due items (expired, capped, purged, abandoned uploads)."""
        return deletions.delete_due(data)

    @post("/reconcile", status_code=200, sync_to_thread=True)
    def reconcile(self, deletions: DeletionService, data: ReconcileRequest) -> ReconcileReport:
        """Remove rows whose object is missing and objects without a row."""
        return deletions.reconcile(data)
