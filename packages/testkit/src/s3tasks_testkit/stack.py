"""The whole s3tasks stack (storage-api, worker, beat, web) as child processes.

Used by the end-to-end tests, the benchmarks and `make run`; each service is started by its
own command line, configured only through its environment variables, as in production.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from s3tasks_testkit import backing_services
from s3tasks_testkit.backing_services import S3Endpoint, sqlalchemy_url
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, port_of

#: glibc tuning for processes that stream large bodies through worker threads: a fixed
#: mmap threshold hands multi-megabyte buffers back to the kernel when freed, and fewer
#: arenas stop each thread from keeping its own high-water mark. The images set the same.
STREAMING_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}
#: the transfer mode of the stacks tests start (`proxy` or `direct`)
TRANSFER_ENV = "S3TASKS_TEST_TRANSFER"


#: every test visitor and every load-test visitor comes from 127.0.0.1, many a second: the
#: per-client and per-visitor limits are set out of reach (a test of a limit sets its own in
#: `extra_env`, which comes after these)
TEST_RATE_LIMITS: Final = {
    "STORAGE_API_RATE_LIMIT_SESSIONS_PER_CLIENT": "1000000/minute",
    "STORAGE_API_RATE_LIMIT_UPLOADS_PER_CLIENT": "1000000/minute",
    "STORAGE_API_RATE_LIMIT_UPLOADS_PER_VISITOR": "1000000/minute",
    "STORAGE_API_RATE_LIMIT_SHARE_GRANTS_PER_CLIENT": "1000000/minute",
    "STORAGE_API_RATE_LIMIT_SHARE_LINKS_PER_CLIENT": "1000000/minute",
    "STORAGE_API_RATE_LIMIT_UPLOAD_REQUESTS_PER_CLIENT": "1000000/minute",
    "STORAGE_API_MAX_STORED_BYTES_PER_VISITOR": "0",
}


@dataclass(frozen=True)
class StackConfig:
    database_url: str
    """libpq URL of a database of our own."""
    redis_url: str
    redis_prefix: str
    s3: S3Endpoint
    bucket: str
    log_dir: Path
    #: each caller's credential for storage-api (storage-api accepts each from its caller only)
    web_service_token: str = "test-web-service-token-not-secret"
    worker_service_token: str = "test-worker-service-token-not-secret"
    web_secret_key: str = "test-web-secret-key-not-secret-0123456789"
    image_ttl_seconds: int = 900
    file_ttl_seconds: int = 900
    sweep_interval_seconds: float = 1.0
    reconcile_interval_seconds: float = 600.0
    worker_concurrency: int = 2
    task_queue: str = "s3tasks"
    #: who carries the bytes (storage-api's STORAGE_API_TRANSFER_MODE); `make test` runs the
    #: browser, security, fault and load suites once in each mode
    transfer_mode: str = field(default_factory=lambda: os.environ.get(TRANSFER_ENV, "proxy"))
    #: the S3 endpoint as browsers reach it (empty: `s3.url`, which is on loopback here)
    s3_public_url: str = ""
    #: the pages' origins, written into the bucket's CORS rule (the tests' web ports are
    #: chosen when web starts, so any loopback port)
    cors_origins: str = "http://127.0.0.1:*,http://localhost:*"
    #: storage-api's per-client and per-visitor limits: the tests' and benchmarks' own, out
    #: of reach (`TEST_RATE_LIMITS`); `make run` sets none, so storage-api runs with its
    #: documented defaults or what the developer exported
    rate_limits: dict[str, str] = field(default_factory=lambda: dict(TEST_RATE_LIMITS))
    extra_env: dict[str, str] = field(default_factory=dict)

    def storage_api_env(self) -> dict[str, str]:
        return {
            "STORAGE_API_DATABASE_URL": sqlalchemy_url(self.database_url),
            "STORAGE_API_S3_ENDPOINT": self.s3.url,
            "STORAGE_API_S3_ACCESS_KEY": self.s3.access_key,
            "STORAGE_API_S3_SECRET_KEY": self.s3.secret_key,
            "STORAGE_API_S3_REGION": self.s3.region,
            "STORAGE_API_S3_BUCKET": self.bucket,
            "STORAGE_API_BROKER_URL": self.redis_url,
            "STORAGE_API_BROKER_KEY_PREFIX": self.redis_prefix,
            "STORAGE_API_TASK_QUEUE": self.task_queue,
            "STORAGE_API_WEB_TOKENS": self.web_service_token,
            "STORAGE_API_WORKER_TOKENS": self.worker_service_token,
            "STORAGE_API_IMAGE_TTL_SECONDS": str(self.image_ttl_seconds),
            "STORAGE_API_FILE_TTL_SECONDS": str(self.file_ttl_seconds),
            "STORAGE_API_TRANSFER_MODE": self.transfer_mode,
            "STORAGE_API_S3_PUBLIC_URL": self.s3_public_url,
            "STORAGE_API_CORS_ORIGINS": self.cors_origins,
            # nothing balances the tests' single replicas: stop listening at SIGTERM (the
            # shutdown tests and the replicas harness set a delay)
            "STORAGE_API_SHUTDOWN_DELAY_SECONDS": "0",
            **self.rate_limits,
            **STREAMING_MALLOC_ENV,
            **self.extra_env,
        }

    def worker_env(self, storage_api_url: str) -> dict[str, str]:
        return {
            "WORKER_BROKER_URL": self.redis_url,
            "WORKER_BROKER_KEY_PREFIX": self.redis_prefix,
            "WORKER_TASK_QUEUE": self.task_queue,
            "WORKER_STORAGE_API_URL": storage_api_url,
            "WORKER_SERVICE_TOKEN": self.worker_service_token,
            "WORKER_SWEEP_INTERVAL_SECONDS": str(self.sweep_interval_seconds),
            "WORKER_RECONCILE_INTERVAL_SECONDS": str(self.reconcile_interval_seconds),
            "WORKER_CONCURRENCY": str(self.worker_concurrency),
            "WORKER_STATE_DIR": str(self.log_dir / "worker-state"),
            **self.extra_env,
        }

    def web_env(self, storage_api_url: str) -> dict[str, str]:
        return {
            "WEB_STORAGE_API_URL": storage_api_url,
            "WEB_SECRET_KEY": self.web_secret_key,
            "WEB_SERVICE_TOKEN": self.web_service_token,
            "WEB_SHUTDOWN_DELAY_SECONDS": "0",  # as storage-api's above
            # web holds an upload's parts in proxy mode: the same tuning as its image
            **STREAMING_MALLOC_ENV,
            **self.extra_env,
        }


def cli(script: str, *args: str) -> list[str]:
    """A service's console script from the venv we run in."""
    return [str(Path(sys.executable).with_name(script)), *args]


