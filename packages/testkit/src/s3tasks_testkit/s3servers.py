"""Which S3 server a test run or benchmark starts: radosgw (a real one) or moto (an emulator).

radosgw is the default: it enforces what S3 clients rely on and moto does not check (expired
presigned URLs, POST policy conditions, signatures), so a suite run on it can fail where AWS
would. moto starts in a second without root and stays `make run`'s embedded S3; a smaller run
keeps the code working on it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Literal, cast

from s3tasks_testkit import deps
from s3tasks_testkit.radosgw import CephOptions, radosgw_s3

S3Server = Literal["rgw", "moto"]
S3_SERVERS: Final = ("rgw", "moto")
DEFAULT_S3_SERVER: Final[S3Server] = "rgw"
#: the one setting that chooses the S3 server of the tests and the load run
S3_SETTING: Final = "S3TASKS_TEST_S3"


def parse_s3_server(value: str | None, variable: str) -> S3Server:
    """The server named by an environment variable; a clear error naming it otherwise."""
    chosen = (value or DEFAULT_S3_SERVER).strip().lower()
    if chosen not in S3_SERVERS:
        raise ValueError(f"{variable}={value!r}: expected one of {', '.join(S3_SERVERS)}")
    return cast(S3Server, chosen)


@contextmanager
def s3_server(
    server: S3Server, log_dir: Path, ceph: CephOptions | None = None
) -> Iterator[deps.S3Endpoint]:
    """A running S3 server of the chosen kind, stopped on exit; `endpoint.server` says which."""
    if server == "moto":
        with deps.moto_s3(log_dir) as endpoint:
            yield endpoint
        return
    with radosgw_s3(log_dir / "radosgw", ceph) as endpoint:
        yield endpoint
