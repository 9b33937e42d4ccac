"""Peak resident memory of running processes, for the streaming tests and benchmarks."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import psutil

MIB = 1024 * 1024


class PeakRss:
    """Samples the resident memory of some processes (by name) every 10 ms until stopped,
    keeping each one's peak."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.baseline = {name: p.memory_info().rss for name, p in self._procs.items()}
        self.peak = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            for name, proc in self._procs.items():
                self.peak[name] = max(self.peak[name], proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth_mib(self, name: str) -> float:
        return (self.peak[name] - self.baseline[name]) / MIB

    def baseline_mib(self, name: str) -> float:
        return self.baseline[name] / MIB
