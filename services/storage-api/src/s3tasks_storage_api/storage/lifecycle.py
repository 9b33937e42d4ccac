"""The bucket's lifecycle rules: S3 deletes what our schedule should have, should it be lost.

Every deletion otherwise rests on our rows and jobs; a database restored from an older backup
or a bug would leave objects in the bucket for ever. Three rules, known by their IDs:

- `s3tasks-objects`: objects under `objects/` expire `expire_days` after they were written,
  and multipart uploads under it are aborted `abort_days` after they began;
- `s3tasks-thumbnails`: thumbnails expire `expire_days` after they were written;
- `s3tasks-uploads`: staging objects under `uploads/` (what POST policies write, copied to
  `objects/` at completion) expire `abort_days` after they were written: one is needed only
  until its upload's deadline, and a policy reused after that writes nothing.

S3 counts lifecycle time in whole days, so both are rounded up: an object is written at most
the upload deadline after its row, and the row lives at most the longest TTL after that, so
`expire_days` = that sum in days, rounded up, plus the margin; `abort_days` = the upload
deadline in days, rounded up (an upload may be resumed until its deadline, never after).

Rules of others are kept as the server returned them (not through minio's model, which drops
what it does not know, such as a legacy top-level <Prefix>: the rule would then apply to the
whole bucket): the configuration is read, ours replaced or added, and it is written back only
when ours are missing or different. S3 has no conditional write for it, so a change someone
makes between our read and our write is lost; ours are written rarely, which keeps that small.

Each replica checks at start and then every `lifecycle_check_seconds`, rather than on the
worker's reconcile call: the backstop is for when the schedule is lost, so its upkeep must not
depend on the worker and beat; and each replica's gauge says what it saw last.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Final
from xml.etree import ElementTree as ET

import anyio
import anyio.to_thread
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import AbortIncompleteMultipartUpload, Expiration, Rule
from prometheus_client import CollectorRegistry, Gauge

from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.storage.bucket import ObjectStore, StorageFailure
from s3tasks_storage_api.storage.keys import OBJECTS_PREFIX, STAGING_PREFIX, THUMBNAILS_PREFIX

logger = logging.getLogger(__name__)

OBJECTS_RULE: Final = "s3tasks-objects"
THUMBNAILS_RULE: Final = "s3tasks-thumbnails"
STAGING_RULE: Final = "s3tasks-uploads"
DAY_SECONDS: Final = 24 * 3600
_S3_NAMESPACE: Final = "http://s3.amazonaws.com/doc/2006-03-01/"


@dataclass(frozen=True)
class LifecyclePlan:
    """Our rules' ages, in S3's whole days."""

    expire_days: int
    abort_days: int

    @classmethod
    def from_settings(cls, settings: StorageApiSettings) -> LifecyclePlan:
        longest_ttl = max(settings.image_ttl_seconds, settings.file_ttl_seconds)
        oldest_object = settings.upload_deadline_seconds + longest_ttl
        return cls(
            expire_days=_days(oldest_object) + settings.lifecycle_margin_days,
            abort_days=_days(settings.upload_deadline_seconds),
        )

    def rules(self) -> dict[str, Rule]:
        expire = Expiration(days=self.expire_days)
        return {
            OBJECTS_RULE: Rule(
                ENABLED,
                rule_filter=Filter(prefix=OBJECTS_PREFIX),
                rule_id=OBJECTS_RULE,
                expiration=expire,
                abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(self.abort_days),
            ),
            THUMBNAILS_RULE: Rule(
                ENABLED,
                rule_filter=Filter(prefix=THUMBNAILS_PREFIX),
                rule_id=THUMBNAILS_RULE,
                expiration=expire,
            ),
            STAGING_RULE: Rule(
                ENABLED,
                rule_filter=Filter(prefix=STAGING_PREFIX),
                rule_id=STAGING_RULE,
                expiration=Expiration(days=self.abort_days),
            ),
        }


@dataclass(frozen=True)
class InPlace:
    """Which of our actions the bucket's configuration holds as we want them."""

    expire: bool
    abort_uploads: bool


NOTHING: Final = InPlace(expire=False, abort_uploads=False)


