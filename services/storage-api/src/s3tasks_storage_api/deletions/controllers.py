"""Internal endpoints for the worker, behind the worker's credential."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from s3tasks_contracts import DeletionReport, DeletionRequest, ReconcileReport, ReconcileRequest
from s3tasks_storage_api.callers import Caller, only
from s3tasks_storage_api.deletions.service import DeletionService


class InternalDeletionsController(Controller):
    path = "/v1/internal"
    guards = [only(Caller.WORKER)]
    tags = ["internal"]

    @post("/deletions", status_code=200, sync_to_thread=True)
    def delete_due(
        self, deletions: NamedDependency[DeletionService], data: JSONBody[DeletionRequest]
    ) -> DeletionReport:
        """Delete one batch of due items (expired, capped, purged, abandoned uploads)."""
        return deletions.delete_due(data)

    @post("/reconcile", status_code=200, sync_to_thread=True)
    def reconcile(
        self, deletions: NamedDependency[DeletionService], data: JSONBody[ReconcileRequest]
    ) -> ReconcileReport:
        """Remove rows whose object is missing and objects without a row."""
        return deletions.reconcile(data)
