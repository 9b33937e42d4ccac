"""Signer: presigned S3 requests for one endpoint, made offline (no request to S3).

SigV4 signs the Host header, so a request must be signed for the host whoever sends it
reaches: the S3 endpoint browsers see for `direct` mode, the one the services use for
`proxy` mode. storage-api keeps one Signer for each.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from minio import Minio, time
from minio.datatypes import PostPolicy
from minio.helpers import DictType, queryencode, sha256_hash
from minio.signer import (
    _get_canonical_query_string,
    _get_scope,
    _get_signature,
    _get_signing_key,
    _get_string_to_sign,
)

from s3tasks_contracts import ItemKind, LinkVariant, TransferMode
from s3tasks_storage_api.errors import NotFound
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.storage.keys import THUMBNAIL_CONTENT_TYPE

#: what a presigned GET tells caches unless its caller says otherwise: an owner's content and
#: thumbnails may be kept a minute by the visitor's own browser, never by a shared cache
PRIVATE_CACHE_CONTROL = "private, max-age=60"


class Signer:
    def __init__(self, endpoint: str, settings: StorageApiSettings) -> None:
        parts = urlsplit(endpoint)
        self.bucket = settings.s3_bucket
        self._region = settings.s3_region
        self._access_key = settings.s3_access_key
        self._secret_key = settings.s3_secret_key.get_secret_value()
        self.bucket_url = f"{endpoint.rstrip('/')}/{self.bucket}"
        # the region is given, so minio never asks S3 for it: signing stays offline
        self._client = Minio(
            parts.netloc,
            access_key=self._access_key,
            secret_key=self._secret_key,
            region=self._region,
            secure=parts.scheme == "https",
        )

    def get_url(
        self,
        key: str,
        *,
        valid_for: timedelta,
        content_type: str,
        disposition: str,
        signed_at: datetime,
        cache_control: str = PRIVATE_CACHE_CONTROL,
    ) -> str:
        """A GET of `key` whose answer carries our content type, disposition and caching
        whatever the object's own metadata says (S3's response-* overrides are part of the
        signature)."""
        return self._client.presigned_get_object(
            self.bucket,
            key,
            expires=valid_for,
            response_headers={
                "response-content-type": content_type,
                "response-content-disposition": disposition,
                "response-cache-control": cache_control,
            },
            request_date=signed_at,
        )

    def part_url(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        valid_for: timedelta,
        content_length: int | None = None,
    ) -> str:
        """A PUT of one part of an open multipart upload; with `content_length`, of exactly
        that many bytes: the length is signed (`X-Amz-SignedHeaders=content-length;host`), so
        S3 refuses a body of any other length (403 SignatureDoesNotMatch).

        minio's presigning signs the host alone; the URL is minio's, the signature SigV4's
        own steps (minio's primitives) over one more header.
        """
        query: DictType = {"uploadId": upload_id, "partNumber": str(part_number)}
        if content_length is None:
            return self._client.get_presigned_url(
                "PUT", self.bucket, key, expires=valid_for, extra_query_params=query
            )
        url = self._client._base_url.build(
            method="PUT",
            region=self._region,
            bucket_name=self.bucket,
            object_name=key,
            query_params=query,
        )
        return urlunsplit(
            self._presign_with_length(url, content_length, int(valid_for.total_seconds()))
        )

    def _presign_with_length(self, url: SplitResult, length: int, expires: int) -> SplitResult:
        """SigV4 query signing (as minio's presign_v4) with `content-length` signed too."""
        date = time.utcnow()
        scope = _get_scope(date, self._region, "s3")
        signed_headers = "content-length;host"
        query = (
            f"{url.query}&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={queryencode(self._access_key + '/' + scope)}"
            f"&X-Amz-Date={time.to_amz_date(date)}"
            f"&X-Amz-Expires={expires}"
            f"&X-Amz-SignedHeaders={queryencode(signed_headers)}"
        )
        canonical_request = (
            f"PUT\n{url.path or '/'}\n{_get_canonical_query_string(query)}\n"
            f"content-length:{length}\nhost:{url.netloc}\n\n"
            f"{signed_headers}\nUNSIGNED-PAYLOAD"
        )
        string_to_sign = _get_string_to_sign(date, scope, sha256_hash(canonical_request))
        signing_key = _get_signing_key(self._secret_key, date, self._region, "s3")
        signature = _get_signature(signing_key, string_to_sign)
        return url._replace(query=f"{query}&X-Amz-Signature={queryencode(signature)}")

    def post_policy(
        self, key: str, *, expires_at: datetime, sizes: tuple[int, int], content_type: str
    ) -> dict[str, str]:
        """The fields of a form that may POST exactly one object, `key`, of sizes[0]..sizes[1]
        bytes with our content type, until `expires_at` (the file field goes after these)."""
        policy = PostPolicy(self.bucket, expires_at.astimezone(UTC))
        policy.add_equals_condition("key", key)
        policy.add_equals_condition("Content-Type", content_type)
        policy.add_content_length_range_condition(*sizes)
        fields = self._client.presigned_post_policy(policy)
        return {"key": key, "Content-Type": content_type, **fields}


@dataclass(frozen=True)
class Signers:
    """One signer for the endpoint browsers reach, one for the endpoint web reaches."""

    browser: Signer
    service: Signer

    @classmethod
    def from_settings(cls, settings: StorageApiSettings) -> Signers:
        return cls(
            browser=Signer(settings.s3_browser_endpoint, settings),
            service=Signer(settings.s3_endpoint, settings),
        )

    def for_(self, via: TransferMode) -> Signer:
        return self.browser if via is TransferMode.DIRECT else self.service


class Downloadable(Protocol):
    """What signing a download needs of an item (a row, or a page's row of one)."""

    @property
    def kind(self) -> ItemKind: ...
    @property
    def object_key(self) -> str: ...
    @property
    def thumbnail_key(self) -> str | None: ...
    @property
    def content_type(self) -> str: ...
    @property
    def filename(self) -> str: ...


def sign_download(
    signer: Signer,
    item: Downloadable,
    variant: LinkVariant,
    *,
    signed_at: datetime,
    valid_for: timedelta,
    cache_control: str = PRIVATE_CACHE_CONTROL,
    always_attachment: bool = False,
) -> str:
    """A presigned GET of an item's content or thumbnail, its answer carrying our content
    type, disposition (under the item's own filename) and caching. `always_attachment`: the
    content is a file to save whatever its kind (a share download)."""
    if variant is LinkVariant.THUMBNAIL:
        if item.thumbnail_key is None:
            raise NotFound("This item has no thumbnail.")
        key, content_type, disposition = item.thumbnail_key, THUMBNAIL_CONTENT_TYPE, "inline"
    else:
        key, content_type = item.object_key, item.content_type
        # a file is data to save, never a page: only a checked image may show inline
        inline = item.kind is ItemKind.IMAGE and not always_attachment
        disposition = "inline" if inline else "attachment"
    return signer.get_url(
        key,
        valid_for=valid_for,
        content_type=content_type,
        disposition=content_disposition(disposition, item.filename),
        signed_at=signed_at,
        cache_control=cache_control,
    )


def content_disposition(disposition: str, filename: str) -> str:
    """An RFC 6266 header: an ASCII fallback plus the exact name as RFC 8187 `filename*`."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = re.sub(r"[^A-Za-z0-9._ ()-]", "_", fallback).strip()
    if not fallback.strip("."):
        fallback = "download"
    elif fallback.startswith("."):  # nothing of the name was ASCII but its extension
        fallback = "download" + fallback
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
