"""Fold a batch of queued results into the increments one store transaction applies.

Aggregating in memory first means one upsert per (route), (route, field), … instead of one per
result, which keeps transactions short when several replicas write to one PostgreSQL store.

    >>> batch = Batch.fold([result_match, result_mismatch_on_price], max_body=16384)
    >>> batch.routes["product-detail"].compared, batch.fields[("product-detail", "$.price")].count
    (2, 1)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

from . import _histogram
from ._types import Captured, NoiseSample, ShadowResult, Verdict, is_error
from .redact import redact_result

__all__ = ["Batch", "FieldDelta", "RouteDelta", "example_payload"]


@dataclass(slots=True)
class RouteDelta:
    compared: int = 0
    matched: int = 0
    mismatched: int = 0
    noise_only: int = 0
    likely_race: int = 0
    errors: int = 0
    primary_errors: int = 0
    shadow_errors: int = 0
    noise_samples: int = 0
    first_seen: float = float("inf")
    last_seen: float = float("-inf")

    def seen(self, at: float) -> None:
        self.first_seen = min(self.first_seen, at)
        self.last_seen = max(self.last_seen, at)


@dataclass(slots=True)
class FieldDelta:
    kind: str
    count: int = 0
    first_seen: float = float("inf")
    last_seen: float = float("-inf")

    def seen(self, at: float) -> None:
        self.count += 1
        self.first_seen = min(self.first_seen, at)
        self.last_seen = max(self.last_seen, at)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _side(side: Captured, max_body: int) -> dict[str, object]:
    return {
        "status": side.status,
        "error": side.error,
        "latency": side.latency,
        "headers": [list(h) for h in side.headers],
        "body": side.body[:max_body].decode("utf-8", "replace"),
        "body_truncated": len(side.body) > max_body,
    }


def example_payload(result: ShadowResult, max_body: int) -> str:
    """The redacted result as the JSON text stored in ``shadow_examples.payload``."""
    safe = redact_result(result)
    doc = {
        "route": safe.route,
        "method": safe.method,
        "target": safe.target,
        "request_id": safe.request_id,
        "timestamp": safe.timestamp,
        "request_headers": [list(h) for h in safe.request_headers],
        "verdict": safe.comparison.verdict.value,
        "differences": [
            {
                "path": d.path,
                "field": d.field,
                "kind": d.kind,
                "primary": d.primary,
                "shadow": d.shadow,
            }
            for d in safe.comparison.differences
        ],
        "noise": list(safe.comparison.noise),
        "primary": _side(safe.primary, max_body),
        "shadow": _side(safe.shadow, max_body),
    }
    return json.dumps(doc, default=_json_default, ensure_ascii=False)


_VERDICT_COUNTER = {
    Verdict.MATCH: "matched",
    Verdict.MISMATCH: "mismatched",
    Verdict.NOISE_ONLY: "noise_only",
    Verdict.LIKELY_RACE: "likely_race",
    Verdict.ERROR: "errors",
}


@dataclass(slots=True)
class Batch:
    routes: dict[str, RouteDelta] = field(default_factory=dict)
    fields: dict[tuple[str, str], FieldDelta] = field(default_factory=dict)
    signatures: dict[tuple[str, str], int] = field(default_factory=dict)
    noise: dict[tuple[str, str], FieldDelta] = field(default_factory=dict)
    latency: dict[tuple[str, str, int], int] = field(default_factory=dict)
    # (route, field) → [(request_id, payload JSON)], in arrival order
    examples: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    # copies never compared or never stored: a full lane or queue, a body over the cap
    dropped: dict[str, int] = field(default_factory=dict)

    def results(self) -> int:
        """How many results were added (each one is counted as compared)."""
        return sum(d.compared for d in self.routes.values())

    def __bool__(self) -> bool:
        return bool(self.routes or self.noise or self.dropped)

    def drop(self, route: str, n: int = 1) -> None:
        self.dropped[route] = self.dropped.get(route, 0) + n

    @classmethod
    def fold(cls, items: list[ShadowResult | NoiseSample], max_body: int) -> Batch:
        return cls().add_all(items, max_body)

    def add_all(self, items: list[ShadowResult | NoiseSample], max_body: int) -> Batch:
        for item in items:
            if isinstance(item, NoiseSample):
                self._add_noise(item)
            else:
                self.add(item, max_body)
        return self

    def _route(self, route: str) -> RouteDelta:
        delta = self.routes.get(route)
        if delta is None:  # (not setdefault: that would build a RouteDelta for every result)
            delta = self.routes[route] = RouteDelta()
        return delta

    def _add_noise(self, sample: NoiseSample) -> None:
        delta = self._route(sample.route)
        delta.noise_samples += 1
        for name in sample.fields:
            self.noise.setdefault((sample.route, name), FieldDelta("noise")).seen(sample.timestamp)

    def add(self, result: ShadowResult, max_body: int) -> None:
        route, at = result.route, result.timestamp
        delta = self._route(route)
        delta.seen(at)
        delta.compared += 1
        counter = _VERDICT_COUNTER[result.comparison.verdict]
        setattr(delta, counter, getattr(delta, counter) + 1)
        delta.primary_errors += is_error(result.primary)
        delta.shadow_errors += is_error(result.shadow)
        for side, captured in (("primary", result.primary), ("shadow", result.shadow)):
            if captured.status is not None:  # a failed side has no meaningful latency
                key = (route, side, _histogram.bucket(captured.latency))
                self.latency[key] = self.latency.get(key, 0) + 1
        if result.comparison.verdict is not Verdict.MISMATCH:
            return
        fields = result.comparison.fields
        signature = "\n".join(fields)
        self.signatures[(route, signature)] = self.signatures.get((route, signature), 0) + 1
        payload: str | None = None
        for diff in result.comparison.differences:
            self.fields.setdefault((route, diff.field), FieldDelta(diff.kind))
        for name in fields:
            self.fields[(route, name)].seen(at)
            payload = payload or example_payload(result, max_body)
            self.examples.setdefault((route, name), []).append((result.request_id, payload))
