"""`s3tasks-storage-api serve | migrate | init-bucket`."""

from __future__ import annotations

import argparse

import uvicorn

from s3tasks_servicekit.graceful import GracefulServer
from s3tasks_servicekit.listeners import inherited_listener
from s3tasks_servicekit.memory import tune_allocator
from s3tasks_servicekit.settings import settings_or_exit
from s3tasks_storage_api.observability.logging import configure_logging
from s3tasks_storage_api.settings import StorageApiSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="s3tasks-storage-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    migrate = commands.add_parser("migrate", help="wait for PostgreSQL, then apply migrations")
    migrate.add_argument("--wait", type=float, default=60.0, help="seconds to wait for PostgreSQL")
    commands.add_parser("init-bucket", help="create the bucket if it does not exist")
    args = parser.parse_args(argv)

    settings = settings_or_exit(StorageApiSettings, parser.prog)
    configure_logging(settings.log_level, settings.json_logs)
    if args.command == "serve":
        from s3tasks_storage_api.app import create_app

        tune_allocator()  # uploads pass through in pieces of a few hundred KiB (memory.py)

        app = create_app(settings)
        config = uvicorn.Config(
            app,
            host=args.host or settings.host,
            port=args.port if args.port is not None else settings.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            # named, not "auto": uvloop and httptools (uvicorn[standard]; the image has no
            # h11) are what the bench measured (case 6), and a missing one should stop the
            # start, not fall back to asyncio or h11 unnoticed
            loop="uvloop",
            http="httptools",
            timeout_graceful_shutdown=settings.shutdown_drain_seconds,
            # callers (web, worker) pool connections for 5 s by default: the server must keep
            # them longer, or a request races the server's close and fails
            timeout_keep_alive=65,
        )
        server = GracefulServer(config, app.state.draining, delay=settings.shutdown_delay_seconds)
        server.run(sockets=inherited_listener(args.fd))
    elif args.command == "migrate":
        from s3tasks_storage_api.db.engine import migrate as run_migrations

        run_migrations(settings, wait_seconds=args.wait)
        print("storage-api: database is at the latest migration")
    else:
        from s3tasks_storage_api.storage.bucket import ObjectStore

        created = ObjectStore.from_settings(settings).ensure_bucket()
        print(f"storage-api: bucket {settings.s3_bucket} {'created' if created else 'exists'}")


if __name__ == "__main__":
    main()
