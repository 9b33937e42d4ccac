"""Signed S3 requests are refused by the suite's S3 server when they break their own terms.

The data-plane design (browser <-> S3 with presigned GETs and POST policies) rests on S3
enforcing the expiry, the size range, the key and the signature. radosgw does; moto, the
emulator, accepts all of these (measured, see docs/s3-compatibility.md), so under
S3TASKS_TEST_S3=moto each test asserts that moto is the one that accepts: a pass there proves
nothing about the security of signed requests, and the test says so rather than skipping.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from minio import Minio
from minio.datatypes import PostPolicy

from s3tasks_testkit import backing_services

KEY_PREFIX = "uploads/visitor-a/"
MAX_BYTES = 1024


@dataclass(frozen=True)
class Expect:
    """What the suite's S3 server answers to a request that breaks its signed terms."""

    enforces: bool
    server: str

    def refused(self, response: httpx.Response, status: int, *codes: str) -> None:
        """`codes`: the S3 error codes a real server may give (they differ, see the notes)."""
        if self.enforces:
            assert response.status_code == status, (self.server, response.text[:300])
            assert any(f"<Code>{code}</Code>" in response.text for code in codes), response.text
        else:
            assert response.status_code in (200, 204), (
                f"{self.server} now refuses this ({response.status_code}): it may enforce "
                "signed terms now; update docs/s3-compatibility.md and this test"
            )


# S3 itself refusing what a signature does not allow: no site, no transfer mode
pytestmark = pytest.mark.mode_independent


@pytest.fixture
def expect(s3_endpoint: backing_services.S3Endpoint) -> Expect:
    return Expect(enforces=s3_endpoint.server != "moto", server=s3_endpoint.server)


@pytest.fixture
def s3(s3_endpoint: backing_services.S3Endpoint) -> Minio:
    return s3_endpoint.client()


def _post_form(s3: Minio, bucket: str) -> dict[str, str]:
    """A POST policy as storage-api would sign it: one key prefix, at most MAX_BYTES."""
    policy = PostPolicy(bucket, datetime.now(UTC) + timedelta(minutes=10))
    policy.add_starts_with_condition("key", KEY_PREFIX)
    policy.add_content_length_range_condition(1, MAX_BYTES)
    return s3.presigned_post_policy(policy)


def _post(
    endpoint: backing_services.S3Endpoint, bucket: str, form: dict[str, str], key: str, body: bytes
) -> httpx.Response:
    # the file field must come last in a POST upload; httpx writes `files` after `data`
    return httpx.post(
        f"{endpoint.url}/{bucket}",
        data={**form, "key": key},
        files={"file": ("upload.bin", body, "application/octet-stream")},
        timeout=60,
    )


def test_an_expired_presigned_get_is_refused(
    s3_endpoint: backing_services.S3Endpoint, s3: Minio, s3_bucket: str, expect: Expect
) -> None:
    s3.put_object(s3_bucket, "kept.txt", io.BytesIO(b"secret"), length=6)
    fresh = s3.presigned_get_object(s3_bucket, "kept.txt", expires=timedelta(minutes=1))
    # signed two hours ago for one minute: expired without waiting for a clock
    stale = s3.presigned_get_object(
        s3_bucket,
        "kept.txt",
        expires=timedelta(minutes=1),
        request_date=datetime.now(UTC) - timedelta(hours=2),
    )

    assert httpx.get(fresh, timeout=30).content == b"secret"  # the same signing, in its time
    expect.refused(httpx.get(stale, timeout=30), 403, "AccessDenied")


def test_a_post_upload_over_the_policys_size_range_is_refused(
    s3_endpoint: backing_services.S3Endpoint, s3: Minio, s3_bucket: str, expect: Expect
) -> None:
    form = _post_form(s3, s3_bucket)

    within = _post(s3_endpoint, s3_bucket, form, f"{KEY_PREFIX}small", b"s" * MAX_BYTES)
    assert within.status_code == 204, within.text[:300]
    oversize = _post(s3_endpoint, s3_bucket, form, f"{KEY_PREFIX}big", b"b" * (MAX_BYTES + 1))

    expect.refused(oversize, 400, "EntityTooLarge")
    if expect.enforces:
        assert backing_services.object_keys(s3, s3_bucket) == {f"{KEY_PREFIX}small"}


def test_a_post_upload_outside_the_policys_key_prefix_is_refused(
    s3_endpoint: backing_services.S3Endpoint, s3: Minio, s3_bucket: str, expect: Expect
) -> None:
    form = _post_form(s3, s3_bucket)

    outside = _post(s3_endpoint, s3_bucket, form, "uploads/visitor-b/stolen", b"x")

    expect.refused(outside, 403, "AccessDenied")
    if expect.enforces:
        assert backing_services.object_keys(s3, s3_bucket) == set()


def test_a_post_upload_with_a_tampered_policy_is_refused(
    s3_endpoint: backing_services.S3Endpoint, s3: Minio, s3_bucket: str, expect: Expect
) -> None:
    form = _post_form(s3, s3_bucket)
    # a client widens its own policy (100 times the size) and keeps the old signature
    policy = json.loads(base64.b64decode(form["policy"]))
    for condition in policy["conditions"]:
        if isinstance(condition, list) and condition[0] == "content-length-range":
            condition[2] = 100 * MAX_BYTES
    form["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()

    tampered = _post(s3_endpoint, s3_bucket, form, f"{KEY_PREFIX}x", b"x" * (2 * MAX_BYTES))

    # AWS names the signature (SignatureDoesNotMatch); radosgw answers AccessDenied
    expect.refused(tampered, 403, "SignatureDoesNotMatch", "AccessDenied")
    if expect.enforces:
        assert backing_services.object_keys(s3, s3_bucket) == set()
