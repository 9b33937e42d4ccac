"""How long a test may wait for something the design bounds, on a machine that is busy.

A test that waits for the sweep, a restart or a retry asks `patience()` for its deadline
instead of writing a number: the bound the design promises (sweep interval, one job, a
retry's backoff, process starts) times a slack factor, plus a fixed allowance. The suite
runs on shared 2-core machines where other work can hold both cores: a process may run at a
fifth of its quiet speed, so the factor is generous. A wait ends as soon as its condition
holds, so slack costs nothing when things work; it only delays the report of a real failure.
"""

from __future__ import annotations

import os

#: Multiplies every design bound. Raise it with S3TASKS_TEST_SLACK on a slower machine.
SLACK = float(os.environ.get("S3TASKS_TEST_SLACK", "5"))

#: One Python service process from exec to ready on a quiet machine (imports dominate).
PROCESS_START_SECONDS = 8.0

#: Scheduling noise that does not scale with the bound (a GC pause, a page-cache miss).
ALLOWANCE_SECONDS = 15.0


def patience(design_seconds: float = 0.0, *, starts: int = 0) -> float:
    """Seconds to wait for a condition that, by design, holds within `design_seconds`
    after `starts` process (re)starts."""
    return SLACK * (design_seconds + starts * PROCESS_START_SECONDS) + ALLOWANCE_SECONDS


#: One sweep or purge job end to end on a quiet machine, from the tick that enqueues it:
#: beat's dispatch, the worker's pick-up, claim a batch, DeleteObjects, delete the rows.
#: Well under a second for the suites' batch sizes; the bound leaves room for a job that
#: found the previous one still holding its rows and left them to the next tick.
JOB_SECONDS = 10.0


def sweep_patience(sweep_interval_seconds: float, *, jobs: int = 1, starts: int = 0) -> float:
    """Deadline for rows that are due to be gone: the next tick plus `jobs` jobs."""
    return patience(sweep_interval_seconds + jobs * JOB_SECONDS, starts=starts)
