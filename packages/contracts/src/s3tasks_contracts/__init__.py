"""The seam between s3tasks services: HTTP models, task names and identifier rules.

Pydantic only, no I/O. Every service imports these instead of each other's internals.
"""

from s3tasks_contracts.items import (
    MAX_SENT_FILENAME_LENGTH,
    VISITOR_ID_PATTERN,
    ItemKind,
    ItemList,
    ItemOut,
    Limits,
    PurgeResult,
    is_valid_visitor_id,
)
from s3tasks_contracts.jobs import (
    TASK_PURGE_VISITOR,
    TASK_RECONCILE,
    TASK_SWEEP_DUE,
    DeletionReason,
    DeletionReport,
    DeletionRequest,
    DeletionTally,
    ReconcileReport,
    ReconcileRequest,
)
from s3tasks_contracts.problems import USER_SAFE_PROBLEM, Problem

__all__ = [
    "MAX_SENT_FILENAME_LENGTH",
    "TASK_PURGE_VISITOR",
    "TASK_RECONCILE",
    "TASK_SWEEP_DUE",
    "USER_SAFE_PROBLEM",
    "VISITOR_ID_PATTERN",
    "DeletionReason",
    "DeletionReport",
    "DeletionRequest",
    "DeletionTally",
    "ItemKind",
    "ItemList",
    "ItemOut",
    "Limits",
    "Problem",
    "PurgeResult",
    "ReconcileReport",
    "ReconcileRequest",
    "is_valid_visitor_id",
]
