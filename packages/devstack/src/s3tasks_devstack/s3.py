"""Which S3 `make run` uses (the configured one when it answers, else an embedded moto
server), its bucket, and whether a browser on the page may reach it in direct mode."""

from __future__ import annotations

import logging
import socket
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import urllib3
from minio.error import S3Error

from s3tasks_devstack.options import env_value
from s3tasks_testkit.backing_services import S3Endpoint, moto_s3

log = logging.getLogger("s3tasks.devstack")

DEFAULT_BUCKET = "s3tasks-dev"
PROBE_TIMEOUT_SECONDS = 2


def _s3_from_env() -> S3Endpoint | None:
    endpoint = env_value("S3TASKS_S3_ENDPOINT")
    if endpoint is None:
        return None
    return S3Endpoint(
        url=endpoint.rstrip("/"),
        access_key=env_value("S3TASKS_S3_ACCESS_KEY") or "",
        secret_key=env_value("S3TASKS_S3_SECRET_KEY") or "",
        region=env_value("S3TASKS_S3_REGION") or "us-east-1",
    )


def _tcp_open(url: str) -> bool:
    """Is anyone listening? (Asked first: the S3 client retries with back-off for seconds.)"""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def _s3_reachable(endpoint: S3Endpoint) -> bool:
    if not _tcp_open(endpoint.url):
        return False
    try:
        endpoint.client().list_buckets()
    except (S3Error, OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
        log.debug("S3 probe failed: %s", exc)
        return False
    return True


def choose_s3(resources: ExitStack, log_dir: Path, embedded_only: bool) -> S3Endpoint:
    configured = None if embedded_only else _s3_from_env()
    if configured is not None and _s3_reachable(configured):
        log.info("S3: using S3TASKS_S3_ENDPOINT (%s)", configured.url)
        return configured
    if configured is not None:
        log.warning("S3: S3TASKS_S3_ENDPOINT is not reachable, using an embedded moto server")
    endpoint = resources.enter_context(moto_s3(log_dir))
    log.info("S3: embedded moto server at %s (objects live in memory)", endpoint.url)
    return endpoint


def ensure_bucket(endpoint: S3Endpoint, name: str) -> None:
    client = endpoint.client()
    if not client.bucket_exists(name):
        client.make_bucket(name)


def s3_public_url(endpoint: S3Endpoint, embedded: bool) -> str:
    """Where the browser reaches S3 in direct mode: the embedded server's loopback URL, or
    S3TASKS_S3_PUBLIC_URL for a configured S3 (else its endpoint, as storage-api defaults)."""
    if embedded:
        return endpoint.url
    return (env_value("S3TASKS_S3_PUBLIC_URL") or endpoint.url).rstrip("/")


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
            timeout=PROBE_TIMEOUT_SECONDS,
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
