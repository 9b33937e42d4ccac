"""glibc's allocator tuned for a service that moves bytes in pieces of a few hundred KiB.

glibc serves an allocation of 128 KiB or more with a fresh `mmap` and gives it back with
`munmap` when freed (its threshold rises only after such a free, and falls back whenever the
heap is trimmed). A service relaying an object does exactly that for every piece: uvloop's
read, aiohttp's body parser and the response's writes each make a new `bytes` of up to
256 KiB, so each piece costs a map, a page fault per 4 KiB while it is filled (the kernel
zeroes each page) and an unmap. A native profile of web streaming 64 MiB objects (bench case
2, `py-spy --native`) put most of web's CPU in those faults and copies: 2.4 ms of CPU per MiB,
and 0.7 ms with the thresholds below (the same objects at twice the rate).

`tune_allocator()` raises the threshold above the largest piece, so pieces come from the heap
and reuse warm pages, and keeps up to `TRIM_BYTES` of freed heap instead of trimming it at
once. Parts (8 MiB by default) are above the threshold and still go back to the system when
freed, so memory stays within its budget (bench case 3). The same as the environment
variables `MALLOC_MMAP_THRESHOLD_` and `MALLOC_TRIM_THRESHOLD_`, set by the service itself so
that every way of starting it (image, `make run`, tests, benchmarks) runs the same.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: mallopt's parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: pieces below this come from the heap: above the 256 KiB reads and writes of the byte
#: paths, below a part (8 MiB) or a form's buffered file
MMAP_THRESHOLD_BYTES = 1024 * 1024
#: freed heap kept for reuse before it is given back to the system
TRIM_BYTES = 8 * 1024 * 1024


def tune_allocator() -> bool:
    """Apply the thresholds where the C library is glibc; False (and nothing changed) where
    it is not (musl has no `mallopt`)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)
    )
    if not applied:
        log.warning("glibc refused the allocator's thresholds; running with its defaults")
    return applied
