"""Signer: presigned S3 requests for one endpoint, made offline (no request to S3).

SigV4 signs the Host header, so a request must be signed for the host whoever sends it
reaches: the S3 endpoint browsers see for `direct` mode, the one the services use for
`proxy` mode. storage-api keeps one Signer for each.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from minio import Minio
from minio.datatypes import PostPolicy

from s3tasks_storage_api.settings import StorageApiSettings

#: what a presigned GET tells caches unless its caller says otherwise: an owner's content and
#: thumbnails may be kept a minute by the visitor's own browser, never by a shared cache
PRIVATE_CACHE_CONTROL = "private, max-age=60"


class Signer:
    def __init__(self, endpoint: str, settings: StorageApiSettings) -> None:
        parts = urlsplit(endpoint)
        self.bucket = settings.s3_bucket
        self.bucket_url = f"{endpoint.rstrip('/')}/{self.bucket}"
        # the region is given, so minio never asks S3 for it: signing stays offline
        self._client = Minio(
            parts.netloc,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region,
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

    def part_url(self, key: str, upload_id: str, part_number: int, valid_for: timedelta) -> str:
        """A PUT of one part of an open multipart upload."""
        return self._client.get_presigned_url(
            "PUT",
            self.bucket,
            key,
            expires=valid_for,
            extra_query_params={"uploadId": upload_id, "partNumber": str(part_number)},
        )

    def post_policy(
        self, key: str, *, expires_at: datetime, max_bytes: int, content_type: str
    ) -> dict[str, str]:
        """The fields of a form that may POST exactly one object, `key`, of 1..max_bytes bytes
        with our content type, until `expires_at` (the file field goes after these)."""
        policy = PostPolicy(self.bucket, expires_at.astimezone(UTC))
        policy.add_equals_condition("key", key)
        policy.add_equals_condition("Content-Type", content_type)
        policy.add_content_length_range_condition(1, max_bytes)
        fields = self._client.presigned_post_policy(policy)
        return {"key": key, "Content-Type": content_type, **fields}
