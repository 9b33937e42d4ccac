"""`.env.example` documents every setting of every service, and its values are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_web.settings import WebSettings
from s3tasks_worker.settings import WorkerSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
SETTINGS: list[type[BaseSettings]] = [StorageApiSettings, WorkerSettings, WebSettings]


def _documented() -> dict[str, str]:
    names: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        entry = line.removeprefix("# ").strip()
        if "=" in entry and entry.split("=", 1)[0].isupper():
            name, value = entry.split("=", 1)
            names[name] = value
    return names


def _env_names(cls: type[BaseSettings]) -> list[list[str]]:
    """For each field, the variable names that set it."""
    prefix = cls.model_config.get("env_prefix", "")
    names = []
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.append([str(a) for a in alias.choices if str(a).isupper()])
        elif isinstance(alias, str):
            names.append([alias])
        else:
            names.append([f"{prefix}{field_name}".upper()])
    return names


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda c: c.__name__)
def test_every_setting_is_documented(cls: type[BaseSettings]) -> None:
    documented = _documented()
    missing = [names for names in _env_names(cls) if not set(names) & set(documented)]
    assert missing == [], f"not in .env.example: {missing}"


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda c: c.__name__)
def test_the_documented_values_are_valid(
    cls: type[BaseSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _documented().items():
        monkeypatch.setenv(name, value)
    cls(_env_file=None)  # type: ignore[call-arg]
