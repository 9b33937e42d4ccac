"""What the app holds for its lifetime, reachable from handlers through dependency injection."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State

from s3tasks_web.connections import WebRequest
from s3tasks_web.errors import UploadRejected
from s3tasks_web.observability.metrics import WebMetrics
from s3tasks_web.settings import WebSettings
from s3tasks_web.storage_client import StorageClient
from s3tasks_web.transfers.objects import ObjectClient
from s3tasks_web.visitors.csrf import CsrfTokens
from s3tasks_web.visitors.session import SessionCookie, VisitorSession


@dataclass
class UploadSlots:
    """Uploads streaming through this process, at most `capacity` at once. Taken and given
    back on the event loop's thread only, so a plain counter is enough."""

    capacity: int
    taken: int = 0

    def take(self) -> None:
        """One slot, or the visitor is told to come back (503); give it back when done."""
        if self.taken >= self.capacity:
            raise UploadRejected(
                503,
                "Too many uploads are in progress right now. Please try again in a moment.",
                reason="busy",
                close_connection=True,
            )
        self.taken += 1

    def give_back(self) -> None:
        self.taken -= 1


@dataclass
class WebServices:
    settings: WebSettings
    session_cookie: SessionCookie
    csrf_tokens: CsrfTokens
    metrics: WebMetrics
    upload_slots: UploadSlots
    #: set by the lifespan (the pooled HTTP clients live only while the app runs).
    storage: StorageClient | None = None
    objects: ObjectClient | None = None


def provide_services(state: State) -> WebServices:
    services: WebServices = state.services
    return services


def provide_storage(state: State) -> StorageClient:
    storage = provide_services(state).storage
    if storage is None:
        raise RuntimeError("the storage client is made in the app's lifespan")
    return storage


def provide_objects(state: State) -> ObjectClient:
    objects = provide_services(state).objects
    if objects is None:
        raise RuntimeError("the object client is made in the app's lifespan")
    return objects


def provide_visitor(request: WebRequest) -> VisitorSession:
    return provide_services(request.app.state).session_cookie.load(request)
