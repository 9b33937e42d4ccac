"""The baseline of case 6: a minimal Litestar endpoint, served by uvicorn as web is served.

`python -m bench.bare_app --fd N`; the uvicorn settings mirror `s3tasks-web serve`.
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import uvicorn
from litestar import Litestar, get
from litestar.response import Response

from s3tasks_testkit.processes import ServiceProcess, python_module

REPO_ROOT = Path(__file__).resolve().parent.parent

PAGE = "<!doctype html><html><head><title>bare</title></head><body><p>ok</p></body></html>"


@get("/images", sync_to_thread=False)
def images() -> Response[str]:
    return Response(PAGE, media_type="text/html")


@get("/readyz", sync_to_thread=False)
def readyz() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[images, readyz])


def bare_app_process(sock: socket.socket, log_dir: Path) -> ServiceProcess:
    """This app as a child process serving on `sock` (unstarted; `start()` waits for it)."""
    return ServiceProcess(
        name="bare-litestar",
        argv=python_module("bench.bare_app"),
        env={"PYTHONPATH": str(REPO_ROOT)},
        log_dir=log_dir,
        sock=sock,
        ready_url=f"http://127.0.0.1:{sock.getsockname()[1]}/readyz",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args()
    config = uvicorn.Config(
        create_app(),
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    # as the services do (their cli.py says why): not Config(fd=...), which loses TCP_NODELAY
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=args.fd)])


if __name__ == "__main__":
    main()
