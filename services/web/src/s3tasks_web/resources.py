"""What the app holds for its lifetime, reachable from handlers through dependency injection."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State

from s3tasks_web.http.client_address import ClientAddresses
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.observability.metrics import WebMetrics
from s3tasks_web.settings import WebSettings
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.transfers.objects import ObjectClient
from s3tasks_web.transfers.slots import UploadSlots
from s3tasks_web.visitors.csrf import CsrfTokens
from s3tasks_web.visitors.session import SessionCookie, VisitorSession


@dataclass
class AppResources:
    settings: WebSettings
    session_cookie: SessionCookie
    csrf_tokens: CsrfTokens
    metrics: WebMetrics
    upload_slots: UploadSlots
    client_addresses: ClientAddresses
    #: set by the lifespan (the pooled HTTP clients live only while the app runs).
    storage: StorageApiClient | None = None
    objects: ObjectClient | None = None


def provide_resources(state: State) -> AppResources:
    resources: AppResources = state.resources
    return resources


def provide_storage(state: State) -> StorageApiClient:
    storage = provide_resources(state).storage
    if storage is None:
        raise RuntimeError("the storage-api client is made in the app's lifespan")
    return storage


def provide_objects(state: State) -> ObjectClient:
    objects = provide_resources(state).objects
    if objects is None:
        raise RuntimeError("the object client is made in the app's lifespan")
    return objects


def provide_client(request: WebRequest) -> str:
    """The client's address, as the per-client limits count it (http/client_address.py)."""
    return provide_resources(request.app.state).client_addresses.of(request)


def provide_visitor(request: WebRequest) -> VisitorSession:
    return provide_resources(request.app.state).session_cookie.load(request)
