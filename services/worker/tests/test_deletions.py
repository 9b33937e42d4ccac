"""Deletion jobs end to end: real storage-api, PostgreSQL, Redis, S3, worker and beat."""

from __future__ import annotations

import dataclasses
import signal
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from celery import Celery
from prometheus_client.mmap_dict import MmapedDict

from s3tasks_contracts import TASK_SWEEP_DUE
from s3tasks_testkit.patience import JOB_SECONDS, patience, sweep_patience
from s3tasks_testkit.processes import wait_until

if TYPE_CHECKING:
    from conftest import Deployment


def test_expired_items_are_deleted_from_database_and_bucket_within_the_bound(
    deployment: Deployment,
) -> None:
    ttl, sweep_interval = 2, 1.0
    deployment.configure(
        image_ttl_seconds=ttl, file_ttl_seconds=ttl, sweep_interval_seconds=sweep_interval
    )
    stack = deployment.stack
    stack.migrate()
    stack.start_storage_api()
    stack.start_worker()
    stack.start_beat()

    # 3 images a visitor stays within the 3-image cap: every deletion here is an expiry
    for _ in range(10):
        deployment.upload_items(deployment.new_visitor(), images=3, files=2)
    last_upload_done = time.monotonic()

    # The design's bound: the TTL, then at most one sweep interval and one job. The wait
    # allows for a loaded machine; the lag histogram below holds what was actually measured.
    bound = ttl + sweep_interval + JOB_SECONDS
    wait_until(
        deployment.all_gone,
        timeout=patience(bound) - (time.monotonic() - last_upload_done),
        message=f"50 expired items gone from database and bucket (design bound {bound}s)",
    )
    wait_until(
        lambda: deployment.worker_metrics().value("s3tasks_deletion_lag_seconds_count") == 50,
        timeout=patience(),
        message="the worker's metrics to count 50 deletions",
    )
    metrics = deployment.worker_metrics()
    assert metrics.deleted("expired", "image") == 30
    assert metrics.deleted("expired", "file") == 20
    assert metrics.total_deleted() == 50
    assert metrics.jobs("expired", "success") >= 1
    assert metrics.jobs("expired", "failure") == 0


def test_delete_all_empties_the_visitors_objects_without_waiting_for_a_sweep(
    deployment: Deployment,
) -> None:
    stack = deployment.stack
    stack.migrate()
    stack.start_storage_api()
    stack.start_worker()  # no beat: the purge job alone must do it, not the next sweep

    visitor, neighbour = deployment.new_visitor(), deployment.new_visitor()
    deployment.upload_items(visitor, images=3, files=4)
    deployment.upload_file(neighbour)
    visitor_keys = deployment.object_keys_of(visitor)
    neighbour_keys = deployment.object_keys_of(neighbour)
    assert visitor_keys <= deployment.object_keys()

    deployment.delete_all(visitor, "image")
    deployment.delete_all(visitor, "file")

    wait_until(
        lambda: (
            not (visitor_keys & deployment.object_keys()) and deployment.row_count(visitor) == 0
        ),
        timeout=patience(2 * JOB_SECONDS),
        message="the visitor's objects and rows deleted by the purge jobs",
    )
    assert neighbour_keys <= deployment.object_keys()
    assert deployment.row_count(neighbour) == 1
    wait_until(
        lambda: deployment.worker_metrics().total_deleted() == 7,
        timeout=patience(),
        message="the worker's metrics to count 7 deletions",
    )
    metrics = deployment.worker_metrics()
    assert metrics.deleted("purge", "image") == 3
    assert metrics.deleted("purge", "file") == 4
    assert metrics.jobs("purge", "success") >= 1


def test_a_job_that_finds_storage_api_down_retries_until_it_is_back(
    deployment: Deployment, job_sender: Celery
) -> None:
    deployment.configure(
        file_ttl_seconds=1,
        extra_env={
            "WORKER_HTTP_TIMEOUT_SECONDS": "1",
            "WORKER_RETRY_BACKOFF_SECONDS": "1",
            "WORKER_RETRY_BACKOFF_MAX_SECONDS": "2",
            "WORKER_MAX_RETRIES": "20",
        },
    )
    stack = deployment.stack
    stack.migrate()
    storage_api = stack.start_storage_api()
    stack.start_worker()  # no beat: only the one job below (and its retries) can delete
    visitor = deployment.new_visitor()
    for _ in range(4):
        deployment.upload_file(visitor)
    wait_until(lambda: deployment.not_yet_due() == 0, timeout=patience(1), message="items due")

    # The socket stays bound in this process, so the URL stays the same and calls time out.
    storage_api.stop()
    job_sender.send_task(TASK_SWEEP_DUE)
    wait_until(
        lambda: deployment.worker_metrics().jobs("expired", "retry") >= 2,
        # two calls that time out (1 s each) and the backoff between them (at most 2 s)
        timeout=patience(1 + 2 + 1, starts=1),
        message="the job to be retried",
    )
    assert deployment.row_count(visitor) == 4

    restarted = dataclasses.replace(storage_api, name="storage-api-restarted")
    stack.storage_api = restarted.start()
    # storage-api's start, then the next retry (backoff at most 2 s) and the job itself
    wait_until(
        deployment.all_gone,
        timeout=patience(2 + JOB_SECONDS, starts=1),
        message="items deleted after storage-api is back",
    )
    wait_until(
        lambda: deployment.worker_metrics().jobs("expired", "success") == 1,
        # the call that deleted them may itself have outrun the 1 s timeout on a busy machine:
        # then one more retry (backoff at most 2 s) finds nothing due and succeeds
        timeout=patience(2 + JOB_SECONDS),
        message="the retried job to succeed",
    )
    assert deployment.worker_metrics().jobs("expired", "failure") == 0


