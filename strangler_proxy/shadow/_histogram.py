"""Fixed log-scale latency buckets: bounded, and mergeable across replicas by adding counts.

Bucket ``i`` holds latencies in ``(BASE * RATIO**(i-1), BASE * RATIO**i]`` seconds; bucket 0
everything up to 0.1 ms, the last everything above ~2 minutes. ``RATIO`` is 2**(1/4), so a
percentile read from the histogram is at most ~19% above the true value (it reports the
bucket's upper bound).

    >>> bucket(0.010), upper_bound(bucket(0.010))
    (27, 0.01090...)
    >>> percentile({bucket(0.010): 99, bucket(1.0): 1}, 0.99)
    0.01090...
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping

__all__ = ["BASE", "BUCKETS", "RATIO", "bucket", "percentile", "upper_bound"]

BASE = 0.0001
RATIO = 2**0.25
BUCKETS = 100


# the upper bounds of the buckets below the last, a hair above BASE * RATIO**i so that a
# latency on a bound (0.0002 s) is in the bucket it ends despite the float's rounding (a lookup
# in C: a logarithm per latency cost a microsecond on every comparison)
_BOUNDS = tuple(BASE * RATIO ** (i + 1e-9) for i in range(BUCKETS - 1))


def bucket(latency: float) -> int:
    """The index of the bucket ``latency`` (seconds) falls in."""
    return bisect_left(_BOUNDS, latency)


def upper_bound(index: int) -> float:
    return BASE * RATIO**index


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The upper bound of the bucket holding the ``q`` quantile (0 < q <= 1); None if empty."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = math.ceil(q * total)
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank:
            return upper_bound(index)
    return upper_bound(max(counts))
