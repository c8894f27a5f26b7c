"""The audit log of route moves: one JSON object per line, appended, never rewritten.

Default file: ``var/strangler-audit.jsonl`` (``--audit FILE`` or ``$STRANGLER_AUDIT_LOG``).
Each line records who moved which route, from which state to which, on what evidence::

    {"at": "2026-01-01T12:00:00Z", "by": "alice", "action": "promote",
     "route": "product-detail", "from": {"mode": "canary", "weight": 5, "to": "catalog"},
     "to": {"mode": "canary", "weight": 25, "to": "catalog"},
     "evidence": [{"gate": "live-metrics", "passed": true, "numbers": {...}, ...}],
     "forced": false, "reason": null, "table": "routing.yaml",
     "sha256_before": "…", "sha256_after": "…"}

``action`` is ``promote`` or ``rollback``. :func:`previous_state` replays a route's entries as a
stack (a promote pushes the state it left, a rollback pops) to find where a rollback goes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .yamledit import RouteState

__all__ = [
    "DEFAULT_AUDIT_LOG",
    "AuditEntry",
    "append_entry",
    "previous_state",
    "read_entries",
    "render_history",
]

DEFAULT_AUDIT_LOG = Path("var/strangler-audit.jsonl")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float  # seconds since the epoch
    by: str
    action: str  # promote | rollback
    route: str
    before: RouteState
    after: RouteState
    evidence: tuple[dict[str, Any], ...] = ()
    forced: bool = False
    reason: str | None = None
    table: str = ""
    sha256_before: str = ""
    sha256_after: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "ts": self.at,
            "by": self.by,
            "action": self.action,
            "route": self.route,
            "from": self.before.as_dict(),
            "to": self.after.as_dict(),
            "evidence": list(self.evidence),
            "forced": self.forced,
            "reason": self.reason,
            "table": self.table,
            "sha256_before": self.sha256_before,
            "sha256_after": self.sha256_after,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEntry:
        return cls(
            float(data["ts"]),
            str(data["by"]),
            str(data["action"]),
            str(data["route"]),
            RouteState.from_dict(data["from"]),
            RouteState.from_dict(data["to"]),
            tuple(data.get("evidence") or ()),
            bool(data.get("forced")),
            data.get("reason"),
            str(data.get("table", "")),
            str(data.get("sha256_before", "")),
            str(data.get("sha256_after", "")),
        )


def append_entry(path: Path, entry: AuditEntry) -> None:
    """Append one line with a single ``write`` on an ``O_APPEND`` descriptor, then fsync, so
    concurrent writers never interleave inside a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry.as_json(), sort_keys=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_entries(path: Path, route: str | None = None) -> list[AuditEntry]:
    """Every entry (of ``route``), oldest first; a missing file is an empty log. A line that is
    not an entry raises ``ValueError`` naming it (``audit.jsonl:7: ...``)."""
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = AuditEntry.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}:{number}: not an audit entry: {err}") from err
        if route is None or entry.route == route:
            entries.append(entry)
    return entries


def previous_state(entries: Sequence[AuditEntry], current: RouteState) -> RouteState | None:
    """Where a rollback of the route goes, or ``None`` when the log cannot tell (no entry, or
    the file was edited by hand since the last recorded move)."""
    stack: list[RouteState] = []
    for entry in entries:
        if entry.action == "rollback":
            if stack:
                stack.pop()
        else:
            stack.append(entry.before)
    if not entries or not stack or not _same(entries[-1].after, current):
        return None
    return stack[-1]


def _same(a: RouteState, b: RouteState) -> bool:
    return a.mode is b.mode and a.weight == b.weight


def render_history(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return "no recorded moves\n"
    rows = [
        (
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.at)),
            e.by,
            e.action + (" (forced)" if e.forced else ""),
            e.route,
            str(e.before),
            str(e.after),
            _evidence_summary(e),
        )
        for e in entries
    ]
    head = ("WHEN (UTC)", "BY", "ACTION", "ROUTE", "FROM", "TO", "EVIDENCE / REASON")
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def _evidence_summary(entry: AuditEntry) -> str:
    parts = [f"{g.get('gate')}: {'pass' if g.get('passed') else 'FAIL'}" for g in entry.evidence]
    if entry.reason:
        parts.append(f"reason: {entry.reason}")
    return "; ".join(parts) or "-"
