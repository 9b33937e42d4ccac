"""One stack whose storage-api reaches S3, PostgreSQL and Redis through fault proxies.

The worker and beat talk to Redis directly (the sweep keeps ticking while storage-api's
broker is cut off) and to storage-api over HTTP, as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

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
        isolated_config(dependencies, "faults", sweep_interval_seconds=1.0) as direct,
        storage_api_through_proxies(direct) as (proxied, proxies),
    ):
        config = replace(
            proxied,
            extra_env={
                **proxied.extra_env,
                "STORAGE_API_S3_TIMEOUT_SECONDS": "3",
                "STORAGE_API_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
                "WEB_READ_TIMEOUT_SECONDS": "20",
            },
        )
        with running_stack(config) as stack:
            yield FaultySite(
                stack,
                dependencies.s3.client(),
                proxies.s3,
                proxies.database,
                proxies.redis,
            )
