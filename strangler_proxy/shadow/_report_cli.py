"""``strangler shadow report [ROUTE] [--store URL] [--json] [--min-samples N]
[--min-match-rate X]``: exit 0 pass, 1 fail, 2 not enough data (the worst over routes).
``strangler shadow reset ROUTE [--store URL] [--noise]``: forget a route's evidence (after the
service was fixed, so the report judges the new version); exit 0, 2 when nothing is stored for
the route, there is no store at that path, or the store is unusable.

The lead wires it in ``cli.py``::

    p = shadow_sub.add_parser("report", help="shadow comparison evidence per route")
    add_report_arguments(p)
    p.set_defaults(func=run_report)

``--store`` defaults to ``$STRANGLER_SHADOW_STORE``, else the SQLite file
``var/shadow.sqlite3``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = [
    "DEFAULT_STORE_PATH",
    "add_report_arguments",
    "add_reset_arguments",
    "add_store_argument",
    "run_report",
    "run_reset",
]

DEFAULT_STORE_PATH = Path("var/shadow.sqlite3")


def _rate(text: str) -> float:
    """``0.99``, ``99%`` or ``99`` (taken as a percentage when above 1)."""
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number") from None
    if text.endswith("%") or value > 1:
        value /= 100
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be between 0 and 1 (or 0% and 100%)")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """``--store``, as every ``strangler shadow`` subcommand that reads or writes the store
    takes it."""
    parser.add_argument(
        "--store",
        default=os.environ.get("STRANGLER_SHADOW_STORE"),
        metavar="URL",
        help="postgresql://… or sqlite:///path (default: $STRANGLER_SHADOW_STORE, else "
        f"{DEFAULT_STORE_PATH})",
    )


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("route", nargs="?", help="one route's report (default: every route)")
    add_store_argument(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--min-samples", type=_positive, default=100, metavar="N")
    parser.add_argument("--min-match-rate", type=_rate, default=0.99, metavar="X")


def run_report(args: argparse.Namespace) -> int:
    from .report import Thresholds, build_report, render_text, report_json
    from .store import open_store

    try:
        store = open_store(args.store, DEFAULT_STORE_PATH)
        thresholds = Thresholds(min_samples=args.min_samples, min_match_rate=args.min_match_rate)
        report = build_report(store, args.route, thresholds)
        store.close()
    except Exception as err:  # one boundary: a store we cannot read is a usage problem
        print(f"strangler shadow report: cannot read the store: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report_json(report), indent=2))
    else:
        sys.stdout.write(render_text(report))
    return report.exit_code


def add_reset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("route", help="the route whose evidence is forgotten")
    add_store_argument(parser)
    parser.add_argument(
        "--noise",
        action="store_true",
        help="forget the noise learned for it too (running proxies forget it within seconds)",
    )


def run_reset(args: argparse.Namespace) -> int:
    from .store import RouteNotStored, StoreMissing, open_store

    try:
        store = open_store(args.store, DEFAULT_STORE_PATH)
        try:
            compared = store.reset(args.route, noise=args.noise)
        finally:
            store.close()
    except (RouteNotStored, StoreMissing) as err:  # a mistyped route or path: nothing done
        print(f"strangler shadow reset: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # one boundary: a store we cannot write is a usage problem
        print(f"strangler shadow reset: cannot write the store: {err}", file=sys.stderr)
        return 2
    kept = "" if args.noise else "; its learned noise is kept (--noise forgets it)"
    print(f"{args.route}: forgot {compared} comparisons and their examples{kept}")
    return 0
