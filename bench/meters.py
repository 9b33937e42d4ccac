"""What one action costs, read from the outside of the running stack (bench/costs.py, the
replay and the soak).

- CPU: utime + stime of each service's process and its descendants (/proc/<pid>/stat), for
  web, storage-api, worker (Celery's pool children included), beat, radosgw and its OSD
  (children of this process, started by the test kit), and the PostgreSQL backends connected
  to the bench's own database (pg_stat_activity; a backend that closes inside a window is
  missed, the services' pools keep theirs open).
- PostgreSQL: transactions (xact_commit + xact_rollback) and rows written/read of the bench's
  own database, from pg_stat_database. Transactions, not statements: pg_stat_statements needs
  a server restart on the shared server. Backends flush these counters when idle, at the
  latest PGSTAT_IDLE_INTERVAL (10 s, PostgreSQL 15) after their last transaction, so a window
  closes its PostgreSQL reading `PG_STATS_SETTLE` seconds after the actions.
- S3: the requests radosgw served, counted in its access log (one `beast:` line a request,
  logged at its default level), by method.
- Redis: `total_commands_processed` of a Redis server the run has to itself (costs, replay);
  on a shared server the figure is left out.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench.harness import BenchEnv

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: PostgreSQL 15's PGSTAT_IDLE_INTERVAL (10 s) and a margin: every backend has flushed by then
PG_STATS_SETTLE = 11.0
_ACCESS = re.compile(r' beast: \S+ \S+ - \S+ \[[^\]]*\] "([A-Z]+) ')
_PG_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "tup_fetched",
)
CEPH_DAEMONS = ("radosgw", "ceph-osd")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command, parent pid, CPU seconds) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # fields from the third of proc(5): state ppid ... utime (14th) stime (15th)
    return comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _processes() -> dict[int, tuple[str, int, float]]:
    table: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = st
    return table


def _tree_cpu(root: int, table: dict[int, tuple[str, int, float]]) -> float:
    """CPU seconds of `root` and every living descendant."""
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            total += table[pid][2]
        todo.extend(children.get(pid, []))
    return total


def cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds (utime + stime) of each named process and its living descendants (uvicorn's
    workers, Celery's pool) so far: the difference of two readings over the requests between
    them is the CPU a request costs, which a busy machine leaves alone where it slows time."""
    table = _processes()
    return {name: _tree_cpu(pid, table) for name, pid in pids.items()}


@dataclass
class Reading:
    at: float
    cpu: dict[str, float]
    pg_backends: dict[int, float]
    redis_commands: int | None
    s3_requests: Counter[str]
    pg: dict[str, int] = field(default_factory=dict)


