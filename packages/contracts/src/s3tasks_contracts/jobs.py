"""Deletion jobs: the task names on Redis and the internal HTTP models the worker uses."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from s3tasks_contracts.items import VISITOR_ID_PATTERN, ItemKind

TASK_SWEEP_DUE = "s3tasks.sweep_due"
TASK_PURGE_VISITOR = "s3tasks.purge_visitor"
TASK_RECONCILE = "s3tasks.reconcile"


class DeletionReason(StrEnum):
    EXPIRED = "expired"
    CAP = "cap"
    PURGE = "purge"
    RECONCILE = "reconcile"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeletionRequest(_Model):
    """Delete up to `limit` due items (expired, hidden by cap or purge, abandoned uploads)."""

    limit: int = Field(default=500, ge=1, le=1000)
    #: restrict the batch to one visitor (the purge job after "delete all").
    visitor_id: str | None = Field(default=None, pattern=VISITOR_ID_PATTERN)


class DeletionTally(_Model):
    reason: DeletionReason
    kind: ItemKind
    count: int


class DeletionReport(_Model):
    tallies: list[DeletionTally]
    #: for each item deleted because it expired: database now() minus its expires_at, seconds.
    lag_seconds: list[float]
    #: more due items were left for another batch.
    more_due: bool

    @property
    def deleted(self) -> int:
        return sum(t.count for t in self.tallies)


class ReconcileRequest(_Model):
    #: objects without a row younger than this are left alone (an upload may be in flight).
    grace_seconds: int = Field(default=3600, ge=0)


class ReconcileReport(_Model):
    dangling_rows_removed: int
    orphan_objects_removed: int
    tallies: list[DeletionTally] = []
