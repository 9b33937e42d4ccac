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
    TransferMode,
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
from s3tasks_contracts.transfers import (
    MAX_PARTS,
    MIN_PART_BYTES,
    CompletedPart,
    ContentLink,
    LinkVariant,
    PartLinks,
    PartRequest,
    StoredPart,
    StoredParts,
    UploadCompletion,
    UploadStart,
    UploadTicket,
)

__all__ = [
    "MAX_PARTS",
    "MAX_SENT_FILENAME_LENGTH",
    "MIN_PART_BYTES",
    "TASK_PURGE_VISITOR",
    "TASK_RECONCILE",
    "TASK_SWEEP_DUE",
    "USER_SAFE_PROBLEM",
    "VISITOR_ID_PATTERN",
    "CompletedPart",
    "ContentLink",
    "DeletionReason",
    "DeletionReport",
    "DeletionRequest",
    "DeletionTally",
    "ItemKind",
    "ItemList",
    "ItemOut",
    "Limits",
    "LinkVariant",
    "PartLinks",
    "PartRequest",
    "Problem",
    "PurgeResult",
    "ReconcileReport",
    "ReconcileRequest",
    "StoredPart",
    "StoredParts",
    "TransferMode",
    "UploadCompletion",
    "UploadStart",
    "UploadTicket",
    "is_valid_visitor_id",
]
