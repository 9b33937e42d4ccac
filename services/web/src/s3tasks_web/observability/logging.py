"""web's logs: the shared format (`s3tasks_servicekit.logs`), with the request id web binds
and sends on to storage-api."""

from __future__ import annotations

from s3tasks_servicekit.logs import configure_logging as configure_shared_logging


def configure_logging(level: str, json_format: bool) -> None:
    # uvicorn's own access lines would double the access lines web writes itself (the shared
    # request middleware, wired in app.py)
    configure_shared_logging(
        level, json_format=json_format, service="web", quiet=("uvicorn.access",)
    )
