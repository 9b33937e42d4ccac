"""Web's settings: environment variables with the `WEB_` prefix (and `S3TASKS_ENV`)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AnyHttpUrl, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from s3tasks_servicekit.settings import ServiceSettings

#: A key anyone can read in the repository: fine on a laptop, refused in production.
DEVELOPMENT_SECRET_KEY = "dev-only-web-secret-key-change-me"  # noqa: S105 - refused in production
#: storage-api's development default for web's credential; refused in production.
DEVELOPMENT_SERVICE_TOKEN = "dev-web-token-change-me"  # noqa: S105 - refused in production
ENV_PREFIX = "WEB_"


class WebSettings(ServiceSettings):
    """web: the pages"""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    storage_api_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    secret_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRET_KEY),
        description="signs the visitor session cookie and CSRF tokens (>= 32 random characters in "
        "production)",
    )
    service_token: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SERVICE_TOKEN),
        description="web's own credential for storage-api (one of STORAGE_API_WEB_TOKENS; >= 32 "
        "characters in production)",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    metrics_host: str = Field(
        default="127.0.0.1",
        description="/metrics is served only here, not on WEB_PORT (the public one, which the "
        "ingress publishes); 0.0.0.0 in a container",
    )
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    shutdown_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        description="SIGTERM: as storage-api's; uploads and downloads still streaming have the "
        "drain bound (an upload in parts cut past it resumes from the parts S3 holds)",
    )
    shutdown_drain_seconds: int = Field(default=30, ge=1)

    header_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="a client must send a request's headers within this many seconds (slowloris), "
        "else 408 (uvicorn has no such limit of its own)",
    )

    connect_timeout_seconds: float = Field(default=3.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    pool_timeout_seconds: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=100, ge=1)
    upload_idle_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="an upload whose body sends nothing for this many seconds is refused (408)",
    )
    upload_min_bytes_per_second: int = Field(
        default=1024,
        ge=1,
        description="after the grace period an upload must average at least this many bytes a "
        "second, or it is cut (408): a trickle of a byte a second never goes idle, but "
        "is cut by this",
    )
    upload_rate_grace_seconds: float = Field(default=30.0, gt=0)
    upload_max_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="no upload lasts longer than this, however fast; keep it below "
        "STORAGE_API_UPLOAD_DEADLINE_SECONDS (the row of a longer upload is swept "
        "meanwhile)",
    )
    encrypted_download_blob_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024 * 1024,
        description="largest file encrypted in the browser that a share page decrypts in memory "
        "(a Blob) before saving it; above it the page offers the encrypted file and the "
        "s3tasks-decrypt command instead",
    )
    max_concurrent_uploads: int = Field(
        default=32,
        ge=1,
        description="uploads streamed at once by one web process; one more is refused at once "
        "(503), so uploads never take every connection to storage-api that pages and "
        "downloads need",
    )
    limits_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="how long storage-api's site configuration (/v1/limits: the limits and the "
        "transfer mode) is reused before asking storage-api again",
    )

    client_address_header: str = Field(
        default="",
        description="the client address the per-client limits count by (new visitors, uploads, "
        "share-link grants and password attempts): the peer's, or, from a peer in "
        "TRUSTED_PROXIES, this header's rightmost entry that is not a trusted proxy "
        "(what the proxies added; a client's own entries lie to its left). Behind a "
        "proxy, set both (e.g. X-Forwarded-For and the ingress's network), or every "
        "visitor counts as the proxy",
    )
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="the networks of the proxies in front of web (comma-separated CIDRs), whose "
        "CLIENT_ADDRESS_HEADER is read",
    )
    public_url: AnyHttpUrl | None = Field(
        default=None,
        description="the site's address as visitors reach it, scheme://host[:port] with no path "
        "(https://... behind a TLS proxy): the share links and QR codes shown to owners"
        " are made with it. Required when S3TASKS_ENV=production; empty in development:"
        " the address of web's own socket the owner's request arrived at. Never a "
        "request's Host or X-Forwarded-* headers, which a client writes",
    )

    session_cookie_name: str = "s3tasks_session"
    session_max_age_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    static_max_age_seconds: int = Field(default=24 * 3600, ge=0)
    hsts_max_age_seconds: int = Field(default=365 * 24 * 3600, ge=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("public_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("public_url")
    @classmethod
    def _origin_only(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        # web serves at the root: a path here would make every link shown a dead one
        if value is not None and (
            value.path not in (None, "", "/") or value.query or value.fragment or value.username
        ):
            raise ValueError("must be scheme://host[:port] with no path, query or user")
        return value

    @property
    def storage_api_base(self) -> str:
        return str(self.storage_api_url).rstrip("/")

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> Self:
        self.refuse_weak_secret(
            f"{ENV_PREFIX}SECRET_KEY", self.secret_key.get_secret_value(), DEVELOPMENT_SECRET_KEY
        )
        self.refuse_weak_secret(
            f"{ENV_PREFIX}SERVICE_TOKEN",
            self.service_token.get_secret_value(),
            DEVELOPMENT_SERVICE_TOKEN,
        )
        return self

    @model_validator(mode="after")
    def _require_the_public_url_in_production(self) -> Self:
        self.require_in_production(
            f"{ENV_PREFIX}PUBLIC_URL",
            self.public_url,
            "the site's address as visitors reach it (e.g. https://s3tasks.example.org), "
            "which the share links and QR codes shown to owners are made with",
        )
        return self