@dataclass
class Meters:
    env: BenchEnv
    #: a Redis the run has to itself, or None (a shared server's counters say nothing)
    redis_url: str | None
    rgw_log: Path | None = None

    def __post_init__(self) -> None:
        logs = sorted(
            self.env.config.log_dir.parent.rglob("radosgw.log"), key=lambda p: p.stat().st_mtime
        )
        self.rgw_log = logs[-1] if logs else None

    def services(self) -> dict[str, int]:
        stack = self.env.stack
        return {
            name: proc.pid
            for name, proc in (
                ("web", stack.web),
                ("storage-api", stack.storage_api),
                ("worker", stack.worker),
                ("beat", stack.beat),
            )
            if proc is not None and proc.running
        }

    def read(self) -> Reading:
        table = _processes()
        cpu = {name: _tree_cpu(pid, table) for name, pid in self.services().items()}
        own = os.getpid()
        for daemon in CEPH_DAEMONS:
            pids = [p for p, (comm, ppid, _) in table.items() if comm == daemon and ppid == own]
            if pids:
                cpu[daemon] = sum(_tree_cpu(p, table) for p in pids)
        with self.env.db() as conn:
            backends = [
                int(r[0])
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
        pg_backends = {p: table[p][2] for p in backends if p in table}
        commands = None
        if self.redis_url is not None:
            client = redis.Redis.from_url(self.redis_url)
            try:
                commands = int(client.info("stats")["total_commands_processed"])
            finally:
                client.close()
        return Reading(time.monotonic(), cpu, pg_backends, commands, self._s3_requests())

    def read_pg(self, reading: Reading) -> None:
        """The database's counters into `reading` (after the settle, see the module doc)."""
        with self.env.db() as conn:
            row = conn.execute(
                f"SELECT {', '.join(_PG_COUNTERS)} FROM pg_stat_database"  # noqa: S608 - constants
                " WHERE datname = current_database()"
            ).fetchone()
        if row is None:
            raise RuntimeError("pg_stat_database has no row of this database")
        reading.pg = dict(zip(_PG_COUNTERS, (int(v) for v in row), strict=True))

    def _s3_requests(self) -> Counter[str]:
        if self.rgw_log is None:
            return Counter()
        with self.rgw_log.open(errors="replace") as log:
            return Counter(m.group(1) for line in log if (m := _ACCESS.search(line)))


@dataclass
class Window:
    """The difference between two readings: what happened in between."""

    seconds: float
    cpu_ms: dict[str, float]
    redis_commands: float | None
    s3_requests: dict[str, float]
    pg: dict[str, float]

    @classmethod
    def between(cls, a: Reading, b: Reading) -> Window:
        cpu = {k: (b.cpu[k] - a.cpu.get(k, b.cpu[k])) * 1000 for k in b.cpu}
        # backends alive at both ends, and those that opened inside the window
        cpu["postgresql"] = 1000 * sum(
            v - a.pg_backends.get(p, 0.0) for p, v in b.pg_backends.items()
        )
        redis_commands = (
            None
            if a.redis_commands is None or b.redis_commands is None
            else float(b.redis_commands - a.redis_commands)
        )
        s3 = {m: float(b.s3_requests[m] - a.s3_requests[m]) for m in b.s3_requests}
        pg = {k: float(b.pg.get(k, 0) - a.pg.get(k, 0)) for k in _PG_COUNTERS}
        return cls(b.at - a.at, cpu, redis_commands, s3, pg)

    def minus_idle(self, idle: Window) -> Window:
        """This window without what the stack does when nobody asks anything: CPU and Redis
        commands (the worker's broker polls) at idle's rate over this window's length; the
        database's transactions as a constant (beat is stopped: they are the readings' own)."""
        scale = self.seconds / idle.seconds

        def less(mine: dict[str, float], theirs: dict[str, float]) -> dict[str, float]:
            return {k: v - theirs.get(k, 0.0) * scale for k, v in mine.items()}

        redis_commands = None
        if self.redis_commands is not None and idle.redis_commands is not None:
            redis_commands = self.redis_commands - idle.redis_commands * scale
        return Window(
            self.seconds,
            less(self.cpu_ms, idle.cpu_ms),
            redis_commands,
            less(self.s3_requests, idle.s3_requests),
            {k: v - idle.pg.get(k, 0.0) for k, v in self.pg.items()},
        )

    def per(self, count: int) -> dict[str, Any]:
        """Per action: CPU ms by service, transactions, rows, S3 requests, Redis commands."""
        return {
            "cpu_ms": {k: round(v / count, 3) for k, v in self.cpu_ms.items()},
            "pg_transactions": round(
                (self.pg["xact_commit"] + self.pg["xact_rollback"]) / count, 3
            ),
            "pg_rows": {
                k.removeprefix("tup_"): round(v / count, 3)
                for k, v in self.pg.items()
                if k.startswith("tup_")
            },
            "s3_requests": round(sum(self.s3_requests.values()) / count, 3),
            "s3_by_method": {k: round(v / count, 3) for k, v in self.s3_requests.items() if v},
            "redis_commands": None
            if self.redis_commands is None
            else round(self.redis_commands / count, 3),
        }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(meters: Meters, action: Any, *, settle: bool = True) -> Window:
    """One window around `action()` (a callable doing the actions)."""
    before = meters.read()
    meters.read_pg(before)
    action()
    after = meters.read()
    if settle:
        time.sleep(PG_STATS_SETTLE)  # see the module doc: the counters arrive late
    meters.read_pg(after)
    return Window.between(before, after)
