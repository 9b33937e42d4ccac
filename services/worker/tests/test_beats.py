"""Two beats at once do no harm, so beat need not be a single point of failure.

Each beat sends its own ticks (sweep and reconcile); the sweeps they cause take disjoint
batches (rows locked with SKIP LOCKED) and deleting is idempotent, so every expired item is
deleted once and counted once, and no job fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3tasks_testkit.patience import patience, sweep_patience
from s3tasks_testkit.processes import ServiceProcess, wait_until
from s3tasks_testkit.stack import cli

if TYPE_CHECKING:
    from conftest import Deployment

ITEMS = 40


def test_two_beats_at_once_delete_every_expired_item_exactly_once(
    deployment: Deployment,
) -> None:
    # ticks every second from each beat, reconcile every two: the jobs overlap all the time
    deployment.configure(
        file_ttl_seconds=2, sweep_interval_seconds=1.0, reconcile_interval_seconds=2.0
    )
    stack = deployment.stack
    stack.migrate()
    stack.start_storage_api()
    stack.start_worker()
    first = stack.start_beat()
    config = deployment.config
    second = ServiceProcess(
        name="beat-2",
        argv=cli("s3tasks-worker", "beat"),
        # a pod of its own: its own schedule file
        env={
            **config.worker_env(deployment.api_url),
            "WORKER_STATE_DIR": str(config.log_dir / "beat-2-state"),
        },
        log_dir=config.log_dir,
    ).start()
    try:
        for beat in (first, second):
            wait_until(
                lambda beat=beat: _sent_ticks(beat),  # type: ignore[misc]
                timeout=sweep_patience(1.0, jobs=0, starts=1),
                message=f"{beat.name} to send ticks",
            )
        for _ in range(ITEMS // 4):
            deployment.upload_items(deployment.new_visitor(), files=4)

        # the last upload's TTL, then a sweep of each batch (the sweeps of two beats overlap)
        wait_until(
            deployment.all_gone,
            timeout=sweep_patience(1.0 + 2, jobs=ITEMS // 4),
            message="every expired item deleted",
        )
        wait_until(
            lambda: deployment.worker_metrics().total_deleted() >= ITEMS,
            timeout=patience(),  # counted as each job ends: only the scrape lags
            message=f"the worker's metrics to count {ITEMS} deletions",
        )
        metrics = deployment.worker_metrics()
        assert metrics.total_deleted() == ITEMS, "an item was deleted (counted) twice"
        assert metrics.jobs("reconcile", "success") >= 2  # reconciles ran beside the sweeps
        for reason in ("expired", "reconcile"):
            assert metrics.jobs(reason, "failure") == 0
            assert metrics.jobs(reason, "retry") == 0
        assert first.running
        assert second.running
    finally:
        second.stop()


def _sent_ticks(beat: ServiceProcess) -> bool:
    return "Sending due task" in beat.log_path.read_text(errors="replace")
