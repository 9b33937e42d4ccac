"""The settings every load stack shares: short TTLs, and a run that settles soon after them."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from s3tasks_testkit.stack import Dependencies, StackConfig, isolated_config

SWEEP_INTERVAL_SECONDS = 1.0
#: an upload whose undo could not reach PostgreSQL is removed at its deadline
MIN_UPLOAD_DEADLINE_SECONDS = 15


def short_run_config(
    dependencies: Dependencies,
    name: str,
    *,
    ttl: int,
    sweep_interval_seconds: float = SWEEP_INTERVAL_SECONDS,
    extra_env: Mapping[str, str] | None = None,
) -> AbstractContextManager[StackConfig]:
    """A stack of its own for a load run, which must settle soon after its short TTL
    (`extra_env`: more settings of the services)."""
    return isolated_config(
        dependencies,
        name,
        image_ttl_seconds=ttl,
        file_ttl_seconds=ttl,
        sweep_interval_seconds=sweep_interval_seconds,
        # a multipart upload S3 started for a storage-api that died (or lost PostgreSQL)
        # before its row was committed has no row: reconcile aborts it after the grace
        # period, short here as the deadline is, so the run settles within the same bound
        reconcile_interval_seconds=sweep_interval_seconds,
        extra_env={
            # an upload whose undo could not reach PostgreSQL (or whose storage-api was
            # killed) is removed at its deadline: short here (as the TTL is), so the run settles
            "STORAGE_API_UPLOAD_DEADLINE_SECONDS": str(max(ttl, MIN_UPLOAD_DEADLINE_SECONDS)),
            "WORKER_RECONCILE_GRACE_SECONDS": str(MIN_UPLOAD_DEADLINE_SECONDS),
            "WEB_LOG_LEVEL": "WARNING",
            "STORAGE_API_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        },
    )
