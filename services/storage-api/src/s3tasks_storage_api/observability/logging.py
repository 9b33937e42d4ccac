"""storage-api's logs: the shared format (`s3tasks_servicekit.logs`), with the request id that
web or the worker sent, so one upload can be followed from web to storage-api to the worker."""

from __future__ import annotations

import logging

from s3tasks_servicekit.logs import configure_logging as configure_shared_logging


def configure_logging(level: str, json_format: bool) -> None:
    configure_shared_logging(level, json_format=json_format, service="storage-api")
    # the deletion audit trail is kept at any level (deletions/service.py)
    logging.getLogger("s3tasks.deletions").setLevel(logging.INFO)
