"""The rules every service's settings follow: one environment variable (`S3TASKS_ENV`), one
refusal of weak secrets in production, one error message that names each bad variable."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENVIRONMENT_VARIABLE = "S3TASKS_ENV"
#: 32 characters: as long as the random secrets `make up` and the chart generate are at least
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Each service's settings class derives from this one, with its own `env_prefix`."""

    # pydantic merges this with the `model_config` of each service's class
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, populate_by_name=True
    )

    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        validation_alias=AliasChoices(ENVIRONMENT_VARIABLE, "environment"),
        description="development | production. Production turns on Secure cookies and HSTS, writes "
        "JSON logs unless *_LOG_FORMAT says otherwise, and refuses the development "
        "default secrets and any secret shorter than 32 characters",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="the least severe log records written"
    )
    log_format: Literal["json", "text"] | None = Field(
        default=None,
        examples=["text"],
        description="`json` for log shippers, `text` for people; unset: json in production, text "
        "otherwise",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" or (self.log_format is None and self.production)

    def refuse_weak_secret(self, variable: str, secret: str, development_default: str) -> None:
        """In production, a ValueError naming `variable` when `secret` is the development
        default (anyone can read it in the repository) or shorter than MIN_SECRET_LENGTH."""
        if not self.production:
            return
        if secret == development_default:
            raise ValueError(
                f"{variable} is the development default; set a secret of your own "
                f"when {ENVIRONMENT_VARIABLE}=production"
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"{variable} must be at least {MIN_SECRET_LENGTH} characters "
                f"when {ENVIRONMENT_VARIABLE}=production"
            )

    def require_in_production(self, variable: str, value: object, why: str) -> None:
        """In production, a ValueError naming `variable` when it is unset (None or empty):
        what development can guess at must be said by the operator there."""
        if self.production and not value:
            raise ValueError(
                f"{variable} is required when {ENVIRONMENT_VARIABLE}=production: {why}"
            )


class SettingsError(Exception):
    """Settings a service cannot start with; the message names each bad variable."""


Settings = TypeVar("Settings", bound=BaseSettings)


def load_settings(cls: type[Settings]) -> Settings:
    """`cls()` from the environment and `.env`, or a SettingsError naming each bad variable."""
    try:
        return cls()
    except ValidationError as exc:
        # from None: pydantic's own report would only repeat the message
        prefix = cls.model_config.get("env_prefix", "")
        raise SettingsError(describe_settings_error(exc, prefix)) from None


def settings_or_exit(cls: type[Settings], program: str) -> Settings:
    """What a command line starts with: the settings, or exit 2 with the message (no traceback)."""
    try:
        return load_settings(cls)
    except SettingsError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def describe_settings_error(error: ValidationError, env_prefix: str) -> str:
    """One line per bad variable, named as the operator sets it."""
    lines = ["invalid settings:"]
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:  # a rule across fields: its message names the variables
            lines.append(f"  {message}")
            continue
        field = str(item["loc"][0])
        # aliased fields (S3TASKS_ENV) are reported under their variable name already
        variable = field if field.isupper() else f"{env_prefix}{field}".upper()
        lines.append(f"  {variable}: {message}")
    return "\n".join(lines)
