"""``strangler gates``: the check a team's pipeline runs when a change edits routing.yaml.

It validates the new table, finds the routes the change moves forward (by comparing it with the
table of the base branch), and runs, for each, the gates of the boundaries it crosses that can
run in a pipeline: the shadow report (from the shared store) and a load-comparison result; the
live-traffic gates (upstream health, live metrics) too when ``--admin`` reaches a proxy. Exit
0 when every gate passes, 1 when one fails or the table is invalid, 2 on usage errors::

    strangler gates --base base-routing.yaml --config routing.yaml \\
        --shadow-store postgresql://... --loadtest-result var/loadtest/report.json
    product-detail: shadow → canary 1%
      shadow-report: pass: match rate 99.80% over 1523 comparable (need >= 99.00% over >= 100)
    1 route moves forward; every gate passes
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..config import load_table
from ..errors import ConfigError
from ..model import Mode, RoutingTable
from ..shadow import Thresholds
from .gates import (
    GateResult,
    MetricThresholds,
    check_health,
    check_loadtest,
    check_metrics,
    check_shadow,
)
from .promote import gates_for, rank
from .yamledit import RouteState

__all__ = ["add_arguments", "forward_moves", "run"]


def _states(table: RoutingTable) -> dict[str, RouteState]:
    return {
        r.name: RouteState(r.mode, r.weight if r.mode is Mode.CANARY else None, r.to)
        for r in table.routes
    }


def forward_moves(
    base: RoutingTable, head: RoutingTable
) -> list[tuple[str, RouteState, RouteState]]:
    """Routes whose state in ``head`` is further along the ladder than in ``base`` (a route new
    in ``head`` counts as coming from legacy)."""
    before = _states(base)
    moves = []
    for name, after in _states(head).items():
        was = before.get(name, RouteState(Mode.LEGACY, None, after.to))
        if rank(after) > rank(was):
            moves.append((name, was, after))
    return moves


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, type=Path, help="the table before the change")
    parser.add_argument("--config", default="routing.yaml", type=Path, help="the changed table")
    parser.add_argument("--shadow-store", default=os.environ.get("STRANGLER_SHADOW_STORE"))
    parser.add_argument("--loadtest-result", type=Path, help="report.json of loadtest compare")
    parser.add_argument("--admin", help="a proxy's admin API, for the live-traffic gates")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    try:
        base, head = load_table(args.base), load_table(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem)
        return 1
    report = []
    failed = False
    for name, was, after in forward_moves(base, head):
        results: list[GateResult] = []
        for gate in gates_for(was, after):
            if gate == "shadow-report":
                results.append(check_shadow(name, args.shadow_store, Thresholds()))
            elif gate == "loadtest" and args.loadtest_result is not None:
                results.append(check_loadtest(args.loadtest_result))
            elif gate == "upstream-health" and args.admin:
                results.append(check_health(args.admin, str(after.to)))
            elif gate == "live-metrics" and args.admin:
                results.append(check_metrics(args.admin, name, str(after.to), MetricThresholds()))
        failed = failed or not all(r.passed for r in results)
        report.append((name, was, after, results))
    if args.json:
        print(json.dumps([
            {"route": n, "from": w.as_dict(), "to": a.as_dict(),
             "gates": [r.as_json() for r in rs]}
            for n, w, a, rs in report
        ], indent=2))  # fmt: skip
    else:
        for name, was, after, results in report:
            print(f"{name}: {was} → {after}")
            for r in results:
                print(f"  {r.gate}: {'pass' if r.passed else 'FAIL'}: {r.summary}")
            if not results:
                print("  no gate runs here for this step (it needs --admin or a result file)")
        n = len(report)
        verdict = "a gate failed" if failed else "every gate passes"
        print(f"{n} route{'s' if n != 1 else ''} move{'' if n != 1 else 's'} forward; {verdict}")
    return 1 if failed else 0
