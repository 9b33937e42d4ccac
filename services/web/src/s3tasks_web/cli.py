"""`s3tasks-web serve [--fd N] [--host H] [--port P] [--metrics-fd N]`: settings from the
environment, uvicorn for the pages, a thread for /metrics on a port of its own."""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn
from pydantic import ValidationError

from s3tasks_web.app import create_app
from s3tasks_web.observability.header_timeout import with_header_deadline
from s3tasks_web.observability.logging import configure_logging
from s3tasks_web.observability.metrics_server import MetricsServer
from s3tasks_web.settings import WebSettings, describe_settings_error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3tasks-web", description="s3tasks web pages")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the pages over HTTP")
    serve.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    serve.add_argument("--host", help="bind address (default WEB_HOST)")
    serve.add_argument("--port", type=int, help="port (default WEB_PORT)")
    serve.add_argument(
        "--metrics-fd",
        type=int,
        help="serve /metrics on this inherited listening socket (default WEB_METRICS_HOST/PORT)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = WebSettings()
    except ValidationError as exc:
        print(describe_settings_error(exc), file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level, settings.effective_log_format)
    app = create_app(settings)
    registry = app.state.services.metrics.registry
    if args.metrics_fd is not None:
        metrics_server = MetricsServer.on_inherited_socket(args.metrics_fd, registry)
    else:
        metrics_server = MetricsServer.on_address(
            settings.metrics_host, settings.metrics_port, registry
        )
    config = uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        http=with_header_deadline(settings.header_timeout_seconds),
        server_header=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    metrics_server.start()
    try:
        uvicorn.Server(config).run(sockets=inherited_listener(args.fd))
    finally:
        metrics_server.stop()


def inherited_listener(fd: int | None) -> list[socket.socket] | None:
    """The listening socket behind `--fd`, for `uvicorn.Server.run(sockets=...)`.

    Not `uvicorn.Config(fd=...)`: uvicorn wraps that descriptor as an AF_UNIX socket, so
    asyncio never sets TCP_NODELAY on the connections it accepts, and every response on a
    kept-alive connection then waits ~40 ms for the client's delayed ACK (Nagle).
    `socket.socket(fileno=...)` asks the kernel for the real family, type and protocol.
    """
    return None if fd is None else [socket.socket(fileno=fd)]


if __name__ == "__main__":
    main()