def service_process(
    config: StackConfig,
    kind: str,
    storage_api_url: str,
    *,
    name: str | None = None,
    sock: socket.socket | None = None,
    metrics_sock: socket.socket | None = None,
    env: dict[str, str] | None = None,
    ready: bool = True,
) -> ServiceProcess:
    """One service of the stack (`kind`: storage-api, worker, beat or web), unstarted, run by
    its console script and configured by `config` (plus `env`). With a socket and `ready`,
    `start()` returns once its /readyz answers."""
    if kind == "storage-api":
        argv, kind_env = cli("s3tasks-storage-api", "serve"), config.storage_api_env()
    elif kind == "web":
        argv, kind_env = cli("s3tasks-web", "serve"), config.web_env(storage_api_url)
    else:
        argv, kind_env = cli("s3tasks-worker", kind), config.worker_env(storage_api_url)
    return ServiceProcess(
        name=name or kind,
        argv=argv,
        env={**kind_env, **(env or {})},
        log_dir=config.log_dir,
        sock=sock,
        ready_url=f"http://127.0.0.1:{port_of(sock)}/readyz"
        if sock is not None and ready
        else None,
        metrics_sock=metrics_sock,
    )


@dataclass
class Stack:
    config: StackConfig
    storage_api: ServiceProcess | None = None
    worker: ServiceProcess | None = None
    beat: ServiceProcess | None = None
    web: ServiceProcess | None = None

    def migrate(self) -> None:
        subprocess.run(
            cli("s3tasks-storage-api", "migrate"),
            env={**_base_env(), **self.config.storage_api_env()},
            check=True,
            capture_output=True,
        )

    def start_storage_api(self) -> ServiceProcess:
        self.storage_api = self._start("storage-api", bind_loopback())
        return self.storage_api

    def start_worker(self, name: str = "worker") -> ServiceProcess:
        self.worker = self._start("worker", bind_loopback(), name=name)
        return self.worker

    def start_beat(self) -> ServiceProcess:
        self.beat = self._start("beat", None)
        return self.beat

    def start_web(self) -> ServiceProcess:
        self.web = self._start("web", bind_loopback(), metrics_sock=bind_loopback())
        return self.web

    def _start(
        self,
        kind: str,
        sock: socket.socket | None,
        *,
        name: str | None = None,
        metrics_sock: socket.socket | None = None,
    ) -> ServiceProcess:
        url = "" if kind == "storage-api" else self._storage_api_url()
        try:
            return service_process(
                self.config, kind, url, name=name, sock=sock, metrics_sock=metrics_sock
            ).start()
        except BaseException:
            for own in (sock, metrics_sock):  # not yet on the stack: stop_all would miss them
                if own is not None:
                    own.close()
            raise

    def start_all(self) -> Stack:
        self.migrate()
        self.start_storage_api()
        self.start_worker()
        self.start_beat()
        self.start_web()
        return self

    def stop_all(self) -> None:
        for proc in (self.web, self.beat, self.worker, self.storage_api):
            if proc is not None:
                proc.stop()
                for sock in (proc.sock, proc.metrics_sock):
                    if sock is not None:
                        sock.close()

    def _storage_api_url(self) -> str:
        if self.storage_api is None:
            raise RuntimeError("start storage-api first")
        return self.storage_api.url


