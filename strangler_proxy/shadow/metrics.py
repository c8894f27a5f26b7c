"""Prometheus counters of shadow comparisons per route, in the text exposition format.

    >>> m = ShadowMetrics()
    >>> m.observe(result)          # a ShadowResult whose verdict is MATCH, route "products"
    >>> print(m.render_prometheus())
    # HELP strangler_shadow_compared_total Shadowed requests compared, per route.
    # TYPE strangler_shadow_compared_total counter
    strangler_shadow_compared_total{route="products"} 1
    ...

Counters (all ``_total``, label ``route``): ``compared``, ``matched``, ``mismatched``,
``noise`` (differences only in learned noise fields), ``likely_race``, ``errors`` (a side gave
no response), ``dropped`` (results the store's queue had no room for).
"""

from __future__ import annotations

import threading

from ._types import ShadowResult, Verdict

__all__ = ["ShadowMetrics"]

_COUNTERS = {
    "compared": "Shadowed requests compared, per route.",
    "matched": "Comparisons without any difference.",
    "mismatched": "Comparisons with differences outside the learned noise.",
    "noise": "Comparisons whose differences were all in learned noise fields.",
    "likely_race": "Mismatches that disappeared when both sides were asked again.",
    "errors": "Comparisons impossible because a side gave no response.",
    "dropped": "Results dropped because the store's queue was full.",
}
_BY_VERDICT = {
    Verdict.MATCH: "matched",
    Verdict.MISMATCH: "mismatched",
    Verdict.NOISE_ONLY: "noise",
    Verdict.LIKELY_RACE: "likely_race",
    Verdict.ERROR: "errors",
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class ShadowMetrics:
    """Thread-safe counters; the admin API serves :meth:`render_prometheus`."""

    def __init__(self, prefix: str = "strangler_shadow") -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {name: {} for name in _COUNTERS}

    def _inc(self, counter: str, route: str, n: int = 1) -> None:
        with self._lock:
            per_route = self._counts[counter]
            per_route[route] = per_route.get(route, 0) + n

    def observe(self, result: ShadowResult) -> None:
        route, counts = result.route, self._counts
        compared, by_verdict = counts["compared"], counts[_BY_VERDICT[result.comparison.verdict]]
        with self._lock:
            compared[route] = compared.get(route, 0) + 1
            by_verdict[route] = by_verdict.get(route, 0) + 1

    def dropped(self, route: str, n: int = 1) -> None:
        self._inc("dropped", route, n)

    def value(self, counter: str, route: str) -> int:
        with self._lock:
            return self._counts[counter].get(route, 0)

    def render_prometheus(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, help_text in _COUNTERS.items():
                metric = f"{self.prefix}_{name}_total"
                lines.append(f"# HELP {metric} {help_text}")
                lines.append(f"# TYPE {metric} counter")
                for route, count in sorted(self._counts[name].items()):
                    lines.append(f'{metric}{{route="{_label(route)}"}} {count}')
        return "\n".join(lines) + "\n"
