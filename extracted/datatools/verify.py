"""``strangler data verify SERVICE``: compare the monolith's rows with the service's copy.

Per table: row counts; a checksum of the owned fields of every row (both sides read in id
order, merged by id), which names every id that is missing, extra or changed, with the
differing fields of the first ``max_diffs``; and ``sample`` rows whose checksums matched are
read again one by one from both databases and compared field by field (a check on the
checksum's normalisation itself). The event lag is reported alongside: unsent outbox rows
for the service's aggregates, and the consumer's ``sync_status``.

    Verdict.OK (exit 0)   every table matches
    Verdict.DRIFT (1)     at least one difference (listed by id)
    Verdict.UNREADABLE (2) a database could not be read (the message says which and why)

A difference while events are still in flight is expected: ``settle`` seconds repeat the
comparison until it passes or time is up.
"""

from __future__ import annotations

import enum
import hashlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from extracted.common.inbox import sync_status
from extracted.datatools.spec import ServiceSpec, TableSpec

__all__ = ["TableReport", "Verdict", "VerifyReport", "event_lag", "verify_service"]

_LOWEST = -(2**63)
_PAGE = 1000


class Verdict(enum.IntEnum):
    OK = 0
    DRIFT = 1
    UNREADABLE = 2


@dataclass
class TableReport:
    name: str
    source_count: int = 0
    target_count: int = 0
    missing: list[int] = field(default_factory=list)  # in the monolith, not in the service
    extra: list[int] = field(default_factory=list)  # in the service only
    changed: list[int] = field(default_factory=list)
    diffs: dict[int, dict[str, list[Any]]] = field(default_factory=dict)  # id → field → [src, dst]
    sampled: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.missing or self.extra or self.changed)

    def as_json(self) -> dict[str, Any]:
        return {
            "source_count": self.source_count,
            "target_count": self.target_count,
            "missing": self.missing,
            "extra": self.extra,
            "changed": self.changed,
            "diffs": {str(k): v for k, v in self.diffs.items()},
            "sampled": self.sampled,
        }


@dataclass
class VerifyReport:
    service: str
    tables: list[TableReport]
    lag: dict[str, Any]
    verdict: Verdict = Verdict.OK
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "verdict": self.verdict.name.lower(),
            "exit_code": int(self.verdict),
            "tables": {t.name: t.as_json() for t in self.tables},
            "lag": self.lag,
            "error": self.error,
        }

    def lines(self) -> list[str]:
        out = []
        for t in self.tables:
            out.append(
                f"{t.name}: monolith {t.source_count} rows, {self.service} {t.target_count} rows"
            )
            for label, ids in (("missing", t.missing), ("extra", t.extra), ("changed", t.changed)):
                if ids:
                    shown = ", ".join(str(i) for i in ids[:50]) + (" ..." if len(ids) > 50 else "")
                    out.append(f"  {label} ({len(ids)}): id {shown}")
            for row_id, fields in t.diffs.items():
                text_fields = "; ".join(f"{k}: {v[0]!r} != {v[1]!r}" for k, v in fields.items())
                out.append(f"  id {row_id}: {text_fields}")
        if self.lag:
            out.append("lag: " + json.dumps(self.lag, default=str))
        if self.error:
            out.append(f"error: {self.error}")
        out.append(f"{self.verdict.name} (exit {int(self.verdict)})")
        return out


