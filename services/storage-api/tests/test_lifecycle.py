"""The bucket's lifecycle rules: S3 itself deletes what storage-api's schedule lost, an
operator's rules for other prefixes stay, and a server that refuses the rules stops nothing."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from minio import Minio

from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import bind_loopback, http_ok, wait_until
from s3tasks_testkit.pytest_plugin import chosen_s3_server
from s3tasks_testkit.radosgw import CephOptions, radosgw_s3
from s3tasks_testkit.stack import Dependencies, Stack, isolated_config, service_process
from s3tasks_testkit.storage_api import Api, upload

GAUGE = "s3tasks_bucket_lifecycle_in_place"
#: seconds that stand for a lifecycle "day" on the radosgw of the first test (its own: every
#: stack's bucket has rules, so a short day on the session's radosgw would expire the objects
#: of every other test within a minute or two)
DAY_SECONDS = 10
#: what an operator set before storage-api ever ran: a legacy top-level <Prefix> (which minio's
#: model of a rule would drop, widening the rule to the whole bucket) and a <Filter>
OPERATOR_RULES = b"""<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Rule><ID>operator-logs</ID><Prefix>logs/</Prefix><Status>Enabled</Status>
<Expiration><Days>30</Days></Expiration></Rule>
<Rule><ID>operator-backups</ID><Filter><Prefix>backups/</Prefix></Filter><Status>Enabled</Status>
<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation>
</AbortIncompleteMultipartUpload></Rule>
</LifecycleConfiguration>"""
OPERATOR_IDS = {"operator-logs", "operator-backups"}


@pytest.fixture(scope="module")
def short_days(
    postgres_admin_url: str, redis_base_url: str, artifacts_dir: Path
) -> Iterator[Dependencies]:
    """A radosgw of our own whose lifecycle "day" is DAY_SECONDS, with the session's
    PostgreSQL and Redis."""
    if chosen_s3_server() == "moto":
        pytest.skip("moto keeps lifecycle rules but never applies them; this is radosgw's test")
    log_root = artifacts_dir / "logs" / "lifecycle-short-days"
    options = CephOptions(lc_debug_interval_seconds=DAY_SECONDS)
    with radosgw_s3(log_root / "radosgw", options) as s3:
        yield Dependencies(s3, postgres_admin_url, redis_base_url, log_root)


def test_an_object_whose_row_is_lost_and_an_abandoned_upload_go_by_s3s_own_doing(
    short_days: Dependencies,
) -> None:
    # margin 0: objects expire one "day" after they were written (the TTL and the upload
    # deadline round up to one day), uploads are aborted one "day" after they began
    env = {"STORAGE_API_LIFECYCLE_MARGIN_DAYS": "0"}
    with isolated_config(short_days, "lifecycle-short-days", extra_env=env) as config:
        s3 = short_days.s3.client()
        _put_rules(s3, config.bucket, OPERATOR_RULES)
        s3.put_object(config.bucket, "logs/app.log", io.BytesIO(b"kept"), 4)
        stack = Stack(config)
        try:
            # storage-api alone: no worker or beat, so nothing of ours deletes anything
            stack.migrate()
            stack.start_storage_api()
            api = Api(stack, config, s3)
            with api.client() as client:
                item = upload(client, uuid.uuid4().hex, png()).json()
            [row] = api.rows("id = %s", item["id"])
            lost = {row["object_key"], row["thumbnail_key"]}
            assert lost <= api.object_keys()
            api.execute("DELETE FROM items WHERE id = %s", item["id"])  # behind its back
            s3._create_multipart_upload(config.bucket, "objects/abandoned", {})
            assert api.open_multipart_uploads() == 1

            # radosgw's lifecycle thread runs every "day": the rules apply within two or three
            wait_until(
                lambda: not lost & api.object_keys() and api.open_multipart_uploads() == 0,
                timeout=patience(3 * DAY_SECONDS),
                interval=1.0,
                message="S3's lifecycle rules to delete the object, its thumbnail and the upload",
            )
            assert api.rows() == []
            assert "logs/app.log" in api.object_keys()  # the operator's object: 30 "days"
            assert _operator_rules(s3, config.bucket) == _canonical(OPERATOR_RULES)
            metrics = scrape(api.url)
            assert metrics.value(GAUGE, action="expire") == 1
            assert metrics.value(GAUGE, action="abort_uploads") == 1
        finally:
            stack.stop_all()


def test_rules_of_other_prefixes_survive_and_ours_come_back(dependencies: Dependencies) -> None:
    env = {"STORAGE_API_LIFECYCLE_CHECK_SECONDS": "1"}
    with isolated_config(dependencies, "lifecycle-operator", extra_env=env) as config:
        s3 = dependencies.s3.client()
        _put_rules(s3, config.bucket, OPERATOR_RULES)
        stack = Stack(config)
        try:
            storage_api = stack.start_storage_api()
            wait_until(
                lambda: scrape(storage_api.url).value(GAUGE, action="expire") == 1,
                timeout=patience(),
                message="storage-api's first check of the rules",
            )
            rules = _rules(s3, config.bucket)
            assert _operator_rules(s3, config.bucket) == _canonical(OPERATOR_RULES)
            # TTLs of 900 s and the one-hour upload deadline: one day, plus one of margin
            assert rules["s3tasks-objects"] == {
                ("ID", "s3tasks-objects"),
                ("Status", "Enabled"),
                ("Filter/Prefix", "objects/"),
                ("Expiration/Days", "2"),
                ("AbortIncompleteMultipartUpload/DaysAfterInitiation", "1"),
            }
            assert rules["s3tasks-thumbnails"] == {
                ("ID", "s3tasks-thumbnails"),
                ("Status", "Enabled"),
                ("Filter/Prefix", "thumbnails/"),
                ("Expiration/Days", "2"),
            }
            # staging objects are needed only until the upload's deadline (an hour)
            assert rules["s3tasks-uploads"] == {
                ("ID", "s3tasks-uploads"),
                ("Status", "Enabled"),
                ("Filter/Prefix", "uploads/"),
                ("Expiration/Days", "1"),
            }
            metrics = scrape(storage_api.url)
            assert metrics.value(GAUGE, action="expire") == 1
            assert metrics.value(GAUGE, action="abort_uploads") == 1

            # a tool that owns the whole configuration writes it back without ours
            _put_rules(s3, config.bucket, OPERATOR_RULES)
            wait_until(
                lambda: "s3tasks-objects" in _rules(s3, config.bucket),
                timeout=patience(1),
                message="storage-api to put its rules back",
            )
            assert set(_rules(s3, config.bucket)) == {*OPERATOR_IDS, *rules}
            assert _operator_rules(s3, config.bucket) == _canonical(OPERATOR_RULES)
        finally:
            stack.stop_all()


def test_a_server_that_refuses_the_rules_stops_nothing_and_says_so(
    dependencies: Dependencies,
) -> None:
    # the refusal produced for real: a bucket that is not there (and may not be created)
    missing = f"s3tasks-missing-{uuid.uuid4().hex[:12]}"
    env = {"STORAGE_API_S3_BUCKET": missing, "STORAGE_API_S3_CREATE_BUCKET": "false"}
    with isolated_config(dependencies, "lifecycle-refused", extra_env=env) as config:
        sock = bind_loopback()
        proc = service_process(config, "storage-api", "", sock=sock, ready=False).start()
        try:
            wait_until(
                lambda: http_ok(f"{proc.url}/healthz"),
                timeout=patience(starts=1),
                message="storage-api to serve",
            )
            refused = f"the S3 server refused the lifecycle rules of bucket {missing}"
            wait_until(
                lambda: refused in proc.log_path.read_text(),
                timeout=patience(),
                message="storage-api to log the refusal",
            )
            assert "NoSuchBucket" in proc.log_path.read_text()
            assert proc.running
            metrics = scrape(proc.url)
            assert GAUGE in metrics.names
            assert metrics.value(GAUGE, action="expire") == 0
            assert metrics.value(GAUGE, action="abort_uploads") == 0
        finally:
            proc.stop()
            sock.close()


def _put_rules(s3: Minio, bucket: str, body: bytes) -> None:
    """PutBucketLifecycleConfiguration with this XML as it is (minio's call takes its model)."""
    digest = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    s3._execute(
        "PUT",
        bucket,
        body=body,
        headers={"Content-MD5": digest, "Content-Type": "application/xml"},
        query_params={"lifecycle": ""},
    )


def _rules(s3: Minio, bucket: str) -> dict[str, set[tuple[str, str]]]:
    """The bucket's rules by ID, each as its (path, text) leaves: servers reorder elements."""
    body = s3._execute("GET", bucket, query_params={"lifecycle": ""}).data
    return _canonical(body)


def _operator_rules(s3: Minio, bucket: str) -> dict[str, set[tuple[str, str]]]:
    return {k: v for k, v in _rules(s3, bucket).items() if k in OPERATOR_IDS}


def _canonical(body: bytes) -> dict[str, set[tuple[str, str]]]:
    root = ET.fromstring(body)  # noqa: S314 - the test's own S3 server, or the test's XML
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return {rule.findtext("ID", ""): set(_leaves(rule, "")) for rule in root.findall("Rule")}


def _leaves(element: ET.Element, path: str) -> Iterator[tuple[str, str]]:
    for child in element:
        here = f"{path}{child.tag}"
        if len(child):
            yield from _leaves(child, f"{here}/")
        else:
            yield here, (child.text or "").strip()
