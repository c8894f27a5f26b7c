"""The ``strangler`` command: one tool, one set of conventions.

Exit codes, for every subcommand: 0 success; 1 the thing checked is not good (invalid table,
failed gate); 2 usage error (bad flags, missing file). Errors go to stderr as ``file:line:
message`` where there is a place to name.

    strangler proxy --config routing.yaml            serve the table, hot-reloading it
    strangler proxy --legacy URL --listen HOST:PORT  pure pass-through, no table
    strangler validate [FILE]                        check a table without serving it
    strangler routes [--config FILE] [--json]        the table as a readable list
    strangler shadow report [ROUTE] [--json]         shadow comparisons: verdict per route
    strangler shadow export ROUTE --out FILE         stored mismatches as a mitmproxy flow file
    strangler shadow replay FLOWS... --route NAME    recorded mitmproxy flows against both sides,
                                                     compared like shadow copies
    strangler loadtest compare ...                   baseline vs candidate locust runs
    strangler data backfill|verify SERVICE           move data ownership, check for drift
    strangler demo                                   the demo shop behind the proxy
    strangler inventory | status | promote | rollback | history
                                                     the migration workflow (migration_playbook/)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO

import yaml

from .config import load_table, parse_listen, parse_table
from .errors import ConfigError
from .gateway.runtime import signing_key
from .model import Listen, Mode, RoutingTable
from .shadow import (
    add_export_arguments,
    add_replay_arguments,
    add_report_arguments,
    add_reset_arguments,
    run_export,
    run_replay,
    run_report,
    run_reset,
)
from .workflow.cli import register as register_workflow
from .workflow.pipeline import add_arguments as add_gate_arguments
from .workflow.pipeline import run as run_gates

__all__ = ["main"]

DEFAULT_CONFIG = os.environ.get("STRANGLER_CONFIG", "routing.yaml")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _listen(text: str) -> Listen:
    parsed = parse_listen(text)
    if isinstance(parsed, str):
        raise argparse.ArgumentTypeError(f"{text!r}: {parsed}")
    return parsed


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _print_problems(err: ConfigError, stream: IO[str]) -> None:
    for problem in err.problems:
        print(problem, file=stream)


# -- proxy -----------------------------------------------------------------------------------
def _cmd_proxy(args: argparse.Namespace) -> int:
    from .server import ProxyServer, run, run_workers

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config_path: str | None
    if args.legacy is not None:
        if args.listen is None:
            print("strangler proxy: --legacy needs --listen HOST:PORT", file=sys.stderr)
            return EXIT_USAGE
        text = yaml.safe_dump(
            {"version": 1, "upstreams": {"legacy": args.legacy}, "default": "legacy"}
        )
        try:
            table = parse_table(text, "--legacy")
        except ConfigError as err:
            _print_problems(err, sys.stderr)
            return EXIT_USAGE
        config_path = None
    else:
        config_path = args.config
        try:
            table = load_table(config_path)
        except ConfigError as err:
            _print_problems(err, sys.stderr)
            return EXIT_FAILED
    try:
        signing_key(table)  # what the table needs from the environment, before serving
    except ConfigError as err:
        _print_problems(err, sys.stderr)
        return EXIT_FAILED
    access: IO[str] | None
    if args.access_log == "off":
        access = None
    elif args.access_log == "-":
        access = sys.stdout
    else:
        access = open(args.access_log, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def make(index: int = 0) -> ProxyServer:
        return ProxyServer(
            table,
            config_path=config_path,
            listen=args.listen,
            admin_listen=args.admin_listen,
            access_log=access,
            shadow_store=args.shadow_store,
            reuse_port=args.workers > 1,
            serve_admin=index == 0,
            inventory_settings=args.inventory_settings,
        )

    try:
        if args.workers > 1:
            return EXIT_FAILED if run_workers(make, args.workers) else EXIT_OK
        run(make())
    except OSError as err:  # e.g. the address is in use
        print(f"strangler proxy: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# -- validate ---------------------------------------------------------------------------------
def _cmd_validate(args: argparse.Namespace) -> int:
    try:
        table = load_table(args.file)
    except ConfigError as err:
        _print_problems(err, sys.stdout)
        return EXIT_FAILED
    print(
        f"{args.file}: valid: {len(table.routes)} routes, {len(table.upstreams)} upstreams, "
        f"default {table.default}, sha256 {table.sha256[:12]}"
    )
    return EXIT_OK


# -- routes -----------------------------------------------------------------------------------
def _describe_match(table: RoutingTable, i: int) -> str:
    m = table.routes[i].match
    text = m.path if m.path is not None else f"{m.prefix}*"
    if m.methods:
        text = f"{','.join(sorted(m.methods))} {text}"
    for h in m.headers:
        text += f" [{h.name}{'' if h.value is None else '=' + h.value}]"
    return text


def routes_rows(table: RoutingTable) -> list[dict[str, str]]:
    rows = []
    for i, route in enumerate(table.routes):
        if route.mode is Mode.CANARY:
            weight = f"{route.weight}% ({route.sticky})"
            upstream = f"{route.to} / {table.default}"
        elif route.mode is Mode.EXTRACTED:
            weight, upstream = "100%", str(route.to)
        else:
            weight, upstream = "-", table.default
        rows.append(
            {
                "route": route.name,
                "match": _describe_match(table, i),
                "mode": route.mode.value,
                "weight": weight,
                "upstream": upstream,
                "fallback": route.fallback or "-",
            }
        )
    rows.append(
        {
            "route": "(default)",
            "match": "everything else",
            "mode": "legacy",
            "weight": "-",
            "upstream": table.default,
            "fallback": "-",
        }
    )
    return rows


def _cmd_routes(args: argparse.Namespace) -> int:
    try:
        table = load_table(args.config)
    except ConfigError as err:
        _print_problems(err, sys.stderr)
        return EXIT_FAILED
    rows = routes_rows(table)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    cols = ["route", "match", "mode", "weight", "upstream", "fallback"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in cols).rstrip())
    return EXIT_OK


# -- loadtest (the load-test tooling lives in loadtests/; imported only when used) -------------
def _add_loadtest_arguments(parser: argparse.ArgumentParser) -> None:
    from loadtests.compare import add_arguments

    add_arguments(parser)


def _cmd_loadtest_compare(args: argparse.Namespace) -> int:
    from loadtests.compare import run

    return run(args)


# -- data (the data tooling lives in extracted/datatools; imported only when used) -----------
def _data_arguments(parser: argparse.ArgumentParser, which: str) -> None:
    from extracted.datatools import cli as data_cli

    if which == "backfill":
        data_cli.add_backfill_arguments(parser)
        parser.set_defaults(func=lambda args: data_cli.run_backfill(args))
    else:
        data_cli.add_verify_arguments(parser)
        parser.set_defaults(func=lambda args: data_cli.run_verify(args))


# -- demo -------------------------------------------------------------------------------------
def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strangler",
        description="Move a Django monolith to services one endpoint at a time.",
        epilog="Exit codes: 0 ok, 1 check failed (invalid table, failed gate), 2 usage error.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("proxy", help="run the routing proxy")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--config", default=DEFAULT_CONFIG, help="routing table (default: %(default)s)"
    )
    src.add_argument(
        "--legacy", metavar="URL", help="pass-through to this monolith, with no table at all"
    )
    p.add_argument("--listen", type=_listen, metavar="HOST:PORT", help="public address")
    p.add_argument("--admin-listen", type=_listen, metavar="HOST:PORT", help="admin API address")
    p.add_argument(
        "--access-log",
        default="-",
        metavar="PATH",
        help="JSON access log: '-' for stdout (default), a file path, or 'off'",
    )
    p.add_argument(
        "--shadow-store",
        metavar="URL",
        default=os.environ.get("STRANGLER_SHADOW_STORE"),
        help="where shadow comparisons go: postgresql://... or sqlite:///path "
        "(default: proxy.shadow_store in the table, else var/shadow.sqlite3)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="processes sharing the public port (SO_REUSEPORT); state is per process",
    )
    p.add_argument(
        "--inventory-settings",
        metavar="MODULE",
        help="the Django settings module whose endpoints the dashboard counts as migrated "
        "(runs strangler inventory in a subprocess; default: the share of routes extracted)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=_cmd_proxy)

    p = sub.add_parser("validate", help="check a routing table; print file:line: problems")
    p.add_argument("file", nargs="?", default=DEFAULT_CONFIG, help="(default: %(default)s)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("routes", help="list the routing table")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="(default: %(default)s)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_routes)

    p = sub.add_parser("shadow", help="shadow traffic evidence")
    shadow = p.add_subparsers(dest="shadow_command", metavar="SUBCOMMAND", required=True)
    Adder = Callable[[argparse.ArgumentParser], None]
    shadow_commands: list[tuple[str, str, str, Adder, Callable[[argparse.Namespace], int]]] = [
        (
            "report",
            "per route: compared, match rate, noise, top differing fields, latency; verdict",
            "Exit codes: 0 pass, 1 fail, 2 not enough data.",
            add_report_arguments,
            run_report,
        ),
        (
            "reset",
            "forget a route's comparisons (after fixing the service: the report judges anew)",
            "Exit codes: 0 forgotten, 2 nothing stored for the route, no store at that path, or "
            "the store unusable.",
            add_reset_arguments,
            run_reset,
        ),
        (
            "export",
            "a route's stored mismatches as a mitmproxy flow file (open it with mitmweb)",
            "Exit codes: 0 written (also when the route has no mismatch: 0 flows), 2 store or "
            "output file unusable.",
            add_export_arguments,
            run_export,
        ),
        (
            "replay",
            "replay recorded mitmproxy flows of a route against monolith and service; compare",
            "Exit codes: 0 every response matched, 1 a mismatch or a side failed, 2 usage "
            "error (unreadable flow file or table, unknown route, nothing to replay).",
            lambda parser: add_replay_arguments(parser, DEFAULT_CONFIG),
            run_replay,
        ),
    ]
    for name, help_text, epilog, add_arguments, run in shadow_commands:
        p = shadow.add_parser(name, help=help_text, epilog=epilog)
        add_arguments(p)
        p.set_defaults(func=run)

    p = sub.add_parser("loadtest", help="load tests that judge a migration step")
    loadtest = p.add_subparsers(dest="loadtest_command", metavar="SUBCOMMAND", required=True)
    p = loadtest.add_parser(
        "compare",
        help="locust runs of a baseline and a candidate, interleaved, with a verdict",
        epilog="Exit codes: 0 pass, 1 regression, 2 inconclusive, 3 could not run.",
    )
    _add_loadtest_arguments(p)
    p.set_defaults(func=_cmd_loadtest_compare)

    p = sub.add_parser("demo", help="run the demo shop (monolith, catalog service, proxy)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="(default: %(default)s)")
    p.add_argument("--var", default="var", help="folder for SQLite files and logs")
    p.add_argument("--products", type=int, default=2000, help="demo catalog size")
    p.add_argument(
        "--check", action="store_true", help="start, check the tour's URLs, stop (for tests)"
    )
    p.add_argument(
        "--payments",
        choices=("monolith", "service"),
        default="monolith",
        help="who charges orders: the monolith (POST /api/orders/ID/pay/), or the payments "
        "service in the event-driven saga (default: %(default)s)",
    )
    p.set_defaults(func=_cmd_demo)

    register_workflow(sub)  # inventory, status, promote, rollback, history

    p = sub.add_parser("data", help="move data ownership: backfill and verify a service's data")
    data = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    p = data.add_parser(
        "backfill",
        help="copy the monolith's current state into a service's database (resumable)",
        epilog="Run it after the service's event consumer is up (see reference/data.md).",
    )
    _data_arguments(p, "backfill")
    p = data.add_parser(
        "verify",
        help="compare the monolith's and a service's data; exit 1 on drift",
        epilog="Exit codes: 0 in sync, 1 drift, 2 a database cannot be read.",
    )
    _data_arguments(p, "verify")

    p = sub.add_parser(
        "gates",
        help="for a pipeline: run the gates of the routes a table change moves forward",
        epilog="Exit codes: 0 every gate passes, 1 a gate fails or the table is invalid.",
    )
    add_gate_arguments(p)
    p.set_defaults(func=run_gates)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
