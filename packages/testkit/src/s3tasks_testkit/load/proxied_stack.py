"""One of each service, storage-api reaching S3, PostgreSQL and Redis through fault proxies;
its chaos cuts S3 off, then PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from s3tasks_testkit.faultproxy import PASS, REFUSE, FaultProxy, storage_api_through_proxies
from s3tasks_testkit.load.ledger import LoadTarget
from s3tasks_testkit.load.short_run import short_run_config
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Dependencies, running_stack

#: how long each dependency stays cut off
CUT_SECONDS = 3.0


@contextmanager
def load_stack(dependencies: Dependencies, *, ttl: int) -> Iterator[LoadTarget]:
    """storage-api (reaching S3, PostgreSQL and Redis through fault proxies), worker, beat
    and web, logging below `load`."""
    with (
        short_run_config(dependencies, "load", ttl=ttl) as direct,
        storage_api_through_proxies(direct, s3_timeout_seconds=5) as (config, proxies),
        running_stack(config) as stack,
    ):
        web = stack.web
        assert web is not None
        assert stack.storage_api is not None
        yield LoadTarget(
            web_url=web.url,
            storage_api_url=stack.storage_api.url,
            database_url=config.database_url,
            s3=config.s3,
            bucket=config.bucket,
            chaos_plan=partial(cut_s3_then_postgres, proxies.s3, proxies.database),
            web_metrics_urls=lambda: [web.metrics_url],
        )


def cut_s3_then_postgres(s3: FaultProxy, database: FaultProxy, duration: float) -> None:
    """S3 refused for 3 s at a third of the run, PostgreSQL reset for 3 s at two thirds."""
    start = time.monotonic()
    for at, proxy in ((duration / 3, s3), (2 * duration / 3, database)):
        _wait_until_time(start + at)
        proxy.set_mode(REFUSE)
        _wait_until_time(time.monotonic() + CUT_SECONDS)
        proxy.set_mode(PASS)


def _wait_until_time(moment: float) -> None:
    wait_until(lambda: time.monotonic() >= moment, timeout=3600, interval=0.1, message="chaos")
