"""nginx (Debian's package) as the load balancer in front of replicas, as a Service would be.

One nginx process, one `server` per balanced service on a loopback port of its own, plain
round robin over the replicas' ports. A replica that refuses a connection (stopped, not yet
restarted) or resets it before a byte of the answer came back is skipped for the next one,
as ingress-nginx does with the chart's `proxy-next-upstream: error timeout` annotations (the
same directives): GET and HEAD always; POST and PATCH only when not one byte of them was sent
(no `non_idempotent`); no request whose body nginx began to stream (bodies are not buffered),
so no part of an upload in parts is sent twice. A request a replica may have acted on is not
sent again, its caller sees nginx's 502, except an idempotent one (PUT, DELETE) small enough
to arrive whole with its headers: nginx holds a copy of it, and sending it again is harmless
by definition (web's PUT stores the same part once more). tests/deploy/test_ingress_nginx.py
drives each case against a real dead port.

A service named in `tcp` is balanced per connection instead (nginx's stream module), as a
Kubernetes Service balances a pod's calls to another service (kube-proxy): a change of its
members sends new connections to the new ones and leaves open connections be (the old
workers carry them until either end closes), where an HTTP balancer's reload closes every
idle kept-alive connection of its clients, which no Service does. web reaches storage-api so.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from s3tasks_testkit.patience import patience
from s3tasks_testkit.ports import (
    PortTaken,
    listening_ports,
    says_address_in_use,
    start_on_free_ports,
)
from s3tasks_testkit.processes import wait_until

NGINX = "/usr/sbin/nginx"
#: Debian's libnginx-mod-stream (make install installs it)
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")

_CONF = """\
{load}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {log_dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {log_dir}/nginx-access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    # uploads and downloads stream through, as an ingress configured for them does
    client_max_body_size {max_body};
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_read_timeout 120s;
    proxy_connect_timeout 2s;
{servers}
}}
{streams}"""

_SERVER = """\
    upstream {name} {{
{members}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
{extra}        location / {{
            proxy_pass http://{name};
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries {tries};
        }}
    }}
"""

_STREAM = """\
stream {{
{servers}}}
"""
_STREAM_SERVER = """\
    upstream {name} {{
{members}
    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_pass {name};
        proxy_connect_timeout 2s;
        proxy_next_upstream on;
        proxy_next_upstream_tries {tries};
    }}
"""
#: An ingress's answer to a body over its limit: nginx's own 413, with web's page explaining it
#: as the body (an internal GET of `{page}`; the status stays 413), not nginx's bare page.
_TOO_LARGE = """\
        error_page 413 {page};
        location = {page} {{
            internal;
            proxy_pass http://{name};
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
        }}
