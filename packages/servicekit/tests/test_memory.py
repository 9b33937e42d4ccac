"""tune_allocator: pieces of a few hundred KiB come from warm heap, not fresh mappings.

Measured in a child process (glibc's thresholds are per process and cannot be undone): the
page faults while 1,000 pieces of 256 KiB are made and freed, as a relay does with each
piece of an object it streams."""

from __future__ import annotations

import subprocess
import sys

import pytest

PIECES = 1000
PIECE_BYTES = 256 * 1024

_CHILD = f"""
import resource, sys
from s3tasks_servicekit.memory import tune_allocator
if sys.argv[1] == "tuned" and not tune_allocator():
    sys.exit(3)
piece = b"x" * {PIECE_BYTES}
for _ in range(50):
    bytes(bytearray(piece))  # the first pieces map the heap either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range({PIECES}):
    copy = bytes(bytearray(piece))
    del copy
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, timeout=60
    )
    if done.returncode == 3:
        pytest.skip("the C library is not glibc: there is no allocator to tune")
    done.check_returncode()
    return int(done.stdout)


def test_relayed_pieces_no_longer_fault_in_fresh_pages() -> None:
    default, tuned = _page_faults("default"), _page_faults("tuned")
    pages_per_piece = PIECE_BYTES // 4096
    # glibc's default maps every piece anew: each of its pages faults in as it is filled
    assert default >= PIECES * pages_per_piece
    # tuned, the pieces reuse heap pages already there: a few faults at most, not one a page
    assert tuned < PIECES
