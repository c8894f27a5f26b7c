"""The evidence for one route (or all): may it move forward?

    report = build_report(store, "product-detail", Thresholds())
    report.routes[0].verdict   # → RouteVerdict.FAIL
    print(render_text(report))
    # product-detail: FAIL  match rate 97.00% (970 of 1000 compared) < 99.00%
    #   top differing fields: $.price  30x  tolerance  "12.50" vs "12.60"  GET /api/products/7/
    #   …

The match rate is ``(matched + noise-only + likely races) / comparable``, where comparable
excludes comparisons a side failed, and mismatches whose differing fields are *all* noise
fields (learned up to now, even after the mismatch was recorded) count as noise-only. Verdict:

* ``fail`` when at least ``min_samples`` were compared and the service's error rate exceeds the
  monolith's by more than ``max_extra_error_rate``;
* ``not_enough_data`` when fewer than ``min_samples`` comparisons were comparable;
* ``fail`` when the match rate is below ``min_match_rate``; else ``pass``.

Exit codes (``Report.exit_code``): 0 pass, 1 fail, 2 not enough data; several routes → the
worst (fail > not enough data > pass); no route at all → 2.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from . import _histogram
from ._report_cli import add_report_arguments, run_report
from ._report_render import render_text, report_json
from ._snapshot import Snapshot
from .noise import DEFAULT_NOISE_MIN_COUNT
from .store import ShadowStore

__all__ = [
    "FieldReport",
    "LatencyReport",
    "NoiseField",
    "Report",
    "RouteReport",
    "RouteVerdict",
    "Thresholds",
    "add_report_arguments",
    "build_report",
    "render_text",
    "report_json",
    "run_report",
]


class RouteVerdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    NOT_ENOUGH_DATA = "not_enough_data"


_EXIT = {RouteVerdict.PASS: 0, RouteVerdict.FAIL: 1, RouteVerdict.NOT_ENOUGH_DATA: 2}
_SEVERITY = {RouteVerdict.PASS: 0, RouteVerdict.NOT_ENOUGH_DATA: 1, RouteVerdict.FAIL: 2}


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_samples: int = 100
    min_match_rate: float = 0.99
    max_extra_error_rate: float = 0.01
    noise_min_count: int = DEFAULT_NOISE_MIN_COUNT
    top_fields: int = 10


@dataclass(frozen=True, slots=True)
class NoiseField:
    field: str
    count: int  # primary-vs-primary comparisons in which it differed


@dataclass(frozen=True, slots=True)
class FieldReport:
    field: str
    kind: str
    count: int
    first_seen: float
    last_seen: float
    example: dict[str, object] | None  # one difference + request (redacted), if still kept


@dataclass(frozen=True, slots=True)
class LatencyReport:
    side: str  # "primary" (monolith) or "shadow" (service)
    count: int
    p50: float | None  # seconds, upper bound of the histogram bucket
    p95: float | None
    p99: float | None
    error_rate: float | None


@dataclass(frozen=True, slots=True)
class RouteReport:
    route: str
    compared: int
    comparable: int
    matched: int
    mismatched: int  # after noise re-evaluation
    noise_only: int
    likely_race: int
    errors: int
    match_rate: float | None
    noise_fields: tuple[NoiseField, ...]
    noise_samples: int
    top_fields: tuple[FieldReport, ...]
    latency: tuple[LatencyReport, LatencyReport]
    verdict: RouteVerdict
    reasons: tuple[str, ...]
    first_seen: float | None
    last_seen: float | None
    dropped: int = 0  # copies never compared (a full lane or queue, a body over the cap)


@dataclass(frozen=True, slots=True)
class Report:
    routes: tuple[RouteReport, ...]
    thresholds: Thresholds
    generated_at: float

    @property
    def verdict(self) -> RouteVerdict:
        if not self.routes:
            return RouteVerdict.NOT_ENOUGH_DATA
        return max((r.verdict for r in self.routes), key=_SEVERITY.__getitem__)

    @property
    def exit_code(self) -> int:
        return _EXIT[self.verdict]


def _example(snapshot: Snapshot, route: str, field: str) -> dict[str, object] | None:
    for row in snapshot.examples:
        if row.route == route and row.field == field:
            diffs = row.payload.get("differences")
            diff = (
                next((d for d in diffs if isinstance(d, dict) and d.get("field") == field), None)
                if isinstance(diffs, list)
                else None
            )
            return {
                "request_id": row.request_id,
                "method": row.payload.get("method"),
                "target": row.payload.get("target"),
                "difference": diff,
                "stored_at": row.stored_at,
            }
    return None


def _latency(
    snapshot: Snapshot, route: str, side: str, errors: int, compared: int
) -> LatencyReport:
    counts: dict[int, int] = {}
    for r, s, bucket, count in snapshot.latency:
        if r == route and s == side:
            counts[bucket] = counts.get(bucket, 0) + count
    return LatencyReport(
        side,
        sum(counts.values()),
        _histogram.percentile(counts, 0.50),
        _histogram.percentile(counts, 0.95),
        _histogram.percentile(counts, 0.99),
        errors / compared if compared else None,
    )


def build_report(
    store: ShadowStore | Snapshot, route: str | None, thresholds: Thresholds
) -> Report:
    snapshot = store if isinstance(store, Snapshot) else store.snapshot(route)
    reports = []
    t = thresholds
    for row in snapshot.routes:
        noise = tuple(
            NoiseField(f.field, f.count)
            for f in snapshot.noise
            if f.route == row.route and f.count >= t.noise_min_count
        )
        noise_names = {n.field for n in noise}
        reclassified = sum(
            count
            for r, fields, count in snapshot.signatures
            if r == row.route and set(fields) <= noise_names
        )
        mismatched = row.mismatched - reclassified
        noise_only = row.noise_only + reclassified
        comparable = row.compared - row.errors
        good = row.matched + noise_only + row.likely_race
        rate = good / comparable if comparable else None
        fields = tuple(
            FieldReport(
                f.field,
                f.kind,
                f.count,
                f.first_seen,
                f.last_seen,
                _example(snapshot, row.route, f.field),
            )
            for f in snapshot.fields
            if f.route == row.route and f.field not in noise_names
        )[: t.top_fields]
        primary = _latency(snapshot, row.route, "primary", row.primary_errors, row.compared)
        shadow = _latency(snapshot, row.route, "shadow", row.shadow_errors, row.compared)
        reasons: list[str] = []
        verdict = RouteVerdict.PASS
        extra_errors = (shadow.error_rate or 0.0) - (primary.error_rate or 0.0)
        if row.compared >= t.min_samples and extra_errors > t.max_extra_error_rate:
            verdict = RouteVerdict.FAIL
            reasons.append(
                f"service error rate {shadow.error_rate:.2%} exceeds the monolith's "
                f"{primary.error_rate:.2%} by more than {t.max_extra_error_rate:.2%}"
            )
        elif comparable < t.min_samples:
            verdict = RouteVerdict.NOT_ENOUGH_DATA
            reasons.append(f"{comparable} comparable responses, {t.min_samples} needed")
        if rate is not None and rate < t.min_match_rate and comparable >= t.min_samples:
            verdict = RouteVerdict.FAIL
            reasons.append(f"match rate {rate:.2%} < {t.min_match_rate:.2%}")
            if fields:
                top = fields[0]
                reasons.append(f"top differing field {top.field} ({top.count}x {top.kind})")
        reports.append(
            RouteReport(
                row.route,
                row.compared,
                comparable,
                row.matched,
                mismatched,
                noise_only,
                row.likely_race,
                row.errors,
                rate,
                noise,
                row.noise_samples,
                fields,
                (primary, shadow),
                verdict,
                tuple(reasons),
                row.first_seen,
                row.last_seen,
                snapshot.dropped_for(row.route),
            )
        )
    return Report(tuple(reports), thresholds, time.time())
