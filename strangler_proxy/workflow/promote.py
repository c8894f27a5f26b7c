"""Move one route along ``legacy → shadow → canary 1 → 5 → 25 → 50 → extracted``.

:func:`next_state` is the ladder; :func:`gates_for` says which evidence a move needs;
:func:`move` checks it, edits ``routing.yaml`` in place (:mod:`.yamledit`), waits for the proxy
when asked and appends to the audit log (:mod:`.audit`)::

    outcome = move(Move(table_path, "product-detail", target=None, by="alice", ...))
    outcome.done          # False: refused
    outcome.gates[0]      # GateResult("shadow-report", False, "fail: match rate 97.00% ...")

Moving back (a lower rung, or a rollback) needs no gate. ``forced`` moves run the gates anyway
and record their results, but do not stop on them.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import parse_table
from ..errors import ConfigError
from ..model import Mode
from ..shadow import Thresholds
from .audit import AuditEntry, append_entry, previous_state, read_entries
from .gates import (
    GateResult,
    MetricThresholds,
    check_health,
    check_loadtest,
    check_metrics,
    check_shadow,
    wait_for_table,
)
from .yamledit import EditError, RouteState, route_value, set_route, state_of_route, write_atomic

__all__ = [
    "CANARY_STEPS",
    "Move",
    "Outcome",
    "gates_for",
    "move",
    "next_state",
    "parse_target",
    "previous_rung",
    "rank",
    "rollback_target",
]

CANARY_STEPS = (1, 5, 25, 50)


def rank(state: RouteState) -> tuple[int, int]:
    """Order on the ladder: legacy < shadow < canary (by weight) < extracted."""
    order = {Mode.LEGACY: 0, Mode.SHADOW: 1, Mode.CANARY: 2, Mode.EXTRACTED: 3}
    return order[state.mode], state.weight or 0


def next_state(current: RouteState) -> RouteState | None:
    """The next rung (``None`` past extracted): a canary off the ladder (10%) goes to the next
    step above it (25%), and from 50% or more to extracted."""
    if current.mode is Mode.LEGACY:
        return RouteState(Mode.SHADOW, None, current.to)
    if current.mode is Mode.SHADOW:
        return RouteState(Mode.CANARY, CANARY_STEPS[0], current.to)
    if current.mode is Mode.CANARY:
        above = [w for w in CANARY_STEPS if w > (current.weight or 0)]
        if above:
            return RouteState(Mode.CANARY, above[0], current.to)
        return RouteState(Mode.EXTRACTED, None, current.to)
    return None


def previous_rung(current: RouteState) -> RouteState:
    if current.mode is Mode.EXTRACTED:
        return RouteState(Mode.CANARY, CANARY_STEPS[-1], current.to)
    if current.mode is Mode.CANARY:
        below = [w for w in CANARY_STEPS if w < (current.weight or 0)]
        if below:
            return RouteState(Mode.CANARY, below[-1], current.to)
        return RouteState(Mode.SHADOW, None, current.to)
    return RouteState(Mode.LEGACY, None, current.to)


def parse_target(text: str, to: str | None) -> RouteState:
    """``canary:25`` → canary 25%; ``extracted``; ``legacy``. ``ValueError`` when malformed."""
    mode_text, _, weight_text = text.partition(":")
    try:
        mode = Mode(mode_text.strip().lower())
    except ValueError:
        raise ValueError(
            f"unknown mode {mode_text!r} (legacy, shadow, canary, extracted)"
        ) from None
    if mode is Mode.CANARY:
        if not weight_text.strip().isdigit() or not 0 <= int(weight_text) <= 100:
            raise ValueError(f"a canary needs a weight 0..100: canary:25, got {text!r}")
        return RouteState(mode, int(weight_text), to)
    if weight_text:
        raise ValueError(f"only canary takes a weight, got {text!r}")
    return RouteState(mode, None, to)


def gates_for(current: RouteState, target: RouteState) -> list[str]:
    """The gates of every boundary the move crosses (none when it moves back)."""
    if rank(target) <= rank(current):
        return []
    gates = []
    if current.mode is Mode.LEGACY:
        gates.append("upstream-health")
    if current.mode in (Mode.LEGACY, Mode.SHADOW) and target.mode in (Mode.CANARY, Mode.EXTRACTED):
        gates.append("shadow-report")
    if target.mode is Mode.EXTRACTED or (
        current.mode is Mode.CANARY and target.mode is Mode.CANARY
    ):
        gates.append("live-metrics")
    if "live-metrics" in gates or "shadow-report" in gates:
        gates.append("loadtest")  # only when a result file is given
    return gates


@dataclass(slots=True)
class Move:
    table: Path
    route: str
    target: RouteState | None  # None: the next rung (promote) / the previous state (rollback)
    by: str
    admin: str | None = None  # None: http:// + the table's admin.listen
    action: str = "promote"  # or "rollback"
    upstream: str | None = None  # sets ``to`` (needed when a legacy route has none)
    force: bool = False
    reason: str | None = None
    shadow_store: str | None = None
    shadow_thresholds: Thresholds = field(default_factory=Thresholds)
    metric_thresholds: MetricThresholds = field(default_factory=MetricThresholds)
    loadtest_result: Path | None = None
    audit_log: Path = Path("var/strangler-audit.jsonl")
    wait: float | None = None  # seconds to wait for the proxy to serve the new table
    all_the_way: bool = False  # rollback straight to legacy


@dataclass(slots=True)
class Outcome:
    done: bool
    message: str
    before: RouteState | None = None
    after: RouteState | None = None
    gates: list[GateResult] = field(default_factory=list)
    sha256: str | None = None
    usage: bool = False  # the request itself was wrong (unknown route, unreadable file)


def rollback_target(m: Move, current: RouteState) -> tuple[RouteState, str]:
    if m.all_the_way:
        return RouteState(Mode.LEGACY, None, current.to), "all the way"
    found = previous_state(read_entries(m.audit_log, m.route), current)
    if found is not None:
        return RouteState(found.mode, found.weight, found.to or current.to), "per the audit log"
    return previous_rung(current), "one rung back (no audit record of the current state)"


def move(m: Move) -> Outcome:
    try:
        data = m.table.read_bytes()
        text = data.decode("utf-8-sig")
        table = parse_table(data, str(m.table))
    except OSError as err:
        return Outcome(False, f"{m.table}: cannot read: {err.strerror or err}", usage=True)
    except (ConfigError, UnicodeDecodeError) as err:
        return Outcome(False, f"the table is invalid now; fix it first:\n{err}")
    route = next((r for r in table.routes if r.name == m.route), None)
    if route is None:
        known = ", ".join(r.name for r in table.routes) or "none"
        return Outcome(False, f"no route '{m.route}' in {m.table} (routes: {known})", usage=True)
    current = state_of_route(route)
    to = m.upstream or current.to or route_value(text, m.route, "to")
    current = RouteState(current.mode, current.weight, to)
    admin = m.admin or f"http://{table.settings.admin_listen}"
    how = ""
    if m.action == "rollback" and m.target is None:
        chosen: RouteState | None
        chosen, how = rollback_target(m, current)
    else:
        chosen = m.target or next_state(current)
    if chosen is None:
        message = f"'{m.route}' is extracted: nothing further to promote (08-retire.md)"
        return Outcome(False, message, current)
    target = RouteState(chosen.mode, chosen.weight, chosen.to or to)
    if (target.mode, target.weight) == (current.mode, current.weight):
        return Outcome(True, f"'{m.route}' is already {current}; nothing to do", current, current)
    if target.mode is not Mode.LEGACY and target.to is None:
        message = f"route '{m.route}' has no 'to': name the service with --upstream"
        return Outcome(False, message, current, usage=True)
    gates = _run_gates(m, current, target, admin) if m.action == "promote" else []
    failed = [g for g in gates if not g.passed]
    if failed and not m.force:
        lines = [f"refused: {m.route} {current} → {target}: gate {g.gate} failed" for g in failed]
        lines += [f"  {g.gate}: {g.summary}" for g in gates]
        return Outcome(False, "\n".join(lines), current, target, gates)
    try:
        new_text = set_route(text, m.route, target, str(m.table))
        sha = write_atomic(m.table, new_text, expected_sha256=hashlib.sha256(data).hexdigest())
    except EditError as err:
        return Outcome(False, f"refused: {err}", current, target, gates)
    entry = AuditEntry(
        time.time(),
        m.by,
        m.action,
        m.route,
        current,
        target,
        tuple(g.as_json() for g in gates),
        m.force,
        m.reason,
        str(m.table),
        hashlib.sha256(data).hexdigest(),
        sha,
    )
    append_entry(m.audit_log, entry)
    verb = "rolled back" if m.action == "rollback" else "promoted"
    message = f"{verb} {m.route}: {current} → {target}" + (f" ({how})" if how else "")
    if m.force and failed:
        message += f" [forced past {', '.join(g.gate for g in failed)}: {m.reason}]"
    outcome = Outcome(True, message, current, target, gates, sha)
    if m.wait is not None:
        problem = wait_for_table(admin, sha, m.wait)
        if problem:
            outcome.done = False
            outcome.message = f"{message}\nwritten, but {problem}"
        else:
            outcome.message = f"{message}\nthe proxy at {admin} serves it (sha256 {sha[:12]})"
    return outcome


def _run_gates(m: Move, current: RouteState, target: RouteState, admin: str) -> list[GateResult]:
    results = []
    for gate in gates_for(current, target):
        if gate == "upstream-health":
            results.append(check_health(admin, str(target.to)))
        elif gate == "shadow-report":
            store = m.shadow_store or os.environ.get("STRANGLER_SHADOW_STORE")
            results.append(check_shadow(m.route, store, m.shadow_thresholds))
        elif gate == "live-metrics":
            results.append(check_metrics(admin, m.route, str(target.to), m.metric_thresholds))
        elif gate == "loadtest" and m.loadtest_result is not None:
            results.append(check_loadtest(m.loadtest_result))
    return results
