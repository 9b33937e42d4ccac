"""The internal deletion and reconcile endpoints, as the worker's jobs call them."""

from __future__ import annotations

import io
import uuid
from concurrent.futures import ThreadPoolExecutor

from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.storage_api import Api, expire_now, run_deletions, upload


def _upload_files(api: Api, visitor: str, n: int) -> list[str]:
    with api.client() as client:
        return [
            upload(client, visitor, f"file {i}".encode(), kind="file", filename=f"{i}.txt").json()[
                "id"
            ]
            for i in range(n)
        ]


def test_expired_items_are_deleted_from_bucket_and_table(api: Api, visitor: str) -> None:
    ids = _upload_files(api, visitor, 3)
    with api.client() as client:
        image = upload(client, visitor, png()).json()["id"]
    assert run_deletions(api, visitor_id=visitor)["deleted"] == 0  # nothing due yet

    expire_now(api, visitor)
    result = run_deletions(api, visitor_id=visitor)

    assert result["tallies"] == {("expired", "file"): 3, ("expired", "image"): 1}
    assert len(result["lag_seconds"]) == 4
    assert all(lag >= 1.0 for lag in result["lag_seconds"])
    assert api.rows("visitor_id = %s", visitor) == []
    keys = api.object_keys()
    assert not any(i in k for i in [*ids, image] for k in keys)


def test_deleting_twice_deletes_and_counts_once(api: Api, visitor: str) -> None:
    _upload_files(api, visitor, 5)
    expire_now(api, visitor)
    first = run_deletions(api, visitor_id=visitor)
    second = run_deletions(api, visitor_id=visitor)
    assert first["deleted"] == 5
    assert second["deleted"] == 0


def test_concurrent_deletion_jobs_share_the_work_without_double_counting(api: Api) -> None:
    visitor = uuid.uuid4().hex
    ids = _upload_files(api, visitor, 60)
    expire_now(api, visitor)

    def job(_: int) -> int:
        with api.internal() as client:
            deleted = 0
            while True:
                report = client.post(
                    "/v1/internal/deletions", json={"limit": 7, "visitor_id": visitor}
                ).json()
                deleted += sum(t["count"] for t in report["tallies"])
                if not report["more_due"] and not report["tallies"]:
                    return deleted

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(job, range(4)))

    assert sum(counts) == len(ids)
    assert api.rows("visitor_id = %s", visitor) == []
    assert not any(i in k for i in ids for k in api.object_keys())


def test_reconcile_removes_rows_without_objects_and_objects_without_rows(api: Api) -> None:
    visitor = uuid.uuid4().hex
    kept, lost = _upload_files(api, visitor, 2)
    # the object of `lost` vanishes behind our back (seed feature 09)
    api.s3.remove_object(api.config.bucket, f"objects/{lost}")
    # and an object appears that no row knows
    orphan = f"objects/{uuid.uuid4()}"
    api.s3.put_object(api.config.bucket, orphan, io.BytesIO(b"orphan"), 6)
    # reconcile judges only rows that settled a while ago
    api.execute(
        "UPDATE items SET stored_at = now() - interval '5 minutes' WHERE visitor_id = %s", visitor
    )

    with api.internal() as client:
        young = client.post("/v1/internal/reconcile", json={"grace_seconds": 3600}).json()
        assert young["orphan_objects_removed"] == 0  # within the grace period: left alone
        assert orphan in api.object_keys()
        report = client.post("/v1/internal/reconcile", json={"grace_seconds": 0}).json()

    assert young["dangling_rows_removed"] == 1
    assert report["orphan_objects_removed"] == 1
    assert report["dangling_rows_removed"] == 0
    assert [str(r["id"]) for r in api.rows("visitor_id = %s", visitor)] == [kept]
    keys = api.object_keys()
    assert orphan not in keys
    assert f"objects/{kept}" in keys


def test_an_upload_that_never_finished_is_removed_after_its_deadline(
    api: Api, visitor: str
) -> None:
    item_id = uuid.uuid4()
    api.execute(
        "INSERT INTO items (id, visitor_id, kind, status, object_key, filename, content_type,"
        " expires_at) VALUES (%s, %s, 'file', 'uploading', %s, 'x', 'application/octet-stream',"
        " now() - interval '1 second')",
        item_id,
        visitor,
        f"objects/{item_id}",
    )
    api.s3.put_object(api.config.bucket, f"objects/{item_id}", io.BytesIO(b"partial"), 7)
    result = run_deletions(api, visitor_id=visitor)
    assert result["tallies"] == {("reconcile", "file"): 1}
    assert api.rows("visitor_id = %s", visitor) == []
    assert f"objects/{item_id}" not in api.object_keys()


def test_metrics_report_stored_items_and_the_backlog(api: Api) -> None:
    visitor = uuid.uuid4().hex
    _upload_files(api, visitor, 2)
    with api.client() as client:
        client.delete(f"/v1/visitors/{visitor}/items", params={"kind": "file"})
    pending = scrape(api.url).value("s3tasks_items_pending_deletion", kind="file")
    assert pending >= 2
    run_deletions(api, visitor_id=visitor)
    with api.client() as client:
        after = client.get("/metrics").text
    assert scrape(api.url).value("s3tasks_items_pending_deletion", kind="file") == pending - 2
    assert (
        's3tasks_http_requests_total{method="DELETE",route="/v1/visitors/{visitor_id}/items"'
        in after
    )
    assert "s3tasks_uploads_total" in after
