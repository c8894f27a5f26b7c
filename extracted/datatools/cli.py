"""``strangler data backfill|verify SERVICE``: argument parsing and exit codes.

The strangler CLI wires these into its ``data`` command group::

    backfill = data.add_parser("backfill"); add_backfill_arguments(backfill)
    backfill.set_defaults(func=run_backfill)              # run_backfill(args) -> exit code

Meanwhile: ``python -m extracted.datatools backfill catalog --source-url ...``.

Backfill exits 0 when done, 2 when it cannot start or read (the message says why).
Verify exits 0 (no difference), 1 (drift, listed by id) or 2 (cannot read).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from extracted.common import create_engine_from_url
from extracted.datatools.backfill import BackfillError, backfill_service
from extracted.datatools.services import SERVICES, load_service
from extracted.datatools.verify import Verdict, verify_service

__all__ = [
    "add_backfill_arguments",
    "add_verify_arguments",
    "main",
    "run_backfill",
    "run_verify",
]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", choices=sorted(SERVICES), help="the extracted service")
    parser.add_argument(
        "--source-url",
        default=None,
        help="the monolith's database (default: DATABASE_URL or sqlite:///var/monolith.sqlite3)",
    )
    parser.add_argument(
        "--target-url",
        default=None,
        help="the service's database (default: <SERVICE>_DATABASE_URL or its var/ SQLite file)",
    )


def add_backfill_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rate", type=float, default=None, metavar="ROWS_PER_S")
    parser.add_argument("--restart", action="store_true", help="ignore the saved checkpoint")
    parser.add_argument(
        "--queue", default=None, help="the consumer's queue to require (default: the service's)"
    )
    parser.add_argument(
        "--no-consumer-check",
        action="store_true",
        help="start even though no event consumer declared its queue (a one-off copy)",
    )


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--max-diffs", type=int, default=20, help="field diffs shown per table")
    parser.add_argument("--sample", type=int, default=20, help="rows deep-compared per table")
    parser.add_argument(
        "--settle", type=float, default=0.0, help="retry for up to N s while events catch up"
    )


def _urls(args: argparse.Namespace) -> tuple[str, str]:
    spec = load_service(args.service)
    source = args.source_url or os.environ.get("DATABASE_URL", "").strip()
    target = args.target_url or os.environ.get(spec.database_env, "").strip()
    return source or "sqlite:///var/monolith.sqlite3", target or spec.default_database_url


def run_backfill(args: argparse.Namespace) -> int:
    spec = load_service(args.service)
    source_url, target_url = _urls(args)
    try:
        source, target = create_engine_from_url(source_url), create_engine_from_url(target_url)
    except ValueError as err:
        print(f"strangler data backfill: {err}", file=sys.stderr)
        return 2
    try:
        backfill_service(
            spec,
            source,
            target,
            batch_size=args.batch_size,
            rate=args.rate,
            restart=args.restart,
            require_consumer=not args.no_consumer_check,
            consumer_queue=args.queue,
            out=sys.stdout,
        )
    except BackfillError as err:
        print(f"strangler data backfill: {err}", file=sys.stderr)
        return 2
    except SQLAlchemyError as err:
        print(
            f"strangler data backfill: cannot read/write: {str(err).splitlines()[0]}",
            file=sys.stderr,
        )
        return 2
    finally:
        source.dispose()
        target.dispose()
    return 0


def run_verify(args: argparse.Namespace) -> int:
    spec = load_service(args.service)
    source_url, target_url = _urls(args)
    try:
        source, target = create_engine_from_url(source_url), create_engine_from_url(target_url)
    except ValueError as err:
        print(f"strangler data verify: {err}", file=sys.stderr)
        return int(Verdict.UNREADABLE)
    try:
        report = verify_service(
            spec,
            source,
            target,
            max_diffs=args.max_diffs,
            sample=args.sample,
            settle=args.settle,
        )
    finally:
        source.dispose()
        target.dispose()
    if args.json:
        print(json.dumps(report.as_json(), default=str))
    else:
        print("\n".join(report.lines()))
    return int(report.verdict)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m extracted.datatools", description="strangler data backfill|verify"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    backfill = sub.add_parser("backfill", help="copy the monolith's rows into the service")
    add_backfill_arguments(backfill)
    backfill.set_defaults(func=run_backfill)
    verify = sub.add_parser("verify", help="compare the monolith's rows with the service's")
    add_verify_arguments(verify)
    verify.set_defaults(func=run_verify)
    args = parser.parse_args(argv)
    return int(args.func(args))
