"""The deletion jobs run in this process against storage-api served in a thread: what each job
deletes (rows and objects), what it leaves, how it reports, and which failures it retries."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest

from s3tasks_contracts import TASK_PURGE_VISITOR, TASK_RECONCILE, TASK_SWEEP_DUE
from s3tasks_testkit import backing_services

pytestmark = pytest.mark.inprocess


def test_purge_visitor_deletes_the_hidden_items_and_nothing_else(
    site: Any, make_jobs: Any, visitor: str
) -> None:
    files = {site.store(visitor), site.store(visitor)}
    image = site.store(visitor, "image")
    site.delete_all(visitor, "file")
    jobs = make_jobs()
    result = jobs.run(TASK_PURGE_VISITOR, visitor)
    assert result.successful(), result.traceback
    assert result.result == "deleted 2 items in 1 batches"
    assert site.row_ids(visitor) == {image}
    assert site.keys_of(files) == set()
    assert site.keys_of({image}) == {f"objects/{image}", f"thumbnails/{image}.webp"}
    assert jobs.jobs("purge", "success") == 1
    assert jobs.deleted("purge", "file") == 2


def test_purge_visitor_leaves_other_visitors_hidden_items_to_the_sweep(
    site: Any, make_jobs: Any, visitor: str
) -> None:
    other = "f" * 32
    theirs = site.store(other)
    site.delete_all(other)
    result = make_jobs().run(TASK_PURGE_VISITOR, visitor)
    assert result.successful(), result.traceback
    assert result.result == "deleted 0 items in 1 batches"
    assert site.row_ids(other) == {theirs}


def test_sweep_due_deletes_what_expired_and_keeps_what_did_not(
    site: Any, make_jobs: Any, visitor: str
) -> None:
    expired = site.store(visitor)
    site.expire(visitor)
    kept = site.store(visitor)
    jobs = make_jobs()
    result = jobs.run(TASK_SWEEP_DUE)
    assert result.successful(), result.traceback
    assert site.row_ids(visitor) == {kept}
    assert site.keys_of({expired}) == set()
    assert site.keys_of({kept}) == {f"objects/{kept}"}
    assert jobs.jobs("expired", "success") == 1
    assert jobs.deleted("expired", "file") >= 1
    lag = jobs.registry.get_sample_value("s3tasks_deletion_lag_seconds_count")
    assert lag is not None
    assert lag >= 1


def test_a_sweep_works_in_batches_and_leaves_the_rest_to_the_next_job(
    site: Any, make_jobs: Any, visitor: str
) -> None:
    for _ in range(3):
        site.store(visitor)
    site.expire(visitor)
    jobs = make_jobs(sweep_batch_size=1, max_batches_per_job=2)
    first = jobs.run(TASK_SWEEP_DUE)
    assert first.successful(), first.traceback
    assert first.result.endswith("more are due: the next job continues")
    assert len(site.row_ids(visitor)) == 1
    second = jobs.run(TASK_SWEEP_DUE)
    assert second.successful(), second.traceback
    assert site.row_ids(visitor) == set()


def test_reconcile_removes_orphan_objects_and_dangling_rows(
    site: Any, make_jobs: Any, visitor: str
) -> None:
    kept = site.store(visitor)
    dangling = site.store(visitor)
    site.s3.remove_object(site.settings.s3_bucket, f"objects/{dangling}")
    # reconcile judges only rows stored a minute ago or more (RECONCILE_SETTLE)
    site.execute(
        "UPDATE items SET stored_at = now() - interval '2 minutes' WHERE visitor_id = %s", visitor
    )
    orphan = "objects/00000000-0000-4000-8000-00000000beef"
    site.s3.put_object(site.settings.s3_bucket, orphan, BytesIO(b"left"), 4)
    jobs = make_jobs(reconcile_grace_seconds=0)
    result = jobs.run(TASK_RECONCILE)
    assert result.successful(), result.traceback
    assert result.result.startswith("removed 1 dangling rows and ")
    assert site.row_ids(visitor) == {kept}
    assert site.keys_of({"00000000-0000-4000-8000-00000000beef"}) == set()
    assert site.keys_of({kept}) == {f"objects/{kept}"}
    assert jobs.jobs("reconcile", "success") == 1


def test_reconcile_keeps_a_young_orphan_within_its_grace(site: Any, make_jobs: Any) -> None:
    young = "objects/00000000-0000-4000-8000-0000000cafe0"
    site.s3.put_object(site.settings.s3_bucket, young, BytesIO(b"new"), 3)
    result = make_jobs(reconcile_grace_seconds=3600).run(TASK_RECONCILE)
    assert result.successful(), result.traceback
    assert site.keys_of({"00000000-0000-4000-8000-0000000cafe0"}) == {young}


@pytest.mark.parametrize(
    "token", ["not-the-workers-token", "inprocess-web-token"], ids=["unknown", "webs"]
)
@pytest.mark.parametrize("job", [TASK_SWEEP_DUE, TASK_RECONCILE])
def test_a_refused_credential_fails_at_once_without_retrying(
    site: Any, make_jobs: Any, visitor: str, token: str, job: str
) -> None:
    item = site.store(visitor)
    site.expire(visitor)
    jobs = make_jobs(service_token=token)
    result = jobs.run(job)
    assert result.failed()
    assert result.result.status_code in {401, 403}
    reason = "expired" if job == TASK_SWEEP_DUE else "reconcile"
    assert jobs.jobs(reason, "failure") == 1
    assert jobs.jobs(reason, "retry") == 0
    assert site.row_ids(visitor) == {item}


@pytest.fixture
def unreachable_url() -> Iterator[str]:
    """A loopback port that is bound but never listens: every connection is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_storage_api_unreachable_is_retried_then_counted_as_a_failure(
    make_jobs: Any, unreachable_url: str
) -> None:
    jobs = make_jobs(storage_api_url=unreachable_url, max_retries=2)
    result = jobs.run(TASK_SWEEP_DUE)
    assert result.failed()
    assert jobs.jobs("expired", "retry") == 2
    assert jobs.jobs("expired", "failure") == 1
    assert jobs.jobs("expired", "success") == 0


