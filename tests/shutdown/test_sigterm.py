"""SIGTERM, as Kubernetes sends it at every rolling update, to each service in turn while it
is in the middle of something slow: the request (or job) in flight finishes, readiness turned
false first, no new request is served once the listener closed (refused, reset or cut off:
whichever the probe meets, `_served`), and the process exits 0 within its bound
(s3tasks_servicekit.graceful; Celery's warm shutdown for the worker).

The parent's copy of each inherited listening socket is closed once the service runs, so
that when the service closes its own, connections are refused as they would be in a pod.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from celery import Celery

from s3tasks_contracts import TASK_SWEEP_DUE
from s3tasks_testkit import database
from s3tasks_testkit.faultproxy import FaultProxy, Latency, loopback_address
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, wait_until
from s3tasks_testkit.stack import Dependencies, Stack, StackConfig, isolated_config, service_process
from s3tasks_testkit.web_visitor import WebVisitor
from s3tasks_worker.app import create_celery_app
from s3tasks_worker.settings import WorkerSettings

#: the listener closes this long after SIGTERM (readiness is false meanwhile): long enough for
#: this test's own poll to see the 503 on a busy machine
DELAY_SECONDS = 3.0
#: requests in flight have this long after the listener closed
DRAIN_SECONDS = 20
SHUTDOWN_ENV = {
    "STORAGE_API_SHUTDOWN_DELAY_SECONDS": str(DELAY_SECONDS),
    "STORAGE_API_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
    "WEB_SHUTDOWN_DELAY_SECONDS": str(DELAY_SECONDS),
    "WEB_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
}


#: each test starts service processes, minutes apart on a busy 2-core machine
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def config(dependencies: Dependencies, request: pytest.FixtureRequest) -> Iterator[StackConfig]:
    with isolated_config(
        dependencies, f"sigterm-{request.node.name}", extra_env=SHUTDOWN_ENV
    ) as config:
        yield config


def _start(config: StackConfig, kind: str, storage_api_url: str = "", **env: str) -> ServiceProcess:
    sock = bind_loopback()
    return service_process(
        config,
        kind,
        storage_api_url,
        sock=sock,
        metrics_sock=bind_loopback() if kind == "web" else None,
        env=env,
    ).start(ready_timeout=patience(starts=1))


def _stop(proc: ServiceProcess) -> None:
    proc.stop()
    for sock in (proc.sock, proc.metrics_sock):
        if sock is not None:
            sock.close()


def _let_go_of_listener(proc: ServiceProcess) -> str:
    """The service's URL; the parent's copy of its listening socket is closed (see above)."""
    url = proc.url
    assert proc.sock is not None
    proc.sock.close()
    return url


def _served(url: str) -> httpx.Response | None:
    """One probe of /readyz on a new connection: its answer, or None when no answer came.
    Around the listener's close every way of not getting one happens, depending on where
    the probe was when the socket closed (refused at connect; reset, or closed before a
    status line, when the kernel had queued its connection; a read that errors or times out
    on a starved machine): each is "not served", which is what a closed listener must do."""
    try:
        return httpx.get(f"{url}/readyz", timeout=5)
    except httpx.TransportError:
        return None


def _rows(config: StackConfig) -> int:
    return int(database.one(config.database_url, "SELECT count(*) FROM items"))


def _exits_zero_within(proc: ServiceProcess, bound: float) -> float:
    started = time.monotonic()
    code = proc.wait_exit(timeout=patience(bound))
    assert code == 0, f"{proc.name} exited {code}\n{proc.tail_log()}"
    return time.monotonic() - started


class InFlight:
    """A request run in a thread; `.result` once it is answered."""

    def __init__(self, call: Any) -> None:
        self.result: httpx.Response | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Any) -> None:
        try:
            self.result = call()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.result = exc

    def answer(self, timeout: float) -> httpx.Response:
        self._thread.join(timeout)
        assert isinstance(self.result, httpx.Response), f"no answer: {self.result!r}"
        return self.result


#: what the service logs once SIGTERM is handled (graceful.py), and what uvicorn logs just
#: before it closes the listener, with no await in between (uvicorn.Server.shutdown)
NOT_READY_LOGGED = "not ready; the listener closes in"
CLOSING_LOGGED = "Shutting down"
#: probes after the close that must all go unanswered
PROBES_AFTER_CLOSE = 3


def _sigterm_then_no_new_request_served(proc: ServiceProcess, url: str) -> None:
    """SIGTERM, then probes on new connections until the listener closed, each judged by
    what the service's own log said (since the signal: logs are appended to across runs)
    before it was sent, never by when it happened to run (a loaded machine may starve the
    probes for the whole delay): one sent once the signal was handled and answered must say
    503 (the endpoints drop the replica) and `Connection: close` (no client keeps an idle
    connection to a listener about to close); one sent once the listener was closing must
    not be answered at all."""
    since = proc.log_path.stat().st_size
    proc.signal(signal.SIGTERM)
    unanswered_after_close = 0

    def probe() -> bool:
        nonlocal unanswered_after_close
        with proc.log_path.open("rb") as log_file:
            log_file.seek(since)
            log = log_file.read().decode(errors="replace")
        closing, handled = CLOSING_LOGGED in log, NOT_READY_LOGGED in log
        answer = _served(url)
        if closing:
            assert answer is None, (
                f"a new request was served after the listener closed: {answer.status_code}"
            )
            unanswered_after_close += 1
        elif handled and answer is not None:
            assert answer.status_code == 503, answer.text
            assert answer.headers.get("connection") == "close", answer.headers
        return unanswered_after_close >= PROBES_AFTER_CLOSE

    wait_until(probe, timeout=patience(DELAY_SECONDS), message="the listener to close")


def test_sigterm_lets_a_slow_upload_through_web_finish_and_web_exits_0(
    config: StackConfig,
) -> None:
    Stack(config).migrate()
    api = _start(config, "storage-api")  # its start waits with the run's patience
    web = _start(config, "web", api.url)
    try:
        web_url = _let_go_of_listener(web)
        visitor = WebVisitor(web_url)
        token = visitor.csrf_token()
        sent_first = threading.Event()
        chunk, chunks = b"x" * 64 * 1024, 40  # 2.5 MiB over about 4 s

        def body() -> Iterator[bytes]:
            boundary = "s3tasks-slow"
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\n'
                f'slow\r\n--{boundary}\r\nContent-Disposition: form-data; name="file";'
                f' filename="slow.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            for n in range(chunks):
                yield chunk
                if n == 0:
                    sent_first.set()
                time.sleep(0.1)  # the visitor's slow line, not a wait for the system
            yield f"\r\n--{boundary}--\r\n".encode()

        upload = InFlight(
            lambda: visitor.http.post(
                "/files/upload",
                headers={
                    "X-CSRF-Token": token,
                    "Accept": "application/json",
                    "Content-Type": "multipart/form-data; boundary=s3tasks-slow",
                },
                content=body(),
            )
        )
        assert sent_first.wait(patience(1))
        _sigterm_then_no_new_request_served(web, web_url)
        answer = upload.answer(timeout=patience(DRAIN_SECONDS))
        assert answer.status_code == 200, answer.text
        assert answer.json()["ok"] is True, answer.text
        _exits_zero_within(web, DELAY_SECONDS + DRAIN_SECONDS)
        _stop(web)
        visitor.close()
        # the file is stored: the next web sees it on the visitor's page
        web = _start(config, "web", api.url)
        with WebVisitor(web.url) as again:
            again.http.cookies = visitor.http.cookies
            assert again.latest_file_id() is not None
    finally:
        _stop(web)
        _stop(api)


def test_sigterm_lets_storage_api_finish_a_request_on_a_slow_s3_and_exit_0(
    config: StackConfig,
) -> None:
    with FaultProxy(*loopback_address(config.s3.url, 80)) as s3:
        slow = dataclasses.replace(
            config,
            extra_env={**config.extra_env, "STORAGE_API_S3_ENDPOINT": f"http://{s3.address}"},
        )
        stack = Stack(slow)
        stack.migrate()
        api = _start(slow, "storage-api")
        try:
            url = _let_go_of_listener(api)
            s3.set_mode(Latency(1.5))  # each chunk each way: a request to S3 takes seconds
            visitor = uuid.uuid4().hex
            start = InFlight(
                lambda: httpx.post(
                    f"{url}/v1/visitors/{visitor}/uploads",
                    headers={"Authorization": f"Bearer {config.web_service_token}"},
                    json={"kind": "file", "filename": "a.bin", "via": "proxy", "size_bytes": 10},
                    timeout=60,
                )
            )
            # the row is written first, then S3 is asked (slowly) for the multipart upload
            wait_until(
                lambda: _rows(config) > 0 or start.result is not None,
                timeout=patience(1),
                message="the request to be under way",
            )
            _sigterm_then_no_new_request_served(api, url)
            answer = start.answer(timeout=patience(DRAIN_SECONDS))
            assert answer.status_code == 201, answer.text
            _exits_zero_within(api, DELAY_SECONDS + DRAIN_SECONDS)
        finally:
            _stop(api)


@pytest.fixture
def job_sender(config: StackConfig) -> Iterator[Celery]:
    settings = WorkerSettings(
        _env_file=None,
        broker_url=config.redis_url,
        broker_key_prefix=config.redis_prefix,
        task_queue=config.task_queue,
    )
    app = create_celery_app(settings)
    try:
        yield app
    finally:
        app.close()


def test_sigterm_lets_the_worker_finish_a_long_job_and_exit_0(
    config: StackConfig, job_sender: Celery
) -> None:
    Stack(config).migrate()
    api = _start(config, "storage-api")  # its start waits with the run's patience
    # a slow storage-api: every chunk each way waits, so the job takes seconds
    with FaultProxy(*loopback_address(api.url, 80)) as slow_api:
        slow_api.set_mode(Latency(2.0))
        worker = _start(config, "worker", f"http://{slow_api.address}")
        try:
            job = job_sender.send_task(TASK_SWEEP_DUE, queue=config.task_queue)
            wait_until(
                lambda: f"[{job.id}] received" in worker.tail_log(200),
                timeout=patience(1),
                message="the worker to take the job",
            )
            worker.signal(signal.SIGTERM)
            # no Service sends the worker work: readiness is the consumer's, and it stops
            # an unanswered probe is the worker already gone with its listener: also unready
            wait_until(
                lambda: (answer := _served(worker.url)) is None or answer.status_code == 503,
                timeout=patience(1),
                message="the worker to turn unready",
            )
            _exits_zero_within(worker, 10)
            assert f"[{job.id}] done in" in worker.log_path.read_text()
        finally:
            _stop(worker)
            _stop(api)


def test_sigterm_on_beat_exits_0_and_a_restarted_beat_goes_on_ticking(
    config: StackConfig,
) -> None:
    """Beat holds nothing to lose: a tick is a message on Redis, sent or not; the schedule's
    file is its own (a fresh one starts from now). Two beats at once are already safe
    (services/worker/tests/test_beats.py)."""
    fast = dataclasses.replace(config, sweep_interval_seconds=0.5)
    env = {"WORKER_STATE_DIR": str(config.log_dir / "beat-state")}
    first = service_process(fast, "beat", "http://127.0.0.1:9", name="beat-1", env=env)
    # logs are appended to: a previous run's ticks must not count as this beat's
    first.log_path.unlink(missing_ok=True)
    first.start()
    try:
        wait_until(
            lambda: "Sending due task" in first.tail_log(200),
            timeout=patience(starts=1),
            message="beat to tick",
        )
        first.signal(signal.SIGTERM)
        _exits_zero_within(first, 5)
    finally:
        first.stop()
    second = service_process(fast, "beat", "http://127.0.0.1:9", name="beat-2", env=env)
    second.log_path.unlink(missing_ok=True)
    second.start()
    try:
        wait_until(
            lambda: second.tail_log(200).count("Sending due task") >= 2,
            timeout=patience(1, starts=1),
            message="the restarted beat to tick again",
        )
        second.signal(signal.SIGTERM)
        _exits_zero_within(second, 5)
    finally:
        second.stop()
