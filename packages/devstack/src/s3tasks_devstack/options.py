"""What `make run` is asked for: the command line, with defaults from the environment."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WEB_PORT = 8080
TRANSFER_MODES = ("proxy", "direct")


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
