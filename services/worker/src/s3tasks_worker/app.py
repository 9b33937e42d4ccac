"""The Celery app: broker, reliability settings, beat schedule, jobs and health bootsteps."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_process_shutdown

from s3tasks_contracts import TASK_RECONCILE, TASK_SWEEP_DUE
from s3tasks_worker.health import HealthFiles, HeartbeatThread
from s3tasks_worker.metrics import DeletionMetrics, mark_process_dead
from s3tasks_worker.settings import WorkerSettings
from s3tasks_worker.tasks import JOB_CONTEXT, JobContext, RetryNumbers


def create_celery_app(settings: WorkerSettings, metrics: DeletionMetrics | None = None) -> Celery:
    """The app; the jobs of `s3tasks_worker.tasks` (shared tasks) are bound to it when it is
    finalized, and read their `JobContext` from its configuration."""
    app = Celery("s3tasks_worker", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.conf[JOB_CONTEXT] = JobContext(settings, metrics or DeletionMetrics.create())
    install_health_steps(app, health_files(settings), settings.heartbeat_interval_seconds)
    worker_process_shutdown.connect(_forget_pool_process, dispatch_uid="s3tasks-mark-dead")
    return app


def health_files(settings: WorkerSettings) -> HealthFiles:
    return HealthFiles(
        heartbeat_file=settings.heartbeat_file,
        ready_file=settings.ready_file,
        stale_after_seconds=settings.heartbeat_stale_seconds,
    )


def celery_config(settings: WorkerSettings) -> dict[str, Any]:
    transport_options: dict[str, Any] = {
        "visibility_timeout": settings.broker_visibility_timeout_seconds,
    }
    if settings.broker_key_prefix:
        transport_options["global_keyprefix"] = settings.broker_key_prefix
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        # Nothing reads job results: the outcome goes to logs and metrics.
        "result_backend": None,
        "task_ignore_result": True,
        "task_default_queue": settings.task_queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        # A job is acknowledged only when it has finished, and one that dies with its process
        # goes back to the queue; safe because storage-api's deletions are idempotent.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Each pool process holds one job at a time: jobs are few, and a held job waits.
        "worker_prefetch_multiplier": 1,
        "task_annotations": [RetryNumbers.of(settings)],
        "worker_hijack_root_logger": False,
        "worker_enable_remote_control": False,
        "worker_send_task_events": False,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(settings),
        "beat_schedule_filename": str(settings.beat_schedule_file),
        # beat wakes at least this often, so a changed interval takes effect soon
        "beat_max_loop_interval": max(settings.sweep_interval_seconds, 1.0),
    }


def beat_schedule(settings: WorkerSettings) -> dict[str, dict[str, Any]]:
    """Short periodic ticks: PostgreSQL holds each item's deadline, a tick only says "look now".

    Ticks carry no `expires`: Celery stamps it with beat's clock and checks it with the
    worker's, so a worker clock running ahead would discard every tick and delete nothing.
    A stale tick is harmless instead: the sweep is idempotent, and one that finds nothing
    due costs a single query; ticks queued while no worker ran drain in seconds.
    """
    return {
        "sweep-due": {
            "task": TASK_SWEEP_DUE,
            "schedule": timedelta(seconds=settings.sweep_interval_seconds),
        },
        "reconcile": {
            "task": TASK_RECONCILE,
            "schedule": timedelta(seconds=settings.reconcile_interval_seconds),
        },
    }


def install_health_steps(app: Celery, files: HealthFiles, heartbeat_interval: float) -> None:
    class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
        """The worker main process is alive (Redis or not): a thread touches a file."""

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.thread: HeartbeatThread | None = None

        def start(self, worker: Any) -> None:
            self.thread = HeartbeatThread(files, heartbeat_interval)
            self.thread.start()

        def stop(self, worker: Any) -> None:
            if self.thread is not None:
                self.thread.stop()

    class Readiness(bootsteps.StartStopStep):  # type: ignore[misc]
        """Ready while the consumer consumes; it stops (and restarts) when Redis goes away."""

        requires = ("celery.worker.consumer.tasks:Tasks",)

        def start(self, consumer: Any) -> None:
            files.mark_ready()

        def stop(self, consumer: Any) -> None:
            files.mark_not_ready()

        def shutdown(self, consumer: Any) -> None:
            files.mark_not_ready()

    app.steps["worker"].add(Heartbeat)
    app.steps["consumer"].add(Readiness)


def _forget_pool_process(**_: Any) -> None:
    mark_process_dead(os.getpid())
