"""Uploads on the control plane: storage-api writes the row and signs; the bytes go to S3."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from s3tasks_contracts import (
    CompletedPart,
    ItemKind,
    ItemOut,
    TransferMode,
    UploadCompletion,
    UploadStart,
    UploadTicket,
)
from s3tasks_web.errors import ItemNotFound, StorageRefused, StorageUnavailable, UploadRejected
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.transfers.objects import ObjectClient

log = logging.getLogger(__name__)

Stored_co = TypeVar("Stored_co", covariant=True)


class UploadSteps(Protocol[Stored_co]):
    """Where an upload's steps go on storage-api: a visitor's own uploads, or a sender's
    through an upload request (`upload_requests/sender.py`). The bytes go the same way."""

    async def start(self, start: UploadStart) -> UploadTicket: ...

    async def part_links(self, item_id: str, numbers: list[int]) -> dict[int, str]: ...

    async def complete(self, item_id: str, parts: list[CompletedPart]) -> Stored_co: ...

    async def abort(self, item_id: str) -> None: ...


@dataclass(frozen=True)
class VisitorUploads:
    """A visitor's own uploads: the steps name the visitor."""

    storage: StorageApiClient
    visitor_id: str

    async def start(self, start: UploadStart) -> UploadTicket:
        return await self.storage.start_upload(self.visitor_id, start)

    async def part_links(self, item_id: str, numbers: list[int]) -> dict[int, str]:
        return (await self.storage.part_links(self.visitor_id, item_id, numbers)).urls

    async def complete(self, item_id: str, parts: list[CompletedPart]) -> ItemOut:
        return await complete(self.storage, self.visitor_id, item_id, UploadCompletion(parts=parts))

    async def abort(self, item_id: str) -> None:
        await self.storage.abort_upload(self.visitor_id, item_id)


async def send_in_parts(
    steps: UploadSteps[Stored_co],
    objects: ObjectClient,
    *,
    kind: ItemKind,
    filename: str,
    description: str,
    body: AsyncIterator[bytes],
    max_bytes: int,
    client: str,
) -> Stored_co:
    """web's one hop: the form's file part goes to S3 as a multipart upload whose part URLs
    storage-api signs, then storage-api checks what arrived and marks it stored. Any failure
    aborts the upload, so S3 keeps no parts and the visitor keeps no half an item.

    `body` stops past `max_bytes` (the kind's limit): no part beyond the last one that limit
    needs is sent, and storage-api signs none (the size is not known before the form's file
    part has arrived, so it declares none)."""
    ticket = await steps.start(
        UploadStart(
            kind=kind,
            filename=filename,
            description=description,
            via=TransferMode.PROXY,
            client=client,
        ),
    )
    item_id = str(ticket.item_id)
    assert ticket.part_size is not None  # noqa: S101 - proxy tickets always carry it
    last = max(1, math.ceil(max_bytes / ticket.part_size))

    async def sign(numbers: list[int]) -> dict[int, str]:
        numbers = [n for n in numbers if n <= last]  # signed ahead, but not past the limit
        return await steps.part_links(item_id, numbers)

    try:
        parts = await objects.send_parts(body, ticket.part_size, sign)
        return await steps.complete(item_id, parts)
    except ItemNotFound:
        raise _gone(ticket.expires_at) from None
    except StorageRefused:
        raise  # storage-api refused what arrived and removed it already
    except BaseException:
        # told it failed, the visitor must not find it stored: abort undoes it in any state
        await asyncio.shield(_abort(steps, item_id))
        raise


def _gone(deadline: datetime) -> UploadRejected:
    """The visitor's own upload vanished while it was arriving. Before its deadline only
    "delete all" removes it; after, the sweep did."""
    if datetime.now(UTC) < deadline:
        return UploadRejected(
            409, "The upload was deleted by Delete all before it finished arriving."
        )
    return UploadRejected(408, "The upload took longer than allowed and was discarded.")


async def complete(
    storage: StorageApiClient, visitor_id: str, item_id: str, completion: UploadCompletion
) -> ItemOut:
    """Complete, once more if the answer was lost: completion is idempotent, and a lost
    answer is often a commit that did land (the second call then answers with the item)."""
    try:
        return await storage.complete_upload(visitor_id, item_id, completion)
    except StorageUnavailable:
        log.warning("completing upload %s failed; asking once more", item_id)
        return await storage.complete_upload(visitor_id, item_id, completion)


async def _abort(steps: UploadSteps[object], item_id: str) -> None:
    try:
        await steps.abort(item_id)
    except Exception:  # noqa: BLE001 - the sweep aborts it at its deadline anyway
        log.warning("could not abort upload %s; the sweep removes it at its deadline", item_id)
