"""Settings are validated at start, with a message that names the bad variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from s3tasks_servicekit.settings import describe_settings_error
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import ServiceProcess, bind_loopback
from s3tasks_web.settings import DEVELOPMENT_SECRET_KEY, WebSettings


def _settings_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        WebSettings(_env_file=None)
    return describe_settings_error(caught.value, "WEB_")


def test_development_accepts_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_SECRET_KEY", raising=False)
    monkeypatch.setenv("S3TASKS_ENV", "development")
    settings = WebSettings(_env_file=None)
    assert settings.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY
    assert not settings.production


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_SECRET_KEY", raising=False)
    message = _settings_error(monkeypatch, S3TASKS_ENV="production")
    assert "WEB_SECRET_KEY" in message
    assert "development default" in message


def test_production_refuses_a_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _settings_error(monkeypatch, S3TASKS_ENV="production", WEB_SECRET_KEY="short")
    assert "WEB_SECRET_KEY" in message
    assert "at least 32" in message


def test_production_refuses_the_default_or_a_short_service_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _settings_error(monkeypatch, S3TASKS_ENV="production", WEB_SECRET_KEY="x" * 40)
    assert "WEB_SERVICE_TOKEN" in message
    message = _settings_error(
        monkeypatch, S3TASKS_ENV="production", WEB_SECRET_KEY="x" * 40, WEB_SERVICE_TOKEN="short"
    )
    assert "WEB_SERVICE_TOKEN" in message
    assert "at least 32" in message


def test_production_accepts_a_long_random_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3TASKS_ENV", "production")
    monkeypatch.setenv("WEB_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("WEB_SERVICE_TOKEN", "t" * 32)
    monkeypatch.setenv("WEB_PUBLIC_URL", "https://s3tasks.example.org")
    settings = WebSettings(_env_file=None)
    assert settings.production
    assert settings.json_logs


def test_production_refuses_to_start_without_a_public_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Share links are made with it; production must not guess it from a request."""
    monkeypatch.delenv("WEB_PUBLIC_URL", raising=False)
    strong = {"WEB_SECRET_KEY": "x" * 40, "WEB_SERVICE_TOKEN": "t" * 32}
    for unset in ({}, {"WEB_PUBLIC_URL": ""}):
        message = _settings_error(monkeypatch, S3TASKS_ENV="production", **strong, **unset)
        assert "WEB_PUBLIC_URL is required when S3TASKS_ENV=production" in message
    monkeypatch.setenv("S3TASKS_ENV", "development")
    monkeypatch.delenv("WEB_PUBLIC_URL")
    assert WebSettings(_env_file=None).public_url is None


@pytest.mark.parametrize(
    "url",
    ["https://s3tasks.example.org/app", "https://s3tasks.example.org/?a=1", "s3tasks.example.org"],
)
def test_a_public_url_is_an_origin_only(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    assert "WEB_PUBLIC_URL" in _settings_error(monkeypatch, WEB_PUBLIC_URL=url)


def test_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _settings_error(monkeypatch, WEB_STORAGE_API_URL="not a url")
    assert "WEB_STORAGE_API_URL" in message


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WEB_SECRET_KEY": "short"}, "WEB_SECRET_KEY"),
        (
            {"WEB_SECRET_KEY": "p" * 48, "WEB_SERVICE_TOKEN": "t" * 32},
            "WEB_PUBLIC_URL is required when S3TASKS_ENV=production",
        ),
    ],
    ids=["weak-secret", "no-public-url"],
)
def test_serve_exits_with_the_variable_named(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    script = Path(sys.executable).with_name("s3tasks-web")
    result = subprocess.run(
        [str(script), "serve", "--port", "0"],
        env={"S3TASKS_ENV": "production", "PATH": "/usr/bin:/bin", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert named in result.stderr


def test_production_sets_hsts_and_secure_cookies(artifacts_dir: Path) -> None:
    """Production differs by settings only: Secure cookie, HSTS (no storage-api needed)."""
    sock = bind_loopback()
    web = ServiceProcess(
        name="web-production",
        argv=[str(Path(sys.executable).with_name("s3tasks-web")), "serve"],
        env={
            "S3TASKS_ENV": "production",
            "WEB_SECRET_KEY": "p" * 48,
            "WEB_SERVICE_TOKEN": "t" * 32,
            "WEB_STORAGE_API_URL": "http://127.0.0.1:9",
            "WEB_PUBLIC_URL": "https://s3tasks.example.org",
        },
        log_dir=artifacts_dir / "logs",
        sock=sock,
    )
    web.start()
    try:
        web.wait_ready(f"{web.url}/healthz", timeout=patience(starts=2))
        response = httpx.get(f"{web.url}/images", headers={"Accept": "text/html"})
        assert response.status_code == 503  # no storage-api: a friendly page, not a 500
        assert "Storage is unavailable" in response.text
        assert response.headers["strict-transport-security"].startswith("max-age=")
        flags = [flag.strip().lower() for flag in response.headers["set-cookie"].split(";")]
        assert "secure" in flags
        assert "httponly" in flags
        assert httpx.get(f"{web.url}/readyz").status_code == 503
    finally:
        web.stop()
        sock.close()
