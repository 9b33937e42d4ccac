"""Several replicas of every service at once, behind nginx, with chaos and a deletion audit.

    3 web, 2 storage-api, 2 workers and 2 beats against one PostgreSQL, Redis and S3, as a
    Deployment of each would run them. web and the workers reach storage-api through the
    balancer, visitors reach web through it. Chaos SIGKILLs one replica of each kind (a
    worker with its pool processes, as a node loss would) and starts it again; a rolling
    restart (`replace`, load/rolling.py) replaces replicas one at a time with SIGTERM, as a
    Deployment's rolling update does.

What proves that replicas never do the same work twice is storage-api's deletion audit (one
line per committed deletion batch: which job deleted which items, deletions/service.py):
every item must be deleted by exactly one job, and the workers' metrics, summed over every
replica and every incarnation, must count exactly what the audit recorded.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from s3tasks_testkit.balancer import Balancer, nginx_balancer
from s3tasks_testkit.load.ledger import LoadTarget
from s3tasks_testkit.load.short_run import short_run_config
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, port_of, wait_until
from s3tasks_testkit.stack import (
    Dependencies,
    Stack,
    StackConfig,
    service_process,
)

#: the replica counts the issue asks for: a Deployment of each, beat included (twice)
REPLICAS = {"web": 3, "storage-api": 2, "worker": 2, "beat": 2}
#: web and storage-api keep listening this long after SIGTERM: nginx has been reloaded
#: without them by then (`ReplicatedStack.replace`), its old workers told to stop accepting
SHUTDOWN_DELAY_SECONDS = 1.0

#: storage-api's audit line (deletions/service.py AUDIT_MESSAGE), in any log format
_AUDIT = re.compile(r"job (\S+) deleted (\d+) items \((\w+)\): ([0-9a-f -]+)")
#: the worker's own lines (tasks.py): a job received, and a deletion job's summary
_RECEIVED = re.compile(r"Task s3tasks\.\w+\[([0-9a-f-]+)\] received")
_DONE = re.compile(r"job s3tasks\.\w+ \[([0-9a-f-]+)\] done in [0-9.]+s: deleted (\d+) items")


@dataclass
class Replica:
    """One replica slot; each (re)start is a new incarnation with a log of its own."""

    kind: str
    index: int
    incarnations: list[ServiceProcess] = field(default_factory=list)
    #: where it listens (web, storage-api, the worker's health server); kept over restarts
    port: int | None = None

    @property
    def current(self) -> ServiceProcess:
        return self.incarnations[-1]

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index}"


class ReplicatedStack:
    """The whole stack with `REPLICAS` of each service; `balancer` has the public URLs."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.replicas: dict[str, list[Replica]] = {
            kind: [Replica(kind, n) for n in range(count)] for kind, count in REPLICAS.items()
        }
        self.balancer: Balancer | None = None
        self._lock = threading.Lock()
        #: each replica replaced with SIGTERM: its incarnation, exit status, seconds to exit
        self.exits: list[tuple[str, int | None, float]] = []

    # -- start and stop -------------------------------------------------------------------

    def start(self, es: ExitStack) -> ReplicatedStack:
        Stack(self.config).migrate()
        es.callback(self.stop)
        socks = {
            kind: [bind_loopback() for _ in replicas]
            for kind, replicas in self.replicas.items()
            if kind in ("web", "storage-api")
        }
        for kind_socks in socks.values():
            for sock in kind_socks:
                es.callback(sock.close)
        self.balancer = es.enter_context(
            nginx_balancer(
                {
                    kind: [s.getsockname()[1] for s in kind_socks]
                    for kind, kind_socks in socks.items()
                },
                self.config.log_dir,
                # web -> storage-api goes through a Service in a cluster: per connection
                tcp={"storage-api"},
            )
        )
        for kind in ("storage-api", "worker", "beat", "web"):
            for replica in self.replicas[kind]:
                self._start(replica, socks[kind][replica.index] if kind in socks else None)
        return self

    def stop(self) -> None:
        for kind in ("web", "beat", "worker", "storage-api"):
            for replica in self.replicas[kind]:
                for proc in replica.incarnations:
                    proc.stop()
                    for sock in (proc.sock, proc.metrics_sock):
                        if sock is not None:
                            sock.close()

    @property
    def web_url(self) -> str:
        assert self.balancer is not None
        return self.balancer.urls["web"]

    @property
    def storage_api_url(self) -> str:
        assert self.balancer is not None
        return self.balancer.urls["storage-api"]

    def _start(self, replica: Replica, sock: socket.socket | None) -> ServiceProcess:
        n = len(replica.incarnations) + 1
        name = f"{replica.name}.{n}"
        kind = replica.kind
        listening: socket.socket | None = sock
        if replica.port is not None and sock is None:
            # a restarted container listens on its port again (the balancer knows the port)
            listening = _rebind(replica.port)
        elif kind == "worker":  # its health and metrics server
            listening = bind_loopback()
        proc = service_process(
            self.config,
            kind,
            self.storage_api_url,
            name=name,
            sock=listening,
            # web serves /metrics on a port of its own, scraped directly (not balanced)
            metrics_sock=bind_loopback() if kind == "web" else None,
            # a state dir per incarnation: a restarted worker clears its own metrics files,
            # and the counts of the one that was killed must survive to be summed
            env={"WORKER_STATE_DIR": str(self.config.log_dir / f"{name}-state")}
            if kind in ("worker", "beat")
            else None,
        )
        with self._lock:
            replica.incarnations.append(proc)
            replica.port = None if listening is None else port_of(listening)
        return proc.start()  # the suite's patience for a start (processes.py)

    # -- a rolling update -----------------------------------------------------------------

    def replace(self, kind: str, index: int) -> None:
        """Replace a replica as a rolling update does: out of the balancer first (as the
        Endpoints update that follows a pod's termination reaches the ingress and
        kube-proxy), then SIGTERM, and the replica finishes what it has within its bound and
        exits; the new one starts on the same port and goes back in once ready. The exit
        status and time are kept (`exits`); one that does not exit is SIGKILLed."""
        replica = self.replicas[kind][index]
        old = replica.current
        balanced = kind in ("web", "storage-api")
        if balanced:
            self._balance(kind, without=replica)
        # the parent's copies of its listeners: closed, so its ports refuse connections once
        # the replica closes its own, as a pod's would
        for sock in (old.sock, old.metrics_sock):
            if sock is not None:
                sock.close()
        started = time.monotonic()
        old.signal(signal.SIGTERM)
        code = old.wait_exit(timeout=patience(SHUTDOWN_DELAY_SECONDS + 30, starts=1))
        with self._lock:
            self.exits.append((old.name, code, time.monotonic() - started))
        if code is None:
            _kill_tree(old.pid)
        old.stop()  # reaps it and closes its log
        self._start(replica, None)
        if balanced:
            self._balance(kind)

    def _balance(self, kind: str, *, without: Replica | None = None) -> None:
        assert self.balancer is not None
        self.balancer.set_members(
            kind,
            [r.port for r in self.replicas[kind] if r is not without and r.port is not None],
        )

    # -- chaos ----------------------------------------------------------------------------

    def kill_and_restart(self, kind: str, index: int = 0) -> None:
        """SIGKILL a replica and everything it started, then start it again."""
        replica = self.replicas[kind][index]
        _kill_tree(replica.current.pid)
        replica.current.stop()  # reaps it and closes its log
        # its port refuses connections until the restart, as a dead container's does (the
        # parent keeping it open would queue requests where nobody answers)
        for sock in (replica.current.sock, replica.current.metrics_sock):
            if sock is not None:
                sock.close()
        self._start(replica, None)

    def chaos(self, duration: float) -> None:
        """One replica of each kind killed and restarted, spread over the middle of the run."""
        kinds = ["storage-api", "worker", "web", "beat"]
        start = time.monotonic()
        for n, kind in enumerate(kinds):
            at = start + duration * (n + 1) / (len(kinds) + 1)
            wait_until(lambda at=at: time.monotonic() >= at, timeout=duration + 60, interval=0.1)  # type: ignore[misc]
            self.kill_and_restart(kind, index=n % len(self.replicas[kind]))

    # -- what happened --------------------------------------------------------------------

    def audit(self) -> DeletionAudit:
        """Every committed deletion, from every storage-api incarnation's log."""
        audit = DeletionAudit()
        for replica in self.replicas["storage-api"]:
            for proc in replica.incarnations:
                for match in _AUDIT.finditer(_read(proc)):
                    job, _count, reason, ids = match.groups()
                    for item_id in ids.split():
                        audit.deletions[item_id].append((job, proc.name, reason))
        return audit

    def uncounted_by_kills(self, audit: DeletionAudit) -> tuple[int, list[str]]:
        """Items a job deleted that its worker could not count because a kill intervened.

        Counters live in each worker process and are written after storage-api answers: a
        worker SIGKILLed between storage-api's commit and its own count loses that batch's
        count (its message comes back only after the visibility timeout, and then finds
        nothing to delete); a storage-api killed after the commit, before its answer, makes
        the job retry and find nothing. Each such job is listed; any other job whose count
        differs from the audit is unexplained (returned as a problem)."""
        reported: Counter[str] = Counter()
        killed_worker_jobs: set[str] = set()
        for replica in self.replicas["worker"]:
            for proc in replica.incarnations:
                text = _read(proc)
                for job, count in _DONE.findall(text):
                    reported[job] += int(count)
                if proc is not replica.current:  # an incarnation that was killed
                    killed_worker_jobs.update(_RECEIVED.findall(text))
        killed_api = {
            proc.name
            for replica in self.replicas["storage-api"]
            for proc in replica.incarnations
            if proc is not replica.current
        }
        uncounted = 0
        unexplained = []
        for job, (count, api_names) in audit.per_job().items():
            missing = count - reported[job]
            if missing == 0:
                continue
            if missing > 0 and (job in killed_worker_jobs or api_names & killed_api):
                uncounted += missing
            else:
                unexplained.append(f"job {job}: audit {count}, worker reported {reported[job]}")
        return uncounted, unexplained

    def deleted_objects_counted(self) -> int:
        """s3tasks_deleted_objects_total summed over every worker incarnation's files."""
        total = 0.0
        for replica in self.replicas["worker"]:
            for proc in replica.incarnations:
                directory = Path(proc.env["WORKER_STATE_DIR"]) / "prometheus"
                if not directory.is_dir():
                    continue
                registry = CollectorRegistry()
                MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
                for metric in registry.collect():
                    for sample in metric.samples:
                        if sample.name == "s3tasks_deleted_objects_total":
                            total += sample.value
        return int(total)


