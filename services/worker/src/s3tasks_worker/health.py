"""Liveness and readiness of the worker, as files (for exec probes) and over HTTP (the routes
of its operations port, `s3tasks_servicekit.opsserver`).

Liveness is a heartbeat file touched by a thread of the worker's main process. It does not
depend on Redis: a broker outage makes the worker unready (its consumer stops), not dead, so
Kubernetes does not restart healthy workers in a loop while Redis is away.
Readiness is a file that exists while the consumer is connected and consuming.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

from s3tasks_servicekit.opsserver import Answer, Route, json_status

if TYPE_CHECKING:  # imported at run time only once multiprocess mode is set (cli.py)
    from prometheus_client.metrics_core import Metric

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthFiles:
    heartbeat_file: Path
    ready_file: Path
    stale_after_seconds: float

    def touch_heartbeat(self) -> None:
        self.heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
        self.heartbeat_file.touch()

    def mark_ready(self) -> None:
        self.ready_file.parent.mkdir(parents=True, exist_ok=True)
        self.ready_file.touch()

    def mark_not_ready(self) -> None:
        self.ready_file.unlink(missing_ok=True)

    def clear(self) -> None:
        """Forget a previous run's files (the state dir may outlive a killed container)."""
        self.mark_not_ready()
        self.heartbeat_file.unlink(missing_ok=True)

    def is_alive(self) -> bool:
        try:
            age = time.time() - self.heartbeat_file.stat().st_mtime
        except FileNotFoundError:
            return False
        return age <= self.stale_after_seconds

    def is_ready(self) -> bool:
        return self.is_alive() and self.ready_file.exists()


class HeartbeatThread:
    """Touches the heartbeat file every `interval` seconds until stopped."""

    def __init__(self, files: HealthFiles, interval: float) -> None:
        self._files = files
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._files.touch_heartbeat()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval + 1)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._files.touch_heartbeat()
            except OSError:
                logger.exception("cannot touch the heartbeat file %s", self._files.heartbeat_file)


def health_routes(files: HealthFiles) -> dict[str, Route]:
    """`/metrics`, `/healthz` and `/readyz`, served by a thread of the worker's main process."""

    def check(alive: bool) -> Answer:
        if alive:
            return json_status(HTTPStatus.OK, "ok")
        return json_status(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable")

    return {
        "/metrics": render_multiprocess_metrics,
        "/healthz": lambda: check(files.is_alive()),
        "/readyz": lambda: check(files.is_ready()),
    }


class _WrittenFilesCollector:
    """prometheus-client's multiprocess collector, over the files that hold something.

    A pool process creates its file empty and sizes it a moment later; read in between,
    prometheus-client's own collector fails on it (`struct.error`: no 4-byte header) and the
    whole scrape with it (seen in a test run: the connection closed without an answer). An
    empty file holds no sample yet, so it is left out until it does."""

    def __init__(self, directory: str) -> None:
        self._directory = Path(directory)

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.multiprocess import MultiProcessCollector

        files = [str(f) for f in self._directory.glob("*.db") if _holds_data(f)]
        merged: Iterable[Metric] = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        return merged


def _holds_data(file: Path) -> bool:
    try:
        return file.stat().st_size > 0
    except FileNotFoundError:  # its process ended and the file went meanwhile
        return False


def render_multiprocess_metrics() -> Answer:
    """The sum over every pool process's files (PROMETHEUS_MULTIPROC_DIR)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(_WrittenFilesCollector(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    return HTTPStatus.OK, generate_latest(registry), CONTENT_TYPE_LATEST