def test_a_storage_api_answering_503_is_retried(
    site: Any, make_jobs: Any, serve_storage_api: Any, postgres_admin_url: str
) -> None:
    """storage-api whose database is gone answers 503: a transient failure, retried."""
    gone = backing_services.with_database(postgres_admin_url, "s3tasks_test_no_such_database")
    settings = site.settings.model_copy(
        update={"database_url": backing_services.sqlalchemy_url(gone)}
    )
    with serve_storage_api(settings) as url:
        jobs = make_jobs(storage_api_url=url, max_retries=1)
        result = jobs.run(TASK_PURGE_VISITOR, "a" * 32)
    assert result.failed()
    assert result.result.status_code == 503
    assert jobs.jobs("purge", "retry") == 1
    assert jobs.jobs("purge", "failure") == 1


def test_a_sweep_removes_an_abandoned_upload_and_aborts_its_multipart_upload(
    site: Any, make_jobs: Any, visitor: str
) -> None:
    with site.web() as client:
        started = client.post(
            f"/v1/visitors/{visitor}/uploads",
            json={"kind": "file", "filename": "a.txt", "via": "proxy"},
        )
    assert started.status_code == 201, started.text
    item_id = started.json()["item_id"]

    def open_upload() -> bool:
        uploads = site.s3._list_multipart_uploads(site.settings.s3_bucket).uploads
        return any(item_id in str(upload.object_name) for upload in uploads)

    assert open_upload()
    site.expire(visitor)  # past its upload deadline
    result = make_jobs().run(TASK_SWEEP_DUE)
    assert result.successful(), result.traceback
    assert site.row_ids(visitor) == set()
    assert not open_upload()
