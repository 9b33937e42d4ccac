"""Several replicas of every service at once (3 web, 2 storage-api, 2 workers, 2 beats behind
nginx), under load, with a replica of each kind SIGKILLed and restarted mid-run: nothing
acknowledged is lost, nothing leaks, and no item is deleted by two jobs. `make load` runs the
long form."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3tasks_testkit import deps
from s3tasks_testkit.balancer import nginx_available
from s3tasks_testkit.load import MIN_UPLOAD_DEADLINE_SECONDS, SWEEP_INTERVAL_SECONDS, run_load
from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.replicas import figures_of, load_target, replicated_stack

TTL_SECONDS = 10


@pytest.mark.timeout(900)
def test_replicas_of_every_service_under_chaos_lose_nothing_and_delete_once(
    s3_endpoint: deps.S3Endpoint,
    postgres_admin_url: str,
    redis_base_url: str,
    artifacts_dir: Path,
) -> None:
    if not nginx_available():
        pytest.fail("nginx is not installed: `make install` installs it (Debian's nginx)")
    with replicated_stack(
        s3=s3_endpoint,
        postgres_admin_url=postgres_admin_url,
        redis_url=redis_base_url,
        log_dir=artifacts_dir / "logs" / "replicas",
        ttl=TTL_SECONDS,
        sweep_interval_seconds=SWEEP_INTERVAL_SECONDS,
    ) as stack:
        # after the run: the restarts, a cut-off upload's deadline, then the sweeps
        settle = sweep_patience(
            SWEEP_INTERVAL_SECONDS + MIN_UPLOAD_DEADLINE_SECONDS, jobs=2, starts=4
        )
        report = run_load(
            load_target(stack),
            visitors=8,
            duration=30,
            ttl=TTL_SECONDS,
            chaos=True,
            settle_timeout=settle,
        )
        figures = figures_of(stack)
    print(report.figures())
    print(figures.figures())
    assert figures.restarts == {"storage-api-0": 1, "worker-1": 1, "web-2": 1, "beat-1": 1}
    assert report.uploads_acknowledged > 0
    assert report.downloads_verified > 0
    assert report.lost_items == 0, report.figures()
    assert report.leaked_objects == 0, report.figures()
    assert report.open_multipart_uploads == 0, report.figures()
    assert report.invariant_problems == [], report.figures()
    assert report.errors.get("server_error_500", 0) == 0, report.figures()
    # every item the run stored was deleted (the bucket and the table are empty), each by one
    # job, and both storage-api replicas took part
    assert figures.items_deleted >= report.uploads_acknowledged
    assert figures.double_deletions == {}, figures.figures()
    assert len(figures.deletions_by_replica) == 2, figures.figures()
    # the workers' metrics count every deletion once; the only gap allowed is a batch whose
    # count a SIGKILL cut off, each one traced to the killed process
    assert figures.unexplained_counts == [], figures.figures()
    assert figures.deleted_objects_counted + figures.uncounted_by_kills == figures.items_deleted
    assert figures.ok
