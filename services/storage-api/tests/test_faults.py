"""Dependencies down: a 503 with a clear message, never a 500, and nothing half-stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from s3tasks_testkit.images import png
from s3tasks_testkit.ports import refused_ports
from s3tasks_testkit.processes import ServiceProcess, bind_loopback
from s3tasks_testkit.stack import cli
from s3tasks_testkit.storage_api import Api, upload


@pytest.fixture
def refused_port() -> Iterator[int]:
    with refused_ports() as (port,):
        yield port


@pytest.fixture
def degraded_api(
    api: Api, artifacts_dir: Path, refused_port: int, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A second storage-api on the same database and bucket, with one dependency unreachable
    (`request.param`: the setting that names it, a URL template with the refused port)."""
    setting, template = request.param
    broken = {setting: template.format(port=refused_port)}
    sock = bind_loopback()
    env = {**api.config.storage_api_env(), **broken, "STORAGE_API_S3_CREATE_BUCKET": "false"}
    proc = ServiceProcess(
        name=f"storage-api-degraded-{request.node.callspec.id}",
        argv=cli("s3tasks-storage-api", "serve"),
        env=env,
        log_dir=artifacts_dir / "logs",
        sock=sock,
        ready_url=f"http://127.0.0.1:{sock.getsockname()[1]}/healthz",
    ).start()
    try:
        yield proc.url
    finally:
        proc.stop()
        sock.close()


def _as_web(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.config.web_service_token}"}


S3_DOWN = ("STORAGE_API_S3_ENDPOINT", "http://127.0.0.1:{port}")
DATABASE_DOWN = ("STORAGE_API_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:{port}/x")


@pytest.mark.parametrize("degraded_api", [S3_DOWN], ids=["s3-down"], indirect=True)
def test_s3_down_answers_503_and_leaves_an_arrived_upload_to_complete_later(
    api: Api, degraded_api: str, visitor: str
) -> None:
    with httpx.Client(base_url=degraded_api, timeout=30, headers=_as_web(api)) as client:
        for kind, body in (("image", png()), ("file", b"some bytes")):
            resp = upload(client, visitor, body, kind=kind, filename="x.png")
            assert resp.status_code == 503, resp.text
            assert resp.json()["title"] == "Storage unavailable"
            assert "Traceback" not in resp.text
        assert client.get("/readyz").status_code == 503
        assert client.get("/readyz").json()["checks"]["database"] == "ok"
        listed = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"})
        assert listed.json()["items"] == []
    # S3 is asked for the multipart upload before the row is written: nothing was left
    assert api.rows("visitor_id = %s", visitor) == []

    # bytes that reached S3 are not thrown away because S3 did not answer the completion:
    # the row waits, and completing again once S3 answers stores the item
    with api.client() as healthy:
        ticket = healthy.post(
            f"/v1/visitors/{visitor}/uploads",
            json={"kind": "file", "filename": "late.txt", "via": "proxy"},
        ).json()
        base = f"/v1/visitors/{visitor}/uploads/{ticket['item_id']}"
        url = healthy.post(f"{base}/parts", json={"part_numbers": [1]}).json()["urls"]["1"]
        put = httpx.put(url, content=b"arrived", timeout=30)
        assert put.is_success, put.text
    parts = {"parts": [{"part_number": 1, "etag": put.headers["etag"]}]}
    completion = f"/v1/visitors/{visitor}/uploads/{ticket['item_id']}/complete"
    with httpx.Client(base_url=degraded_api, timeout=30, headers=_as_web(api)) as client:
        refused = client.post(completion, json=parts)
    assert refused.status_code == 503, refused.text
    assert api.rows("id = %s", ticket["item_id"])[0]["status"] == "uploading"
    with api.client() as healthy:
        done = healthy.post(completion, json=parts)
    assert done.status_code == 200, done.text
    assert done.json()["size_bytes"] == len(b"arrived")


@pytest.mark.parametrize("degraded_api", [DATABASE_DOWN], ids=["database-down"], indirect=True)
def test_database_down_answers_503_and_nothing_reaches_the_bucket(
    api: Api, degraded_api: str, visitor: str
) -> None:
    before = api.object_keys()
    with httpx.Client(base_url=degraded_api, timeout=30, headers=_as_web(api)) as client:
        resp = upload(client, visitor, b"bytes", kind="file", filename="a.txt")
        assert resp.status_code == 503, resp.text
        assert "database" in resp.json()["detail"].lower()
        assert (
            client.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"}).status_code == 503
        )
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["s3"] == "ok"
        assert client.get("/healthz").status_code == 200
        assert api.open_multipart_uploads() == 0  # the upload S3 had begun was aborted
        internal = client.post(
            "/v1/internal/deletions",
            json={"limit": 10},
            headers={"Authorization": f"Bearer {api.config.worker_service_token}"},
        )
        assert internal.status_code == 503
    assert api.object_keys() == before


def test_health_endpoints(api: Api) -> None:
    with api.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "s3": "ok"}
        assert client.get("/metrics").headers["content-type"].startswith("text/plain")
