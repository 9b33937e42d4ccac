"""A rolling restart under load (issue 27): in the replicas harness (3 web, 2 storage-api,
2 workers, 2 beats behind nginx), every replica replaced one at a time with SIGTERM and a
restart, while visitors list, upload, download and delete and uploads in parts of 64 MiB go
on; in the transfer mode of the run (`make test-direct`: direct). Visitors notice nothing: not
one failed request. One round here (each replacement waits for a process to drain and start,
minutes on a busy 2-core machine); `make load` runs the long form: two rounds, 1 GiB in
parts."""

from __future__ import annotations

import pytest

from s3tasks_testkit.balancer import nginx_available
from s3tasks_testkit.load.ledger import assert_nothing_lost_or_leaked, run_load
from s3tasks_testkit.load.replicas import REPLICAS, figures_of, load_target, replicated_stack
from s3tasks_testkit.load.rolling import MIB, RollingRestart, stack_env
from s3tasks_testkit.load.short_run import MIN_UPLOAD_DEADLINE_SECONDS, SWEEP_INTERVAL_SECONDS
from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.stack import Dependencies

#: dozens of processes restarted under load: not beside the other heavy tests
# draining and restarts are the same code in both modes; proxy mode (the default pass) also
# carries the bytes through the replicas being restarted, so it is the harder of the two
pytestmark = [pytest.mark.heavy, pytest.mark.mode_independent]

#: long enough for an upload in parts to be downloaded again before its expiry
TTL_SECONDS = 30
PART_UPLOAD_BYTES = 64 * MIB
ROUNDS = 1


@pytest.mark.timeout(1500)
def test_a_rolling_restart_of_every_replica_fails_no_visitor_request(
    dependencies: Dependencies,
) -> None:
    if not nginx_available():
        pytest.fail("nginx is not installed: `make install` installs it (Debian's nginx)")
    with replicated_stack(
        dependencies,
        name="replicas-rolling",
        ttl=TTL_SECONDS,
        sweep_interval_seconds=SWEEP_INTERVAL_SECONDS,
        extra_env=stack_env(PART_UPLOAD_BYTES),
    ) as stack:
        rolling = RollingRestart(stack, rounds=ROUNDS, part_upload_bytes=PART_UPLOAD_BYTES)
        settle = sweep_patience(SWEEP_INTERVAL_SECONDS + MIN_UPLOAD_DEADLINE_SECONDS, jobs=2)
        report = run_load(
            load_target(stack, rolling),
            visitors=4,
            duration=0,  # as long as the rolling restart takes
            ttl=TTL_SECONDS,
            chaos=True,
            settle_timeout=settle,
        )
        figures = figures_of(stack)
    print(report.figures())
    print(figures.figures())
    print(rolling.figures.figures())
    # every replica replaced, each exiting 0 within its bound
    assert len(rolling.figures.exits) == ROUNDS * sum(REPLICAS.values())
    assert rolling.figures.unclean_exits == [], rolling.figures.figures()
    assert_nothing_lost_or_leaked(report)
    assert rolling.figures.part_upload_failures == [], rolling.figures.figures()
    assert rolling.figures.part_uploads_verified >= 1
    # each item deleted by one job, and every deletion counted: no job was cut off
    assert figures.double_deletions == {}, figures.figures()
    assert figures.deleted_objects_counted == figures.items_deleted, figures.figures()
    assert figures.items_deleted >= report.uploads_acknowledged
    # not one failed visitor request: no 5xx, no connection error, no timeout (a request sent
    # again as a browser sends it, on a kept-alive connection closed before any answer, is
    # not one: `report.resent_on_closed_connections`, printed above)
    assert report.errors == {}, report.figures()
