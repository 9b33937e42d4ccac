"""One real stack (storage-api, worker, beat, web) shared by the bad-input suite.

Limits are small so that "too large" and "multipart upload aborted" are cheap to provoke:
images up to 1 MiB and 4 megapixels, files up to 12 MiB in 5 MiB parts (so a refused large
file has really started an S3 multipart upload), a 2 s idle timeout on upload bodies, a
minimum rate after 20 s, 16 uploads at once, and 3 s for a request's headers.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from s3tasks_testkit import web_visitor
from s3tasks_testkit.stack import Dependencies, isolated_config, running_stack
from s3tasks_testkit.web_visitor import Site, WebVisitor

MIB = 1024 * 1024
MAX_IMAGE_BYTES = 1 * MIB
MAX_FILE_BYTES = 12 * MIB
MAX_IMAGE_PIXELS = 4_000_000
UPLOAD_IDLE_TIMEOUT_SECONDS = 2
SWEEP_INTERVAL_SECONDS = 1.0
#: a trickle (a byte or two a second) is cut once this grace is over (it never goes idle);
#: the trickle test serves another visitor inside it: 20 s was too short once under load
UPLOAD_RATE_GRACE_SECONDS = 30
UPLOAD_MIN_BYTES_PER_SECOND = 1024
#: uploads at once through web; the trickle test sends more than this
MAX_CONCURRENT_UPLOADS = 16
#: a request's headers must have arrived within this long
HEADER_TIMEOUT_SECONDS = 3


@pytest.fixture(scope="package")
def site(dependencies: Dependencies) -> Iterator[Site]:
    with (
        isolated_config(
            dependencies,
            "security",
            sweep_interval_seconds=SWEEP_INTERVAL_SECONDS,
            extra_env={
                "STORAGE_API_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES),
                "STORAGE_API_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
                "STORAGE_API_MAX_IMAGE_PIXELS": str(MAX_IMAGE_PIXELS),
                "STORAGE_API_S3_PART_SIZE_BYTES": str(5 * MIB),
                "WEB_UPLOAD_IDLE_TIMEOUT_SECONDS": str(UPLOAD_IDLE_TIMEOUT_SECONDS),
                "WEB_UPLOAD_RATE_GRACE_SECONDS": str(UPLOAD_RATE_GRACE_SECONDS),
                "WEB_UPLOAD_MIN_BYTES_PER_SECOND": str(UPLOAD_MIN_BYTES_PER_SECOND),
                "WEB_MAX_CONCURRENT_UPLOADS": str(MAX_CONCURRENT_UPLOADS),
                "WEB_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_SECONDS),
                "WEB_LIMITS_CACHE_SECONDS": "0",
            },
        ) as config,
        running_stack(config) as stack,
    ):
        yield Site(stack, dependencies.s3.client())


@pytest.fixture
def visitor(site: Site) -> Iterator[WebVisitor]:
    with site.visitor() as v:
        yield v


@pytest.fixture
def stranger(site: Site) -> Iterator[httpx.Client]:
    """Someone given a link: a browser of their own, no cookie of the owner's."""
    with web_visitor.stranger(site.web_url) as client:
        yield client