"""
#: the body limit of common ingresses and CDNs, which uploads in parts must pass (the chart's
#: default `proxy-body-size`)
INGRESS_MAX_BODY = "100m"
#: replicas a request may be tried on, as ingress-nginx's `proxy-next-upstream-tries` (its
#: default, and the chart's annotation)
NEXT_UPSTREAM_TRIES = 3
#: web's page that says a request was over the ingress's limit (`error_page 413`)
TOO_LARGE_PAGE = "/upload-too-large"


def nginx_available() -> bool:
    return Path(NGINX).exists() or shutil.which("nginx") is not None


@dataclass(frozen=True)
class Balancer:
    """Where each balanced service answers."""

    urls: Mapping[str, str]
    access_log: Path
    #: `set_members(name, ports)`: balance `name` over these replicas from now on
    set_members: Callable[[str, Sequence[int]], None]


@contextmanager
def nginx_balancer(
    upstreams: Mapping[str, Sequence[int]],
    log_dir: Path,
    *,
    max_body: str = "0",
    too_large_page: str | None = None,
    ports: Mapping[str, int] | None = None,
    tcp: Collection[str] = (),
) -> Iterator[Balancer]:
    """nginx balancing each `name: [replica ports]`; stopped (by its pid) on exit. With
    `too_large_page`, a body over `max_body` gets nginx's 413 with that page of the upstream
    as its body (as an operator's ingress would explain its limit). `ports`: listen where a
    stopped balancer listened (a restart, which browsers see as the same origin). `tcp`: the
    names balanced per connection, as a Service is (the module docstring)."""
    binary = NGINX if Path(NGINX).exists() else shutil.which("nginx")
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx; make install does)")
    if tcp and not STREAM_MODULE.exists():
        raise RuntimeError(
            "nginx's stream module is not installed (apt-get install libnginx-mod-stream;"
            " make install does)"
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    error_log = log_dir / "nginx-error.log"
    fixed = {name: port for name, port in (ports or {}).items() if name in upstreams and port}
    with tempfile.TemporaryDirectory(prefix="s3tasks-nginx-") as prefix:
        conf = Path(prefix) / "nginx.conf"
        members = {name: list(replicas) for name, replicas in upstreams.items()}
        listen: dict[str, int] = {}

        def write_conf() -> None:
            conf.write_text(
                nginx_conf(
                    {n: (listen[n], m) for n, m in members.items()},
                    Path(prefix),
                    log_dir,
                    max_body=max_body,
                    too_large_page=too_large_page,
                    tcp=tcp,
                )
            )

        def launch(fresh: tuple[int, ...]) -> subprocess.Popen[bytes]:
            """nginx listening on `fixed` and `fresh` ports (it binds its own sockets);
            PortTaken if another process bound one of them first."""
            picked = iter(fresh)
            listen.update({name: fixed.get(name) or next(picked) for name in upstreams})
            write_conf()
            # the error log is appended to across starts: only this start's lines count
            seen = error_log.stat().st_size if error_log.exists() else 0
            with (log_dir / "nginx.log").open("ab") as out:
                started = subprocess.Popen(
                    [binary, "-p", prefix, "-c", str(conf), "-e", str(error_log)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                for name, port in listen.items():
                    # nginx's own socket, not an answer on the port: whoever took the port
                    # first would answer too
                    wait_until(
                        lambda port=port: (  # type: ignore[misc]
                            _running(started, error_log, seen)
                            and port in listening_ports(started.pid)
                        ),
                        timeout=patience(starts=1),
                        message=f"nginx listening for {name} on {port}",
                    )
            except BaseException:
                _stop(started)
                raise
            return started

        proc = start_on_free_ports(len(set(upstreams) - set(fixed)), launch)

        def set_members(name: str, replicas: Sequence[int]) -> None:
            """As an Endpoints update reaches an ingress: the config rewritten, then `nginx -s
            reload` (SIGHUP to the master). Returns once new workers run it: the master then
            tells the old ones to stop accepting, and they only finish what they have."""
            members[name] = list(replicas)
            write_conf()
            before = _workers(proc)
            seen = error_log.stat().st_size
            proc.send_signal(signal.SIGHUP)
            wait_until(
                lambda: _running(proc, error_log, seen) and bool(_workers(proc) - before),
                timeout=patience(starts=1),
                message=f"nginx's workers with the new {name} replicas",
            )

        try:
            yield Balancer(
                urls={name: f"http://127.0.0.1:{port}" for name, port in listen.items()},
                access_log=log_dir / "nginx-access.log",
                set_members=set_members,
            )
        finally:
            _stop(proc)


def nginx_conf(
    servers: Mapping[str, tuple[int, Sequence[int]]],
    prefix: Path,
    log_dir: Path,
    *,
    max_body: str = "0",
    too_large_page: str | None = None,
    tcp: Collection[str] = (),
) -> str:
    """The whole nginx.conf: `name: (listening port, [replica ports])` for each balanced
    service (per request, or per connection for the names in `tcp`), temporary files under
    `prefix`, logs in `log_dir`."""

    def members_of(replicas: Sequence[int]) -> str:
        return "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in replicas)

    blocks = "".join(
        _SERVER.format(
            name=name,
            port=port,
            tries=NEXT_UPSTREAM_TRIES,
            extra=_TOO_LARGE.format(page=too_large_page, name=name) if too_large_page else "",
            members=members_of(members),
        )
        for name, (port, members) in servers.items()
        if name not in tcp
    )
    streams = "".join(
        _STREAM_SERVER.format(
            name=name, port=port, tries=NEXT_UPSTREAM_TRIES, members=members_of(members)
        )
        for name, (port, members) in servers.items()
        if name in tcp
    )
    return _CONF.format(
        load=f"load_module {STREAM_MODULE};\n" if streams else "",
        prefix=prefix,
        log_dir=log_dir,
        max_body=max_body,
        servers=blocks,
        streams=_STREAM.format(servers=streams) if streams else "",
    )


def nginx_ingress(
    web_port: int, log_dir: Path, *, max_body: str = INGRESS_MAX_BODY, port: int | None = None
) -> AbstractContextManager[Balancer]:
    """nginx in front of one web, as a Kubernetes ingress would be: a body limit (100 MB as
    behind common proxies and CDNs), bodies streamed, and web's page explaining a 413. With
    `port`, it listens there (started again after a stop: the same origin for browsers)."""
    return nginx_balancer(
        {"web": [web_port]},
        log_dir,
        max_body=max_body,
        too_large_page=TOO_LARGE_PAGE,
        ports={"web": port} if port else None,
    )


def _running(proc: subprocess.Popen[bytes], error_log: Path, seen: int) -> bool:
    if proc.poll() is not None:
        with error_log.open("rb") as log:
            log.seek(seen)
            errors = log.read().decode(errors="replace")
        if says_address_in_use(errors):
            raise PortTaken(f"nginx could not bind a port:\n{errors[-2000:]}")
        raise RuntimeError(f"nginx exited with {proc.returncode}:\n{errors[-2000:]}")
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _workers(proc: subprocess.Popen[bytes]) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(proc.pid).children()}
    except psutil.NoSuchProcess:
        return set()