def _checksum(row: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()


def _source_rows(source: Engine, table: TableSpec) -> Iterator[dict[str, Any]]:
    after = _LOWEST
    while True:
        with source.connect() as conn:
            page = list(
                conn.execute(text(table.page_sql()), {"after": after, "limit": _PAGE}).mappings()
            )
        if not page:
            return
        for row in page:
            yield table.convert(row)
        after = int(page[-1]["id"])


def _target_rows(target: Engine, table: TableSpec) -> Iterator[dict[str, Any]]:
    t = table.target
    after = _LOWEST
    while True:
        with target.connect() as conn:
            stmt = select(t).where(t.c.id > after).order_by(t.c.id).limit(_PAGE)
            page = [dict(r) for r in conn.execute(stmt).mappings()]
        if not page:
            return
        yield from page
        after = int(page[-1]["id"])


def _field_diff(src: dict[str, Any], dst: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        k: [src.get(k), dst.get(k)]
        for k in sorted(set(src) | set(dst))
        if json.dumps(src.get(k), sort_keys=True, default=str)
        != json.dumps(dst.get(k), sort_keys=True, default=str)
    }


def _compare_table(
    source: Engine,
    target: Engine,
    table: TableSpec,
    *,
    max_diffs: int,
    sample: int,
    rng: random.Random,
) -> TableReport:
    report = TableReport(table.name)
    src_iter, dst_iter = _source_rows(source, table), _target_rows(target, table)
    src, dst = next(src_iter, None), next(dst_iter, None)
    matched: list[int] = []  # reservoir of matching ids for the deep comparison
    seen_matches = 0

    def note(row_id: int, diff: dict[str, list[Any]]) -> None:
        if len(report.diffs) < max_diffs:
            report.diffs[row_id] = diff

    while src is not None or dst is not None:
        if dst is None or (src is not None and src["id"] < dst["id"]):
            assert src is not None
            report.source_count += 1
            report.missing.append(int(src["id"]))
            src = next(src_iter, None)
        elif src is None or dst["id"] < src["id"]:
            report.target_count += 1
            report.extra.append(int(dst["id"]))
            dst = next(dst_iter, None)
        else:
            report.source_count += 1
            report.target_count += 1
            row_id = int(src["id"])
            if _checksum(src) != _checksum(dst):
                report.changed.append(row_id)
                note(row_id, _field_diff(src, dst))
            else:
                seen_matches += 1
                if len(matched) < sample:
                    matched.append(row_id)
                elif sample and (j := rng.randrange(seen_matches)) < sample:
                    matched[j] = row_id
            src, dst = next(src_iter, None), next(dst_iter, None)
    if matched:
        report.sampled = len(matched)
        _deep_compare(source, target, table, sorted(matched), report, note)
    return report


def _deep_compare(
    source: Engine, target: Engine, table: TableSpec, ids: list[int], report: TableReport, note: Any
) -> None:
    """Read ``ids`` again from both sides, by id, and compare the typed fields one by one."""
    stmt = text(f"{table.select} WHERE {table.alias}.id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    with source.connect() as conn:
        src = {int(r["id"]): table.convert(r) for r in conn.execute(stmt, {"ids": ids}).mappings()}
    with target.connect() as conn:
        rows = conn.execute(select(table.target).where(table.target.c.id.in_(ids))).mappings()
        dst = {int(r["id"]): dict(r) for r in rows}
    for row_id in ids:
        if row_id in src and row_id in dst:
            diff = {
                k: [v, dst[row_id].get(k)]
                for k, v in src[row_id].items()
                if v != dst[row_id].get(k)
            }
            if diff and row_id not in report.changed:
                report.changed.append(row_id)
                note(row_id, diff)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def event_lag(spec: ServiceSpec, source: Engine, target: Engine) -> dict[str, Any]:
    """Unsent outbox rows of the service's aggregates, and the consumer's status."""
    query = text(
        "SELECT COUNT(*), MIN(created_at) FROM outbox_outboxevent"
        " WHERE sent_at IS NULL AND aggregate_type IN :types"
    ).bindparams(bindparam("types", expanding=True))
    with source.connect() as conn:
        count, oldest = conn.execute(query, {"types": list(spec.aggregate_types)}).one()
    with target.connect() as conn:
        status = sync_status(conn).as_json()
    oldest_at = _utc(oldest)
    now = datetime.now(UTC).replace(tzinfo=None)
    return {
        "outbox_unsent": int(count),
        "oldest_unsent_age_seconds": None
        if oldest_at is None
        else round((now - oldest_at).total_seconds(), 3),
        "consumer": status,
    }


def verify_once(
    spec: ServiceSpec,
    source: Engine,
    target: Engine,
    *,
    max_diffs: int,
    sample: int,
    seed: int | None,
) -> VerifyReport:
    rng = random.Random(seed)
    try:
        tables = [
            _compare_table(source, target, t, max_diffs=max_diffs, sample=sample, rng=rng)
            for t in spec.tables
        ]
        lag = event_lag(spec, source, target)
    except SQLAlchemyError as err:
        message = str(err).splitlines()[0]
        return VerifyReport(spec.name, [], {}, Verdict.UNREADABLE, f"cannot read: {message}")
    verdict = Verdict.DRIFT if any(t.drift for t in tables) else Verdict.OK
    return VerifyReport(spec.name, tables, lag, verdict)


def verify_service(
    spec: ServiceSpec,
    source: Engine,
    target: Engine,
    *,
    max_diffs: int = 20,
    sample: int = 20,
    settle: float = 0.0,
    seed: int | None = None,
) -> VerifyReport:
    """Compare; with ``settle`` > 0, repeat (every 0.5 s) until OK or the time is up."""
    deadline = time.monotonic() + settle
    while True:
        report = verify_once(spec, source, target, max_diffs=max_diffs, sample=sample, seed=seed)
        if report.verdict is not Verdict.DRIFT or time.monotonic() >= deadline:
            return report
        time.sleep(0.5)
