"""Where web's and storage-api's CPU goes during a bench case: py-spy on the running services.

`S3TASKS_BENCH_PROFILE=DIR python -m bench --cases 6` (or `make bench-profile CASES=6`) records
each service with py-spy (`record --nonblocking --format raw`, idle samples left out) for as
long as each measurement runs, and writes per measurement and service the raw stacks
(`<case>-<service>.txt`, e.g. `6-page-serving-web.txt`, for flamegraph.pl or speedscope) and
a summary of them (`<case>.md`): the functions with the largest inclusive and self shares.

Profiles are for reading, not for goals: sampling costs the services a little CPU, so the
case's figures of a profiled run are not comparable with an unprofiled one.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BenchEnv

#: samples a second: enough for shares of a few percent over a case of tens of seconds
RATE = 100
TOP = 25
#: frames every busy sample of a thread passes through (the event loop's run, a pool thread's
#: loop, the program's entry): in every stack, they would head every inclusive list
_OUTER = re.compile(
    r"^(<module>|main|Server\.run|asyncio_run|Runner\.run|run_until_complete|Thread\.\w+"
    r"|_worker|_WorkItem\.run|BaseEventLoop\.\w+|_run_once|Handle\._run) "
)
#: a frame of py-spy's raw output: `function (path/to/file.py:line)`
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def profile_dir() -> Path | None:
    """Where to write profiles, when the run was asked to profile."""
    where = os.environ.get("S3TASKS_BENCH_PROFILE", "")
    return Path(where) if where else None


@dataclass(frozen=True)
class Summary:
    samples: int
    inclusive: list[tuple[str, int]]
    own: list[tuple[str, int]]


def summarize(raw: str, top: int = TOP) -> Summary:
    """Inclusive (a function anywhere in the stack, once per stack; the loops every sample
    passes through left out) and self (innermost frame) sample counts by function and file,
    the largest `top` of each. Self time in `Runner.run` is the event loop's own (uvloop is
    C: its work shows in the frame that started it)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        names = [_name(frame) for frame in stack.split(";")]
        for name in set(names):
            if not _OUTER.match(name):
                inclusive[name] += count
        own[names[-1]] += count
    return Summary(total, inclusive.most_common(top), own.most_common(top))


def _name(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['function']} ({match['file']})"


def markdown(label: str, summaries: dict[str, Summary]) -> str:
    lines = [f"# Profile of `{label}`", ""]
    for service, summary in summaries.items():
        lines += [f"## {service}: {summary.samples} busy samples at {RATE}/s", ""]
        for title, rows in (("inclusive", summary.inclusive), ("self", summary.own)):
            lines += [f"| {title} | function (file) |", "|---|---|"]
            lines += [
                f"| {100 * n / max(1, summary.samples):.1f} % | `{name}` |" for name, n in rows
            ]
            lines.append("")
    return "\n".join(lines)


@contextmanager
def profiled(env: BenchEnv, label: str) -> Iterator[None]:
    """py-spy on web and storage-api while the block runs, when the run was asked to
    (`S3TASKS_BENCH_PROFILE`); nothing otherwise."""
    out = profile_dir()
    # the environment's own (a dev dependency), whether or not its bin/ is on PATH
    beside = Path(sys.executable).with_name("py-spy")
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if out is None:
        yield
        return
    if spy is None:
        raise RuntimeError("S3TASKS_BENCH_PROFILE is set but py-spy is not installed")
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")  # "6 page serving": 6-page-serving
    pids = {
        name: proc.pid
        for name, proc in (("web", env.stack.web), ("storage-api", env.stack.storage_api))
        if proc is not None
    }
    recorders: dict[str, subprocess.Popen[bytes]] = {}
    with ExitStack() as stack:
        for service, pid in pids.items():
            argv = [spy, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw"]
            argv += ["--nonblocking", "--output", str(out / f"{stem}-{service}.txt")]
            log = stack.enter_context((out / f"{stem}-{service}.log").open("wb"))
            recorders[service] = stack.enter_context(
                # py-spy found on PATH, our own pids and paths: no outside input
                subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
            )
        try:
            yield
        finally:
            for recorder in recorders.values():
                recorder.send_signal(signal.SIGINT)  # py-spy writes its file and stops
            for recorder in recorders.values():
                recorder.wait(timeout=60)
    summaries = {
        service: summarize((out / f"{stem}-{service}.txt").read_text())
        for service in recorders
        if (out / f"{stem}-{service}.txt").exists()
    }
    (out / f"{stem}.md").write_text(markdown(label, summaries) + "\n")
