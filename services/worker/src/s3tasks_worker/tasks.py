"""The deletion jobs. Thin: each asks storage-api to delete and turns its report into metrics.

Each job is a module-level function made a task by `deletion_task` (Celery's `shared_task` on
the `DeletionTask` base), which gives every job its stable name, retry policy, metrics and log
lines. Importing this module builds nothing: Celery binds the tasks to each app when the app
is finalized, and a job finds the settings, metrics and storage-api client in its app's
configuration (`JobContext`, put there by `create_celery_app`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from celery import Task, shared_task

from s3tasks_contracts import (
    TASK_PURGE_VISITOR,
    TASK_RECONCILE,
    TASK_SWEEP_DUE,
    DeletionReason,
    DeletionRequest,
    ReconcileRequest,
)
from s3tasks_worker.client import InternalApiClient, InternalApiUnavailable
from s3tasks_worker.metrics import DeletionMetrics, JobOutcome
from s3tasks_worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

#: The key of the app's configuration that holds the jobs' `JobContext`.
JOB_CONTEXT = "s3tasks_job_context"

#: Errors that may go away by themselves: storage-api unreachable, timing out or answering
#: 5xx. Nothing else is retried; a refused credential (401, 403) or request fails at once.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError, InternalApiUnavailable)


@dataclass
class JobContext:
    """What a job needs, shared by the jobs of one app."""

    settings: WorkerSettings
    metrics: DeletionMetrics
    _client: InternalApiClient | None = field(default=None, init=False)
    _client_pid: int | None = field(default=None, init=False)

    def storage_api(self) -> InternalApiClient:
        # A connection pool must not cross a fork: each pool process makes its own.
        if self._client is None or self._client_pid != os.getpid():
            self._client = InternalApiClient(self.settings)
            self._client_pid = os.getpid()
        return self._client


class DeletionTask(Task):  # type: ignore[misc]
    """The base of the deletion jobs: one run is counted and logged once, as its outcome.

    Celery calls `on_success`, `on_retry` (the job raised a transient error and is sent
    again: `autoretry_for` calls `retry`, which raises `Retry`) or `on_failure` (any other
    error, or a transient one after `max_retries`); each records the run's outcome and
    duration under the job's `deletion_reason`. After a failure the next sweep picks the
    items up again: PostgreSQL is the schedule.

    The task id is the request id sent to storage-api, so one job and its retries can be
    followed through both services' logs. Acknowledgement is the app's (`task_acks_late`,
    `task_reject_on_worker_lost` in app.py).
    """

    #: the job in the deletion-reason vocabulary of the metrics (see metrics.py)
    deletion_reason: ClassVar[DeletionReason]

    # Celery's exponential backoff with full jitter (a delay drawn between 0 and the
    # exponential ceiling): it spreads the retries of jobs that failed together, and nothing
    # needs a minimum delay, since a retry that comes back at once only spends one attempt
    # and the next tick starts a fresh job anyway. How many retries and the backoff's base
    # and cap are settings, put on each job by `RetryNumbers`.
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = True
    retry_jitter = True

    @property
    def context(self) -> JobContext:
        context: JobContext = self.app.conf[JOB_CONTEXT]
        return context

    @property
    def request_id(self) -> str:
        return str(self.request.id)

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        # on the request, not the task: the task object serves every run of its process
        self.request.job_started = time.monotonic()

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        elapsed = self._record(JobOutcome.SUCCESS)
        logger.info("job %s [%s] done in %.2fs: %s", self.name, task_id, elapsed, retval)

    def on_retry(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        self._record(JobOutcome.RETRY)
        # Celery's own line that follows says when the retry runs
        logger.warning(
            "job %s [%s] failed (%s), retry %d/%d",
            self.name, task_id, exc, self.request.retries + 1, self.max_retries,
        )  # fmt: skip

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        self._record(JobOutcome.FAILURE)
        # Celery's own line that follows has the traceback
        logger.error(
            "job %s [%s] failed after %d retries (%s); the next sweep tries again",
            self.name, task_id, self.request.retries, exc,
        )  # fmt: skip

    def _record(self, outcome: JobOutcome) -> float:
        elapsed = time.monotonic() - float(self.request.job_started)
        self.context.metrics.record_job(self.deletion_reason, outcome, elapsed)
        return elapsed


@dataclass(frozen=True)
class RetryNumbers:
    """How often and how long the deletion jobs retry: `WORKER_MAX_RETRIES` and
    `WORKER_RETRY_BACKOFF_SECONDS`/`_MAX_SECONDS` (Celery counts the backoff in whole seconds).

    Given to Celery as a `task_annotations` entry, which sets these attributes on each
    deletion job when the app binds it, before `autoretry_for` reads them.
    """

    max_retries: int
    retry_backoff: int
    retry_backoff_max: int

    @classmethod
    def of(cls, settings: WorkerSettings) -> RetryNumbers:
        return cls(
            max_retries=settings.max_retries,
            retry_backoff=settings.retry_backoff_seconds,
            retry_backoff_max=settings.retry_backoff_max_seconds,
        )

    def annotate(self, task_class: type) -> dict[str, int] | None:
        return dataclasses.asdict(self) if issubclass(task_class, DeletionTask) else None


def deletion_task(name: str, reason: DeletionReason) -> Callable[[Callable[..., str]], Task]:
    """`shared_task` on `DeletionTask`, bound (the job gets its task as `self`), with the job's
    stable name from the contracts and its reason in the metrics."""
    decorator: Callable[[Callable[..., str]], Task] = shared_task(
        base=DeletionTask, bind=True, name=name, deletion_reason=reason
    )
    return decorator


@deletion_task(TASK_SWEEP_DUE, DeletionReason.EXPIRED)
def sweep_due(self: DeletionTask) -> str:
    """Delete everything due: expired items and rows hidden by the cap or "delete all"."""
    return delete_due_in_batches(self, visitor_id=None)


@deletion_task(TASK_PURGE_VISITOR, DeletionReason.PURGE)
def purge_visitor(self: DeletionTask, visitor_id: str) -> str:
    """Delete one visitor's hidden items right after "delete all", not at the next tick."""
    return delete_due_in_batches(self, visitor_id=visitor_id)


