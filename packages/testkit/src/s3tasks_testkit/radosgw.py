"""A real S3 server for tests and benchmarks: Ceph's radosgw on a single-node cluster.

    with radosgw_s3(log_dir) as endpoint:   # one ceph-mon, one ceph-osd, radosgw on 127.0.0.1
        endpoint.client().make_bucket("...")

Ceph 16 (Debian's packages) has no cluster-less backend, so radosgw needs one monitor and one
OSD. All three run as plain child processes under a scratch directory of their own (config,
keyrings, the monitor's store, the OSD's data), with their own fsid and cephx keys, and log
into `log_dir`. The monitor's port comes from binding port 0 (it must be written into the
monmap before the monitor runs; a port taken meanwhile means a retry on another:
`ports.start_on_free_ports`); radosgw binds
port 0 itself and its port is read back from the kernel. The OSD picks free ports in Ceph's
own range (6800-7300) on 127.0.0.1 and registers them with the monitor.
No mgr runs: nothing here needs one, and `ceph df` would hang without it (never call it).

The Debian packages are installed when missing (as `scripts/bootstrap.sh --system` does).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from minio.error import MinioException
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from s3tasks_testkit.backing_services import S3Endpoint
from s3tasks_testkit.ports import (
    PortTaken,
    listening_ports,
    says_address_in_use,
    start_on_free_ports,
)
from s3tasks_testkit.processes import ServiceProcess

DEBIAN_PACKAGES: Final = ("ceph-mon", "ceph-osd", "radosgw", "ceph-common")
PROGRAMS: Final = (
    "ceph-mon",
    "ceph-osd",
    "radosgw",
    "radosgw-admin",
    "ceph",
    "ceph-authtool",
    "monmaptool",
)
GIB: Final = 1024**3
#: fixed, test-only S3 keys: the cluster lives only on loopback and only for one run
ACCESS_KEY: Final = "s3tasks-test-access-key"
SECRET_KEY: Final = "s3tasks-test-secret-key-not-secret"
_GATEWAY: Final = "client.rgw.s3tasks"
_POLL_SECONDS: Final = 0.1

Store = Literal["memstore", "bluestore"]


class CephStartError(RuntimeError):
    """The cluster did not come up; the message carries the daemons' log tails."""


@dataclass(frozen=True)
class CephOptions:
    """How to run the cluster.

    memstore keeps every object in the OSD's memory: quick to start (a few seconds), right for
    tests. bluestore on a sparse file under the scratch directory keeps objects on disk, for
    benchmark runs that move gigabytes.
    """

    store: Store = "memstore"
    ready_timeout: float = 180.0
    """Seconds for the whole start, generous: a loaded 2-core machine is slow."""
    store_bytes: int = 64 * GIB
    """The OSD's capacity (memstore's accounting limit, or the sparse file's size)."""
    gc_min_wait_seconds: int = 30
    """radosgw frees deleted data after this (default 2 h); memstore holds it in RAM till then."""
    lc_debug_interval_seconds: int = 0
    """Seconds that stand for a "day" of bucket lifecycle rules, and how often radosgw's
    lifecycle thread runs (Ceph's rgw_lc_debug_interval); 0: real days. Every bucket with
    rules is affected, and storage-api sets rules on its bucket: a short "day" makes every
    stack's objects expire within minutes, so only a cluster of a test's own should have one."""
    bluestore_parent: Path | None = None
    """Where bluestore's sparse file goes (default: the scratch directory, which is under the
    system's temporary directory with the config and the daemons' sockets: socket paths must
    stay short, and /tmp may be memory)."""


def ensure_installed() -> None:
    """Install Ceph's Debian packages when a program is missing (needs root or sudo)."""
    if not _missing_programs():
        return
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise CephStartError(
                f"Ceph is not installed ({', '.join(_missing_programs())} missing) and this is "
                f"not root: run `apt-get install --no-install-recommends "
                f"{' '.join(DEBIAN_PACKAGES)}` or `scripts/bootstrap.sh --system`"
            )
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        [*prefix, "apt-get", "update", "-qq"],
        [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *DEBIAN_PACKAGES],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CephStartError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    if _missing_programs():
        raise CephStartError(f"still missing after apt-get: {', '.join(_missing_programs())}")


def _missing_programs() -> list[str]:
    return [name for name in PROGRAMS if shutil.which(name) is None]


