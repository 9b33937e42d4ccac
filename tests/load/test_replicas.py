"""Several replicas of every service at once (3 web, 2 storage-api, 2 workers, 2 beats behind
nginx), under load, with a replica of each kind SIGKILLed and restarted mid-run: nothing
acknowledged is lost, nothing leaks, and no item is deleted by two jobs. `make load` runs the
long form."""

from __future__ import annotations

import pytest

from s3tasks_testkit.balancer import nginx_available
from s3tasks_testkit.load.ledger import assert_nothing_lost_or_leaked, run_load
from s3tasks_testkit.load.replicas import figures_of, load_target, replicated_stack
from s3tasks_testkit.load.short_run import MIN_UPLOAD_DEADLINE_SECONDS, SWEEP_INTERVAL_SECONDS
from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.stack import Dependencies

#: dozens of processes under chaos: not beside the other heavy tests (gigabytes, image builds)
pytestmark = pytest.mark.heavy

TTL_SECONDS = 10


@pytest.mark.timeout(900)
def test_replicas_of_every_service_under_chaos_lose_nothing_and_delete_once(
    dependencies: Dependencies,
) -> None:
    if not nginx_available():
        pytest.fail("nginx is not installed: `make install` installs it (Debian's nginx)")
    with replicated_stack(
        dependencies,
        ttl=TTL_SECONDS,
        sweep_interval_seconds=SWEEP_INTERVAL_SECONDS,
        name="replicas-chaos",
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
    assert_nothing_lost_or_leaked(report)
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
