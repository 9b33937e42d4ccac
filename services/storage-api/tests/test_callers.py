"""Every caller of storage-api presents its own credential and stays in its own scope.

web's credential opens the visitor endpoints, the worker's the internal ones: no credential
or an unknown one is a 401, the other caller's credential a 403, and during a rotation both
the old and the new credential of a caller are accepted. No credential reaches a log.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import httpx
import pytest

from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_testkit import backing_services, database
from s3tasks_testkit.images import png
from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Dependencies, Stack, StackConfig
from s3tasks_testkit.storage_api import Api, running_api, upload
from s3tasks_testkit.web_visitor import WebVisitor

VISITOR = "0123456789abcdef0123456789abcdef"
WEB_OLD, WEB_NEW = "web-credential-before-rotation-0001", "web-credential-after-rotation-0002"
WORKER_OLD = "worker-credential-before-rotation-0003"
WORKER_NEW = "worker-credential-after-rotation-0004"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _web_calls(client: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
    """One call of each visitor endpoint (the ones web makes)."""
    items = f"/v1/visitors/{VISITOR}/items"
    upload = f"/v1/visitors/{VISITOR}/uploads/{uuid.uuid4()}"
    start = {"kind": "file", "filename": "a.txt", "via": "proxy"}
    return [
        client.get("/v1/limits", headers=headers),
        client.get(items, params={"kind": "image"}, headers=headers),
        client.delete(items, params={"kind": "file"}, headers=headers),
        client.get(f"{items}/{uuid.uuid4()}/link", params={"via": "proxy"}, headers=headers),
        client.post(f"/v1/visitors/{VISITOR}/uploads", json=start, headers=headers),
        client.post(f"{upload}/parts", json={"part_numbers": [1]}, headers=headers),
        client.get(f"{upload}/parts", headers=headers),
        client.post(f"{upload}/complete", json={"parts": []}, headers=headers),
        client.delete(upload, headers=headers),
    ]


def _worker_calls(client: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
    """One call of each internal endpoint (the ones the worker makes)."""
    return [
        client.post("/v1/internal/deletions", json={"limit": 10}, headers=headers),
        client.post("/v1/internal/reconcile", json={}, headers=headers),
    ]


CALLS = {"web": _web_calls, "worker": _worker_calls}


def _statuses(responses: list[httpx.Response]) -> set[int]:
    return {r.status_code for r in responses}


@pytest.mark.parametrize("caller", ["web", "worker"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-credential"},
        {"Authorization": ""},
    ],
    ids=["missing", "empty", "wrong", "blank-header"],
)
def test_a_missing_or_wrong_credential_is_refused_with_401(
    api: Api, caller: str, headers: dict[str, str]
) -> None:
    with api.anonymous() as client:
        responses = CALLS[caller](client, headers)
    assert _statuses(responses) == {401}, [(r.request.url, r.status_code) for r in responses]
    for response in responses:
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["title"] == "Unauthorized"
    assert api.rows("visitor_id = %s", VISITOR) == []


@pytest.mark.parametrize("caller", ["web", "worker"])
def test_the_right_credential_under_another_scheme_is_refused_with_401(
    api: Api, caller: str
) -> None:
    token = api.config.web_service_token if caller == "web" else api.config.worker_service_token
    with api.anonymous() as client:
        responses = CALLS[caller](client, {"Authorization": f"Basic {token}"})
    assert _statuses(responses) == {401}


def test_the_worker_credential_opens_no_visitor_endpoint(api: Api) -> None:
    with api.anonymous() as client:
        responses = _web_calls(client, bearer(api.config.worker_service_token))
    assert _statuses(responses) == {403}, [(r.request.url, r.status_code) for r in responses]
    assert {r.json()["title"] for r in responses} == {"Forbidden"}
    assert api.rows("visitor_id = %s", VISITOR) == []


def test_the_web_credential_opens_no_internal_endpoint(api: Api, visitor: str) -> None:
    with api.client() as client:
        assert upload(client, visitor, b"kept", kind="file", filename="k.txt").status_code == 200
        assert client.delete(f"/v1/visitors/{visitor}/items", params={"kind": "file"}).is_success
        responses = _worker_calls(client, bearer(api.config.web_service_token))
    assert _statuses(responses) == {403}, [(r.request.url, r.status_code) for r in responses]
    # the hidden row is due, and web could not make storage-api delete it
    assert len(api.rows("visitor_id = %s", visitor)) == 1


def test_each_caller_passes_with_its_own_credential(api: Api, visitor: str) -> None:
    with api.client() as client:
        assert upload(client, visitor, png(), kind="image").status_code == 200
        assert client.get("/v1/limits").status_code == 200
    with api.internal() as client:
        assert client.post("/v1/internal/deletions", json={"limit": 10}).status_code == 200


@pytest.fixture(scope="module")
def rotating_api(dependencies: Dependencies) -> Iterator[Api]:
    """storage-api in the middle of a rotation: two credentials accepted for each caller."""
    env = {
        "STORAGE_API_WEB_TOKENS": f"{WEB_NEW},{WEB_OLD}",
        "STORAGE_API_WORKER_TOKENS": f" {WORKER_NEW} , {WORKER_OLD} ",
    }
    with running_api(dependencies, "test_callers-rotating", env) as api:
        yield api


@pytest.mark.parametrize("token", [WEB_OLD, WEB_NEW], ids=["old", "new"])
def test_during_a_rotation_both_web_credentials_are_accepted(rotating_api: Api, token: str) -> None:
    visitor = uuid.uuid4().hex
    with rotating_api.anonymous(headers=bearer(token)) as client:
        assert upload(client, visitor, b"x", kind="file", filename="r.txt").status_code == 200
        listed = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"})
        assert len(listed.json()["items"]) == 1
        assert _statuses(_worker_calls(client, bearer(token))) == {403}


@pytest.mark.parametrize("token", [WORKER_OLD, WORKER_NEW], ids=["old", "new"])
def test_during_a_rotation_both_worker_credentials_are_accepted(
    rotating_api: Api, token: str
) -> None:
    with rotating_api.anonymous() as client:
        assert _statuses(_worker_calls(client, bearer(token))) == {200}
        assert _statuses(_web_calls(client, bearer(token))) == {403}


def test_after_a_rotation_the_old_credentials_are_refused(api: Api) -> None:
    """`api` accepts one credential per caller: anything else, an old one included, is a 401."""
    with api.anonymous() as client:
        assert _statuses(_web_calls(client, bearer(WEB_OLD))) == {401}
        assert _statuses(_worker_calls(client, bearer(WORKER_OLD))) == {401}


def test_storage_api_refuses_a_credential_shared_by_both_callers() -> None:
    with pytest.raises(ValueError, match="must not share a token"):
        StorageApiSettings(
            _env_file=None,  # type: ignore[call-arg]
            web_tokens=f"{WEB_NEW},{WORKER_OLD}",  # type: ignore[arg-type]
            worker_tokens=WORKER_OLD,  # type: ignore[arg-type]
        )


def test_a_whole_stack_mid_rotation_works_and_logs_no_credential(stack: Stack) -> None:
    """web presents its old credential and the worker its new one, storage-api accepts both
    of each; an upload through web and its deletion by the worker both go through, and no
    credential (nor a refused guess) appears in any service's log."""
    guess = "a-guessed-credential-" + uuid.uuid4().hex
    stack.config = dataclasses.replace(
        stack.config,
        web_service_token=WEB_OLD,
        worker_service_token=WORKER_NEW,
        extra_env={
            "STORAGE_API_WEB_TOKENS": f"{WEB_NEW},{WEB_OLD}",
            "STORAGE_API_WORKER_TOKENS": f"{WORKER_NEW},{WORKER_OLD}",
            "STORAGE_API_LOG_LEVEL": "DEBUG",
            "WEB_LOG_LEVEL": "DEBUG",
            "WORKER_LOG_LEVEL": "DEBUG",
        },
    )
    stack.start_all()
    assert stack.web is not None
    assert stack.storage_api is not None
    config: StackConfig = stack.config
    with WebVisitor(stack.web.url) as visitor:
        assert visitor.upload("image", "dot.png", png(), script=False).status_code == 303
        assert len(visitor.image_ids()) == 1
        assert visitor.delete_all("image").status_code == 303

    def bucket_and_table_empty() -> bool:
        rows = database.one(config.database_url, "SELECT count(*) FROM items")
        return rows == 0 and not backing_services.object_keys(config.s3.client(), config.bucket)

    # the worker's purge job runs at once; a sweep tick (every second here) would do it too
    wait_until(
        bucket_and_table_empty,
        timeout=sweep_patience(config.sweep_interval_seconds),
        message="the worker to delete the image",
    )
    with httpx.Client(base_url=stack.storage_api.url, timeout=30) as client:
        assert client.get("/v1/limits", headers=bearer(guess)).status_code == 401

    processes = [stack.storage_api, stack.web, stack.worker, stack.beat]
    logs = {p.name: p.log_path.read_text(errors="replace") for p in processes if p is not None}
    assert all(logs.values()), "every service wrote a log"
    for secret in (WEB_OLD, WEB_NEW, WORKER_OLD, WORKER_NEW, guess):
        leaked = [name for name, text in logs.items() if secret in text]
        assert not leaked, f"a credential appears in the logs of {leaked}"
