"""Which S3 server a test run or benchmark starts: radosgw (a real one) or moto (an emulator);
and the whole set of dependencies a load run or benchmark starts with it.

radosgw is the default: it enforces what S3 clients rely on and moto does not check (expired
presigned URLs, POST policy conditions, signatures), so a suite run on it can fail where AWS
would. moto starts in a second without root and stays `make run`'s embedded S3; a smaller run
keeps the code working on it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final, Literal, cast

from s3tasks_testkit import backing_services
from s3tasks_testkit.radosgw import CephOptions, radosgw_s3
from s3tasks_testkit.stack import Dependencies

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
) -> Iterator[backing_services.S3Endpoint]:
    """A running S3 server of the chosen kind, stopped on exit; `endpoint.server` says which."""
    if server == "moto":
        with backing_services.moto_s3(log_dir) as endpoint:
            yield endpoint
        return
    with radosgw_s3(log_dir / "radosgw", ceph) as endpoint:
        yield endpoint


@contextmanager
def local_dependencies(
    log_root: Path,
    say: Callable[[str], None],
    *,
    postgres_url: str,
    redis_url: str,
    server: S3Server,
    ceph: CephOptions | None = None,
) -> Iterator[Dependencies]:
    """PostgreSQL and Redis at these URLs when they answer (else embedded ones, their data
    below `log_root`) and an S3 server of our own; `say` is told what was chosen."""
    with ExitStack() as es:
        postgres = es.enter_context(
            backing_services.postgres_server(postgres_url, log_root / "pgdata", say)
        )
        (log_root / "redis").mkdir(parents=True, exist_ok=True)
        redis = es.enter_context(backing_services.redis_server(redis_url, log_root / "redis", say))
        started = time.monotonic()
        s3 = es.enter_context(s3_server(server, log_root, ceph))
        say(f"S3: {s3.server} at {s3.url}, started in {time.monotonic() - started:.1f} s")
        yield Dependencies(s3, postgres, redis, log_root)
