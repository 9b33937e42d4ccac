"""The `/api/v1` OpenAPI document: served, valid (openapi-spec-validator), published in the
repository as served, and naming the API only; the API's closed doors (no token, a forged
token, another site's preflight) answered without storage-api."""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest
from litestar.exceptions import LitestarDeprecationWarning
from litestar.testing import TestClient
from openapi_spec_validator import validate

from s3tasks_web.api.tokens import VisitorTokens
from s3tasks_web.app import create_app
from s3tasks_web.settings import WebSettings

ROOT = Path(__file__).resolve().parents[3]
PUBLISHED = ROOT / "docs" / "api" / "openapi.json"

pytestmark = pytest.mark.inprocess


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openapi_script", ROOT / "scripts" / "openapi.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def inferred_parameters_allowed() -> Iterator[None]:
    with warnings.catch_warnings():
        # Litestar 2.x warns of path, query and body parameters it infers from names (web's
        # handlers rely on that, as test_refusal_types.py says); the suite makes warnings errors
        warnings.simplefilter("ignore", LitestarDeprecationWarning)
        yield


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    with inferred_parameters_allowed():
        app = create_app(WebSettings(_env_file=None))  # type: ignore[call-arg]
    with TestClient(app) as test_client:
        yield test_client


def test_the_published_document_is_the_one_served_and_it_is_valid(client: TestClient) -> None:  # type: ignore[type-arg]
    served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200
    document = served.json()
    assert json.loads(PUBLISHED.read_text()) == document, "stale: run `make openapi`"
    with inferred_parameters_allowed():
        made = _script().document()
    assert made == PUBLISHED.read_text(), "stale: run `make openapi`"
    validate(document)
    assert document["info"]["version"] == "1"
    paths = set(document["paths"])
    assert all(path.startswith("/api/v1/") for path in paths), "only the API is documented"
    assert {"/api/v1/visitors", "/api/v1/uploads", "/api/v1/items/{item_id}/shares"} <= paths
    assert document["components"]["securitySchemes"]["visitorToken"]["scheme"] == "bearer"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "forged"],
)
def test_a_call_without_a_token_web_made_is_refused_as_a_problem(
    client: TestClient,  # type: ignore[type-arg]
    authorization: str | None,
) -> None:
    if authorization == "forged":
        # a token of the right shape under another key: a client cannot mint visitors
        authorization = f"Bearer {VisitorTokens('another key entirely, 32 chars+').new_token()}"
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = client.get("/api/v1/items", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == 'Bearer realm="s3tasks"'
    assert answer.json()["type"] == "urn:s3tasks:problem:unauthorized"
    assert "set-cookie" not in answer.headers


def test_another_sites_pages_get_no_cors_permission(client: TestClient) -> None:  # type: ignore[type-arg]
    preflight = client.options(
        "/api/v1/items",
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert not any(name.startswith("access-control-") for name in preflight.headers)
    # and a cross-site POST (a form, which needs no preflight) is refused by its Origin
    posted = client.post("/api/v1/visitors", headers={"Origin": "https://elsewhere.example"})
    assert posted.status_code == 403
    assert "access-control-allow-origin" not in posted.headers


def test_bad_input_is_a_problem_naming_the_field(client: TestClient) -> None:  # type: ignore[type-arg]
    token = VisitorTokens(WebSettings(_env_file=None).secret_key.get_secret_value()).new_token()  # type: ignore[call-arg]
    answer = client.post(
        "/api/v1/uploads",
        json={"kind": "file", "filename": "a.txt", "size_bytes": -1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "type": "urn:s3tasks:problem:invalid-input",
        "title": "Invalid input",
        "status": 400,
        "detail": "Invalid request: size_bytes: Input should be greater than or equal to 0",
    }


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/uploads/not-a-uuid/parts", 404),
        ("GET", "/api/v1/nothing/here", 404),
        ("PATCH", "/api/v1/items", 405),
    ],
)
def test_a_path_below_the_api_no_route_takes_is_a_problem_not_a_page(
    client: TestClient,  # type: ignore[type-arg]
    method: str,
    path: str,
    status: int,
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == status
    assert client.get("/no-such-page").headers["content-type"].startswith("text/html")
