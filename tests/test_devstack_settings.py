"""`make run` starts each service with its documented defaults and every service setting the
developer exported; only the tests lift storage-api's limits, in their own configuration.

The services' settings are read here as each service reads them at start, from the
environment its process is given (`ServiceProcess.start`: this process's, then the stack's).
tests/e2e/test_devstack.py watches a running `make run` enforce an exported limit.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from s3tasks_devstack.options import DevstackOptions
from s3tasks_devstack.startup import devstack_config
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_testkit.backing_services import S3Endpoint
from s3tasks_testkit.stack import TEST_RATE_LIMITS, StackConfig, service_process
from s3tasks_web.settings import WebSettings
from s3tasks_worker.settings import WorkerSettings

S3 = S3Endpoint(url="http://127.0.0.1:9", access_key="dev-access", secret_key="dev-secret-key")
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/s3tasks_dev"
REDIS_URL = "redis://127.0.0.1:6379/0"
#: every limit of storage-api's, as its settings name them
LIMITS = (
    "rate_limit_sessions_per_client",
    "rate_limit_uploads_per_client",
    "rate_limit_uploads_per_visitor",
    "rate_limit_share_grants_per_client",
    "rate_limit_share_attempts_per_client",
    "rate_limit_share_attempts_per_link",
    "max_stored_bytes_per_visitor",
)


def _make_run_config(tmp_path: Path) -> StackConfig:
    options = DevstackOptions(embedded_only=True, host="127.0.0.1", port=0, data_dir=None)
    return devstack_config(
        DATABASE_URL, REDIS_URL, S3, "s3tasks-dev", tmp_path, options, S3.url, ["http://x:1"]
    )


def _as_started(
    config: StackConfig, kind: str, monkeypatch: pytest.MonkeyPatch
) -> StorageApiSettings | WorkerSettings | WebSettings:
    """The settings `kind` reads at start, from the environment its process is given."""
    proc = service_process(config, kind, "http://127.0.0.1:8000")
    for name, value in {**os.environ, **proc.env}.items():
        monkeypatch.setenv(name, value)
    if kind == "storage-api":
        return StorageApiSettings(_env_file=None)
    if kind == "web":
        return WebSettings(_env_file=None)
    return WorkerSettings(_env_file=None)


def test_make_run_passes_on_an_exported_limit_and_keeps_the_defaults_of_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_API_RATE_LIMIT_UPLOADS_PER_VISITOR", "3/minute")
    settings = _as_started(_make_run_config(tmp_path), "storage-api", monkeypatch)
    assert isinstance(settings, StorageApiSettings)
    assert settings.rate_limit_uploads_per_visitor == "3/minute"
    fields = StorageApiSettings.model_fields
    for limit in LIMITS:
        if limit != "rate_limit_uploads_per_visitor":
            assert getattr(settings, limit) == fields[limit].default, limit


def test_make_run_passes_on_exported_settings_over_its_own_choices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # make run's own choices: a sweep every 5 s, no delay before closing at Ctrl-C, a secret
    # of its own; a developer's exported value of each wins, as started by hand
    monkeypatch.setenv("WORKER_SWEEP_INTERVAL_SECONDS", "2.5")
    monkeypatch.setenv("STORAGE_API_SHUTDOWN_DELAY_SECONDS", "1.5")
    monkeypatch.setenv("WEB_SECRET_KEY", "a-developer-s-own-secret-key-0123456789")
    config = _make_run_config(tmp_path)
    worker = _as_started(config, "worker", monkeypatch)
    assert isinstance(worker, WorkerSettings)
    assert worker.sweep_interval_seconds == 2.5
    api = _as_started(config, "storage-api", monkeypatch)
    assert isinstance(api, StorageApiSettings)
    assert api.shutdown_delay_seconds == 1.5
    web = _as_started(config, "web", monkeypatch)
    assert isinstance(web, WebSettings)
    assert web.secret_key.get_secret_value() == "a-developer-s-own-secret-key-0123456789"


def test_make_run_keeps_its_wiring_and_names_an_exported_wiring_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STORAGE_API_DATABASE_URL", "postgresql+psycopg://elsewhere:1/other")
    with caplog.at_level(logging.WARNING, logger="s3tasks.devstack"):
        config = _make_run_config(tmp_path)
    api = _as_started(config, "storage-api", monkeypatch)
    assert isinstance(api, StorageApiSettings)
    assert "elsewhere" not in str(api.database_url)
    assert "STORAGE_API_DATABASE_URL is set but make run joins the services" in caplog.text


def test_the_tests_lift_the_limits_in_their_own_configuration(tmp_path: Path) -> None:
    config = StackConfig(DATABASE_URL, REDIS_URL, "p:", S3, "bucket", tmp_path)
    env = config.storage_api_env()
    assert {name: env[name] for name in TEST_RATE_LIMITS} == TEST_RATE_LIMITS
