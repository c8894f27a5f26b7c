"""Builders for tests and demos: a settable clock, one side's answer, a compared result.

>>> clock = FakeClock(1000.0); clock.now += 60; clock()
1060.0
>>> make_result(json_side({"id": 1}), json_side({"id": 2})).comparison.verdict
<Verdict.MISMATCH: 'mismatch'>
"""

from __future__ import annotations

import json

from ._rules import CompareRules
from ._types import Captured, ShadowResult
from .compare import compare

__all__ = ["JSON_HEADERS", "FakeClock", "json_side", "make_result"]

JSON_HEADERS = (("Content-Type", "application/json"),)
T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z


class FakeClock:
    """A clock that only moves when told to: ``clock.now += 3600``."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def json_side(
    body: object = None,
    status: int | None = 200,
    latency: float = 0.01,
    headers: tuple[tuple[str, str], ...] = JSON_HEADERS,
    error: str | None = None,
) -> Captured:
    """A JSON answer (``body`` is serialized unless it is already bytes)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Captured(status, headers, raw, latency, error)


def make_result(
    primary: Captured,
    shadow: Captured,
    *,
    route: str = "products",
    rules: CompareRules | None = None,
    request_headers: tuple[tuple[str, str], ...] = (),
    at: float = T0,
    request_id: str = "req-1",
    target: str = "/api/products/1/",
) -> ShadowResult:
    """Compare ``primary`` with ``shadow`` under ``rules`` and wrap it as the store wants it."""
    rules = rules or CompareRules()
    return ShadowResult(
        route,
        "GET",
        target,
        request_headers,
        primary,
        shadow,
        compare(primary, shadow, rules),
        at,
        request_id,
        rules.redact,
    )
