"""Prometheus metrics of storage-api, on a registry of the app's own (never a global); the HTTP
metrics are the shared ones (`s3tasks_servicekit.http_middleware`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from s3tasks_contracts import ItemKind, ProblemType
from s3tasks_storage_api.db.repository import KindTotals
from s3tasks_storage_api.errors import StorageApiError

KINDS = tuple(ItemKind)


class UploadMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.uploads = Counter(
            "s3tasks_uploads_total",
            "Uploads by kind and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.upload_bytes = Counter(
            "s3tasks_upload_bytes_total", "Bytes of stored uploads.", ["kind"], registry=registry
        )
        for kind in KINDS:
            self.upload_bytes.labels(kind)
            self.uploads.labels(kind, "success")

    def stored(self, kind: str, size: int) -> None:
        self.uploads.labels(kind, "success").inc()
        self.upload_bytes.labels(kind).inc(size)

    def refused(self, kind: str, exc: BaseException) -> None:
        """A refused upload, counted by its problem type (`invalid_input`, `too_large`,
        `quota_reached`... `ProblemType.label`); anything unexpected as `error`."""
        self.uploads.labels(kind, refusal_label(exc)).inc()


class ShareOutcome:
    CREATED = "created"
    STOPPED = "stopped"
    GRANTED = "granted"
    USED_UP = "used_up"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - an outcome's name, not a password
    RATE_LIMITED = "rate_limited"
    GONE = "gone"


class ShareMetrics:
    """Links created and stopped, and download attempts by outcome. `gone` of a token that
    names no link has kind `unknown` (there is no item to name)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.links = Counter(
            "s3tasks_share_links",
            "Share links created and stopped, by the kind of their item.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.downloads = Counter(
            "s3tasks_share_downloads",
            "Download attempts of share links, by kind and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        for kind in KINDS:
            for outcome in (ShareOutcome.CREATED, ShareOutcome.STOPPED):
                self.links.labels(kind, outcome)
            for outcome in (
                ShareOutcome.GRANTED,
                ShareOutcome.USED_UP,
                ShareOutcome.WRONG_PASSWORD,
                ShareOutcome.RATE_LIMITED,
                ShareOutcome.GONE,
            ):
                self.downloads.labels(kind, outcome)
        # argon2id is the costly part of sharing (19 MiB, ~20 ms each): every one counted,
        # so an operator (and a test) sees that no refusal costs one
        self.password_hashes = Counter(
            "s3tasks_share_password_hashes",
            "argon2id computations for share-link passwords: a new link's (hash) or an "
            "attempt's (verify).",
            ["operation"],
            registry=registry,
        )
        for operation in ("hash", "verify"):
            self.password_hashes.labels(operation)

    def link(self, kind: str, outcome: str) -> None:
        self.links.labels(kind, outcome).inc()

    def download(self, kind: str | None, outcome: str) -> None:
        self.downloads.labels(kind or "unknown", outcome).inc()


class RequestMetrics:
    """Upload requests made and stopped, the files and bytes they received, and the uploads
    through them refused, by reason: `files` or `bytes` (the request had no room), `gone`
    (ended or unknown), `wrong_password`, `rate_limited`, `quota` (the owner's), or the
    refusal's problem type as `s3tasks_uploads_total` names it (`ProblemType.label`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "s3tasks_upload_requests",
            "Upload requests made and stopped by their owners.",
            ["outcome"],
            registry=registry,
        )
        self.files = Counter(
            "s3tasks_upload_request_files_received",
            "Files received through upload requests.",
            registry=registry,
        )
        self.bytes = Counter(
            "s3tasks_upload_request_bytes_received",
            "Bytes of the files received through upload requests.",
            registry=registry,
        )
        self.refusals = Counter(
            "s3tasks_upload_request_refusals",
            "Uploads through upload requests refused, by reason.",
            ["reason"],
            registry=registry,
        )
        # argon2id computations for request passwords, as for share links'
        self.password_hashes = Counter(
            "s3tasks_upload_request_password_hashes",
            "argon2id computations for upload-request passwords: a new request's (hash) or "
            "an attempt's (verify).",
            ["operation"],
            registry=registry,
        )
        for outcome in ("created", "stopped"):
            self.requests.labels(outcome)
        for reason in ("files", "bytes", "gone", "wrong_password", "rate_limited", "quota"):
            self.refusals.labels(reason)
        for operation in ("hash", "verify"):
            self.password_hashes.labels(operation)

    def received(self, size: int) -> None:
        self.files.inc()
        self.bytes.inc(size)

    def refused(self, exc: BaseException) -> None:
        reason = refusal_label(exc)
        if isinstance(exc, StorageApiError):
            reason = _REQUEST_REASONS.get(exc.problem_type, reason)
        self.refusals.labels(reason).inc()


#: the reasons an upload through a request is refused for, by the refusal's problem type, as
#: the dashboard names them; any other refusal by its type's label (`refusal_label`)
_REQUEST_REASONS = {
    ProblemType.REQUEST_FULL: "files",
    ProblemType.REQUEST_BYTES: "bytes",
    ProblemType.REQUEST_GONE: "gone",
    ProblemType.NOT_FOUND: "gone",
    ProblemType.REQUEST_WRONG_PASSWORD: "wrong_password",
    ProblemType.RATE_LIMITED: "rate_limited",
    ProblemType.QUOTA_REACHED: "quota",
}


def refusal_label(exc: BaseException) -> str:
    """A refusal as a metric label: its problem type's (`ProblemType.label`), or `error` for
    anything that is no refusal of the service's."""
    return exc.problem_type.label if isinstance(exc, StorageApiError) else "error"


class ItemsCollector(Collector):
    """Stored items, bytes and the deletion backlog, read from PostgreSQL at scrape time.

    Every replica reports the same global numbers; dashboards take `max`.
    """

    def __init__(self, totals: Callable[[], list[KindTotals]]) -> None:
        self._totals = totals

    def collect(self) -> Iterable[GaugeMetricFamily]:
        stored = GaugeMetricFamily(
            "s3tasks_items_stored", "Items visible to visitors.", labels=["kind"]
        )
        size = GaugeMetricFamily("s3tasks_bytes_stored", "Bytes of visible items.", labels=["kind"])
        pending = GaugeMetricFamily(
            "s3tasks_items_pending_deletion",
            "Items expired or hidden and not yet deleted.",
            labels=["kind"],
        )
        try:
            by_kind = {t.kind: t for t in self._totals()}
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database does
            return
        for kind in KINDS:
            t = by_kind.get(kind, KindTotals(kind, 0, 0, 0))
            stored.add_metric([kind], t.stored_items)
            size.add_metric([kind], t.stored_bytes)
            pending.add_metric([kind], t.pending_deletion)
        yield from (stored, size, pending)
