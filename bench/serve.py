"""`python -m bench.serve MODULE:FACTORY --fd N [--workers N] [--loop L] [--http H]`: an app
factory on uvicorn, as `uvicorn --factory --workers N` runs one, on an inherited socket.

Light on purpose: the supervisor imports only uvicorn; each worker imports the app. (On this
shared machine a service's imports alone have taken half a minute.)
"""

from __future__ import annotations

import argparse
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("factory", help="module:function returning the ASGI app")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", default="auto", help="uvicorn's: auto, asyncio, uvloop")
    parser.add_argument("--http", default="auto", help="uvicorn's: auto, h11, httptools")
    args = parser.parse_args()
    config = uvicorn.Config(
        args.factory,
        factory=True,
        workers=args.workers,
        loop=args.loop,
        http=args.http,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
        # the supervisor kills a worker that does not answer its ping within this; a worker
        # still importing the services' code under a load average of 20 took longer than
        # uvicorn's 5 s, and was restarted over and over
        timeout_worker_healthcheck=120,
    )
    # what `uvicorn --workers N` does, on the socket we were given (not Config(fd=...), which
    # wraps it as AF_UNIX and loses TCP_NODELAY: the services' cli.py say the same)
    sock = socket.socket(fileno=args.fd)
    if args.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
