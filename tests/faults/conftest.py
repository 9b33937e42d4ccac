"""One stack whose storage-api reaches S3, PostgreSQL and Redis through fault proxies.

The worker and beat talk to Redis directly (the sweep keeps ticking while storage-api's
broker is cut off) and to storage-api over HTTP, as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from s3tasks_testkit.faultproxy import FaultProxy, loopback_address, storage_api_through_proxies
from s3tasks_testkit.stack import Dependencies, isolated_config, running_stack
from s3tasks_testkit.web_visitor import Site


@dataclass
class FaultySite(Site):
    s3_proxy: FaultProxy
    db_proxy: FaultProxy
    redis_proxy: FaultProxy


@pytest.fixture(scope="package")
def faulty(dependencies: Dependencies) -> Iterator[FaultySite]:
    for url, port in (
        (dependencies.s3.url, 80),
        (dependencies.postgres_admin_url, 5432),
        (dependencies.redis_url, 6379),
    ):
        try:
            loopback_address(url, port)
        except ValueError as exc:
            pytest.skip(str(exc))
    with (
        isolated_config(
            dependencies,
            "faults",
            sweep_interval_seconds=1.0,
            extra_env={"WEB_READ_TIMEOUT_SECONDS": "20"},
        ) as direct,
        storage_api_through_proxies(direct, s3_timeout_seconds=3) as (config, proxies),
        running_stack(config) as stack,
    ):
        yield FaultySite(
            stack, dependencies.s3.client(), proxies.s3, proxies.database, proxies.redis
        )
