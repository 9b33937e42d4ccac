"""`s3tasks-web serve [--fd N] [--host H] [--port P] [--metrics-fd N]`: settings from the
environment, uvicorn for the pages, a thread for /metrics on a port of its own."""

from __future__ import annotations

import argparse
from http import HTTPStatus

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from s3tasks_servicekit.graceful import GracefulServer
from s3tasks_servicekit.listeners import inherited_listener
from s3tasks_servicekit.memory import tune_allocator
from s3tasks_servicekit.opsserver import Answer, OpsServer
from s3tasks_servicekit.settings import settings_or_exit
from s3tasks_web.app import create_app
from s3tasks_web.dependencies import services_of
from s3tasks_web.http.header_timeout import with_header_deadline
from s3tasks_web.observability.logging import configure_logging
from s3tasks_web.settings import WebSettings


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
    parser = _parser()
    args = parser.parse_args(argv)
    settings = settings_or_exit(WebSettings, parser.prog)
    configure_logging(settings.log_level, settings.json_logs)
    tune_allocator()  # every relayed piece from warm heap, not a fresh mmap (memory.py)
    app = create_app(settings)
    registry = services_of(app.state).metrics.registry

    def metrics() -> Answer:
        return HTTPStatus.OK, generate_latest(registry), CONTENT_TYPE_LATEST

    # the public port is what the ingress publishes; the metrics are for the operator's
    # Prometheus only, so they are served apart, as the worker's are
    routes = {"/metrics": metrics}
    if args.metrics_fd is not None:
        metrics_server = OpsServer.on_inherited_socket(args.metrics_fd, routes)
    else:
        metrics_server = OpsServer.on_address(settings.metrics_host, settings.metrics_port, routes)
    config = uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        # named, not "auto": uvloop (uvicorn[standard]) is what the bench measured (case 6),
        # and a missing one should stop the start, not fall back to asyncio unnoticed
        loop="uvloop",
        http=with_header_deadline(settings.header_timeout_seconds),
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_drain_seconds,
        # the ingress keeps its idle connections to web open for 60 s (nginx's and
        # ingress-nginx's upstream keepalive_timeout): web must keep them longer, or a request
        # nginx sends on one races web's close, and nginx cannot send a POST again (502)
        timeout_keep_alive=65,
        lifespan="on",
    )
    server = GracefulServer(config, app.state.draining, delay=settings.shutdown_delay_seconds)
    metrics_server.start()
    try:
        server.run(sockets=inherited_listener(args.fd))
    finally:
        metrics_server.stop()


if __name__ == "__main__":
    main()
