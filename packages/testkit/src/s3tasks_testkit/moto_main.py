"""Serve moto's S3 on an inherited socket: `python -m s3tasks_testkit.moto_main --fd N`."""

import argparse

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, fd=args.fd)
    server.serve_forever()


if __name__ == "__main__":
    main()
