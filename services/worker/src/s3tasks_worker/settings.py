"""Typed settings of the worker and beat processes, read from `WORKER_*` variables and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, HttpUrl, PositiveFloat, PositiveInt, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from s3tasks_servicekit.settings import ServiceSettings

ENV_PREFIX = "WORKER_"

#: The development default (storage-api's default for the worker); accepted only outside
#: production so a demo runs with no setup.
DEV_SERVICE_TOKEN = "dev-worker-token-change-me"  # noqa: S105 - a placeholder, refused in production


class WorkerSettings(ServiceSettings):
    """worker and beat: deletion jobs over Redis, calling storage-api"""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="the Redis broker (must match storage-api's)",
    )
    broker_key_prefix: str = Field(
        default="",
        description="prefix of every Redis key of the broker (several deployments or test "
        "runs may share one Redis; must match storage-api's)",
    )
    task_queue: str = Field(
        default="s3tasks", description="the Celery queue (a Redis list; must match storage-api's)"
    )
    broker_visibility_timeout_seconds: PositiveInt = Field(
        default=300,
        description="seconds before Redis hands an unacknowledged job to another worker: far above "
        "a job's duration (at most MAX_BATCHES_PER_JOB HTTP calls), so only jobs of a "
        "dead worker come back",
    )

    storage_api_url: HttpUrl = HttpUrl("http://127.0.0.1:8000")
    service_token: SecretStr = Field(
        default=SecretStr(DEV_SERVICE_TOKEN),
        description="the worker's own credential for storage-api (one of STORAGE_API_WORKER_TOKENS;"
        " >= 32 characters in production)",
    )
    http_timeout_seconds: PositiveFloat = 30.0
    http_connect_timeout_seconds: PositiveFloat = 5.0

    sweep_interval_seconds: PositiveFloat = Field(
        default=5.0, description="how often beat enqueues the sweep of due items, seconds"
    )
    reconcile_interval_seconds: PositiveFloat = Field(
        default=600.0,
        description="how often beat enqueues the reconcile of bucket and table, seconds",
    )
    reconcile_grace_seconds: int = Field(
        default=3600,
        ge=0,
        description="an object without a row younger than this is left alone by reconcile",
    )
    sweep_batch_size: int = Field(
        default=1000,
        ge=1,
        le=1000,
        description="one DeleteObjects request holds at most 1000 keys; an image counts two "
        "(object, thumbnail)",
    )
    max_batches_per_job: PositiveInt = Field(
        default=20,
        description="a job stops after this many batches so one job never runs for long; the next "
        "tick goes on",
    )

    max_retries: int = Field(
        default=5,
        ge=0,
        description="transient failures (connection errors, timeouts, 5xx) are retried with "
        "Celery's exponential backoff with full jitter, in whole seconds: retry n waits"
        " 0..min(MAX, BACKOFF * 2**n) s",
    )
    #: Celery's exponential backoff counts whole seconds: a retry waits up to base * 2**n, capped.
    retry_backoff_seconds: PositiveInt = 1
    retry_backoff_max_seconds: PositiveInt = 60

    concurrency: PositiveInt = Field(
        default=2,
        description="Celery prefork processes",
    )
    state_dir: Path = Field(
        default=Path("/tmp/s3tasks-worker"),  # noqa: S108 - a per-container scratch dir
        description="heartbeat, ready file, beat schedule and Prometheus multiprocess files (a "
        "writable, per-container directory)",
    )
    heartbeat_interval_seconds: PositiveFloat = 5.0
    heartbeat_stale_seconds: PositiveFloat = Field(
        default=60.0,
        description="liveness fails when the heartbeat is older than this (the worker's event loop "
        "is stuck)",
    )

    metrics_host: str = Field(
        default="0.0.0.0",  # noqa: S104 - scraped from outside the pod
        description="/metrics, /healthz, /readyz of the worker",
    )
    metrics_port: int = Field(default=9102, ge=0, le=65535)

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> Self:
        self.refuse_weak_secret(
            f"{ENV_PREFIX}SERVICE_TOKEN", self.service_token.get_secret_value(), DEV_SERVICE_TOKEN
        )
        return self

    @property
    def heartbeat_file(self) -> Path:
        return self.state_dir / "heartbeat"

    @property
    def ready_file(self) -> Path:
        return self.state_dir / "ready"

    @property
    def metrics_dir(self) -> Path:
        return self.state_dir / "prometheus"

    @property
    def beat_schedule_file(self) -> Path:
        return self.state_dir / "celerybeat-schedule"