class BucketLifecycle:
    """Puts our rules into the bucket's lifecycle configuration and keeps them there."""

    def __init__(self, store: ObjectStore, plan: LifecyclePlan, registry: CollectorRegistry):
        self._store = store
        self._plan = plan
        self._wanted = plan.rules()
        self._gauge = Gauge(
            "s3tasks_bucket_lifecycle_in_place",
            "1 when the bucket's lifecycle rules hold this action as storage-api sets it "
            "(expire: objects and thumbnails; abort_uploads: open multipart uploads), as this "
            "replica last saw; 0 when missing, refused or not checked.",
            ["action"],
            registry=registry,
        )
        self._last: InPlace | None = None
        #: MinIO accepts AbortIncompleteMultipartUpload and drops it: not written again for it
        self._abort_dropped = False
        self._show(NOTHING)

    def check(self) -> InPlace:
        """Read the rules, put ours back when missing or different; what is in place then."""
        try:
            seen = self._check()
        except StorageFailure as exc:
            self._log_failure(exc)
            seen = NOTHING
        except ET.ParseError as exc:
            # rules we cannot read are rules we could not write back: left as they are
            logger.warning(
                "the lifecycle configuration of bucket %s is not XML (%s): left alone",
                self._store.bucket,
                exc,
            )
            self._last = None
            seen = NOTHING
        self._show(seen)
        return seen

    def upkeep(self, every_seconds: float) -> AbstractAsyncContextManager[None]:
        """A lifespan: a check at once and then every `every_seconds`, while the app serves
        (the app needs no rule to serve, and a slow S3 must not hold its start up)."""

        @asynccontextmanager
        async def kept() -> AsyncIterator[None]:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._keep, every_seconds)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()

        return kept()

    async def _keep(self, every_seconds: float) -> None:
        while True:
            await anyio.to_thread.run_sync(self.check)
            await anyio.sleep(every_seconds)

    def _check(self) -> InPlace:
        others, ours = _split(self._store.lifecycle_xml())
        seen = self._judge(ours)
        if seen.expire and (seen.abort_uploads or self._abort_dropped):
            self._log_state(seen, written=False, others=len(others))
            return seen
        self._store.put_lifecycle_xml(_merged(others, list(self._wanted.values())))
        others, ours = _split(self._store.lifecycle_xml())
        seen = self._judge(ours)
        if seen.expire and not seen.abort_uploads:
            self._abort_dropped = True
        self._log_state(seen, written=True, others=len(others))
        return seen

    def _judge(self, present: dict[str, Rule | None]) -> InPlace:
        expire = abort = True
        for rule_id, want in self._wanted.items():
            have = present.get(rule_id)
            if have is None:
                return NOTHING
            expire &= (have.status, have.rule_filter, have.expiration) == (
                want.status,
                want.rule_filter,
                want.expiration,
            )
            abort &= (
                have.abort_incomplete_multipart_upload == want.abort_incomplete_multipart_upload
            )
        return InPlace(expire=expire, abort_uploads=abort)

    def _show(self, seen: InPlace) -> None:
        self._gauge.labels("expire").set(int(seen.expire))
        self._gauge.labels("abort_uploads").set(int(seen.abort_uploads))

    def _log_state(self, seen: InPlace, *, written: bool, others: int) -> None:
        bucket = self._store.bucket
        if not written and seen == self._last:
            logger.debug("lifecycle rules of bucket %s unchanged", bucket)
            return
        self._last = seen
        if not seen.expire:
            logger.warning(
                "the S3 server took the lifecycle rules of bucket %s but does not keep them as "
                "written: nothing but storage-api's own jobs deletes its objects",
                bucket,
            )
            return
        logger.info(
            "lifecycle rules of bucket %s %s: objects and thumbnails expire %s after they were "
            "written, staging objects %s%s; %d rules of others kept",
            bucket,
            "written" if written else "in place",
            _in_days(self._plan.expire_days),
            _in_days(self._plan.abort_days),
            f", multipart uploads are aborted {_in_days(self._plan.abort_days)} after they began"
            if seen.abort_uploads
            else "",
            others,
        )
        if not seen.abort_uploads:
            logger.warning(
                "the S3 server dropped the rule that aborts multipart uploads of bucket %s "
                "(MinIO does, and removes uploads older than MINIO_API_STALE_UPLOADS_EXPIRY, "
                "24 h by default, itself); storage-api's sweep and reconcile still abort them",
                bucket,
            )

    def _log_failure(self, exc: StorageFailure) -> None:
        self._last = None
        cause = exc.__cause__
        if isinstance(cause, S3Error):
            logger.warning(
                "the S3 server refused the lifecycle rules of bucket %s (%s: %s): nothing but "
                "storage-api's own jobs deletes its objects",
                self._store.bucket,
                cause.code,
                cause.message,
            )
        else:
            logger.warning(
                "could not check the lifecycle rules of bucket %s (%s); trying again later",
                self._store.bucket,
                exc.detail,
            )


def keep_lifecycle_rules(
    settings: StorageApiSettings, store: ObjectStore, registry: CollectorRegistry
) -> AbstractAsyncContextManager[None]:
    """The app's lifespan that keeps the rules (or, when turned off, does nothing)."""
    if not settings.lifecycle_rules:
        return _nothing()
    keeper = BucketLifecycle(store, LifecyclePlan.from_settings(settings), registry)
    return keeper.upkeep(settings.lifecycle_check_seconds)


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


def _days(seconds: int) -> int:
    return max(1, math.ceil(seconds / DAY_SECONDS))


def _in_days(days: int) -> str:
    return "1 day" if days == 1 else f"{days} days"


def _split(body: bytes | None) -> tuple[list[ET.Element], dict[str, Rule | None]]:
    """The rules of others (to write back as they are) and ours by ID (None: unreadable)."""
    if not body:
        return [], {}
    root = ET.fromstring(body)  # noqa: S314 - the bucket's own S3 server answers here
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]  # written back under our root's namespace
    others: list[ET.Element] = []
    ours: dict[str, Rule | None] = {}
    for element in root.findall("Rule"):
        rule_id = (element.findtext("ID") or "").strip()
        if rule_id not in (OBJECTS_RULE, THUMBNAILS_RULE, STAGING_RULE):
            others.append(element)
            continue
        try:
            ours[rule_id] = Rule.fromxml(element)
        except ValueError:
            ours[rule_id] = None  # not as we write it: replaced
    return others, ours


def _merged(others: list[ET.Element], ours: list[Rule]) -> bytes:
    root = ET.Element("LifecycleConfiguration", {"xmlns": _S3_NAMESPACE})
    root.extend(others)
    for rule in ours:
        rule.toxml(root)
    return ET.tostring(root)
