"""The workflow subcommands of ``strangler``; :func:`register` adds them to the main parser.

    strangler inventory [--settings MODULE] [--prefix /api/] [--json]
    strangler promote ROUTE [--to MODE[:WEIGHT]] [--force --reason TEXT] [--wait S]
    strangler rollback ROUTE [--all-the-way] [--reason TEXT] [--wait S]
    strangler history [ROUTE] [--json]
    strangler status [ROUTE] [--interval S] [--json]

Exit codes as for every ``strangler`` command: 0 done, 1 refused (failed gate, invalid table,
proxy did not pick the table up), 2 usage (unknown route, bad flags, unreadable input).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..config import load_table
from ..errors import ConfigError
from ..shadow import Thresholds
from .audit import DEFAULT_AUDIT_LOG, read_entries, render_history
from .gates import MetricThresholds, check_loadtest
from .inventory import InventoryError, build_inventory, load_endpoints, render_inventory
from .promote import Move, move, parse_target
from .status import collect_status, render_status, status_json

__all__ = ["main", "register"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _config(p: argparse.ArgumentParser) -> None:
    default = os.environ.get("STRANGLER_CONFIG", "routing.yaml")
    p.add_argument("--config", default=default, help="routing table (default: %(default)s)")


def _admin(p: argparse.ArgumentParser) -> None:
    p.add_argument("--admin", metavar="URL", help="admin API (default: the table's admin.listen)")


def _store(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--shadow-store",
        metavar="URL",
        default=os.environ.get("STRANGLER_SHADOW_STORE"),
        help="shadow comparisons: postgresql://... or sqlite:///path "
        "(default: $STRANGLER_SHADOW_STORE, else var/shadow.sqlite3)",
    )


def _audit(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--audit",
        type=Path,
        default=Path(os.environ.get("STRANGLER_AUDIT_LOG", str(DEFAULT_AUDIT_LOG))),
        help="audit log, JSON lines (default: $STRANGLER_AUDIT_LOG, else %(default)s)",
    )


def _move_options(p: argparse.ArgumentParser) -> None:
    _config(p)
    _admin(p)
    _audit(p)
    p.add_argument("--by", default=os.environ.get("USER") or None, help="who (default: $USER)")
    p.add_argument("--reason", help="why; recorded in the audit log")
    p.add_argument(
        "--wait",
        type=float,
        nargs="?",
        const=10.0,
        metavar="SECONDS",
        help="wait until the proxy serves the new table (default 10 s when given)",
    )


def _table_or_exit(path: str) -> Any:
    try:
        return load_table(path)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None


def _cmd_inventory(args: argparse.Namespace) -> int:
    table = _table_or_exit(args.config)
    if table is None:
        return EXIT_FAILED
    try:
        endpoints = load_endpoints(args.settings, python=args.python, cwd=args.project)
    except InventoryError as err:
        print(f"strangler inventory: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.prefix:
        endpoints = [e for e in endpoints if e.sample.startswith(tuple(args.prefix))]
    inv = build_inventory(table, endpoints)
    if args.json:
        print(json.dumps(inv.as_json(), indent=2))
    else:
        sys.stdout.write(render_inventory(inv, source=args.config))
    return EXIT_OK


def _cmd_move(args: argparse.Namespace, action: str) -> int:
    if action == "promote" and args.force and not args.reason:
        print("strangler promote: --force needs --reason TEXT (it is recorded)", file=sys.stderr)
        return EXIT_USAGE
    target = None
    if action == "promote" and args.to is not None:
        try:
            target = parse_target(args.to, None)
        except ValueError as err:
            print(f"strangler promote: --to: {err}", file=sys.stderr)
            return EXIT_USAGE
    m = Move(
        Path(args.config),
        args.route,
        target,
        args.by or getpass.getuser(),
        admin=args.admin,
        action=action,
        reason=args.reason,
        audit_log=args.audit,
        wait=args.wait,
    )
    if action == "promote":
        m.upstream = args.upstream
        m.force = args.force
        m.shadow_store = args.shadow_store
        m.shadow_thresholds = Thresholds(
            min_samples=args.min_samples, min_match_rate=args.min_match_rate
        )
        m.metric_thresholds = MetricThresholds(
            args.max_error_rate, args.max_fallback_rate, args.min_requests
        )
        m.loadtest_result = args.loadtest_result
    else:
        m.all_the_way = args.all_the_way
    outcome = move(m)
    if not outcome.done:
        print(outcome.message, file=sys.stderr)
        return EXIT_USAGE if outcome.usage else EXIT_FAILED
    print(outcome.message)
    for gate in outcome.gates:
        print(f"  {gate.gate}: {'pass' if gate.passed else 'FAIL'}: {gate.summary}")
    return EXIT_OK


def _cmd_history(args: argparse.Namespace) -> int:
    try:
        entries = read_entries(args.audit, args.route)
    except ValueError as err:
        print(f"strangler history: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps([e.as_json() for e in entries], indent=2))
    else:
        sys.stdout.write(render_history(entries))
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    table = _table_or_exit(args.config)
    if table is None:
        return EXIT_FAILED
    if args.route is not None and args.route not in {r.name for r in table.routes}:
        print(f"strangler status: no route '{args.route}' in {args.config}", file=sys.stderr)
        return EXIT_USAGE
    admin = args.admin or f"http://{table.settings.admin_listen}"
    rows, notes, unit = collect_status(
        table, admin, args.shadow_store, route=args.route, interval=args.interval
    )
    loadtest = check_loadtest(args.loadtest_result) if args.loadtest_result else None
    if args.json:
        data = status_json(rows, notes, unit)
        data["loadtest"] = loadtest.as_json() if loadtest is not None else None
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(render_status(rows, notes, unit))
        if loadtest is not None:
            print(f"latest load comparison: {loadtest.summary}")
    return EXIT_OK


def _share(text: str) -> float:
    value = float(text.rstrip("%"))
    return value / 100 if text.endswith("%") or value > 1 else value


def register(sub: Any) -> None:
    """Add inventory, promote, rollback, history and status to ``strangler``'s subparsers."""
    p = sub.add_parser("inventory", help="every Django endpoint and its state in the table")
    _config(p)
    p.add_argument("--settings", default="legacy_monolith.settings", help="Django settings")
    p.add_argument("--project", metavar="DIR", help="the project's root (default: here)")
    p.add_argument("--python", metavar="EXE", help="the project's Python (default: this one)")
    p.add_argument("--prefix", action="append", metavar="PATH", help="only paths under it")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_inventory)

    p = sub.add_parser("promote", help="move a route one step forward, after its gate")
    p.add_argument("route")
    p.add_argument("--to", metavar="MODE[:WEIGHT]", help="explicit target, e.g. canary:25")
    p.add_argument("--upstream", metavar="NAME", help="the service (sets to: when missing)")
    p.add_argument("--force", action="store_true", help="move even if a gate fails")
    _move_options(p)
    _store(p)
    p.add_argument("--min-samples", type=int, default=100, metavar="N", help="shadow gate")
    p.add_argument("--min-match-rate", type=_share, default=0.99, metavar="X", help="shadow gate")
    p.add_argument("--max-error-rate", type=_share, default=0.01, metavar="X")
    p.add_argument("--max-fallback-rate", type=_share, default=0.01, metavar="X")
    p.add_argument("--min-requests", type=int, default=100, metavar="N", help="metrics gate")
    p.add_argument("--loadtest-result", type=Path, metavar="FILE", help="report.json to check")
    p.set_defaults(func=lambda a: _cmd_move(a, "promote"))

    p = sub.add_parser("rollback", help="move a route back at once (no gate), recorded")
    p.add_argument("route")
    p.add_argument("--all-the-way", action="store_true", help="straight to legacy")
    _move_options(p)
    p.set_defaults(func=lambda a: _cmd_move(a, "rollback"))

    p = sub.add_parser("history", help="the audit log of route moves")
    p.add_argument("route", nargs="?")
    _audit(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_history)

    p = sub.add_parser("status", help="each route: mode, health, breaker, shadow, traffic")
    p.add_argument("route", nargs="?")
    _config(p)
    _admin(p)
    _store(p)
    p.add_argument(
        "--interval",
        type=float,
        default=0.0,
        metavar="S",
        help="read the metrics twice, S seconds apart, and show rates "
        "(default: the last 5 minutes)",
    )
    p.add_argument(
        "--loadtest-result",
        type=Path,
        default=os.environ.get("STRANGLER_LOADTEST_RESULT") or None,
        metavar="FILE",
        help="the latest load comparison (report.json of strangler loadtest compare) to show",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)


def main(argv: list[str] | None = None) -> int:
    """``strangler`` with these subcommands, whether or not ``cli.py`` registers them yet:
    ``python -m strangler_proxy.workflow.cli promote product-detail``."""
    from ..cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "promote" not in sub.choices:
        register(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
