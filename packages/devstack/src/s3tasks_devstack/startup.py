"""Start `make run`'s stack: the backing services (configured or embedded), the migration,
then storage-api and web, then worker and beat."""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from s3tasks_devstack.options import DevstackOptions, configured, env_value, exported_settings
from s3tasks_devstack.s3 import (
    DEFAULT_BUCKET,
    check_browser_may_reach_s3,
    choose_s3,
    ensure_bucket,
    s3_public_url,
    web_origins,
)
from s3tasks_testkit.backing_services import S3Endpoint, postgres_server, redis_server
from s3tasks_testkit.processes import bind_loopback, port_of
from s3tasks_testkit.stack import Stack, StackConfig, service_process

log = logging.getLogger("s3tasks.devstack")

READY_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class RunningStack:
    """The started stack and where a developer finds each part of it."""

    stack: Stack
    #: the origin the pages are served from (what the browser opens)
    web_url: str
    #: web's /metrics, on a port of its own (the ingress publishes only the pages' port)
    web_metrics_url: str
    #: storage-api's API, with its /metrics and its OpenAPI document at /schema
    storage_api_url: str
    #: the worker's /metrics (the deletion jobs), /healthz and /readyz
    worker_url: str
    #: readiness URLs of the services started last, still to be checked
    pending: dict[str, str]


