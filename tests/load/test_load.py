"""A short run of the load test (`make load` runs the full one): 8 visitors for 20 s with
a 10 s TTL and faults switched on mid-run; nothing acknowledged is lost, nothing leaks."""

from __future__ import annotations

import pytest

from s3tasks_testkit.load.ledger import assert_nothing_lost_or_leaked, run_load
from s3tasks_testkit.load.proxied_stack import load_stack
from s3tasks_testkit.load.short_run import MIN_UPLOAD_DEADLINE_SECONDS, SWEEP_INTERVAL_SECONDS
from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.stack import Dependencies

#: dozens of processes under chaos: not beside the other heavy tests (gigabytes, image builds)
pytestmark = pytest.mark.heavy


def test_short_chaos_load_run_loses_nothing_and_leaks_nothing(
    dependencies: Dependencies,
) -> None:
    with load_stack(dependencies, ttl=10) as target:
        # after the run (which waits out the TTL itself): a chaos restart, the deadline of an
        # upload whose undo was cut off, then the sweeps that delete what expired
        settle = sweep_patience(
            SWEEP_INTERVAL_SECONDS + MIN_UPLOAD_DEADLINE_SECONDS, jobs=2, starts=1
        )
        report = run_load(
            target, visitors=8, duration=20, ttl=10, chaos=True, settle_timeout=settle
        )
    print(report.figures())
    assert_nothing_lost_or_leaked(report)
    assert report.ok, report.figures()