@deletion_task(TASK_RECONCILE, DeletionReason.RECONCILE)
def reconcile(self: DeletionTask) -> str:
    """Drop rows whose object is gone and objects without a row (after a grace period)."""
    context = self.context
    request = ReconcileRequest(grace_seconds=context.settings.reconcile_grace_seconds)
    report = context.storage_api().reconcile(request, request_id=self.request_id)
    context.metrics.record_deleted(report.tallies, [])
    return (
        f"removed {report.dangling_rows_removed} dangling rows and "
        f"{report.orphan_objects_removed} orphan objects"
    )


def delete_due_in_batches(task: DeletionTask, visitor_id: str | None) -> str:
    """Ask storage-api for batches of deletions until nothing is due or the batch limit."""
    context = task.context
    settings = context.settings
    request = DeletionRequest(limit=settings.sweep_batch_size, visitor_id=visitor_id)
    deleted = 0
    for batch in range(1, settings.max_batches_per_job + 1):
        report = context.storage_api().delete_due(request, request_id=task.request_id)
        # counted batch by batch: what a batch deleted stays deleted even if a later one fails
        context.metrics.record_deleted(report.tallies, report.lag_seconds)
        deleted += report.deleted
        if not report.more_due:
            return f"deleted {deleted} items in {batch} batches"
    return f"deleted {deleted} items, more are due: the next job continues"


__all__ = [
    "JOB_CONTEXT",
    "TRANSIENT_ERRORS",
    "DeletionTask",
    "JobContext",
    "RetryNumbers",
    "purge_visitor",
    "reconcile",
    "sweep_due",
]