@dataclass
class DeletionAudit:
    #: item id -> every (job, storage-api incarnation, reason) that recorded deleting it
    deletions: dict[str, list[tuple[str, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @property
    def items(self) -> int:
        return len(self.deletions)

    @property
    def double_deletions(self) -> dict[str, list[tuple[str, str, str]]]:
        return {item: jobs for item, jobs in self.deletions.items() if len(jobs) > 1}

    def by_replica(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for records in self.deletions.values():
            for _job, replica, _reason in records:
                counts[replica.rsplit(".", 1)[0]] += 1
        return dict(sorted(counts.items()))

    def jobs(self) -> int:
        return len({job for records in self.deletions.values() for job, _, _ in records})

    def per_job(self) -> dict[str, tuple[int, set[str]]]:
        """job -> (items it deleted, the storage-api incarnations that did it)"""
        counts: Counter[str] = Counter()
        names: dict[str, set[str]] = defaultdict(set)
        for records in self.deletions.values():
            for job, replica, _reason in records:
                counts[job] += 1
                names[job].add(replica)
        return {job: (n, names[job]) for job, n in counts.items()}


def _read(proc: ServiceProcess) -> str:
    return proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""


def _rebind(port: int) -> socket.socket:
    """Listen on `port` again once the killed process tree has let go of it (the kernel
    releases a SIGKILLed process's sockets when it is reaped, its pool children a moment
    after the parent)."""
    bound: list[socket.socket] = []

    def bind() -> bool:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            return False
        sock.listen(128)
        sock.set_inheritable(True)
        bound.append(sock)
        return True

    wait_until(bind, timeout=patience(1), interval=0.1, message=f"port {port} to be free")
    return bound[0]


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for process in family:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(family, timeout=patience(1))


@contextmanager
def replicated_stack(
    dependencies: Dependencies,
    *,
    ttl: int,
    sweep_interval_seconds: float = 1.0,
    extra_env: Mapping[str, str] | None = None,
    name: str = "replicas",
) -> Iterator[ReplicatedStack]:
    """The replicated stack on a database, Redis prefix and bucket of its own, logging below
    `name` (one per test, so that a failed run's logs are not overwritten by the next test
    in its worker). That directory is this run's alone: it is emptied first, since the audit
    reads every log in it (services append to their log files)."""
    shutil.rmtree(dependencies.log_root / name, ignore_errors=True)
    # the services stop (ExitStack) before their database, prefix and bucket are removed
    with (
        short_run_config(
            dependencies,
            name,
            ttl=ttl,
            sweep_interval_seconds=sweep_interval_seconds,
            extra_env={
                "WEB_SHUTDOWN_DELAY_SECONDS": str(SHUTDOWN_DELAY_SECONDS),
                "STORAGE_API_SHUTDOWN_DELAY_SECONDS": str(SHUTDOWN_DELAY_SECONDS),
                **(extra_env or {}),
            },
        ) as config,
        ExitStack() as es,
    ):
        yield ReplicatedStack(config).start(es)


@dataclass
class ReplicaFigures:
    """What the audit and the metrics say after a replicated run has settled."""

    items_deleted: int
    deletion_jobs: int
    deletions_by_replica: dict[str, int]
    double_deletions: dict[str, list[tuple[str, str, str]]]
    deleted_objects_counted: int
    #: deleted by jobs whose count a SIGKILL cut off (see ReplicatedStack.uncounted_by_kills)
    uncounted_by_kills: int
    unexplained_counts: list[str]
    restarts: dict[str, int]

    @property
    def ok(self) -> bool:
        return (
            not self.double_deletions
            and not self.unexplained_counts
            and self.deleted_objects_counted + self.uncounted_by_kills == self.items_deleted
        )

    def figures(self) -> str:
        by_replica = ", ".join(f"{k}: {v}" for k, v in self.deletions_by_replica.items())
        restarts = ", ".join(f"{k}: {v}" for k, v in self.restarts.items()) or "none"
        return "\n".join(
            [
                f"replicas: {', '.join(f'{n} {k}' for k, n in REPLICAS.items())}"
                f" (restarted: {restarts})",
                f"items deleted: {self.items_deleted} by {self.deletion_jobs} jobs"
                f" (by storage-api replica: {by_replica})",
                f"double deletions: {len(self.double_deletions)}"
                + (f" {list(self.double_deletions.items())[:5]}" if self.double_deletions else ""),
                f"deleted objects counted by the workers' metrics (all replicas):"
                f" {self.deleted_objects_counted}, not counted because a kill cut the job off:"
                f" {self.uncounted_by_kills}"
                + (
                    f", unexplained: {self.unexplained_counts[:5]}"
                    if self.unexplained_counts
                    else ""
                ),
            ]
        )


def figures_of(stack: ReplicatedStack) -> ReplicaFigures:
    audit = stack.audit()
    uncounted, unexplained = stack.uncounted_by_kills(audit)
    return ReplicaFigures(
        items_deleted=audit.items,
        deletion_jobs=audit.jobs(),
        deletions_by_replica=audit.by_replica(),
        double_deletions=audit.double_deletions,
        deleted_objects_counted=stack.deleted_objects_counted(),
        uncounted_by_kills=uncounted,
        unexplained_counts=unexplained,
        restarts={
            replica.name: len(replica.incarnations) - 1
            for replicas in stack.replicas.values()
            for replica in replicas
            if len(replica.incarnations) > 1
        },
    )


def load_target(stack: ReplicatedStack, plan: Callable[[float], None] | None = None) -> LoadTarget:
    """The replicated stack as the load test's target, its chaos the replicas' kills, or
    `plan` (a rolling restart: visitors then go on until it is over)."""
    return LoadTarget(
        web_url=stack.web_url,
        storage_api_url=stack.storage_api_url,
        database_url=stack.config.database_url,
        s3=stack.config.s3,
        bucket=stack.config.bucket,
        chaos_plan=plan or stack.chaos,
        web_metrics_urls=lambda: [r.current.metrics_url for r in stack.replicas["web"]],
        load_until_chaos_ends=plan is not None,
    )
