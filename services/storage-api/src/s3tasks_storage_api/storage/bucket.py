"""ObjectStore: every S3 call storage-api makes, with S3 failures turned into one error."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error
from minio.helpers import DictType
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from s3tasks_storage_api.errors import DependencyUnavailable
from s3tasks_storage_api.settings import StorageApiSettings

#: the codes S3 servers answer for an object that is not there (a HEAD has no body: minio
#: reports it by status as "NoSuchKey" or "ResourceNotFound")
_MISSING = frozenset({"NoSuchKey", "ResourceNotFound", "NoSuchObject"})


class StorageFailure(DependencyUnavailable):
    message = "The object store is unavailable; try again shortly."


@dataclass(frozen=True)
class ListedObject:
    key: str
    last_modified: datetime | None


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str


@dataclass(frozen=True)
class OpenUpload:
    """A multipart upload S3 holds parts of until it is completed or aborted."""

    key: str
    upload_id: str
    initiated: datetime | None


class ObjectStore:
    def __init__(self, client: Minio, bucket: str, part_size: int) -> None:
        self._client = client
        self.bucket = bucket
        self._part_size = part_size

    @classmethod
    def from_settings(cls, settings: StorageApiSettings) -> ObjectStore:
        timeout = urllib3.Timeout(connect=5.0, read=settings.s3_timeout_seconds)
        http = urllib3.PoolManager(
            timeout=timeout,
            maxsize=32,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[502, 503, 504]),
        )
        client = Minio(
            settings.s3_host,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region,
            secure=settings.s3_secure,
            http_client=http,
        )
        return cls(client, settings.s3_bucket, settings.s3_part_size_bytes)

    def ensure_bucket(self) -> bool:
        """Create the bucket if missing; True when it was created."""
        with _s3_errors():
            if self._client.bucket_exists(self.bucket):
                return False
            self._client.make_bucket(self.bucket)
            return True

    def allow_origins(self, origins: list[str]) -> bool:
        """Write the bucket's CORS rule: these origins may POST uploads (the policy decides
        what), GET and HEAD objects (the signature decides which), and read the ETag. False
        where the server has no bucket CORS (MinIO: its global MINIO_API_CORS_ALLOW_ORIGIN)."""
        rules = "".join(f"<AllowedOrigin>{escape(origin)}</AllowedOrigin>" for origin in origins)
        body = (
            "<CORSConfiguration><CORSRule>"
            f"{rules}<AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>"
            "<AllowedMethod>POST</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
            "<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
            "<MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>"
        ).encode()
        try:
            # minio's client has no bucket-CORS call; the request is S3's PutBucketCors
            self._put_bucket_xml("cors", body)
        except StorageFailure as exc:
            if isinstance(exc.__cause__, S3Error) and exc.__cause__.code == "NotImplemented":
                return False
            raise
        return True

    def lifecycle_xml(self) -> bytes | None:
        """The bucket's lifecycle configuration as the server keeps it; None when it has none.
        Raw XML: rules of others are written back as they are (storage/lifecycle.py)."""
        try:
            with _s3_errors():
                response = self._client._execute("GET", self.bucket, query_params={"lifecycle": ""})
        except StorageFailure as exc:
            cause = exc.__cause__
            if isinstance(cause, S3Error) and cause.code == "NoSuchLifecycleConfiguration":
                return None
            raise
        return bytes(response.data)

    def put_lifecycle_xml(self, body: bytes) -> None:
        """Replace the bucket's lifecycle configuration (S3 has no per-rule call)."""
        # minio's set_bucket_lifecycle takes its own model, which drops what it does not know
        # of other rules (a legacy top-level <Prefix>, size filters): the raw XML
        self._put_bucket_xml("lifecycle", body)

    def _put_bucket_xml(self, subresource: str, body: bytes) -> None:
        """PUT a bucket configuration (`?cors`, `?lifecycle`) as raw XML, with the
        Content-MD5 S3 requires of it."""
        digest = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        with _s3_errors():
            self._client._execute(
                "PUT",
                self.bucket,
                body=body,
                headers={"Content-MD5": digest, "Content-Type": "application/xml"},
                query_params={subresource: ""},
            )

    def ping(self) -> None:
        with _s3_errors():
            if not self._client.bucket_exists(self.bucket):
                raise StorageFailure(f"The bucket {self.bucket!r} does not exist.")

    def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        """Store `data` (multipart beyond one part); returns the ETag."""
        with _s3_errors():
            result = self._client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                length=len(data),
                part_size=self._part_size,
                content_type=content_type,
            )
            return self._etag(key, result.etag)

    def _etag(self, key: str, reported: str | None) -> str:
        """The stored object's ETag. radosgw (Ceph 16) answers CompleteMultipartUpload with an
        empty ETag, so a multipart upload's is asked for with a HEAD (docs/s3-compatibility.md).
        """
        if reported:
            return reported
        return str(self._client.stat_object(self.bucket, key).etag)

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and ETag of a stored object; None when there is no such object."""
        try:
            with _s3_errors():
                found = self._client.stat_object(self.bucket, key)
        except StorageFailure as exc:
            if isinstance(exc.__cause__, S3Error) and exc.__cause__.code in _MISSING:
                return None
            raise
        return ObjectInfo(size=int(found.size or 0), etag=str(found.etag or ""))

    def copy(self, source: str, target: str) -> bool:
        """Server-side copy of `source` to `target` (S3 CopyObject: the bytes stay in S3);
        False when there is no `source`. What was copied is asked of `target` afterwards:
        radosgw 16 copies whatever `x-amz-copy-source-if-match` says (docs/s3-compatibility.md).

        Sent as minio's copy_object sends it, without the HEAD of the source it makes first."""
        headers: DictType = {**CopySource(self.bucket, source).gen_copy_headers()}
        try:
            with _s3_errors():
                self._client._execute("PUT", self.bucket, target, headers=headers)
        except StorageFailure as exc:
            if isinstance(exc.__cause__, S3Error) and exc.__cause__.code in _MISSING:
                return False
            raise
        return True

    def read(self, key: str, limit: int) -> bytes | None:
        """The whole object (at most `limit` bytes are asked for); None when it is missing."""
        try:
            with _s3_errors():
                response = self._client.get_object(self.bucket, key, length=limit)
                try:
                    return response.read()
                finally:
                    response.close()
                    response.release_conn()
        except StorageFailure as exc:
            if isinstance(exc.__cause__, S3Error) and exc.__cause__.code in _MISSING:
                return None
            raise

    # minio's client completes, aborts and lists multipart uploads only through methods it
    # marks private (its public put_object runs whole uploads itself); they are stable S3 calls.

    def start_multipart(self, key: str, content_type: str) -> str:
        with _s3_errors():
            return self._client._create_multipart_upload(
                self.bucket, key, {"Content-Type": content_type}
            )

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        with _s3_errors():
            self._client._complete_multipart_upload(
                self.bucket, key, upload_id, [Part(n, etag.strip('"')) for n, etag in parts]
            )

    def stored_parts(self, key: str, upload_id: str) -> list[tuple[int, str, int]]:
        """(number, etag, size) of the parts S3 holds of an open multipart upload."""
        found: list[tuple[int, str, int]] = []
        marker: str | None = None
        while True:
            with _s3_errors():
                page = self._client._list_parts(
                    self.bucket, key, upload_id, part_number_marker=marker
                )
            found += [(p.part_number, p.etag, int(p.size or 0)) for p in page.parts]
            if not page.is_truncated or not page.parts:
                return found
            marker = str(page.parts[-1].part_number)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort an open multipart upload; one that is already gone is a success."""
        try:
            with _s3_errors():
                self._client._abort_multipart_upload(self.bucket, key, upload_id)
        except StorageFailure as exc:
            if isinstance(exc.__cause__, S3Error) and exc.__cause__.code == "NoSuchUpload":
                return
            raise

    def open_uploads(self, prefix: str) -> Iterator[OpenUpload]:
        """The multipart uploads open under `prefix` (never completed, never aborted)."""
        key_marker: str | None = None
        upload_marker: str | None = None
        while True:
            with _s3_errors():
                page = self._client._list_multipart_uploads(
                    self.bucket,
                    prefix=prefix,
                    key_marker=key_marker,
                    upload_id_marker=upload_marker,
                )
            for upload in page.uploads:
                if upload.upload_id:
                    yield OpenUpload(upload.object_name, upload.upload_id, upload.initiated_time)
            if not page.is_truncated or not page.uploads:
                return
            # minio's result drops NextUploadIdMarker: the last upload listed is the marker
            key_marker, upload_marker = page.uploads[-1].object_name, page.uploads[-1].upload_id

    def delete(self, key: str) -> None:
        """Delete one object (S3 DeleteObject; one already gone is a success). One key is
        not sent as DeleteObjects: its XML answer costs radosgw's beast frontend a delayed
        ACK (40 ms) unless it runs with tcp_nodelay (docs/s3-compatibility.md)."""
        with _s3_errors():
            self._client.remove_object(self.bucket, key)

    def delete_many(self, keys: Iterable[str]) -> set[str]:
        """Delete with DeleteObjects (minio sends the keys 1000 a request, S3's most); returns
        the keys that failed.

        A key that is already gone is a success: deletion is idempotent.
        """
        with _s3_errors():
            # lazy: each request goes as its errors are read, inside the error mapping
            errors = self._client.remove_objects(self.bucket, (DeleteObject(k) for k in keys))
            return {str(e.name) for e in errors if e.code != "NoSuchKey"}

    def list(self, prefix: str) -> Iterator[ListedObject]:
        """Objects under `prefix` in key order (S3 lists keys in UTF-8 binary order)."""
        with _s3_errors():
            for obj in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                yield ListedObject(str(obj.object_name), obj.last_modified)


class _s3_errors:  # noqa: N801 - used as a context manager, reads like one
    """Turn S3 and transport failures into StorageFailure (503), never a 500."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, _: object
    ) -> None:
        if exc is None or isinstance(exc, StorageFailure):
            return
        if isinstance(exc, S3Error):
            raise StorageFailure(f"The object store refused the request ({exc.code}).") from exc
        if isinstance(exc, MinioException | Urllib3HTTPError | OSError):
            raise StorageFailure() from exc
