"""Settings, retry policy and Celery configuration, without any process or network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from celery.utils.serialization import get_pickleable_exception
from pydantic import ValidationError

from s3tasks_contracts import (
    TASK_PURGE_VISITOR,
    TASK_RECONCILE,
    TASK_SWEEP_DUE,
    DeletionReason,
    DeletionRequest,
)
from s3tasks_servicekit.settings import SettingsError, load_settings
from s3tasks_worker.app import beat_schedule, celery_config, create_celery_app
from s3tasks_worker.client import InternalCallFailed
from s3tasks_worker.settings import WorkerSettings
from s3tasks_worker.tasks import TRANSIENT_ERRORS, DeletionTask


@pytest.fixture(autouse=True)
def no_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come only from what a test sets (no developer's .env, no WORKER_* of the shell)."""
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("WORKER_") or name == "S3TASKS_ENV":
            monkeypatch.delenv(name)


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings(WorkerSettings)
    assert settings.sweep_interval_seconds == 5
    assert settings.reconcile_interval_seconds == 600
    assert settings.sweep_batch_size == 1000
    assert settings.max_retries == 5
    assert settings.concurrency == 2
    assert settings.metrics_port == 9102
    assert settings.task_queue == "s3tasks"
    assert settings.broker_key_prefix == ""


def test_production_refuses_the_development_or_a_short_service_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3TASKS_ENV", "production")
    with pytest.raises(SettingsError, match="WORKER_SERVICE_TOKEN"):
        load_settings(WorkerSettings)
    monkeypatch.setenv("WORKER_SERVICE_TOKEN", "a-short-token")
    with pytest.raises(SettingsError, match="WORKER_SERVICE_TOKEN must be at least 32"):
        load_settings(WorkerSettings)
    token = "a-real-secret-token-from-a-secret-store"
    monkeypatch.setenv("WORKER_SERVICE_TOKEN", token)
    assert load_settings(WorkerSettings).service_token.get_secret_value() == token


def test_a_bad_value_is_reported_with_its_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_SWEEP_INTERVAL_SECONDS", "soon")
    monkeypatch.setenv("S3TASKS_ENV", "staging")
    with pytest.raises(SettingsError) as raised:
        load_settings(WorkerSettings)
    assert "WORKER_SWEEP_INTERVAL_SECONDS" in str(raised.value)
    assert "S3TASKS_ENV" in str(raised.value)


def test_the_cli_exits_with_a_clear_message_on_bad_settings(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("s3tasks-worker")
    result = subprocess.run(
        [str(script), "probe", "live"],
        env={"WORKER_SWEEP_BATCH_SIZE": "5000", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "WORKER_SWEEP_BATCH_SIZE" in result.stderr


def test_the_batch_size_is_one_storage_api_accepts() -> None:
    with pytest.raises(ValidationError):
        WorkerSettings(sweep_batch_size=1001)
    DeletionRequest(limit=WorkerSettings(sweep_batch_size=1000).sweep_batch_size)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (TASK_SWEEP_DUE, DeletionReason.EXPIRED),
        (TASK_PURGE_VISITOR, DeletionReason.PURGE),
        (TASK_RECONCILE, DeletionReason.RECONCILE),
    ],
)
def test_each_job_retries_transient_errors_with_the_settings_numbers(
    name: str, reason: DeletionReason
) -> None:
    settings = WorkerSettings(max_retries=7, retry_backoff_seconds=2, retry_backoff_max_seconds=30)
    app = create_celery_app(settings)
    try:
        task = app.tasks[name]
        assert isinstance(task, DeletionTask)
        assert task.deletion_reason == reason
        assert task.autoretry_for == TRANSIENT_ERRORS
        assert (task.max_retries, task.retry_backoff, task.retry_backoff_max) == (7, 2, 30)
        assert task.retry_jitter is True
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        # Celery's own tasks keep their retry policy
        assert app.tasks["celery.chord_unlock"].max_retries is None
    finally:
        app.close()


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("closed"), True),
        (InternalCallFailed.for_answer(503, "storage unavailable"), True),
        (InternalCallFailed.for_answer(500, "bug or outage"), True),
        # a refused credential is not retried: it fails at once, counted and logged
        (InternalCallFailed.for_answer(401, "wrong token"), False),
        (InternalCallFailed.for_answer(403, "the other caller's token"), False),
        (InternalCallFailed.for_answer(422, "bad request"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_transient_errors_are_retried(error: Exception, transient: bool) -> None:
    assert isinstance(error, TRANSIENT_ERRORS) is transient


@pytest.mark.parametrize("status", [401, 503])
def test_a_storage_api_error_reaches_the_task_handlers_as_itself(status: int) -> None:
    """Celery hands a failed task's handlers the error if it pickles, else a wrapper."""
    error = InternalCallFailed.for_answer(status, "refused or unavailable")
    assert get_pickleable_exception(error) is error


def test_celery_is_configured_for_reliable_short_jobs() -> None:
    settings = WorkerSettings(broker_key_prefix="tenant-a:", task_queue="deletions")
    config = celery_config(settings)
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["result_backend"] is None
    assert config["task_default_queue"] == "deletions"
    assert config["broker_transport_options"]["global_keyprefix"] == "tenant-a:"
    assert config["broker_transport_options"]["visibility_timeout"] >= 60
    assert config["accept_content"] == ["json"]


def test_beat_ticks_are_periodic_and_carry_no_clock_dependent_expiry() -> None:
    schedule = beat_schedule(WorkerSettings(sweep_interval_seconds=3))
    sweep = schedule["sweep-due"]
    assert sweep["task"] == TASK_SWEEP_DUE
    assert sweep["schedule"].total_seconds() == 3
    assert "expires" not in sweep.get("options", {})  # judged by the worker's clock: see app.py
    assert schedule["reconcile"]["task"] == TASK_RECONCILE
    assert schedule["reconcile"]["schedule"].total_seconds() == 600
