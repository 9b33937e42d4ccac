"""A short run of the load test (`make load` runs the full one): 8 visitors for 20 s with
a 10 s TTL and faults switched on mid-run; nothing acknowledged is lost, nothing leaks."""

from __future__ import annotations

from pathlib import Path

from s3tasks_testkit import deps
from s3tasks_testkit.load import (
    MIN_UPLOAD_DEADLINE_SECONDS,
    SWEEP_INTERVAL_SECONDS,
    load_stack,
    run_load,
)
from s3tasks_testkit.patience import sweep_patience


def test_short_chaos_load_run_loses_nothing_and_leaks_nothing(
    s3_endpoint: deps.S3Endpoint,
    postgres_admin_url: str,
    redis_base_url: str,
    artifacts_dir: Path,
) -> None:
    with load_stack(
        s3=s3_endpoint,
        postgres_admin_url=postgres_admin_url,
        redis_url=redis_base_url,
        log_dir=artifacts_dir / "logs" / "load",
        ttl=10,
    ) as target:
        # after the run (which waits out the TTL itself): a chaos restart, the deadline of an
        # upload whose undo was cut off, then the sweeps that delete what expired
        settle = sweep_patience(
            SWEEP_INTERVAL_SECONDS + MIN_UPLOAD_DEADLINE_SECONDS, jobs=2, starts=1
        )
        report = run_load(
            target, visitors=8, duration=20, ttl=10, chaos=True, settle_timeout=settle
        )
    print(report.figures())
    assert report.uploads_acknowledged > 0
    assert report.downloads_verified > 0
    assert report.lost_items == 0, report.figures()
    assert report.leaked_objects == 0, report.figures()
    assert report.open_multipart_uploads == 0, report.figures()
    assert report.invariant_problems == [], report.figures()
    assert report.errors.get("server_error_500", 0) == 0, report.figures()
    assert report.ok, report.figures()
