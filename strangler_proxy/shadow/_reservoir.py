"""Reservoir sampling (Algorithm R) with free slots: which slot a new example goes to.

The store keeps at most ``capacity`` examples per (route, field) in numbered slots and a count
``seen`` of the examples offered. Expired examples are deleted, freeing their slots; a free slot
is always filled first, so a route that changed behaviour shows fresh examples quickly.

    >>> rng = random.Random(1)
    >>> choose_slot(seen=1, occupied=set(), capacity=3, rng=rng)
    0
    >>> choose_slot(seen=1000, occupied={0, 1, 2}, capacity=3, rng=rng) is None  # usually
    True
"""

from __future__ import annotations

import random
from collections.abc import Set

__all__ = ["choose_slot"]


def choose_slot(seen: int, occupied: Set[int], capacity: int, rng: random.Random) -> int | None:
    """``seen`` counts the offered example too. Returns the slot to (over)write, or None."""
    for slot in range(capacity):
        if slot not in occupied:
            return slot
    j = rng.randrange(max(seen, 1))
    return j if j < capacity else None
