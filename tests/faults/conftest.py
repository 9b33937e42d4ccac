"""One stack whose storage-api reaches S3, PostgreSQL and Redis through fault proxies.

The worker and beat talk to Redis directly (the sweep keeps ticking while storage-api's
broker is cut off) and to storage-api over HTTP, as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from minio import Minio

from s3tasks_testkit import deps
from s3tasks_testkit.deps import sqlalchemy_url
from s3tasks_testkit.faultproxy import FaultProxy
from s3tasks_testkit.stack import Stack, StackConfig, isolated_config, running_stack
from s3tasks_testkit.web_visitor import InvariantReport, WebVisitor, check_invariant


@dataclass
class FaultySite:
    stack: Stack
    config: StackConfig
    s3: Minio
    s3_proxy: FaultProxy
    db_proxy: FaultProxy
    redis_proxy: FaultProxy

    @property
    def web_url(self) -> str:
        assert self.stack.web is not None
        return self.stack.web.url

    @property
    def api_url(self) -> str:
        assert self.stack.storage_api is not None
        return self.stack.storage_api.url

    def visitor(self) -> WebVisitor:
        return WebVisitor(self.web_url)

    def invariant(self, visitors: list[WebVisitor] | None = None) -> InvariantReport:
        return check_invariant(
            database_url=self.config.database_url,
            s3=self.s3,
            bucket=self.config.bucket,
            storage_api_url=self.api_url,
            visitors=visitors,
        )


def _tcp(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.startswith("127.") and host != "localhost":
        pytest.skip(f"fault proxies need a TCP loopback dependency, not {url}")
    return host, parts.port or default_port


def _through(url: str, proxy: FaultProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    return parts._replace(netloc=f"{userinfo}{proxy.address}").geturl()


@pytest.fixture(scope="package")
def faulty(
    s3_endpoint: deps.S3Endpoint,
    postgres_admin_url: str,
    redis_base_url: str,
    artifacts_dir: Path,
) -> Iterator[FaultySite]:
    with (
        isolated_config(
            s3=s3_endpoint,
            postgres_admin_url=postgres_admin_url,
            redis_url=redis_base_url,
            log_dir=artifacts_dir / "logs" / "faults",
            sweep_interval_seconds=1.0,
        ) as direct,
        FaultProxy(*_tcp(s3_endpoint.url, 80)) as s3_proxy,
        FaultProxy(*_tcp(direct.database_url, 5432)) as db_proxy,
        FaultProxy(*_tcp(direct.redis_url, 6379)) as redis_proxy,
    ):
        # only storage-api goes through the proxies
        config = replace(
            direct,
            extra_env={
                "STORAGE_API_S3_ENDPOINT": f"http://{s3_proxy.address}",
                "STORAGE_API_S3_TIMEOUT_SECONDS": "3",
                "STORAGE_API_DATABASE_URL": sqlalchemy_url(_through(direct.database_url, db_proxy)),
                "STORAGE_API_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
                "STORAGE_API_BROKER_URL": _through(direct.redis_url, redis_proxy),
                "WEB_READ_TIMEOUT_SECONDS": "20",
            },
        )
        with running_stack(config) as stack:
            yield FaultySite(stack, config, s3_endpoint.client(), s3_proxy, db_proxy, redis_proxy)
