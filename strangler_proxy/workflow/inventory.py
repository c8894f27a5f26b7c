"""``strangler inventory``: every endpoint of the monolith and where ``routing.yaml`` sends it.

The URL configuration is read in a subprocess (``_django_dump.py`` run with the project's
settings), so the proxy never imports the monolith. Each endpoint gets a sample path (a value
its parameters accept: ``api/products/<int:pk>/`` → ``/api/products/1/``), and for each of its
methods the proxy's own :class:`~strangler_proxy.routing.Router` decides the route, exactly as
it would for a request without special headers::

    PATTERN              METHODS          ROUTE           STATE
    api/products/        GET,HEAD         product-list    extracted
    api/products/        POST             product-writes  legacy
    api/orders/          GET,HEAD,POST    (default)       uncovered

States: ``legacy``, ``shadow``, ``canary N%``, ``extracted``, ``uncovered`` (only the default
matches). The share migrated counts (endpoint, method) pairs in ``extracted``. Routes of the
table that match no endpoint at all are listed as orphans (a typo, or code already retired).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..model import Mode, Route, RoutingTable
from ..routing import Router

__all__ = ["Endpoint", "Inventory", "InventoryError", "Row", "build_inventory", "load_endpoints"]

DUMP_SCRIPT = Path(__file__).with_name("_django_dump.py")
# what an endpoint whose view declares no methods is probed with
PROBE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class InventoryError(Exception):
    """The project's URL configuration could not be read (the message says why)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    pattern: str  # as Django shows it: "api/products/<pk>/"
    sample: str  # a concrete path: "/api/products/1/"
    view: str  # dotted name of the view (class)
    name: str | None  # the URL name
    methods: tuple[str, ...] | None  # None: the view does not declare them
    resolves: bool  # Django resolves ``sample`` back to this endpoint


@dataclass(frozen=True, slots=True)
class Row:
    """One endpoint and the methods that one route (or the default) covers."""

    pattern: str
    sample: str
    view: str
    methods: tuple[str, ...]  # ("*",) when the view declares none and one route takes all
    route: str | None  # None: the default upstream
    state: str  # legacy | shadow | canary N% | extracted | uncovered


@dataclass(frozen=True, slots=True)
class Inventory:
    rows: tuple[Row, ...]
    orphans: tuple[Route, ...]  # routes of the table matching no endpoint

    def counts(self) -> dict[str, int]:
        """(endpoint, method) pairs per state kind: legacy, shadow, canary, extracted, ..."""
        out = dict.fromkeys(("extracted", "canary", "shadow", "legacy", "uncovered"), 0)
        for row in self.rows:
            out[row.state.split()[0]] += len(row.methods)
        return out

    @property
    def share_migrated(self) -> float:
        counts = self.counts()
        total = sum(counts.values())
        return counts["extracted"] / total if total else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "endpoints": [asdict(r) for r in self.rows],
            "orphan_routes": [{"name": r.name, "line": r.line} for r in self.orphans],
            "counts": self.counts(),
            "share_migrated": round(self.share_migrated, 4),
        }


def load_endpoints(
    settings: str, *, python: str | None = None, cwd: str | Path | None = None
) -> list[Endpoint]:
    """Run the dump script with ``DJANGO_SETTINGS_MODULE=settings`` and read its JSON."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=settings)
    where = str(cwd) if cwd is not None else os.getcwd()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (where, env.get("PYTHONPATH")) if p)
    argv = [python or sys.executable, str(DUMP_SCRIPT)]
    try:
        done = subprocess.run(
            argv, env=env, cwd=where, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InventoryError(f"cannot run {argv[0]}: {err}") from err
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise InventoryError(f"cannot load the URL configuration of {settings}: {tail[0]}")
    try:
        data = json.loads(done.stdout)
    except ValueError as err:
        raise InventoryError(f"unexpected output from the URL dump: {err}") from err
    return [
        Endpoint(
            d["pattern"],
            d["sample"],
            d["view"],
            d["name"],
            tuple(d["methods"]) if d["methods"] is not None else None,
            bool(d["resolves"]),
        )
        for d in data
    ]


def state_of(route: Route | None) -> str:
    if route is None:
        return "uncovered"
    if route.mode is Mode.CANARY:
        return f"canary {route.weight}%"
    return str(route.mode.value)


def _headers_for(route: Route) -> dict[str, str]:
    """Headers that satisfy the route's header conditions (for the orphan check)."""
    return {h.name: h.value or "1" for h in route.match.headers}


def build_inventory(table: RoutingTable, endpoints: list[Endpoint]) -> Inventory:
    router = Router(table)
    rows: list[Row] = []
    for ep in endpoints:
        methods = ep.methods if ep.methods is not None else PROBE_METHODS
        by_route: dict[str | None, list[str]] = {}
        routes: dict[str | None, Route | None] = {}
        for method in methods:
            found = router.match(method, ep.sample, {}).route
            key = found.name if found is not None else None
            by_route.setdefault(key, []).append(method)
            routes[key] = found
        for key, covered in by_route.items():
            shown = ("*",) if ep.methods is None and len(by_route) == 1 else tuple(covered)
            route = routes[key]
            rows.append(Row(ep.pattern, ep.sample, ep.view, shown, key, state_of(route)))
    orphans = []
    for route in table.routes:
        alone = Router(replace(table, routes=(route,)))
        headers = _headers_for(route)
        if not any(
            alone.match(m, ep.sample, headers).route is not None
            for ep in endpoints
            for m in (ep.methods or PROBE_METHODS)
        ):
            orphans.append(route)
    return Inventory(tuple(rows), tuple(orphans))


def render_inventory(inv: Inventory, *, source: str) -> str:
    cols = ("pattern", "methods", "route", "state", "view")
    cells = [
        {
            "pattern": r.pattern,
            "methods": ",".join(r.methods),
            "route": r.route or "(default)",
            "state": r.state,
            "view": ".".join(r.view.split(".")[-2:]),
        }
        for r in inv.rows
    ]
    widths = {c: max([len(c), *(len(x[c]) for x in cells)]) for c in cols}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip()]
    lines += ["  ".join(x[c].ljust(widths[c]) for c in cols).rstrip() for x in cells]
    counts = inv.counts()
    total = sum(counts.values())
    lines.append("")
    for orphan in inv.orphans:
        lines.append(f"{source}:{orphan.line}: route '{orphan.name}' matches no endpoint")
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    lines.append(
        f"migrated: {counts['extracted']} of {total} endpoint methods extracted "
        f"({inv.share_migrated:.0%}); {summary}"
    )
    return "\n".join(lines) + "\n"