def _base_env() -> dict[str, str]:
    return dict(os.environ)


@dataclass(frozen=True)
class Dependencies:
    """The PostgreSQL server, Redis and S3 server a run shares: every stack on them takes a
    database, a key prefix and a bucket of its own (`isolated_config`) and logs below
    `log_root`."""

    s3: S3Endpoint
    postgres_admin_url: str
    redis_url: str
    log_root: Path


@contextmanager
def isolated_config(
    dependencies: Dependencies, name: str, **overrides: object
) -> Iterator[StackConfig]:
    """A StackConfig on a database, Redis key prefix, queue and bucket of its own, logging
    to `log_root/name`.

    All three are removed on exit; `overrides` set any other StackConfig field.
    """
    with (
        backing_services.postgres_database(dependencies.postgres_admin_url) as database_url,
        backing_services.redis_namespace(dependencies.redis_url) as ns,
        backing_services.bucket(dependencies.s3) as bucket,
    ):
        yield StackConfig(
            database_url=database_url,
            redis_url=ns.url,
            redis_prefix=ns.prefix,
            s3=dependencies.s3,
            bucket=bucket,
            log_dir=dependencies.log_root / name,
            task_queue=f"{ns.prefix}s3tasks",
            **overrides,  # type: ignore[arg-type]
        )


@contextmanager
def running_stack(config: StackConfig) -> Iterator[Stack]:
    """Migrate and start storage-api, worker, beat and web; stop them all on exit."""
    stack = Stack(config)
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()
