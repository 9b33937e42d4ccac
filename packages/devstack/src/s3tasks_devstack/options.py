"""What `make run` is asked for: the command line, with defaults from the environment."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("s3tasks.devstack")

DEFAULT_WEB_PORT = 8080
TRANSFER_MODES = ("proxy", "direct")
#: the services' own settings, which a developer may export before `make run`
SERVICE_PREFIXES = ("STORAGE_API_", "WEB_", "WORKER_")
#: the settings `make run` decides itself to join the services to the backing services it
#: chose and to each other (where each one is, the credentials between them, the queue);
#: the S3TASKS_* variables (README, `make run` settings) choose the backing services instead
WIRING = frozenset(
    {
        *("STORAGE_API_DATABASE_URL", "STORAGE_API_BROKER_URL", "STORAGE_API_BROKER_KEY_PREFIX"),
        *("STORAGE_API_TASK_QUEUE", "STORAGE_API_WEB_TOKENS", "STORAGE_API_WORKER_TOKENS"),
        *("STORAGE_API_S3_ENDPOINT", "STORAGE_API_S3_ACCESS_KEY", "STORAGE_API_S3_SECRET_KEY"),
        *("STORAGE_API_S3_REGION", "STORAGE_API_S3_BUCKET", "STORAGE_API_S3_PUBLIC_URL"),
        *("STORAGE_API_TRANSFER_MODE", "STORAGE_API_CORS_ORIGINS"),
        *("WORKER_BROKER_URL", "WORKER_BROKER_KEY_PREFIX", "WORKER_TASK_QUEUE"),
        *("WORKER_STORAGE_API_URL", "WORKER_SERVICE_TOKEN", "WORKER_STATE_DIR"),
        *("WEB_STORAGE_API_URL", "WEB_SERVICE_TOKEN"),
    }
)


@dataclass(frozen=True)
class DevstackOptions:
    embedded_only: bool
    host: str
    port: int
    data_dir: Path | None
    transfer_mode: str = "proxy"


def env_value(name: str) -> str | None:
    """A setting from the environment; unset and blank are the same."""
    value = os.environ.get(name, "").strip()
    return value or None


def configured(name: str, embedded_only: bool) -> str | None:
    """A backing service's configured URL, unless --embedded / S3TASKS_DEVSTACK_EMBEDDED said
    to ignore it."""
    return None if embedded_only else env_value(name)


def exported_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The services' settings the developer exported, to be passed on over `make run`'s own
    choices (its TTLs, sweep interval, shutdown delay), as the services would read them
    started by hand. Those that wire the stack together are `make run`'s (`WIRING`): each
    one exported is named in a warning, not silently dropped."""
    exported = {k: v for k, v in environ.items() if k.startswith(SERVICE_PREFIXES)}
    for name in sorted(exported.keys() & WIRING):
        log.warning(
            "%s is set but make run joins the services itself: ignored (the S3TASKS_*"
            " settings choose PostgreSQL, Redis, S3 and the transfer mode)",
            name,
        )
    return {k: v for k, v in exported.items() if k not in WIRING}


def parse_args(argv: list[str] | None) -> DevstackOptions:
    parser = argparse.ArgumentParser(
        prog="s3tasks-devstack",
        description="Run the whole s3tasks stack on this machine (see s3tasks_devstack's docs).",
    )
    parser.add_argument("--embedded", action="store_true", help="always use embedded services")
    parser.add_argument("--host", default=env_value("S3TASKS_WEB_HOST") or "127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(env_value("S3TASKS_WEB_PORT") or DEFAULT_WEB_PORT)
    )
    parser.add_argument("--data-dir", type=Path, default=env_value("S3TASKS_DEVSTACK_DIR"))
    parser.add_argument(
        "--transfer",
        choices=TRANSFER_MODES,
        default=env_value("S3TASKS_TRANSFER_MODE") or "proxy",
        help="who carries the bytes: web (proxy) or the browser, to and from S3 (direct)",
    )
    args = parser.parse_args(argv)
    if args.transfer not in TRANSFER_MODES:  # a default from the environment is not checked
        parser.error(f"S3TASKS_TRANSFER_MODE must be one of {', '.join(TRANSFER_MODES)}")
    embedded = args.embedded or env_value("S3TASKS_DEVSTACK_EMBEDDED") in ("1", "true", "yes")
    return DevstackOptions(
        embedded_only=embedded,
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        transfer_mode=args.transfer,
    )