def ceph_version() -> str:
    """`16.2.15`, from `ceph-mon --version` (no cluster needed); "not installed" without it."""
    try:
        out = subprocess.run(
            ["ceph-mon", "--version"], capture_output=True, text=True, check=False, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    words = out.split()
    return words[2] if len(words) > 2 else "unknown"


@contextmanager
def radosgw_s3(log_dir: Path, options: CephOptions | None = None) -> Iterator[S3Endpoint]:
    """A running single-node Ceph with radosgw; its S3 endpoint. Everything is removed on exit."""
    with ceph_cluster(log_dir, options) as cluster:
        assert cluster.endpoint is not None
        yield cluster.endpoint


@contextmanager
def ceph_cluster(log_dir: Path, options: CephOptions | None = None) -> Iterator[CephCluster]:
    """The running cluster itself (its daemons and scratch directory), for tests of the kit."""
    opts = options or CephOptions()
    ensure_installed()

    def start(ports: tuple[int, ...]) -> tuple[ExitStack, CephCluster]:
        es = ExitStack()
        try:
            scratch = _temporary_dir(es, None)
            block_dir = (
                _temporary_dir(es, opts.bluestore_parent) if opts.bluestore_parent else scratch
            )
            cluster = CephCluster(
                scratch, log_dir, opts, block_dir / "bluestore-block", mon_port=ports[0]
            )
            es.callback(cluster.stop)
            try:
                cluster.start()
            except CephStartError as exc:
                if cluster.lost_mon_port():
                    raise PortTaken(str(exc)) from exc  # a new cluster, on a new port
                raise
        except BaseException:
            es.close()
            raise
        return es, cluster

    es, cluster = start_on_free_ports(1, start)
    with es:
        yield cluster


@dataclass
class CephCluster:
    scratch: Path
    log_dir: Path
    options: CephOptions
    block_path: Path
    """bluestore's sparse file (unused with memstore)."""
    fsid: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: the monitor's address must be known before it runs (monmap): it binds the port itself
    mon_port: int = 0
    mon: ServiceProcess | None = None
    osd: ServiceProcess | None = None
    gateway: ServiceProcess | None = None
    endpoint: S3Endpoint | None = None
    _deadline: float = 0.0

    @property
    def conf(self) -> Path:
        return self.scratch / "ceph.conf"

    @property
    def admin_keyring(self) -> Path:
        return self.scratch / "admin.keyring"

    def start(self) -> S3Endpoint:
        self._deadline = time.monotonic() + self.options.ready_timeout
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "mon", "osd/ceph-0"):
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self._config())
        self._make_keyrings()
        self._start_mon()
        self._start_osd()
        port = self._start_gateway()
        self._ceph_cli(
            "radosgw-admin",
            "user",
            "create",
            "--uid=s3tasks",
            "--display-name=s3tasks",
            f"--access-key={ACCESS_KEY}",
            f"--secret-key={SECRET_KEY}",
        )
        endpoint = S3Endpoint(
            url=f"http://127.0.0.1:{port}",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            server=f"radosgw (Ceph {ceph_version()}, {self.options.store})",
        )
        self._wait("a signed S3 request to succeed", lambda: _signed_request_ok(endpoint))
        self.endpoint = endpoint
        return endpoint

    def lost_mon_port(self) -> bool:
        """Did the monitor exit because its port was taken?"""
        mon = self.mon
        return (
            mon is not None
            and not mon.running
            and says_address_in_use(_tail(mon.log_path, lines=200))
        )

    def stop(self) -> None:
        """Gateway first (it waits on the cluster while it shuts down), then OSD, then monitor."""
        if self.gateway is not None:
            self.gateway.stop(grace=10)
        if self.osd is not None:
            if self.options.store == "memstore":
                # memstore writes every object to disk when it unmounts; the scratch directory
                # is about to be removed, so that would be time spent for nothing
                self.osd.kill()
            self.osd.stop(grace=30)
        if self.mon is not None:
            self.mon.stop(grace=10)

    # --- the steps ---------------------------------------------------------------------------

    def _config(self) -> str:
        s = self.scratch
        store = self._store_config()
        return f"""\
[global]
fsid = {self.fsid}
mon_host = [v2:127.0.0.1:{self.mon_port}]
ms_bind_msgr1 = false
ms_bind_msgr2 = true
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = {self.admin_keyring}
run_dir = {s}/run
admin_socket = {s}/run/$cluster-$name.asok
log_file = {self.log_dir}/$name.log
# one OSD: pools of one replica, placement across OSDs rather than hosts, no autoscaler
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_autoscale_mode = off
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
# the monitor commits a map change after this pause (1 s by default); radosgw's first start
# makes a dozen pools one after the other, so this is most of the start time
paxos_propose_interval = 0.1

[mon]
mon_data = {s}/mon/$cluster-$id
# a taken port fails at once (3 tries 5 s apart by default): the start retries with another
ms_bind_retry_count = 1

[osd]
osd_data = {s}/osd/$cluster-$id
keyring = {s}/osd/$cluster-$id/keyring
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
{store}

[{_GATEWAY}]
keyring = {s}/gateway.keyring
# port 0: the kernel picks, and the port is read back from the listening socket
rgw_frontends = beast endpoint=127.0.0.1:0
rgw_gc_obj_min_wait = {self.options.gc_min_wait_seconds}
rgw_gc_processor_period = {self.options.gc_min_wait_seconds}
# lifecycle rules are processed at any hour (the default is 00:00-06:00 only)
rgw_lifecycle_work_time = 00:00-23:59
{self._lifecycle_config()}"""

    def _lifecycle_config(self) -> str:
        interval = self.options.lc_debug_interval_seconds
        return f"rgw_lc_debug_interval = {interval}\n" if interval > 0 else ""

    def _store_config(self) -> str:
        if self.options.store == "memstore":
            return f"osd_objectstore = memstore\nmemstore_device_bytes = {self.options.store_bytes}"
        return (
            "osd_objectstore = bluestore\n"
            f"bluestore_block_path = {self.block_path}\n"
            "bluestore_block_create = true\n"
            f"bluestore_block_size = {self.options.store_bytes}\n"
            "bluestore_fsck_on_mkfs = false\n"
            f"osd_memory_target = {2 * GIB}"
        )

    def _make_keyrings(self) -> None:
        s = self.scratch
        mon_keyring = s / "mon.keyring"
        gateway_keyring = s / "gateway.keyring"
        self._run(
            "ceph-authtool",
            "--create-keyring",
            str(mon_keyring),
            "--gen-key",
            "-n",
            "mon.",
            "--cap",
            "mon",
            "allow *",
        )
        self._run(
            "ceph-authtool",
            "--create-keyring",
            str(self.admin_keyring),
            "--gen-key",
            "-n",
            "client.admin",
            "--cap",
            "mon",
            "allow *",
            "--cap",
            "osd",
            "allow *",
            "--cap",
            "mgr",
            "allow *",
        )
        # the gateway's key goes into the monitor's initial store: no `ceph auth` call later
        self._run(
            "ceph-authtool",
            "--create-keyring",
            str(gateway_keyring),
            "--gen-key",
            "-n",
            _GATEWAY,
            "--cap",
            "mon",
            "allow rw",
            "--cap",
            "osd",
            "allow rwx",
        )
        for keyring in (self.admin_keyring, gateway_keyring):
            self._run("ceph-authtool", str(mon_keyring), "--import-keyring", str(keyring))

    def _start_mon(self) -> None:
        monmap = self.scratch / "monmap"
        self._run(
            "monmaptool",
            "--create",
            "--fsid",
            self.fsid,
            "--addv",
            "a",
            f"[v2:127.0.0.1:{self.mon_port}]",
            str(monmap),
        )
        self._run(
            "ceph-mon",
            "-c",
            str(self.conf),
            "--mkfs",
            "-i",
            "a",
            "--monmap",
            str(monmap),
            "--keyring",
            str(self.scratch / "mon.keyring"),
        )
        self.mon = self._daemon("ceph-mon", "ceph-mon", "-i", "a")

    def _start_osd(self) -> None:
        osd_uuid = str(uuid.uuid4())
        secret = self._run("ceph-authtool", "--gen-print-key").strip()
        secret_file = self.scratch / "osd-secret.json"
        secret_file.write_text(json.dumps({"cephx_secret": secret}))
        # `ceph osd new` is the first call that needs a monitor in quorum; it waits for one
        osd_id = self._ceph_cli("ceph", "osd", "new", osd_uuid, "-i", str(secret_file)).strip()
        if osd_id != "0":
            raise self._error(f"`ceph osd new` answered {osd_id!r}, expected OSD 0")
        self._run(
            "ceph-authtool",
            "--create-keyring",
            str(self.scratch / "osd/ceph-0/keyring"),
            "--name",
            "osd.0",
            "--add-key",
            secret,
        )
        self._run(
            "ceph-osd",
            "-c",
            str(self.conf),
            "-i",
            "0",
            "--mkfs",
            "--osd-uuid",
            osd_uuid,
            "--no-mon-config",
        )
        self.osd = self._daemon("ceph-osd", "ceph-osd", "-i", "0")

    def _start_gateway(self) -> int:
        self.gateway = self._daemon("radosgw", "radosgw", "-n", _GATEWAY)
        gateway = self.gateway
        ports: set[int] = set()

        def listening() -> bool:
            ports.update(listening_ports(gateway.pid))
            return bool(ports)

        # radosgw listens once its pools exist, which needs the OSD up
        self._wait("radosgw to listen", listening)
        return min(ports)

    # --- helpers -----------------------------------------------------------------------------

    def _daemon(self, name: str, *argv: str) -> ServiceProcess:
        # -d: foreground with the log on stderr, which ServiceProcess keeps in log_dir/<name>.log
        return ServiceProcess(
            name=name,
            argv=[argv[0], "-c", str(self.conf), "-d", *argv[1:]],
            env={},
            log_dir=self.log_dir,
        ).start()

    def _daemons(self) -> list[ServiceProcess]:
        return [d for d in (self.mon, self.osd, self.gateway) if d is not None]

    def _remaining(self) -> float:
        return max(1.0, self._deadline - time.monotonic())

    def _run(self, *argv: str) -> str:
        """A setup command; its stdout. Fails with its output and the daemons' log tails, at
        the deadline or as soon as a daemon it may be waiting on has exited."""
        command = " ".join(argv)
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            while True:
                try:
                    out, err = proc.communicate(timeout=_POLL_SECONDS * 5)
                    break
                except subprocess.TimeoutExpired:
                    pass  # output read so far is kept for the next call
                exited = [d.name for d in self._daemons() if not d.running]
                if exited or time.monotonic() > self._deadline:
                    proc.kill()
                    proc.communicate()
                    why = f"{', '.join(exited)} exited" if exited else "the deadline passed"
                    raise self._error(f"{command} abandoned: {why}")
        if proc.returncode != 0:
            raise self._error(f"{command} exited {proc.returncode}:\n{out}\n{err}")
        return out

    def _ceph_cli(self, program: str, *args: str) -> str:
        """`ceph` or `radosgw-admin` as client.admin of this cluster, bounded by the deadline."""
        for daemon in self._daemons():
            if not daemon.running:
                raise self._error(f"{daemon.name} exited")
        bound = ["--connect-timeout", str(int(self._remaining()))] if program == "ceph" else []
        return self._run(program, "-c", str(self.conf), "-n", "client.admin", *bound, *args)

    def _wait(self, what: str, predicate: Callable[[], bool]) -> None:
        while True:
            for daemon in self._daemons():
                if not daemon.running:
                    raise self._error(f"{daemon.name} exited while waiting for {what}")
            if predicate():
                return
            if time.monotonic() > self._deadline:
                raise self._error(
                    f"timed out after {self.options.ready_timeout:.0f}s waiting for {what}"
                )
            time.sleep(_POLL_SECONDS)

    def _error(self, what: str) -> CephStartError:
        tails = "\n".join(
            f"--- {d.name} (pid {d.pid}, {'running' if d.running else 'exited'}), "
            f"{d.log_path}:\n{_tail(d.log_path)}"
            for d in self._daemons()
        )
        return CephStartError(
            f"single-node Ceph under {self.scratch} did not start: {what}\n{tails}"
        )


def _temporary_dir(es: ExitStack, parent: Path | None) -> Path:
    """A new directory, removed with everything in it when `es` closes."""
    path = Path(tempfile.mkdtemp(prefix="s3tasks-ceph-", dir=parent))
    es.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def _signed_request_ok(endpoint: S3Endpoint) -> bool:
    try:
        endpoint.client().list_buckets()
    except (MinioException, Urllib3HTTPError, OSError):
        return False
    return True


def _tail(path: Path, lines: int = 25) -> str:
    """The last lines of a daemon's log (Ceph's `-d` output leaves blank lines between)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])
