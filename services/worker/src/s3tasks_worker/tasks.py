"""The deletion jobs. Thin: each asks storage-api to delete and turns its report into metrics.

`deletion_job` gives every job its stable name, logging, metrics and retry policy. Only
transient errors are retried (storage-api unreachable, timed out, or answering 5xx), with
exponential backoff and jitter, at most `max_retries` times; after that the failure is counted
and logged, and the next sweep picks the items up again, since PostgreSQL is the schedule.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec

import httpx
from celery import Celery, Task

from s3tasks_contracts import (
    TASK_PURGE_VISITOR,
    TASK_RECONCILE,
    TASK_SWEEP_DUE,
    DeletionReason,
    DeletionRequest,
    ReconcileRequest,
)
from s3tasks_worker.client import StorageApiClient, StorageApiError
from s3tasks_worker.metrics import DeletionMetrics, JobOutcome
from s3tasks_worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

P = ParamSpec("P")


@dataclass
class JobContext:
    """What a job needs, shared by the jobs of one process."""

    settings: WorkerSettings
    metrics: DeletionMetrics
    _client: StorageApiClient | None = field(default=None, init=False)
    _client_pid: int | None = field(default=None, init=False)

    def storage_api(self) -> StorageApiClient:
        # A connection pool must not cross a fork: each pool process makes its own.
        if self._client is None or self._client_pid != os.getpid():
            self._client = StorageApiClient(self.settings)
            self._client_pid = os.getpid()
        return self._client


def is_transient(exc: BaseException) -> bool:
    """Errors that may go away by themselves: worth a retry."""
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, StorageApiError) and exc.status_code >= 500


def backoff_seconds(
    retries_so_far: int,
    *,
    base: float,
    cap: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with "equal jitter": half the delay fixed, half random.

    The fixed half keeps a retry from coming straight back; the random half spreads the
    retries of many jobs that failed together.
    """
    ceiling = min(cap, base * 2.0**retries_so_far)
    return ceiling / 2 + rng() * ceiling / 2


JobBody = Callable[Concatenate[JobContext, str, P], str]


def deletion_job(
    app: Celery, context: JobContext, *, name: str, reason: DeletionReason
) -> Callable[[JobBody[P]], Task]:
    """Register `body(context, request_id, *args)` as the Celery task `name`.

    The body returns a one-line summary for the log. The task id is the request id sent to
    storage-api, so one job (and its retries) can be followed through both services' logs.
    """
    settings = context.settings

    def register(body: JobBody[P]) -> Task:
        def run(task: Task, *args: P.args, **kwargs: P.kwargs) -> None:
            request_id = str(task.request.id)
            retries = int(task.request.retries or 0)
            started = time.monotonic()
            try:
                summary = body(context, request_id, *args, **kwargs)
            except Exception as exc:
                elapsed = time.monotonic() - started
                if is_transient(exc) and retries < settings.max_retries:
                    countdown = backoff_seconds(
                        retries,
                        base=settings.retry_backoff_seconds,
                        cap=settings.retry_backoff_max_seconds,
                    )
                    context.metrics.record_job(reason, JobOutcome.RETRY, elapsed)
                    logger.warning(
                        "job %s [%s] failed (%s), retry %d/%d in %.1fs",
                        name, request_id, exc, retries + 1, settings.max_retries, countdown,
                    )  # fmt: skip
                    raise task.retry(exc=exc, countdown=countdown) from exc
                context.metrics.record_job(reason, JobOutcome.FAILURE, elapsed)
                logger.exception(
                    "job %s [%s] failed after %d retries; the next sweep tries again",
                    name, request_id, retries,
                )  # fmt: skip
                return
            elapsed = time.monotonic() - started
            context.metrics.record_job(reason, JobOutcome.SUCCESS, elapsed)
            logger.info("job %s [%s] done in %.2fs: %s", name, request_id, elapsed, summary)

        run.__name__ = run.__qualname__ = body.__name__
        run.__doc__ = body.__doc__
        task: Task = app.task(
            name=name,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            # retries are decided above, with our own backoff; Celery's limit only backs it up
            max_retries=settings.max_retries,
        )(run)
        return task

    return register


def delete_due_in_batches(context: JobContext, request_id: str, visitor_id: str | None) -> str:
    """Ask storage-api for batches of deletions until nothing is due or the batch limit."""
    settings = context.settings
    request = DeletionRequest(limit=settings.sweep_batch_size, visitor_id=visitor_id)
    deleted = 0
    for batch in range(1, settings.max_batches_per_job + 1):
        report = context.storage_api().delete_due(request, request_id=request_id)
        # counted batch by batch: what a batch deleted stays deleted even if a later one fails
        context.metrics.record_deleted(report.tallies, report.lag_seconds)
        deleted += report.deleted
        if not report.more_due:
            return f"deleted {deleted} items in {batch} batches"
    return f"deleted {deleted} items, more are due: the next job continues"


def register_jobs(app: Celery, context: JobContext) -> None:
    def sweep_due(context: JobContext, request_id: str) -> str:
        """Delete everything due: expired items and rows hidden by the cap or "delete all"."""
        return delete_due_in_batches(context, request_id, visitor_id=None)

    def purge_visitor(context: JobContext, request_id: str, visitor_id: str) -> str:
        """Delete one visitor's hidden items right after "delete all", not at the next tick."""
        return delete_due_in_batches(context, request_id, visitor_id=visitor_id)

    def reconcile(context: JobContext, request_id: str) -> str:
        """Drop rows whose object is gone and objects without a row (after a grace period)."""
        request = ReconcileRequest(grace_seconds=context.settings.reconcile_grace_seconds)
        report = context.storage_api().reconcile(request, request_id=request_id)
        context.metrics.record_deleted(report.tallies, [])
        return (
            f"removed {report.dangling_rows_removed} dangling rows and "
            f"{report.orphan_objects_removed} orphan objects"
        )

    deletion_job(app, context, name=TASK_SWEEP_DUE, reason=DeletionReason.EXPIRED)(sweep_due)
    deletion_job(app, context, name=TASK_PURGE_VISITOR, reason=DeletionReason.PURGE)(purge_visitor)
    deletion_job(app, context, name=TASK_RECONCILE, reason=DeletionReason.RECONCILE)(reconcile)


__all__ = ["JobContext", "backoff_seconds", "deletion_job", "is_transient", "register_jobs"]
