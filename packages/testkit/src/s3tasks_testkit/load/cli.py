"""`make load`: a bounded load run through web on a stack of its own, on loopback.

    python -m s3tasks_testkit.load --visitors 24 --duration 60 --ttl 20 [--chaos] [--replicas]
    python -m s3tasks_testkit.load --replicas --rolling --parts-mib 1024 --ttl 60

Starts its own S3 server (radosgw, or moto with S3TASKS_TEST_S3=moto) and uses PostgreSQL and
Redis where they answer (else embedded ones); every run gets a fresh database, Redis prefix and
bucket. Without `--replicas` the stack is one of each service behind fault proxies (chaos
cuts S3 off, then PostgreSQL, for a few seconds each); with it, replicas of every service
behind nginx (chaos SIGKILLs one of each kind; `--rolling` instead replaces every replica
with SIGTERM, one at a time, twice over, while uploads in parts of `--parts-mib` go on, and
the visitors go on until it is over: no request may fail). Figures are printed and written as
JSON.
"""

from __future__ import annotations

import argparse
import json
import os
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

from s3tasks_testkit import backing_services
from s3tasks_testkit.load.ledger import run_load
from s3tasks_testkit.load.proxied_stack import load_stack
from s3tasks_testkit.load.replicas import figures_of, load_target, replicated_stack
from s3tasks_testkit.load.rolling import MIB, RollingRestart, stack_env
from s3tasks_testkit.s3servers import S3_SETTING, local_dependencies, parse_s3_server


def _say(message: str) -> None:
    print(f"load: {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m s3tasks_testkit.load", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--visitors", type=int, default=24)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--ttl", type=int, default=20)
    parser.add_argument("--chaos", action="store_true")
    parser.add_argument(
        "--replicas",
        action="store_true",
        help="3 web, 2 storage-api, 2 workers, 2 beats behind nginx; chaos kills replicas",
    )
    parser.add_argument(
        "--rolling",
        action="store_true",
        help="with --replicas: a rolling restart with SIGTERM, twice over, instead of kills",
    )
    parser.add_argument(
        "--parts-mib", type=int, default=1024, help="--rolling: the size of each upload in parts"
    )
    parser.add_argument("--report", type=Path, default=Path("build/load-report.json"))
    args = parser.parse_args(argv)
    if not 1 <= args.visitors <= 64 or not 1 <= args.duration <= 600:
        parser.error("visitors 1..64 and duration 1..600 s (a bounded run)")
    if args.rolling and not args.replicas:
        parser.error("--rolling restarts replicas: add --replicas")
    if not 1 <= args.parts_mib <= 4096:
        parser.error("--parts-mib 1..4096")
    log_dir = Path("build/load-logs").resolve()
    with ExitStack() as es:
        dependencies = es.enter_context(
            local_dependencies(
                log_dir,
                _say,
                postgres_url=os.environ.get(
                    "S3TASKS_TEST_POSTGRES_URL", backing_services.DEFAULT_POSTGRES_ADMIN_URL
                ),
                redis_url=os.environ.get(
                    "S3TASKS_TEST_REDIS_URL", backing_services.DEFAULT_REDIS_URL
                ),
                server=parse_s3_server(os.environ.get(S3_SETTING), S3_SETTING),
            )
        )
        replicated = None
        rolling = None
        if args.replicas:
            part_upload_bytes = args.parts_mib * MIB
            # below log_dir/replicas: emptied first, so not where S3 keeps its files
            replicated = es.enter_context(
                replicated_stack(
                    dependencies,
                    ttl=args.ttl,
                    extra_env=stack_env(part_upload_bytes) if args.rolling else None,
                )
            )
            if args.rolling:
                rolling = RollingRestart(replicated, rounds=2, part_upload_bytes=part_upload_bytes)
            target = load_target(replicated, rolling)
        else:
            target = es.enter_context(load_stack(dependencies, ttl=args.ttl))
        print(
            f"load: {args.visitors} visitors for {args.duration:.0f} s against {target.web_url}"
            f" (TTL {args.ttl} s{', chaos on' if args.chaos else ''})",
            flush=True,
        )
        report = run_load(
            target,
            visitors=args.visitors,
            duration=args.duration,
            ttl=args.ttl,
            chaos=args.chaos or rolling is not None,
        )
        result: dict[str, object] = {**asdict(report)}
        ok = report.ok
        if replicated is not None:
            replica_figures = figures_of(replicated)
            print(replica_figures.figures())
            result["replicas"] = asdict(replica_figures)
            ok = ok and replica_figures.ok
            if rolling is not None:
                print(rolling.figures.figures())
                result["rolling"] = asdict(rolling.figures)
                # visitors must not notice: not one failed request, every deletion counted
                ok = (
                    ok
                    and rolling.figures.ok
                    and not report.errors
                    and replica_figures.deleted_objects_counted == replica_figures.items_deleted
                )
    print(report.figures())
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({**result, "ok": ok}, indent=2))
    print(f"load: {'PASS' if ok else 'FAIL'} (report in {args.report})")
    return 0 if ok else 1
