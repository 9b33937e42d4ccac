"""JobQueue: sends deletion jobs by task name (no worker code imported).

Sending is best effort: the rows are already hidden and due in PostgreSQL, so a lost or
unsendable message only delays deletion until the next beat tick of `sweep_due`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from celery import Celery

from s3tasks_contracts import TASK_PURGE_VISITOR
from s3tasks_storage_api.settings import StorageApiSettings

logger = logging.getLogger(__name__)


class JobQueue(Protocol):
    def purge_visitor(self, visitor_id: str) -> None: ...
    def close(self) -> None: ...


class CeleryJobQueue:
    def __init__(self, settings: StorageApiSettings) -> None:
        self._queue = settings.task_queue
        self._celery = Celery(
            "s3tasks-storage-api", broker=settings.broker_url, set_as_current=False
        )
        self._celery.conf.update(
            broker_transport_options={
                "global_keyprefix": settings.broker_key_prefix,
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
                "max_retries": 1,
            },
            broker_connection_retry=False,
            broker_connection_retry_on_startup=False,
            broker_connection_max_retries=1,
            task_serializer="json",
            accept_content=["json"],
        )

    def purge_visitor(self, visitor_id: str) -> None:
        try:
            self._celery.send_task(
                TASK_PURGE_VISITOR, args=[visitor_id], queue=self._queue, retry=False
            )
        except Exception:
            logger.warning(
                "could not enqueue %s; the next sweep will delete the items",
                TASK_PURGE_VISITOR,
                exc_info=True,
            )

    def close(self) -> None:
        self._celery.close()
