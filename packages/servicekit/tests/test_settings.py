"""The settings rules every service shares, on a settings class of the test's own."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import pytest
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from s3tasks_servicekit.settings import (
    MIN_SECRET_LENGTH,
    ServiceSettings,
    SettingsError,
    load_settings,
    settings_or_exit,
)

DEFAULT_TOKEN = "dev-token-change-me"


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")

    batch_size: int = Field(default=10, ge=1)
    token: SecretStr = SecretStr(DEFAULT_TOKEN)

    @model_validator(mode="after")
    def _strong_token(self) -> Self:
        self.refuse_weak_secret("DEMO_TOKEN", self.token.get_secret_value(), DEFAULT_TOKEN)
        return self


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in ("S3TASKS_ENV", "DEMO_TOKEN", "DEMO_BATCH_SIZE", "DEMO_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)


def test_development_takes_the_defaults_and_logs_text() -> None:
    settings = load_settings(DemoSettings)
    assert not settings.production
    assert not settings.json_logs
    assert settings.log_level == "INFO"


def test_bad_values_are_named_as_the_operator_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_BATCH_SIZE", "0")
    monkeypatch.setenv("S3TASKS_ENV", "staging")
    with pytest.raises(SettingsError) as raised:
        load_settings(DemoSettings)
    lines = str(raised.value).splitlines()
    assert lines[0] == "invalid settings:"
    assert any(line.startswith("  DEMO_BATCH_SIZE: ") for line in lines), lines
    assert any(line.startswith("  S3TASKS_ENV: ") for line in lines), lines


@pytest.mark.parametrize(
    ("token", "refusal"),
    [
        (None, "development default"),
        ("x" * (MIN_SECRET_LENGTH - 1), f"at least {MIN_SECRET_LENGTH} characters"),
    ],
)
def test_production_refuses_the_default_or_a_short_secret(
    monkeypatch: pytest.MonkeyPatch, token: str | None, refusal: str
) -> None:
    monkeypatch.setenv("S3TASKS_ENV", "production")
    if token is not None:
        monkeypatch.setenv("DEMO_TOKEN", token)
    with pytest.raises(SettingsError) as raised:
        load_settings(DemoSettings)
    assert "DEMO_TOKEN" in str(raised.value)
    assert refusal in str(raised.value)


def test_production_takes_a_long_secret_and_logs_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3TASKS_ENV", "production")
    monkeypatch.setenv("DEMO_TOKEN", "x" * MIN_SECRET_LENGTH)
    settings = load_settings(DemoSettings)
    assert settings.production
    assert settings.json_logs
    monkeypatch.setenv("DEMO_LOG_FORMAT", "text")
    assert not load_settings(DemoSettings).json_logs


def test_a_command_line_exits_2_with_the_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEMO_BATCH_SIZE", "lots")
    with pytest.raises(SystemExit) as exited:
        settings_or_exit(DemoSettings, "s3tasks-demo")
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("s3tasks-demo: invalid settings:")
    assert "DEMO_BATCH_SIZE" in err
    assert "Traceback" not in err
