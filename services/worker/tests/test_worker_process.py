"""The worker as a process: probes, /metrics, retries against an unreachable storage-api and a
graceful SIGTERM. No storage-api is needed here: a refused connection is a real fault."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery

from s3tasks_contracts import TASK_SWEEP_DUE
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.patience import JOB_SECONDS, patience
from s3tasks_testkit.ports import refused_ports
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, port_of, wait_until
from s3tasks_testkit.stack import StackConfig

WORKER_SCRIPT = Path(sys.executable).with_name("s3tasks-worker")


@pytest.fixture
def worker_env(stack_config: StackConfig) -> Iterator[dict[str, str]]:
    """The worker's settings, with storage-api at a loopback URL that refuses connections."""
    with refused_ports() as (refused,):
        yield {
            **stack_config.worker_env(f"http://127.0.0.1:{refused}"),
            "WORKER_MAX_RETRIES": "2",
            "WORKER_RETRY_BACKOFF_SECONDS": "1",
            "WORKER_HEARTBEAT_INTERVAL_SECONDS": "0.5",
        }


@pytest.fixture
def worker(worker_env: dict[str, str], stack_config: StackConfig) -> Iterator[ServiceProcess]:
    sock = bind_loopback()
    process = ServiceProcess(
        name="worker-alone",
        argv=[str(WORKER_SCRIPT), "worker"],
        env=worker_env,
        log_dir=stack_config.log_dir,
        sock=sock,
        ready_url=f"http://127.0.0.1:{port_of(sock)}/readyz",
    )
    try:
        yield process.start()
    finally:
        process.stop()
        sock.close()


def probe(check: str, env: dict[str, str]) -> int:
    return subprocess.run(
        [str(WORKER_SCRIPT), "probe", check], env=env, capture_output=True, check=False
    ).returncode


def test_a_running_worker_is_live_and_ready_and_exports_every_series(
    worker: ServiceProcess, worker_env: dict[str, str]
) -> None:
    assert httpx.get(f"{worker.url}/healthz").status_code == 200
    assert httpx.get(f"{worker.url}/readyz").status_code == 200
    assert httpx.get(f"{worker.url}/nothing-here").status_code == 404
    assert probe("live", worker_env) == 0
    assert probe("ready", worker_env) == 0

    metrics = scrape(worker.url)
    for reason in ("expired", "purge", "reconcile"):
        for outcome in ("success", "failure", "retry"):
            labels = frozenset({"reason": reason, "outcome": outcome}.items())
            assert metrics.samples[("s3tasks_deletion_jobs_total", labels)] == 0
        assert "s3tasks_deletion_job_duration_seconds_count" in metrics.names
    for reason in ("expired", "cap", "purge", "reconcile"):
        for kind in ("image", "file"):
            labels = frozenset({"reason": reason, "kind": kind}.items())
            assert metrics.samples[("s3tasks_deleted_objects_total", labels)] == 0
    assert metrics.value("s3tasks_deletion_lag_seconds_count") == 0


def test_an_unreachable_storage_api_is_retried_then_the_failure_is_counted(
    worker: ServiceProcess, job_sender: Celery
) -> None:
    job_sender.send_task(TASK_SWEEP_DUE)

    wait_until(
        lambda: scrape(worker.url).jobs("expired", "failure") == 1,
        # three attempts, each refused at once, and two backoffs of at most 1 s and 2 s
        timeout=patience(1 + 2 + 3 * JOB_SECONDS),
        message="the job to give up after its retries",
    )
    metrics = scrape(worker.url)
    assert metrics.jobs("expired", "retry") == 2
    assert metrics.jobs("expired", "success") == 0
    assert metrics.value("s3tasks_deletion_job_duration_seconds_count", reason="expired") == 3


def test_sigterm_stops_the_worker_gracefully_and_it_is_no_longer_ready(
    worker: ServiceProcess, worker_env: dict[str, str]
) -> None:
    worker.signal(signal.SIGTERM)
    assert worker.wait_exit(timeout=patience(JOB_SECONDS)) == 0, worker.tail_log()
    assert probe("ready", worker_env) == 1
    assert not (Path(worker_env["WORKER_STATE_DIR"]) / "ready").exists()


def test_beat_is_live_for_its_probe(worker_env: dict[str, str], stack_config: StackConfig) -> None:
    env = {**worker_env, "WORKER_STATE_DIR": str(stack_config.log_dir / "beat-state")}
    beat = ServiceProcess(
        name="beat-alone", argv=[str(WORKER_SCRIPT), "beat"], env=env, log_dir=stack_config.log_dir
    )
    beat.start()
    try:
        wait_until(
            lambda: probe("live", env) == 0, timeout=patience(starts=1), message="beat to be live"
        )
    finally:
        beat.stop()


def test_a_pool_process_file_not_written_yet_does_not_fail_the_scrape(
    worker: ServiceProcess, worker_env: dict[str, str]
) -> None:
    """A pool process creates its metrics file empty and sizes it a moment later: a scrape in
    between must still answer (it closed the connection without an answer: seen in a run)."""
    empty = Path(worker_env["WORKER_STATE_DIR"]) / "prometheus" / "counter_999999.db"
    assert empty.parent.is_dir()
    empty.touch()
    metrics = scrape(worker.url)
    assert metrics.jobs("expired", "failure") == 0
    assert "s3tasks_deletion_job_duration_seconds_count" in metrics.names