def test_a_job_refused_by_storage_api_fails_at_once_without_retries(
    deployment: Deployment, job_sender: Celery
) -> None:
    # a credential storage-api does not know: 401, which no retry would change
    deployment.configure(extra_env={"WORKER_SERVICE_TOKEN": "a-token-storage-api-does-not-know"})
    stack = deployment.stack
    stack.migrate()
    stack.start_storage_api()
    worker = stack.start_worker()

    job_id = str(uuid.uuid4())
    job_sender.send_task(TASK_SWEEP_DUE, task_id=job_id)
    # the log of a test's worker outlives the run: the line is found by the job's id
    refused_line = f"[{job_id}] failed after 0 retries (storage-api answered 401"
    wait_until(
        lambda: refused_line in worker.log_path.read_text(errors="replace"),
        timeout=patience(JOB_SECONDS),
        message="the worker to log the refused job as failed",
    )
    metrics = deployment.worker_metrics()
    assert metrics.jobs("expired", "failure") == 1
    assert metrics.jobs("expired", "retry") == 0
    assert metrics.jobs("expired", "success") == 0


def test_the_same_job_delivered_twice_deletes_once_and_counts_once(
    deployment: Deployment, job_sender: Celery
) -> None:
    stack = deployment.stack
    stack.migrate()
    stack.start_storage_api()
    visitor = deployment.new_visitor()
    deployment.upload_items(visitor, images=3, files=5)
    # Queued before any worker runs, so the copies are taken at once by both pool processes:
    # two purge jobs from storage-api, and one sweep delivered twice (a redelivery keeps its id).
    deployment.delete_all(visitor, "image")
    deployment.delete_all(visitor, "file")
    sweep_id = str(uuid.uuid4())
    job_sender.send_task(TASK_SWEEP_DUE, task_id=sweep_id)
    job_sender.send_task(TASK_SWEEP_DUE, task_id=sweep_id)

    stack.start_worker()
    wait_until(
        deployment.all_gone,
        timeout=patience(4 * JOB_SECONDS),
        message="the visitor's items deleted",
    )

    def all_jobs_done() -> bool:
        metrics = deployment.worker_metrics()
        return metrics.jobs("purge", "success") + metrics.jobs("expired", "success") == 4

    wait_until(all_jobs_done, timeout=patience(4 * JOB_SECONDS), message="4 jobs to finish")
    metrics = deployment.worker_metrics()
    assert metrics.total_deleted() == 8
    assert metrics.deleted("purge", "image") == 3
    assert metrics.deleted("purge", "file") == 5


def test_a_worker_killed_mid_batch_loses_nothing(deployment: Deployment) -> None:
    deployment.configure(
        file_ttl_seconds=1,
        extra_env={"WORKER_SWEEP_BATCH_SIZE": "1", "WORKER_MAX_BATCHES_PER_JOB": "100"},
    )
    stack = deployment.stack
    stack.migrate()
    stack.start_storage_api()
    visitors = [deployment.new_visitor() for _ in range(4)]
    for visitor in visitors:
        for _ in range(15):
            deployment.upload_file(visitor)
    wait_until(lambda: deployment.not_yet_due() == 0, timeout=patience(1), message="items due")

    worker = stack.start_worker()
    stack.start_beat()
    wait_until(
        lambda: deployment.row_count() < 60,
        timeout=sweep_patience(deployment.config.sweep_interval_seconds, starts=2),
        message="deletions to start",
    )
    kill_process_tree(worker.pid)
    worker.stop()
    if worker.sock is not None:
        worker.sock.close()
    left_at_kill = deployment.row_count()
    assert left_at_kill > 0, "the worker finished before it was killed: nothing was tested"

    stack.start_worker(name="worker-restarted")
    # a restart, Redis handing the killed job's message back, then batches of one row
    wait_until(
        deployment.all_gone,
        timeout=sweep_patience(deployment.config.sweep_interval_seconds, jobs=2, starts=1),
        message="everything due deleted after restart",
    )


def test_metrics_sum_exactly_over_pool_processes(deployment: Deployment) -> None:
    deployment.configure(extra_env={"WORKER_SWEEP_BATCH_SIZE": "1"})
    stack = deployment.stack
    stack.migrate()
    stack.start_storage_api()
    for _ in range(4):
        visitor = deployment.new_visitor()
        deployment.upload_items(visitor, images=3, files=3)
        deployment.delete_all(visitor, "image")
        deployment.delete_all(visitor, "file")

    # 8 purge jobs are queued before the worker starts, so both pool processes take some
    stack.start_worker()
    wait_until(
        deployment.all_gone,
        timeout=patience(4 * JOB_SECONDS, starts=1),  # 8 jobs over 2 pool processes
        message="24 purged items deleted",
    )
    wait_until(
        lambda: deployment.worker_metrics().jobs("purge", "success") == 8,
        timeout=patience(),
        message="8 purge jobs to finish",
    )
    metrics = deployment.worker_metrics()
    assert metrics.deleted("purge", "image") == 12
    assert metrics.deleted("purge", "file") == 12
    assert metrics.total_deleted() == 24
    assert len(processes_that_deleted(deployment)) >= 2


def processes_that_deleted(deployment: Deployment) -> set[str]:
    """Pool processes whose own metric file counts deletions (files are named by pid)."""
    metrics_dir = Path(deployment.config.log_dir) / "worker-state" / "prometheus"
    pids = set()
    for path in metrics_dir.glob("counter_*.db"):
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if "s3tasks_deleted_objects_total" in key and value > 0:
                pids.add(path.stem.removeprefix("counter_"))
    return pids


def kill_process_tree(pid: int) -> None:
    """SIGKILL the worker and its pool processes at once, as a node loss would."""
    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
