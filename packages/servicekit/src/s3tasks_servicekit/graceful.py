"""SIGTERM as Kubernetes means it: stop being sent work, finish what was started, exit 0.

uvicorn on its own closes its listener the moment SIGTERM arrives, while the Service's
endpoints and the ingress may still send new connections for a moment (they learn of a
terminating pod asynchronously): those would be refused. And once done it raises SIGTERM
again on itself, so the process ends "killed by SIGTERM" (exit status 143), not 0.

`GracefulServer` instead, on SIGTERM (or SIGINT):
1. turns readiness false at once (`Draining`, which the service's /readyz reads);
2. keeps serving for `delay` seconds, so endpoints are updated before it stops listening
   (0 where a preStop hook already waited: the chart's `shutdown.preStopSleepSeconds`);
3. closes the listener and lets requests in flight finish within uvicorn's
   `timeout_graceful_shutdown` (the service's drain bound), cancelling what is left then;
4. returns, and the process exits 0.
A second SIGINT during the drain stops at once, as uvicorn's does (Ctrl+C twice).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

import uvicorn

logger = logging.getLogger(__name__)


class Draining:
    """Set once the process was asked to stop; readiness answers 503 from then on."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def begin(self) -> None:
        self._event.set()

    @property
    def started(self) -> bool:
        return self._event.is_set()


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, draining: Draining, *, delay: float) -> None:
        super().__init__(config)
        self._draining = draining
        self._delay = delay
        self._stop_listening_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # not recorded in uvicorn's `_captured_signals`: uvicorn would raise it again once
        # shut down, and the process would end killed by the signal instead of exiting 0
        if self._stop_listening_at is not None:
            if sig == signal.SIGINT:
                self.force_exit = True
            return
        self._draining.begin()
        self._stop_listening_at = time.monotonic() + self._delay
        logger.info(
            "signal %s: not ready; the listener closes in %.1f s, then requests in flight"
            " have %.0f s to finish",
            signal.Signals(sig).name,
            self._delay,
            self.config.timeout_graceful_shutdown or 0,
        )
        if self._delay <= 0:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        # uvicorn's main loop ticks every 0.1 s: the delay ends on a tick, not in the handler
        if self._stop_listening_at is not None and time.monotonic() >= self._stop_listening_at:
            self.should_exit = True
        return await super().on_tick(counter)
