"""Typed settings, read from the environment (prefix `STORAGE_API_`) and a `.env` file."""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from s3tasks_contracts import TransferMode
from s3tasks_servicekit.settings import ServiceSettings

MIB = 1024 * 1024
#: development defaults of the credentials each caller presents; refused in production.
DEV_WEB_TOKEN = "dev-web-token-change-me"  # noqa: S105 - a marked development default
DEV_WORKER_TOKEN = "dev-worker-token-change-me"  # noqa: S105 - a marked development default
DEV_SHARE_SECRET = "dev-share-secret-change-me"  # noqa: S105 - a marked development default


class StorageApiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STORAGE_API_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: after SIGTERM: /readyz answers 503 at once, the listener closes this much later (while
    #: endpoints stop sending here; 0 where a preStop hook waited already), then requests in
    #: flight have up to `shutdown_drain_seconds` to finish before the process exits 0
    shutdown_delay_seconds: float = Field(default=1.0, ge=0)
    shutdown_drain_seconds: int = Field(default=30, ge=1)

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/s3tasks"
    database_pool_size: int = Field(default=10, ge=1)
    database_connect_timeout_seconds: int = Field(default=5, ge=1)
    #: a pooled connection idle longer than this is replaced, not pinged, when next taken (a
    #: NAT or firewall may have dropped it silently; busy connections never pay a ping)
    database_idle_seconds: int = Field(default=60, ge=1)
    #: and any connection older than this (PostgreSQL's per-connection memory and caches)
    database_recycle_seconds: int = Field(default=1800, ge=1)

    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: str = "minioadmin"
    s3_secret_key: SecretStr = SecretStr("minioadmin")
    s3_region: str = "us-east-1"
    s3_bucket: str = "s3tasks"
    s3_create_bucket: bool = True
    s3_part_size_bytes: int = Field(default=8 * MIB, ge=5 * MIB)
    s3_timeout_seconds: float = Field(default=30.0, gt=0)
    #: who carries the bytes: `proxy` (web, one hop; works wherever web reaches S3) or
    #: `direct` (the visitor's browser, to and from `s3_public_url`: needs the bucket's CORS)
    transfer_mode: TransferMode = TransferMode.PROXY
    #: the S3 endpoint as browsers see it (`direct` mode signs for this host: SigV4 signs the
    #: Host header, so a proxy that rewrites it breaks the signature); empty: `s3_endpoint`
    s3_public_url: str = ""
    #: origins (comma-separated; `*` wildcards as S3 allows them) whose pages may send and
    #: fetch bytes to and from the bucket: storage-api writes the bucket's CORS rule at start
    #: (`direct` mode needs it; MinIO ignores bucket CORS: set MINIO_API_CORS_ALLOW_ORIGIN)
    cors_origins: str = ""
    #: how long a presigned download or thumbnail link stays valid
    link_seconds: int = Field(default=300, ge=10, le=7 * 24 * 3600)

    broker_url: str = "redis://127.0.0.1:6379/0"
    broker_key_prefix: str = ""
    task_queue: str = "s3tasks"

    #: the credentials web may present (visitor endpoints), comma-separated: one, or two
    #: while a credential is rotated (the new one added first, the old one removed last).
    web_tokens: SecretStr = SecretStr(DEV_WEB_TOKEN)
    #: the credentials the worker and beat may present (internal endpoints), the same way.
    worker_tokens: SecretStr = SecretStr(DEV_WORKER_TOKEN)

    #: the key share-link tokens and download grants are derived from (HMAC-SHA256); the
    #: database keeps only a hash of each token, so a dump without this key opens nothing.
    #: Changing it ends every share link and every grant.
    share_secret: SecretStr = SecretStr(DEV_SHARE_SECRET)
    #: how long a granted download may start (its grant redeemed for presigned GETs, by the
    #: client it was granted to, under its own link): what a download needs to begin and a
    #: download manager to open its ranges, not to finish (a GET started goes on)
    share_grant_seconds: int = Field(default=30, ge=2, le=600)
    #: links one item may have (stopped ones included)
    share_links_per_item: int = Field(default=20, ge=1, le=1000)
    #: password attempts on share links in Redis (the broker's) shared by every replica: per
    #: client address (an IPv6 client by its /64) every attempt, right or wrong; per link
    #: only the wrong ones, a much higher ceiling against guessing from many addresses (the
    #: right password never uses it up: SECURITY.md). The notation of `limits`: "5/minute",
    #: "20 per hour", "5/minute;50/day"
    rate_limit_share_attempts_per_client: str = "5/minute"
    rate_limit_share_attempts_per_link: str = "300/minute"
    #: share links created per client address (every visitor behind it together), counted
    #: before the item is looked up or a password hashed
    rate_limit_share_links_per_client: str = "30/minute"
    #: share-link downloads granted per client address (counted or not, password or not)
    rate_limit_share_grants_per_client: str = "60/minute"
    #: upload requests made per client address (every visitor behind it together)
    rate_limit_upload_requests_per_client: str = "30/minute"
    #: new visitor sessions (cookies) web may hand out per client address: dropping the
    #: cookie makes a new visitor, so the per-visitor quotas hold only together with this
    rate_limit_sessions_per_client: str = "30/minute"
    #: uploads started per client address (every visitor behind it together) and per visitor
    rate_limit_uploads_per_client: str = "60/minute"
    rate_limit_uploads_per_visitor: str = "20/minute"
    #: the most bytes one visitor may have stored at once (every kind; 0: no quota); checked
    #: when an upload starts and again when it completes
    max_stored_bytes_per_visitor: int = Field(default=2 * 1024 * MIB, ge=0)

    image_ttl_seconds: int = Field(default=900, ge=1)
    file_ttl_seconds: int = Field(default=900, ge=1)
    images_kept: int = Field(default=3, ge=1)
    max_image_bytes: int = Field(default=20 * MIB, ge=1)
    max_file_bytes: int = Field(default=512 * MIB, ge=1)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    thumbnail_max_px: int = Field(default=320, ge=16)
    #: store image originals byte for byte, EXIF (GPS) and trailing bytes included; by default
    #: their metadata and anything after the image are taken out (without re-encoding).
    keep_image_metadata: bool = False
    max_description_length: int = Field(default=500, ge=0)
    max_filename_length: int = Field(default=255, ge=16)
    #: a row whose upload never finished is removed after this long (its deadline).
    upload_deadline_seconds: int = Field(default=3600, ge=1)

    #: the bucket's lifecycle rules, S3's own backstop should the deletion schedule ever be
    #: lost (storage/lifecycle.py): objects and thumbnails expire this many whole days after
    #: the longest an item can live (upload deadline + longest TTL, rounded up to days), and
    #: multipart uploads are aborted once the upload deadline (rounded up to days) has passed
    lifecycle_rules: bool = True
    lifecycle_margin_days: int = Field(default=1, ge=0)
    #: how often each replica checks the rules are still there (and puts them back)
    lifecycle_check_seconds: float = Field(default=3600.0, ge=1)

    @field_validator("s3_endpoint", "s3_public_url")
    @classmethod
    def _endpoint_is_url(cls, value: str) -> str:
        if not value:
            return value  # only s3_public_url may be empty: s3_endpoint has a default
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be a URL like http://minio:9000 or https://s3.amazonaws.com")
        if parts.path.strip("/") or parts.query:
            # S3 clients address buckets at the endpoint's root; a path would be signed wrongly
            raise ValueError("must be scheme://host[:port] with no path")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url_uses_psycopg(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        if not value.startswith("postgresql+psycopg://"):
            raise ValueError("must be a PostgreSQL URL (postgresql+psycopg://user@host/db)")
        return value

    @field_validator("s3_bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not 3 <= len(value) <= 63:
            raise ValueError("must be 3 to 63 characters (S3 bucket naming rules)")
        return value

    @field_validator("web_tokens", "worker_tokens")
    @classmethod
    def _some_token(cls, value: SecretStr) -> SecretStr:
        if not split_tokens(value):
            raise ValueError("must hold at least one token (comma-separated)")
        return value

    @field_validator(
        "rate_limit_share_attempts_per_client",
        "rate_limit_share_attempts_per_link",
        "rate_limit_share_grants_per_client",
        "rate_limit_share_links_per_client",
        "rate_limit_upload_requests_per_client",
        "rate_limit_sessions_per_client",
        "rate_limit_uploads_per_client",
        "rate_limit_uploads_per_visitor",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError('must be like "5/minute" or "5/minute;50/day"') from None
        return value

    @model_validator(mode="after")
    def _callers_distinct_and_no_default_secrets_in_production(self) -> Self:
        # a token both callers may present would make the caller, and so its scope, unknowable
        if set(self.accepted_web_tokens) & set(self.accepted_worker_tokens):
            raise ValueError(
                "STORAGE_API_WEB_TOKENS and STORAGE_API_WORKER_TOKENS must not share a token"
            )
        for name, tokens, default in (
            ("STORAGE_API_WEB_TOKENS", self.accepted_web_tokens, DEV_WEB_TOKEN),
            ("STORAGE_API_WORKER_TOKENS", self.accepted_worker_tokens, DEV_WORKER_TOKEN),
        ):
            for token in tokens:
                self.refuse_weak_secret(name, token, default)
        self.refuse_weak_secret(
            "STORAGE_API_SHARE_SECRET", self.share_secret.get_secret_value(), DEV_SHARE_SECRET
        )
        return self

    @property
    def accepted_web_tokens(self) -> list[str]:
        return split_tokens(self.web_tokens)

    @property
    def accepted_worker_tokens(self) -> list[str]:
        return split_tokens(self.worker_tokens)

    @property
    def s3_secure(self) -> bool:
        return urlsplit(self.s3_endpoint).scheme == "https"

    @property
    def s3_host(self) -> str:
        return urlsplit(self.s3_endpoint).netloc

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def s3_browser_endpoint(self) -> str:
        """The S3 endpoint browsers reach: what `direct` mode signs for."""
        return self.s3_public_url or self.s3_endpoint

    def ttl_seconds(self, kind: str) -> int:
        return self.image_ttl_seconds if kind == "image" else self.file_ttl_seconds

    def max_bytes(self, kind: str) -> int:
        return self.max_image_bytes if kind == "image" else self.max_file_bytes


def split_tokens(value: SecretStr) -> list[str]:
    """The tokens of a comma-separated list; blanks ignored (compose leaves an unset
    `..._PREVIOUS` as an empty entry)."""
    return [token.strip() for token in value.get_secret_value().split(",") if token.strip()]
