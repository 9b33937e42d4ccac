"""Every route's callers, in process: web's credential for the visitor endpoints, the worker's
for the internal ones; a missing, unknown or malformed credential is a 401 (with
`WWW-Authenticate`), the other caller's a 403, and neither writes anything."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.inprocess

_V = "0123456789abcdef0123456789abcdef"
# fixed, not random: xdist's workers must collect the same test ids
_ITEM = "00000000-0000-4000-8000-0000000000aa"
_SHARE = "00000000-0000-4000-8000-0000000000bb"
_UPLOAD_BODY = {"kind": "file", "filename": "a.txt", "via": "proxy"}

#: (method, path, request keywords): every route behind web's credential
WEB_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/sessions", {"json": {"client": "192.0.2.1"}}),
    ("GET", "/v1/limits", {}),
    ("GET", f"/v1/visitors/{_V}/items", {"params": {"kind": "image"}}),
    ("DELETE", f"/v1/visitors/{_V}/items", {"params": {"kind": "file"}}),
    ("POST", f"/v1/visitors/{_V}/uploads", {"json": _UPLOAD_BODY}),
    ("POST", f"/v1/visitors/{_V}/uploads/{_ITEM}/parts", {"json": {"part_numbers": [1]}}),
    ("GET", f"/v1/visitors/{_V}/uploads/{_ITEM}/parts", {}),
    ("POST", f"/v1/visitors/{_V}/uploads/{_ITEM}/complete", {"json": {"parts": []}}),
    ("DELETE", f"/v1/visitors/{_V}/uploads/{_ITEM}", {}),
    ("GET", f"/v1/visitors/{_V}/items/{_ITEM}/link", {"params": {"via": "proxy"}}),
    ("POST", f"/v1/visitors/{_V}/items/{_ITEM}/shares", {"json": {}}),
    ("GET", f"/v1/visitors/{_V}/items/{_ITEM}/shares", {}),
    ("DELETE", f"/v1/visitors/{_V}/items/{_ITEM}/shares/{_SHARE}", {}),
    ("POST", "/v1/shares/lookup", {"json": {"token": "x"}}),
    ("POST", "/v1/shares/grants", {"json": {"token": "x", "client": "192.0.2.1"}}),
    (
        "POST",
        "/v1/shares/redeem",
        {"json": {"grant": "g", "token": "x", "client": "192.0.2.1", "via": "proxy"}},
    ),
]
#: every route behind the worker's credential
WORKER_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/internal/deletions", {"json": {"limit": 10}}),
    ("POST", "/v1/internal/reconcile", {"json": {"grace_seconds": 3600}}),
]

_BAD_CREDENTIALS = {
    "none": {},
    "unknown token": {"Authorization": "Bearer not-a-token-anyone-was-given"},
    "right token, wrong scheme": {"Authorization": "Basic inprocess-web-token"},
    "empty bearer": {"Authorization": "Bearer "},
}


def _id(route: tuple[str, str, dict[str, Any]]) -> str:
    path = route[1].replace(_V, "{visitor}").replace(_ITEM, "{item}").replace(_SHARE, "{share}")
    return f"{route[0]} {path}"


@pytest.mark.parametrize("route", WEB_ROUTES + WORKER_ROUTES, ids=_id)
@pytest.mark.parametrize("credential", list(_BAD_CREDENTIALS), ids=str)
def test_a_missing_or_unknown_credential_is_401_and_changes_nothing(
    api: Any, route: tuple[str, str, dict[str, Any]], credential: str
) -> None:
    method, path, kwargs = route
    answer = api.call(method, path, headers=_BAD_CREDENTIALS[credential], **kwargs)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "credential" in answer.json()["detail"]
    assert api.rows(_V) == []
    assert api.jobs.purged == []


@pytest.mark.parametrize("route", WEB_ROUTES, ids=_id)
def test_the_workers_credential_is_refused_on_the_visitor_endpoints(
    api: Any, route: tuple[str, str, dict[str, Any]]
) -> None:
    method, path, kwargs = route
    answer = api.call(method, path, headers=api.worker, **kwargs)
    assert answer.status_code == 403, answer.text
    assert answer.json()["detail"] == "This endpoint is for web, not worker."
    assert api.rows(_V) == []
    assert api.jobs.purged == []


@pytest.mark.parametrize("route", WORKER_ROUTES, ids=_id)
def test_webs_credential_is_refused_on_the_internal_endpoints(
    api: Any, route: tuple[str, str, dict[str, Any]]
) -> None:
    method, path, kwargs = route
    answer = api.call(method, path, headers=api.web, **kwargs)
    assert answer.status_code == 403, answer.text
    assert answer.json()["detail"] == "This endpoint is for worker, not web."


def test_the_worker_runs_an_empty_sweep_and_reconcile_with_its_own_credential(api: Any) -> None:
    swept = api.call("POST", "/v1/internal/deletions", headers=api.worker, json={"limit": 10})
    assert swept.status_code == 200, swept.text
    assert swept.json()["tallies"] == []
    assert swept.json()["more_due"] is False
    reconciled = api.call(
        "POST", "/v1/internal/reconcile", headers=api.worker, json={"grace_seconds": 3600}
    )
    assert reconciled.status_code == 200, reconciled.text
    assert reconciled.json()["dangling_rows_removed"] == 0


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/schema/openapi.json"])
def test_probes_metrics_and_schema_need_no_credential(api: Any, path: str) -> None:
    answer = api.client.get(path)
    assert answer.status_code == 200, answer.text


def test_readyz_checks_the_database_and_s3(api: Any) -> None:
    answer = api.client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "checks": {"database": "ok", "s3": "ok"}}
