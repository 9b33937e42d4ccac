"""A terminal upload's management URL, `/m/<token>` (the answer's `X-Manage-Url`): whoever
holds it lists (GET) and deletes (DELETE) what that upload made, and nothing else. The token
stands for the upload's own visitor (`tokens.py`): another token, a cookie's visitor or a
malformed token finds nothing there, and every miss is the same 404. DELETE hides the items
at once and a deletion job removes their objects (as "Delete all" on the pages does), and
their share links end with them.
"""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Response

from s3tasks_contracts import ItemKind, ListedItem, ShareState
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.dependencies import SETTINGS, STORAGE, SettingsDep, StorageDep
from s3tasks_web.errors import ItemNotFound, WebError
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.http.site import site_url
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.terminal.answers import answer, refused, refused_by_framework
from s3tasks_web.terminal.tokens import MANAGE_TOKENS
from s3tasks_web.terminal.uploads import forget
from s3tasks_web.visitors.csrf import NO_SESSION

NOTHING_HERE = "Nothing to manage here: deleted, expired, or never made."


class NothingHere(ItemNotFound):
    user_message = NOTHING_HERE


def _visitor(token: str) -> str:
    visitor_id = MANAGE_TOKENS.visitor_of(token)
    if visitor_id is None:
        raise NothingHere
    return visitor_id


async def _items(storage: StorageApiClient, visitor_id: str) -> list[ListedItem]:
    items = [
        item for kind in ItemKind for item in (await storage.list_items(visitor_id, kind)).items
    ]
    if not items:
        raise NothingHere
    return items


class ManageController(Controller):
    path = "/m/{token:str}"
    tags = ["terminal"]
    opt = {NO_SESSION: True}
    dependencies = {**STORAGE, **SETTINGS}
    exception_handlers = {WebError: refused, HTTPException: refused_by_framework}

    @get("/")
    async def list_made(
        self,
        request: WebRequest,
        storage: StorageDep,
        settings: SettingsDep,
        token: FromPath[str],
    ) -> Response[object]:
        """What the upload made: one line an item (its id, links, size, deletion time and
        name, tab-separated), or JSON."""
        items = await _items(storage, _visitor(token))
        site = site_url(request, settings)
        lines = [
            "\t".join(
                [
                    str(item.id),
                    " ".join(_links(item, site)) or "-",
                    human_size(item.size_bytes),
                    item.expires_at.isoformat(timespec="seconds"),
                    item.filename,
                ]
            )
            for item in items
        ]
        listed = [_item_json(item, site) for item in items]
        return answer(request, "\n".join(lines), {"items": listed})

    @delete("/", status_code=200)
    async def delete_made(
        self, request: WebRequest, storage: StorageDep, token: FromPath[str]
    ) -> Response[object]:
        """Delete everything the upload made."""
        visitor_id = _visitor(token)
        items = await _items(storage, visitor_id)
        await forget(storage, visitor_id)
        return _deleted(request, len(items))

    @delete("/{item_id:str}", status_code=200)
    async def delete_one(
        self,
        request: WebRequest,
        storage: StorageDep,
        token: FromPath[str],
        item_id: FromPath[str],
    ) -> Response[object]:
        """Delete one item the upload made (its id from the JSON answer or the listing)."""
        try:
            await storage.delete_item(_visitor(token), _uuid(item_id))
        except ItemNotFound:
            raise NothingHere from None
        return _deleted(request, 1)


def _uuid(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise NothingHere from None


def _deleted(request: WebRequest, count: int) -> Response[object]:
    noun = "item" if count == 1 else "items"
    return answer(request, f"Deleted {count} {noun}.", {"deleted": count})


def _item_json(item: ListedItem, site: str) -> dict[str, object]:
    return {
        "id": str(item.id),
        "kind": item.kind.value,
        "filename": item.filename,
        "size_bytes": item.size_bytes,
        "expires_at": item.expires_at.isoformat(),
        "links": _links(item, site),
    }


def _links(item: ListedItem, site: str) -> list[str]:
    """The item's links that still open."""
    return [f"{site}{share.path}" for share in item.shares if share.state is ShareState.ACTIVE]
