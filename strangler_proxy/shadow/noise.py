"""Learn which fields the monolith varies by itself, per route, so they stop counting as
mismatches.

For a sample of mirrored requests the mirroring asks the monolith twice and hands both answers
to :meth:`NoiseLearner.observe`. Every field that differs between the two (compared with the
route's own rules) is counted; a field that differed in at least ``min_count`` such
primary-vs-primary comparisons is noise for that route::

    learner = NoiseLearner(min_count=3)
    for _ in range(3):
        learner.observe("product-detail", first, second, rules)  # updated_at changed each time
    learner.noise("product-detail")  # → frozenset({"$.updated_at"})
    compare(primary, shadow, rules, learner.noise("product-detail"))  # → NOISE_ONLY, not MISMATCH

The returned :class:`NoiseSample` goes to ``ShadowStore.record_noise`` so every replica's
observations add up in the store, and the report can show noise fields with their counts;
:meth:`NoiseLearner.replace` takes the store's counts when the mirror starts the store and
every few seconds after (``ShadowStore.noise_refresh``), so every replica excludes the noise
any of them learned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from ._rules import CompareRules
from ._types import Captured, NoiseSample, Verdict
from .compare import compare

__all__ = ["DEFAULT_NOISE_MIN_COUNT", "NoiseLearner"]

DEFAULT_NOISE_MIN_COUNT = 3


class NoiseLearner:
    """Per-route counts of fields that differed between the monolith and itself. Thread-safe."""

    def __init__(
        self,
        min_count: int = DEFAULT_NOISE_MIN_COUNT,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if min_count < 1:
            raise ValueError(f"min_count: must be >= 1, got {min_count}")
        self.min_count = min_count
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}
        self._samples: dict[str, int] = {}
        self._noise: dict[str, frozenset[str]] = {}

    def observe(
        self, route: str, first: Captured, second: Captured, rules: CompareRules
    ) -> NoiseSample:
        """Count the fields that differ between two answers of the primary to one request.

        A pair where either call failed teaches nothing and yields a sample with no fields.
        """
        comparison = compare(first, second, rules)
        fields = () if comparison.verdict is Verdict.ERROR else comparison.fields
        self._add(route, fields, 1)
        return NoiseSample(route, fields, self._clock())

    def replace(self, counts: Mapping[str, Mapping[str, int]]) -> None:
        """Take every route's counts from the store (every replica's observations, earlier
        runs' too, this learner's own once written): what it holds replaces what was counted
        here, so a route whose noise was forgotten in the store (``strangler shadow reset
        --noise``) is forgotten here too."""
        fresh = {route: dict(fields) for route, fields in counts.items()}
        noise = {
            route: frozenset(f for f, n in fields.items() if n >= self.min_count)
            for route, fields in fresh.items()
        }
        with self._lock:  # each swapped whole: noise() reads without the lock
            self._counts, self._noise = fresh, noise

    def _add(self, route: str, fields: tuple[str, ...], samples: int) -> None:
        with self._lock:
            self._samples[route] = self._samples.get(route, 0) + samples
            current = self._counts.setdefault(route, {})
            for field in fields:
                current[field] = current.get(field, 0) + 1
            self._refresh(route)

    def _refresh(self, route: str) -> None:
        counts = self._counts.get(route, {})
        self._noise[route] = frozenset(f for f, n in counts.items() if n >= self.min_count)

    def noise(self, route: str) -> frozenset[str]:
        """The route's noise fields, for :func:`~.compare.compare`. Cheap: precomputed."""
        return self._noise.get(route, frozenset())

    def counts(self, route: str) -> dict[str, int]:
        """Every field seen differing for ``route``, noise or not yet, with its count."""
        with self._lock:
            return dict(self._counts.get(route, {}))

    def samples(self, route: str) -> int:
        """How many primary-vs-primary comparisons this learner observed for ``route``."""
        with self._lock:
            return self._samples.get(route, 0)
