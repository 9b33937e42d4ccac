"""What web's handlers are given: typed parameters each controller declares (Litestar's
`Provide`, per domain, as litestar-fullstack declares them), never looked up by a handler.

The app factory makes `WebServices` for the app's lifetime; the lifespan makes `Connections`
(the pooled HTTP clients live only while the app runs). Both sit in the app's state, and the
providers here are the only code that reads them from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from s3tasks_web.http.client_address import ClientAddresses
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.observability.metrics import WebMetrics
from s3tasks_web.settings import WebSettings
from s3tasks_web.storage_api_client import StorageApiClient
from s3tasks_web.transfers.objects import ObjectClient
from s3tasks_web.transfers.slots import UploadSlots
from s3tasks_web.visitors.csrf import CsrfTokens
from s3tasks_web.visitors.session import SessionCookie, VisitorSession

_SERVICES = "services"
_CONNECTIONS = "connections"


@dataclass(frozen=True)
class WebServices:
    """What the app holds for its lifetime, made by `create_app` before it serves."""

    settings: WebSettings
    session_cookie: SessionCookie
    csrf_tokens: CsrfTokens
    metrics: WebMetrics
    upload_slots: UploadSlots
    client_addresses: ClientAddresses


@dataclass(frozen=True)
class Connections:
    """The pooled HTTP clients, made by the app's lifespan and closed with it."""

    storage: StorageApiClient
    objects: ObjectClient


def web_state(services: WebServices, **more: Any) -> State:
    return State({_SERVICES: services, **more})


def services_of(state: State) -> WebServices:
    services: WebServices = state[_SERVICES]
    return services


def connect(state: State, connections: Connections) -> None:
    state[_CONNECTIONS] = connections


def disconnect(state: State) -> None:
    del state[_CONNECTIONS]


def provide_storage(state: State) -> StorageApiClient:
    connections: Connections = state[_CONNECTIONS]
    return connections.storage


def provide_objects(state: State) -> ObjectClient:
    connections: Connections = state[_CONNECTIONS]
    return connections.objects


def provide_settings(state: State) -> WebSettings:
    return services_of(state).settings


def provide_metrics(state: State) -> WebMetrics:
    return services_of(state).metrics


def provide_upload_slots(state: State) -> UploadSlots:
    return services_of(state).upload_slots


def provide_visitor(request: WebRequest) -> VisitorSession:
    return services_of(request.app.state).session_cookie.load(request)


def provide_client(request: WebRequest) -> str:
    """The client's address, as the per-client limits count it (http/client_address.py)."""
    return services_of(request.app.state).client_addresses.of(request)


def _provide(provider: Callable[..., Any]) -> Provide:
    return Provide(provider, sync_to_thread=False)


#: what a handler's parameter is typed as: the dependency of that name (`NamedDependency`,
#: Litestar's `Annotated` marker: a missing provider is an error, never a query parameter)
StorageDep = NamedDependency[StorageApiClient]
ObjectsDep = NamedDependency[ObjectClient]
SettingsDep = NamedDependency[WebSettings]
MetricsDep = NamedDependency[WebMetrics]
UploadSlotsDep = NamedDependency[UploadSlots]
VisitorDep = NamedDependency[VisitorSession]
#: the client's address
ClientDep = NamedDependency[str]

#: the dependencies a controller declares, by the parameter name its handlers take
STORAGE = {"storage": _provide(provide_storage)}
OBJECTS = {"objects": _provide(provide_objects)}
SETTINGS = {"settings": _provide(provide_settings)}
METRICS = {"metrics": _provide(provide_metrics)}
UPLOAD_SLOTS = {"upload_slots": _provide(provide_upload_slots)}
VISITOR = {"visitor": _provide(provide_visitor)}
CLIENT = {"client": _provide(provide_client)}
