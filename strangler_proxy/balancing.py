"""Choosing an instance of an upstream: load balancing, outlier ejection, health.

Policies (per upstream, ``balance:`` in routing.yaml):

* ``round_robin`` (default): each eligible instance in turn, as Ribbon does;
* ``least_outstanding``: the eligible instance with the fewest requests in flight (ties go
  round robin), which steers around an instance that got slow.

An instance is *eligible* unless it is ejected or failed its active health checks. Passive
outlier ejection: ``consecutive_failures`` failures in a row (connection refused/reset, timeout,
5xx from the proxy's point of view: see :meth:`Pool.report`) eject the instance for
``ejection_time`` seconds, doubling with each repeated ejection up to ``max_ejection_time``.
Never more than ``max_ejected_percent`` of the instances are out at once; when every instance
is out anyway, the least recently ejected one is used rather than failing the request.

    >>> pool = Pool(("http://a", "http://b"), Outlier(consecutive_failures=3))
    >>> [pool.pick().url for _ in range(3)]
    ['http://a', 'http://b', 'http://a']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from .model import Balance, Outlier

__all__ = ["Balance", "Instance", "Outlier", "Pool"]


class Instance:
    """One upstream instance and what the proxy knows of it."""

    __slots__ = (
        "ejected_until",
        "ejections",
        "failures",
        "healthy",
        "outstanding",
        "registered",
        "url",
    )

    def __init__(self, url: str, *, registered: bool = False) -> None:
        self.url = url
        self.registered = registered  # joined through the registry (not in routing.yaml)
        self.outstanding = 0
        self.failures = 0  # consecutive
        self.ejections = 0
        self.ejected_until = 0.0
        self.healthy = True  # active health checks (True until a check says otherwise)

    def eligible(self, now: float) -> bool:
        return self.healthy and self.ejected_until <= now


class Pool:
    """The instances of one upstream; mutable state shared by every request of a process."""

    def __init__(
        self,
        urls: Iterable[str],
        outlier: Outlier | None = None,
        balance: Balance = Balance.ROUND_ROBIN,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_eject: Callable[[Instance], None] | None = None,
    ) -> None:
        self.instances = [Instance(u) for u in urls]
        self.outlier = outlier or Outlier()
        self.balance = balance
        self.clock = clock
        self.on_eject = on_eject
        self._next = 0

    # -- membership (the registry adds and removes instances) --------------------------------
    def add(self, url: str) -> Instance:
        for inst in self.instances:
            if inst.url == url:
                return inst
        inst = Instance(url, registered=True)
        self.instances.append(inst)
        return inst

    def remove(self, url: str) -> None:
        self.instances = [i for i in self.instances if i.url != url or not i.registered]

    # -- choosing ----------------------------------------------------------------------------
    def pick(self, avoid: Instance | None = None) -> Instance:
        """An eligible instance; ``avoid`` (the one that just failed) only if nothing else is."""
        instances = self.instances
        now = self.clock()
        if len(instances) == 1 and avoid is None:  # the common case: one instance, in order
            only = instances[0]
            if only.healthy and only.ejected_until <= now:
                self._next += 1
                return only
        eligible = [i for i in instances if i.healthy and i.ejected_until <= now and i is not avoid]
        if not eligible:
            # everybody is out: better try the one that has rested longest than fail outright
            others = [i for i in instances if i is not avoid] or instances
            healthy = [i for i in others if i.healthy] or others
            return min(healthy, key=lambda i: i.ejected_until)
        start = self._next % len(eligible)
        self._next += 1
        if self.balance is Balance.ROUND_ROBIN or len(eligible) == 1:
            return eligible[start]
        ordered = eligible[start:] + eligible[:start]
        return min(ordered, key=lambda i: i.outstanding)

    # -- passive outlier detection -----------------------------------------------------------
    def report(self, inst: Instance, success: bool) -> None:
        if success:
            inst.failures = 0
            return
        inst.failures += 1
        o = self.outlier
        if inst.failures < o.consecutive_failures or inst.ejected_until > self.clock():
            return
        now = self.clock()
        out = sum(1 for i in self.instances if i.ejected_until > now)
        if (out + 1) * 100 > o.max_ejected_percent * len(self.instances) and out > 0:
            return  # ejecting one more would take too much of the upstream away
        inst.ejections += 1
        inst.failures = 0
        duration = min(o.ejection_time * 2 ** (inst.ejections - 1), o.max_ejection_time)
        inst.ejected_until = now + duration
        if self.on_eject is not None:
            self.on_eject(inst)

    def set_health(self, url: str, healthy: bool) -> None:
        for inst in self.instances:
            if inst.url == url:
                inst.healthy = healthy