def _bind_web(host: str, port: int) -> socket.socket:
    """Listen on host:port, or on a free port if that one is taken."""
    for candidate in (port, 0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            log.warning("web: port %d is taken, using a free port instead", candidate)
            continue
        sock.listen(128)
        sock.set_inheritable(True)
        return sock
    raise OSError(f"cannot listen on {host}")


def _loopback_url(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{port_of(sock)}"


def start_services(
    stack: Stack, web_sock: socket.socket, web_url: str, resources: ExitStack
) -> RunningStack:
    """Start every service; return once web answers, with the readiness URLs still to check.

    The first page needs only the migration, storage-api and web, so those go first, and
    worker and beat (deletion jobs) start after, without competing for the CPU before it.
    """
    config = stack.config
    api_sock = bind_loopback()
    worker_sock = bind_loopback()
    web_metrics_sock = bind_loopback()
    resources.callback(api_sock.close)
    resources.callback(worker_sock.close)
    resources.callback(web_metrics_sock.close)
    api_url = _loopback_url(api_sock)
    storage_api = service_process(config, "storage-api", api_url, sock=api_sock, ready=False)
    web = service_process(
        config, "web", api_url, sock=web_sock, metrics_sock=web_metrics_sock, ready=False
    )
    worker = service_process(config, "worker", api_url, sock=worker_sock, ready=False)
    stack.storage_api, stack.web, stack.worker = storage_api, web, worker
    stack.beat = service_process(config, "beat", api_url)
    log.info("migrating the database")
    try:
        stack.migrate()
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace") if exc.stderr else ""
        raise RuntimeError(f"migration failed:\n{stderr}") from exc
    log.info("starting storage-api and web")
    storage_api.start()
    web.start()
    storage_api.wait_ready(f"{api_url}/readyz", timeout=READY_TIMEOUT_SECONDS)
    web.wait_ready(f"{_loopback_url(web_sock)}/readyz", timeout=READY_TIMEOUT_SECONDS)
    log.info("storage-api and web ready; starting worker and beat")
    worker.start()
    stack.beat.start()
    return RunningStack(
        stack=stack,
        web_url=web_url,
        web_metrics_url=web.metrics_url,
        storage_api_url=api_url,
        worker_url=worker.url,
        pending={"worker": f"{worker.url}/readyz"},
    )


def _ttl(name: str) -> int:
    value = env_value(name)
    return int(value) if value else 900


def _private_runtime_dir() -> None:
    """Give this run an XDG runtime directory of its own where the session has none.

    pgserver asks platformdirs for the user's runtime directory when it is imported (its lock
    file lives there, and its socket when the data directory's path is too long for one). A
    session without a login manager (a container, `su`, ssh without pam_systemd) has no
    XDG_RUNTIME_DIR, and platformdirs then warns (RuntimeDirWarning) and falls back to a
    shared path under /tmp. A fresh private directory (mode 0700, a short path a socket fits
    in) is what the variable stands for, so there is nothing to silence.
    """
    if env_value("XDG_RUNTIME_DIR") is not None:
        return
    runtime_dir = tempfile.mkdtemp(prefix="s3tasks-run-")
    os.environ["XDG_RUNTIME_DIR"] = runtime_dir
    # Removed at exit, not with the other resources: pgserver's own exit handler takes its
    # lock there once more (creating the directory again), and exit handlers run in reverse
    # order of registration, so this one, registered before pgserver starts, runs after it.
    atexit.register(shutil.rmtree, runtime_dir, ignore_errors=True)


def devstack_config(
    database_url: str,
    redis_url: str,
    s3: S3Endpoint,
    bucket: str,
    log_dir: Path,
    options: DevstackOptions,
    public_url: str,
    origins: list[str],
) -> StackConfig:
    """How `make run` configures every service: joined to the backing services it chose and
    to each other, `make run`'s own choices (TTLs, sweep interval), then every service
    setting the developer exported over them. storage-api's limits are its documented
    defaults or the developer's, never the tests' (the tests lift theirs in their own
    StackConfig)."""
    prefix = f"s3tasks-dev-{secrets.token_hex(3)}:"
    return StackConfig(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        s3=s3,
        bucket=bucket,
        log_dir=log_dir,
        web_service_token=secrets.token_urlsafe(24),
        worker_service_token=secrets.token_urlsafe(24),
        web_secret_key=secrets.token_urlsafe(32),
        image_ttl_seconds=_ttl("S3TASKS_IMAGE_TTL_SECONDS"),
        file_ttl_seconds=_ttl("S3TASKS_FILE_TTL_SECONDS"),
        sweep_interval_seconds=5.0,
        task_queue=f"{prefix}s3tasks",
        transfer_mode=options.transfer_mode,
        s3_public_url=public_url,
        cors_origins=",".join(origins),
        rate_limits={},
        extra_env=exported_settings(os.environ),
    )


@contextmanager
def devstack(options: DevstackOptions) -> Iterator[RunningStack]:
    """Start everything; yield the running stack once web answers."""
    with ExitStack() as resources:
        _private_runtime_dir()
        if options.data_dir is None:
            data_dir = Path(tempfile.mkdtemp(prefix="s3tasks-devstack-"))
            resources.callback(shutil.rmtree, data_dir, ignore_errors=True)
        else:
            data_dir = options.data_dir.resolve()
            data_dir.mkdir(parents=True, exist_ok=True)
        log_dir = data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log.info("logs of every service: %s", log_dir)

        # The S3 server takes longest to come up: start it while the others start.
        s3_resources = resources.enter_context(ExitStack())
        with ThreadPoolExecutor(max_workers=1) as pool:
            s3_future = pool.submit(choose_s3, s3_resources, log_dir, options.embedded_only)
            database_url = resources.enter_context(
                postgres_server(
                    configured("S3TASKS_DATABASE_URL", options.embedded_only),
                    data_dir / "pgdata",
                    log.info,
                )
            )
            redis_url = resources.enter_context(
                redis_server(
                    configured("S3TASKS_REDIS_URL", options.embedded_only), data_dir, log.info
                )
            )
            s3 = s3_future.result()
        bucket = env_value("S3TASKS_S3_BUCKET") or DEFAULT_BUCKET
        ensure_bucket(s3, bucket)
        # web's port is known before storage-api starts: it writes the bucket's CORS rule for it
        sock = _bind_web(options.host, options.port)
        resources.callback(sock.close)
        shown_host = "127.0.0.1" if options.host in ("0.0.0.0", "") else options.host  # noqa: S104 - compares, binds nothing
        origins = web_origins(shown_host, port_of(sock))
        public_url = s3_public_url(s3, embedded=s3.server == "moto")  # moto: only embedded
        if options.transfer_mode == "direct":
            log.info("transfer mode: direct (browsers send and fetch bytes at %s)", public_url)
        else:
            log.info("transfer mode: proxy (web carries the bytes)")

        config = devstack_config(
            database_url, redis_url, s3, bucket, log_dir, options, public_url, origins
        )
        stack = Stack(config)
        resources.callback(stack.stop_all)

        running = start_services(stack, sock, origins[0], resources)
        if options.transfer_mode == "direct":
            check_browser_may_reach_s3(public_url, bucket, origins[0])
        yield running
