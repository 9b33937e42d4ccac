"""The deletion metrics, correct under Celery's prefork pool.

Every pool process writes its own files under PROMETHEUS_MULTIPROC_DIR and the main process
sums them when scraped, so counters neither reset when a child is replaced nor count twice.
prometheus-client picks multiprocess mode when it is first imported, so the CLI sets the
variable before anything imports this module.

Label values:
- `deletion_jobs_total{reason}` and `deletion_job_duration_seconds{reason}` carry the job's
  kind in the deletion-reason vocabulary: the sweep is `expired` (the periodic job; it also
  removes rows hidden by the cap or "delete all" that no purge job got to), `purge_visitor`
  is `purge`, `reconcile` is `reconcile`.
- `deleted_objects_total{reason,kind}` counts items (an image with its thumbnail is one)
  by the reason storage-api reports for each: expired, cap, purge or reconcile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Histogram

from s3tasks_contracts import DeletionReason, DeletionTally, ItemKind

#: A sweep runs every few seconds, so lag is mostly below a minute; the tail shows an outage.
LAG_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300, 600)
JOB_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class JobOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    RETRY = "retry"


def mark_process_dead(pid: int) -> None:
    """A pool child exits: drop its live-gauge files (its counter files stay and keep counting)."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class DeletionMetrics:
    jobs: Counter
    deleted_objects: Counter
    job_duration: Histogram
    lag: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> DeletionMetrics:
        """Metric objects; with registry=None they only write multiprocess files."""
        return cls(
            jobs=Counter(
                "s3tasks_deletion_jobs",
                "Deletion jobs run, by job reason and outcome.",
                ["reason", "outcome"],
                registry=registry,
            ),
            deleted_objects=Counter(
                "s3tasks_deleted_objects",
                "Items deleted from the bucket and the database, by reason and kind.",
                ["reason", "kind"],
                registry=registry,
            ),
            job_duration=Histogram(
                "s3tasks_deletion_job_duration_seconds",
                "Duration of one run of a deletion job, by job reason.",
                ["reason"],
                buckets=JOB_DURATION_BUCKETS,
                registry=registry,
            ),
            lag=Histogram(
                "s3tasks_deletion_lag_seconds",
                "Time from an item's expires_at to its deletion.",
                buckets=LAG_BUCKETS,
                registry=registry,
            ),
        )

    def initialise_series(self) -> None:
        """Export every series at 0 from the start, so rate() and alerts see a baseline."""
        job_reasons = (DeletionReason.EXPIRED, DeletionReason.PURGE, DeletionReason.RECONCILE)
        for reason in job_reasons:
            self.job_duration.labels(reason=reason.value)
            for outcome in JobOutcome:
                self.jobs.labels(reason=reason.value, outcome=outcome.value)
        for item_reason in DeletionReason:
            for kind in ItemKind:
                self.deleted_objects.labels(reason=item_reason.value, kind=kind.value)

    def record_job(self, reason: DeletionReason, outcome: JobOutcome, seconds: float) -> None:
        self.jobs.labels(reason=reason.value, outcome=outcome.value).inc()
        self.job_duration.labels(reason=reason.value).observe(seconds)

    def record_deleted(self, tallies: list[DeletionTally], lag_seconds: list[float]) -> None:
        for tally in tallies:
            if tally.count:
                self.deleted_objects.labels(reason=tally.reason.value, kind=tally.kind.value).inc(
                    tally.count
                )
        for lag in lag_seconds:
            self.lag.observe(max(lag, 0.0))
