"""Configuration errors stop start-up with a message that names the variable."""

from __future__ import annotations

import os
import subprocess

import pytest

from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_testkit.stack import cli


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STORAGE_API_", "S3TASKS_"))}
    return subprocess.run(
        cli("s3tasks-storage-api", "init-bucket"),
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STORAGE_API_MAX_IMAGE_BYTES": "lots"}, "STORAGE_API_MAX_IMAGE_BYTES"),
        ({"STORAGE_API_S3_ENDPOINT": "minio:9000"}, "STORAGE_API_S3_ENDPOINT"),
        ({"STORAGE_API_DATABASE_URL": "mysql://x@y/z"}, "STORAGE_API_DATABASE_URL"),
        ({"STORAGE_API_S3_BUCKET": "ab"}, "STORAGE_API_S3_BUCKET"),
        ({"S3TASKS_ENV": "production"}, "STORAGE_API_WEB_TOKENS"),
        (
            {"S3TASKS_ENV": "production", "STORAGE_API_WEB_TOKENS": "w" * 32},
            "STORAGE_API_WORKER_TOKENS",
        ),
        (
            {
                "S3TASKS_ENV": "production",
                "STORAGE_API_WEB_TOKENS": f"{'w' * 32},too-short",
                "STORAGE_API_WORKER_TOKENS": "k" * 32,
            },
            "STORAGE_API_WEB_TOKENS",
        ),
        (
            # 31 characters: the rule is the same 32 for every secret of every service
            {
                "S3TASKS_ENV": "production",
                "STORAGE_API_WEB_TOKENS": "w" * 31,
                "STORAGE_API_WORKER_TOKENS": "k" * 32,
            },
            "STORAGE_API_WEB_TOKENS",
        ),
        ({"STORAGE_API_WORKER_TOKENS": " , "}, "STORAGE_API_WORKER_TOKENS"),
        ({"STORAGE_API_LIFECYCLE_MARGIN_DAYS": "-1"}, "STORAGE_API_LIFECYCLE_MARGIN_DAYS"),
        (
            # the share secret follows the same rule as every other secret
            {
                "S3TASKS_ENV": "production",
                "STORAGE_API_WEB_TOKENS": "w" * 32,
                "STORAGE_API_WORKER_TOKENS": "k" * 32,
            },
            "STORAGE_API_SHARE_SECRET",
        ),
        (
            {
                "S3TASKS_ENV": "production",
                "STORAGE_API_WEB_TOKENS": "w" * 32,
                "STORAGE_API_WORKER_TOKENS": "k" * 32,
                "STORAGE_API_SHARE_SECRET": "s" * 31,
            },
            "STORAGE_API_SHARE_SECRET",
        ),
        (
            {"STORAGE_API_RATE_LIMIT_SHARE_ATTEMPTS_PER_CLIENT": "five a minute"},
            "STORAGE_API_RATE_LIMIT_SHARE_ATTEMPTS_PER_CLIENT",
        ),
    ],
)
def test_bad_settings_stop_start_up_naming_the_variable(env: dict[str, str], named: str) -> None:
    result = _run(env)
    assert result.returncode != 0
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_production_accepts_a_real_token() -> None:
    settings = StorageApiSettings(
        _env_file=None,  # type: ignore[call-arg]
        environment="production",
        web_tokens="a-long-random-token-from-a-secret-store",  # type: ignore[arg-type]
        worker_tokens="another-random-token-from-a-secret-store,its-predecessor-still-accepted-in-rotation",  # type: ignore[arg-type]
        share_secret="a-third-random-secret-from-the-secret-store",  # type: ignore[arg-type]
    )
    assert settings.production
    assert settings.accepted_worker_tokens == [
        "another-random-token-from-a-secret-store",
        "its-predecessor-still-accepted-in-rotation",
    ]
    assert "secret-store" not in repr(settings)
    assert "secret-store" not in str(settings.model_dump())


def test_a_plain_postgresql_url_is_taken_for_psycopg() -> None:
    settings = StorageApiSettings(_env_file=None, database_url="postgresql://u@h/db")  # type: ignore[call-arg]
    assert settings.database_url == "postgresql+psycopg://u@h/db"
