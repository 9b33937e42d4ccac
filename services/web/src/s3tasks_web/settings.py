"""Web's settings: environment variables with the `WEB_` prefix (and `S3TASKS_ENV`)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: A key anyone can read in the repository: fine on a laptop, refused in production.
DEVELOPMENT_SECRET_KEY = "dev-only-web-secret-key-change-me"  # noqa: S105 - refused in production
MIN_PRODUCTION_SECRET_LENGTH = 32
#: storage-api's development default for web's credential; refused in production.
DEVELOPMENT_SERVICE_TOKEN = "dev-web-token-change-me"  # noqa: S105 - refused in production
MIN_PRODUCTION_SERVICE_TOKEN_LENGTH = 24
ENV_PREFIX = "WEB_"


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    env: Literal["development", "production"] = Field(
        default="development", validation_alias=AliasChoices("S3TASKS_ENV", "env")
    )
    storage_api_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    #: web's own credential for storage-api (one of STORAGE_API_WEB_TOKENS).
    service_token: SecretStr = SecretStr(DEVELOPMENT_SERVICE_TOKEN)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: /metrics is served here, not on the public port (the ingress publishes that one).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9101, ge=0, le=65535)

    #: a client must have sent a request's headers within this long, or is answered 408 and
    #: hung up on (slowloris); uvicorn has no such limit of its own.
    header_timeout_seconds: float = Field(default=15.0, gt=0)

    connect_timeout_seconds: float = Field(default=3.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    write_timeout_seconds: float = Field(default=60.0, gt=0)
    pool_timeout_seconds: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=100, ge=1)
    #: an upload whose body sends nothing for this long is refused (slow-body clients).
    upload_idle_timeout_seconds: float = Field(default=30.0, gt=0)
    #: after the grace period an upload must have averaged at least this rate, or it is cut
    #: (408): a trickle of a byte a second defeats the idle timeout but not this.
    upload_min_bytes_per_second: int = Field(default=1024, ge=1)
    upload_rate_grace_seconds: float = Field(default=30.0, gt=0)
    #: no upload lasts longer than this, however fast; keep it below storage-api's
    #: STORAGE_API_UPLOAD_DEADLINE_SECONDS (the row of a longer upload is swept meanwhile).
    upload_max_seconds: float = Field(default=1800.0, gt=0)
    #: uploads streamed at once by this process; one more is refused at once (503), so uploads
    #: never take every connection to storage-api that pages and downloads need.
    max_concurrent_uploads: int = Field(default=32, ge=1)
    #: how long /v1/limits is reused before asking storage-api again.
    limits_cache_seconds: float = Field(default=60.0, ge=0)

    session_cookie_name: str = "s3tasks_session"
    session_max_age_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    static_max_age_seconds: int = Field(default=24 * 3600, ge=0)
    hsts_max_age_seconds: int = Field(default=365 * 24 * 3600, ge=0)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: `json` for log shippers; `text` for people. Default: json in production, text otherwise.
    log_format: Literal["json", "text"] | None = None

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def effective_log_format(self) -> Literal["json", "text"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.production else "text"

    @property
    def storage_api_base(self) -> str:
        return str(self.storage_api_url).rstrip("/")

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> WebSettings:
        if self.production:
            _refuse_weak_secret(
                "SECRET_KEY",
                self.secret_key,
                DEVELOPMENT_SECRET_KEY,
                MIN_PRODUCTION_SECRET_LENGTH,
                remedy="set a random secret",
            )
            _refuse_weak_secret(
                "SERVICE_TOKEN",
                self.service_token,
                DEVELOPMENT_SERVICE_TOKEN,
                MIN_PRODUCTION_SERVICE_TOKEN_LENGTH,
                remedy="set web's own credential",
            )
        return self


def _refuse_weak_secret(
    field: str, value: SecretStr, development_default: str, min_length: int, *, remedy: str
) -> None:
    secret = value.get_secret_value()
    if secret == development_default:
        raise ValueError(
            f"{ENV_PREFIX}{field} is the development default; {remedy} when S3TASKS_ENV=production"
        )
    if len(secret) < min_length:
        raise ValueError(
            f"{ENV_PREFIX}{field} must be at least {min_length} "
            "characters when S3TASKS_ENV=production"
        )


def describe_settings_error(error: ValidationError) -> str:
    """One line per bad variable, named as the operator sets it."""
    lines = ["invalid web settings:"]
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        if not loc:
            name = "settings"
        elif loc[0] == "env":
            name = "S3TASKS_ENV"
        else:
            name = ENV_PREFIX + loc[0].upper()
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {message}")
    return "\n".join(lines)
