"""Typed settings, read from the environment (prefix `STORAGE_API_`) and a `.env` file."""

from __future__ import annotations

from typing import Annotated, Self
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from s3tasks_contracts import MAX_ENCRYPTED_METADATA_BYTES, TransferMode
from s3tasks_servicekit.settings import ServiceSettings

MIB = 1024 * 1024
#: development defaults of the credentials each caller presents; refused in production.
DEV_WEB_TOKEN = "dev-web-token-change-me"  # noqa: S105 - a marked development default
DEV_WORKER_TOKEN = "dev-worker-token-change-me"  # noqa: S105 - a marked development default
DEV_SHARE_SECRET = "dev-share-secret-change-me"  # noqa: S105 - a marked development default


def _rate_limit(value: str) -> str:
    try:
        parse_many(value)
    except ValueError:
        raise ValueError('must be like "5/minute" or "5/minute;50/day"') from None
    return value


#: a rate in the notation of `limits`: "5/minute", "20 per hour", "5/minute;50/day" (the
#: pattern is for the chart's schema; `limits` itself says what it parses)
RateLimit = Annotated[
    str, AfterValidator(_rate_limit), Field(json_schema_extra={"pattern": "^[0-9a-z /;]+$"})
]


class StorageApiSettings(ServiceSettings):
    """storage-api: owns PostgreSQL and the bucket (never exposed publicly)"""

    model_config = SettingsConfigDict(env_prefix="STORAGE_API_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    shutdown_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        description="SIGTERM (a rolling update): /readyz answers 503 at once, the listener closes "
        "this many seconds later (while endpoints stop sending here; 0 where a preStop "
        "hook waited already, as the chart's does), then requests in flight have up to "
        "SHUTDOWN_DRAIN_SECONDS to finish; exit 0",
    )
    shutdown_drain_seconds: int = Field(default=30, ge=1)

    database_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/s3tasks",
        description="PostgreSQL (postgresql:// or postgresql+psycopg://); migrations: "
        "`s3tasks-storage-api migrate`",
    )
    database_pool_size: int = Field(default=10, ge=1)
    database_connect_timeout_seconds: int = Field(default=5, ge=1)
    database_idle_seconds: int = Field(
        default=60,
        ge=1,
        description="a pooled connection idle longer than this is replaced, not pinged, when next "
        "taken (a NAT or firewall may have dropped it silently; busy connections never "
        "pay a ping)",
    )
    database_recycle_seconds: int = Field(
        default=1800,
        ge=1,
        description="and a connection older than this (PostgreSQL's per-connection memory and "
        "caches)",
    )

    s3_endpoint: str = Field(
        default="http://127.0.0.1:9000",
        description="S3: MinIO or AWS S3. https:// endpoints use TLS (CA bundle: SSL_CERT_FILE, "
        "else certifi). AWS: https://s3.amazonaws.com and the bucket's region",
    )
    s3_access_key: str = "minioadmin"
    s3_secret_key: SecretStr = SecretStr("minioadmin")
    s3_region: str = Field(default="us-east-1", description="the bucket's region")
    s3_bucket: str = Field(default="s3tasks", description="the bucket (3 to 63 characters)")
    s3_create_bucket: bool = Field(
        default=True,
        description="create the bucket at start when it is missing (or run `s3tasks-storage-api "
        "init-bucket`)",
    )
    s3_part_size_bytes: int = Field(
        default=8 * MIB,
        ge=5 * MIB,
        description="multipart part size for streamed uploads (>= 5 MiB); memory per upload is "
        "about 3 parts",
    )
    s3_timeout_seconds: float = Field(default=30.0, gt=0)
    transfer_mode: TransferMode = Field(
        default=TransferMode.PROXY,
        description='who carries the bytes of uploads and downloads (README, "Transfer modes"): '
        "`proxy` (web) or `direct` (the visitor's browser)\n"
        "  proxy  web moves them, one hop, with requests storage-api signs against\n"
        "         S3_ENDPOINT (works wherever web reaches S3; browsers never talk to S3)\n"
        "  direct the visitor's browser POSTs uploads to S3 (a POST policy for one key)\n"
        "         and follows 303s to presigned GETs for downloads and thumbnails: needs\n"
        "         S3_PUBLIC_URL reachable by browsers and the bucket's CORS (CORS_ORIGINS,\n"
        "         or MinIO's own setting)\n"
        "Either way storage-api signs with SigV4, which carries the time: keep the "
        "clocks of storage-api and S3 in sync (NTP); a few minutes of skew and S3 "
        "refuses every request.",
    )
    s3_public_url: str = Field(
        default="",
        description="the S3 endpoint as browsers see it, scheme://host[:port] with no path (empty: "
        "S3_ENDPOINT). SigV4 signs the Host header: a proxy in front of S3 must pass it"
        " unchanged",
    )
    cors_origins: str = Field(
        default="",
        description="origins of the pages (comma-separated, `*` wildcards as S3 allows), e.g. "
        "https://s3tasks.example.org: storage-api writes them into the bucket's CORS "
        "rule at start (PutBucketCors; AWS S3 and radosgw honour it). MinIO ignores "
        "bucket CORS: set MINIO_API_CORS_ALLOW_ORIGIN on the MinIO server instead. "
        "Empty: the rule is left alone",
    )
    link_seconds: int = Field(
        default=300,
        ge=10,
        le=7 * 24 * 3600,
        description="how long a presigned download or thumbnail link stays valid, seconds",
    )

    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="the Redis broker deletion jobs are enqueued in (must match the worker's)",
    )
    broker_key_prefix: str = Field(
        default="",
        description="prefix of every Redis key of the broker (several deployments may share one "
        "Redis; must match the worker's)",
    )
    task_queue: str = Field(
        default="s3tasks", description="the Celery queue (a Redis list; must match the worker's)"
    )

    web_tokens: SecretStr = Field(
        default=SecretStr(DEV_WEB_TOKEN),
        description="the credentials web may present, comma-separated: they open the visitor "
        "endpoints only, the worker's /v1/internal/* only (401 for an unknown one, 403 "
        "for the other caller's). Two at once during a rotation: add the new one, "
        "switch the caller, then drop the old one. Each >= 32 characters in production;"
        " web's and the worker's must differ",
    )
    worker_tokens: SecretStr = Field(
        default=SecretStr(DEV_WORKER_TOKEN),
        description="the credentials the worker and beat may present (internal endpoints), the same"
        " way",
    )

    share_secret: SecretStr = Field(
        default=SecretStr(DEV_SHARE_SECRET),
        description="the key share-link tokens and download grants are derived from (HMAC-SHA256; "
        ">= 32 characters in production; the database keeps only hashes, so a dump "
        "opens nothing); changing it ends every link and every grant (README, "
        '"Sharing")',
    )
    share_grant_seconds: int = Field(
        default=30,
        ge=2,
        le=600,
        description="how long a granted share-link download may start (and be resumed) "
        "without counting again, seconds: only by the client it was granted to, under its own "
        "link; what a download needs to begin, not to finish (a GET started goes on)",
    )
    share_links_per_item: int = Field(
        default=20, ge=1, le=1000, description="links one item may have, stopped ones included"
    )
    # Rate limits, counted in Redis (the broker's) and shared by every replica; a client
    # address is an IPv6 client's /64. Each is a member of `ratelimits.Limit` too.
    rate_limit_share_attempts_per_client: RateLimit = Field(
        default="5/minute",
        description="password attempts on share links per client address, every attempt, "
        "right or wrong\n"
        "Every rate limit is counted in Redis (the broker's) for every replica, per client "
        'address an IPv6 client\'s /64, in the notation of `limits`: "5/minute", "20 per '
        'hour", "5/minute;50/day"; a refusal is a 429 with Retry-After.',
    )
    rate_limit_share_attempts_per_link: RateLimit = Field(
        default="300/minute",
        description="wrong password attempts per share link: a much higher ceiling against "
        "guessing from many addresses, which the right password never uses up (SECURITY.md)",
    )
    rate_limit_share_links_per_client: RateLimit = Field(
        default="30/minute",
        description="share links created per client address (every visitor behind it "
        "together), counted before the item is looked up or a password hashed",
    )
    rate_limit_share_grants_per_client: RateLimit = Field(
        default="60/minute",
        description="share-link downloads granted per client address (counted or not, "
        "password or not)",
    )
    rate_limit_upload_requests_per_client: RateLimit = Field(
        default="30/minute",
        description='upload requests ("Ask for files") made per client address (every visitor '
        "behind it together); their senders are held to the share attempts and uploads per "
        "client",
    )
    rate_limit_sessions_per_client: RateLimit = Field(
        default="30/minute",
        description="new visitor sessions (cookies) per client address: dropping the cookie "
        "makes a new visitor, so the per-visitor limits hold only together with this",
    )
    rate_limit_uploads_per_client: RateLimit = Field(
        default="60/minute",
        description="uploads started per client address (every visitor behind it together)",
    )
    rate_limit_uploads_per_visitor: RateLimit = Field(
        default="20/minute", description="uploads started per visitor"
    )
    max_stored_bytes_per_visitor: int = Field(
        default=2 * 1024 * MIB,
        ge=0,
        description="the most bytes one visitor stores at once, every kind together (0: no "
        "quota; 409 beyond); checked when an upload starts and again when it completes",
    )

    image_ttl_seconds: int = Field(
        default=900, ge=1, description="automatic deletion of images, seconds after upload"
    )
    file_ttl_seconds: int = Field(
        default=900, ge=1, description="automatic deletion of files, seconds after upload"
    )
    images_kept: int = Field(
        default=3,
        ge=1,
        description="images kept per visitor: an upload beyond this deletes the oldest",
    )
    max_image_bytes: int = Field(
        default=20 * MIB, ge=1, description="largest accepted image upload, bytes"
    )
    max_file_bytes: int = Field(
        default=512 * MIB, ge=1, description="largest accepted file upload, bytes"
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="images with more pixels than this are refused (decompression bombs)",
    )
    thumbnail_max_px: int = Field(default=320, ge=16)
    keep_image_metadata: bool = Field(
        default=False,
        description="true: store image originals byte for byte (EXIF/GPS and bytes after the image "
        "included); false: strip metadata and trailing bytes without re-encoding (the "
        "orientation is kept)",
    )
    max_description_length: int = Field(default=500, ge=0)
    max_filename_length: int = Field(default=255, ge=16)
    max_encrypted_metadata_bytes: int = Field(
        default=4096,
        ge=256,
        le=MAX_ENCRYPTED_METADATA_BYTES,
        description="largest encrypted name, type and description of a file encrypted in the "
        "browser, bytes (the database holds it as bytes; at most 65536)",
    )
    upload_deadline_seconds: int = Field(
        default=3600,
        ge=1,
        description="an upload still unfinished after this long is discarded by the sweep",
    )

    lifecycle_rules: bool = Field(
        default=True,
        description="keep the bucket's lifecycle rules, S3's own backstop should the deletion "
        "schedule ever be lost (storage/lifecycle.py); false: leave the bucket's lifecycle "
        "configuration alone",
    )
    lifecycle_margin_days: int = Field(
        default=1,
        ge=0,
        description="whole days objects and thumbnails may outlive the longest an item can "
        "live (the upload deadline plus the longest TTL, rounded up to days)",
    )
    lifecycle_check_seconds: float = Field(
        default=3600.0,
        ge=1,
        description="how often each replica checks the lifecycle rules and puts them back, seconds",
    )

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
