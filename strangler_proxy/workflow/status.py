"""``strangler status [ROUTE]``: where every route stands, with the proxy's live view.

Per route: mode and weight (from the table), the service's health and breaker (``GET
{admin}/upstreams``), the shadow verdict (from the comparison store) and traffic (``GET
{admin}/metrics``). Traffic is the **last 5 minutes** by default (the proxy's
``strangler_*_recent`` gauges; a proxy without them shows totals since it started); with
``--interval S`` the metrics are read twice, S seconds apart, and shown as requests per second
over that window (counters are per proxy process: a restart resets them)::

    ROUTE           MODE        UPSTREAM  HEALTH     BREAKER  SHADOW    REQUESTS  5XX  FALLBACKS
    product-detail  canary 25%  catalog   1/1 ready  closed   pass      1200      0    0
    product-writes  legacy      -         -          -        -         14        0    0

A part that cannot be read (admin API down, no store) shows ``?`` and a note below the table;
the command still exits 0 when the table itself is valid.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from ..model import Mode, RoutingTable
from ..shadow import Thresholds, build_report, open_store
from ..shadow._report_cli import DEFAULT_STORE_PATH
from .gates import AdminError, Sample, admin_get, parse_prometheus, route_traffic
from .inventory import state_of

__all__ = ["RouteStatus", "collect_status", "render_status", "status_json"]


@dataclass(frozen=True, slots=True)
class RouteStatus:
    route: str
    state: str  # legacy | shadow | canary N% | extracted
    upstream: str | None  # the service (``to``), None for legacy routes
    health: str  # "1/2 ready", "-" or "?"
    breaker: str  # closed | open | half_open, "-" or "?"
    shadow: str  # pass | fail | not_enough_data, "-" or "?"
    requests: float | None  # totals, or per second with an interval
    service: float | None
    errors_5xx: float | None
    fallbacks: float | None


def collect_status(
    table: RoutingTable,
    admin: str,
    store_url: str | None,
    *,
    route: str | None = None,
    interval: float = 0.0,
    thresholds: Thresholds | None = None,
) -> tuple[list[RouteStatus], list[str], str]:
    """The rows, the notes (what could not be read) and what the traffic numbers measure."""
    notes: list[str] = []
    upstreams: dict[str, Any] | None = None
    try:
        upstreams = admin_get(admin, "/upstreams").json()
    except (AdminError, ValueError) as err:
        notes.append(f"health and breakers unknown: {err}")
    traffic, unit = _traffic(admin, interval, notes)
    verdicts: dict[str, str] | None = None
    try:
        store = open_store(store_url, DEFAULT_STORE_PATH)
        try:
            report = build_report(store, route, thresholds or Thresholds())
        finally:
            store.close()
        verdicts = {r.route: r.verdict.value for r in report.routes}
    except Exception as err:  # one boundary: the store is optional evidence here
        notes.append(f"shadow verdicts unknown: {err}")
    rows = []
    for r in table.routes:
        if route is not None and r.name != route:
            continue
        service = r.to if r.mode is not Mode.LEGACY else None
        health = breaker = "-"
        if service is not None:
            info = (upstreams or {}).get(service) if upstreams is not None else None
            if isinstance(info, dict):
                inst = info.get("instances", [])
                ready = sum(1 for i in inst if i.get("healthy") and not i.get("ejected"))
                health, breaker = f"{ready}/{len(inst)} ready", str(info.get("breaker"))
            else:
                health = breaker = "?"
        shadow = "?" if verdicts is None else verdicts.get(r.name, "-")
        n = route_traffic(traffic, r.name, service) if traffic is not None else None
        scale = interval if interval > 0 else 1.0
        per = {k: v / scale for k, v in n.items()} if n is not None else {}
        rows.append(
            RouteStatus(
                r.name,
                state_of(r),
                service,
                health,
                breaker,
                shadow,
                per.get("requests"),
                per.get("service"),
                per.get("service_5xx"),
                per.get("fallbacks"),
            )
        )
    return rows, notes, unit


def _traffic(admin: str, interval: float, notes: list[str]) -> tuple[list[Sample] | None, str]:
    """Samples of the last 5 minutes (or totals, from a proxy without the recent gauges), or
    the difference of two scrapes ``interval`` seconds apart; and what they measure."""
    try:
        first = parse_prometheus(admin_get(admin, "/metrics").text)
        if interval <= 0:
            recent = [
                Sample(s.name.removesuffix("_recent") + "_total", s.labels, s.value)
                for s in first
                if s.name.endswith("_recent")
            ]
            if any(s.name == "strangler_requests_total" for s in recent) or any(
                s.name == "strangler_requests_recent" for s in first
            ):
                return recent, LAST_MINUTES
            return first, TOTALS
        time.sleep(interval)
        second = parse_prometheus(admin_get(admin, "/metrics").text)
    except AdminError as err:
        notes.append(f"traffic unknown: {err}")
        return None, TOTALS
    before = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in first}
    diff = [
        Sample(s.name, s.labels, s.value - before.get((s.name, tuple(sorted(s.labels.items()))), 0))
        for s in second
    ]
    return diff, f"per second over {interval:g}s"


LAST_MINUTES = "in the last 5 minutes"
TOTALS = "totals since the proxy started"


def status_json(rows: list[RouteStatus], notes: list[str], unit: str) -> dict[str, Any]:
    return {"routes": [asdict(r) for r in rows], "traffic": unit, "notes": notes}


def render_status(rows: list[RouteStatus], notes: list[str], unit: str) -> str:
    interval = unit.startswith("per second")

    def num(value: float | None) -> str:
        if value is None:
            return "?"
        return f"{value:.1f}" if interval else str(int(value))

    head = ("route", "mode", "upstream", "health", "breaker", "shadow")
    counts = ("requests", "5xx", "fallbacks")
    cells = [
        (
            *(r.route, r.state, r.upstream or "-", r.health, r.breaker, r.shadow),
            *(num(r.requests), num(r.errors_5xx), num(r.fallbacks)),
        )
        for r in rows
    ]
    titles = tuple(h.upper() for h in head) + tuple(
        (c + "/s" if interval else c).upper() for c in counts
    )
    widths = [max([len(titles[i]), *(len(c[i]) for c in cells)]) for i in range(len(titles))]
    lines = ["  ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.append(f"traffic: {unit}")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines) + "\n"
