"""The long-lived state of each upstream: its instance pool, circuit breaker and limits.

A table reload builds a new router, but an upstream that keeps its name keeps its runtime: the
ejections, breaker state and registered instances survive, and only what the new table changes
(instances listed in the file, timeouts, thresholds) is updated in place.

    runtimes = Runtimes()
    rt = runtimes.configure(table)["catalog"]     # reconcile with the table
    inst = rt.pick()                              # an eligible instance
    rt.outcome(inst, ok=True)                     # feeds outlier ejection and the breaker
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import aiohttp
from aiohttp import ClientTimeout

from .balancing import Instance, Pool
from .breaker import BreakerState, CircuitBreaker
from .model import RoutingTable, Timeouts, Upstream

__all__ = ["Runtimes", "UpstreamRuntime"]

log = logging.getLogger("strangler.upstreams")

# retries may add at most this share of an upstream's requests (plus a small floor)
RETRY_RATIO = 0.2
RETRY_FLOOR = 3.0


class UpstreamRuntime:
    __slots__ = (
        "_opened",
        "_timeouts",
        "breaker",
        "ejections",
        "inflight",
        "pool",
        "retries",
        "retry_tokens",
        "timeout",
        "upstream",
    )

    def __init__(
        self,
        upstream: Upstream,
        clock: Callable[[], float],
        opened: Callable[[str], None] | None = None,
    ) -> None:
        self.upstream = upstream
        self._opened = opened  # told the upstream's name when its breaker opens
        self.ejections = 0
        self.pool = Pool(
            upstream.instances,
            upstream.outlier,
            upstream.balance,
            clock=clock,
            on_eject=self._ejected,
        )
        self.breaker = CircuitBreaker(upstream.breaker, clock=clock, on_change=self._breaker_moved)
        self.inflight = 0
        self.retries = 0
        self.retry_tokens = RETRY_FLOOR
        self.timeout = _client_timeout(upstream.timeouts)
        self._timeouts: dict[tuple[tuple[str, float | None], ...], tuple[Timeouts, ClientTimeout]]
        self._timeouts = {}

    def timeouts_for(
        self, overrides: tuple[tuple[str, float | None], ...]
    ) -> tuple[Timeouts, aiohttp.ClientTimeout]:
        """The upstream's timeouts with a route's overrides, and aiohttp's form of them."""
        found = self._timeouts.get(overrides)
        if found is None:
            merged = self.upstream.timeouts.merged(overrides)
            found = self._timeouts[overrides] = (merged, _client_timeout(merged))
        return found

    def _ejected(self, inst: Instance) -> None:
        self.ejections += 1
        log.warning(
            "%s: instance %s ejected for %.0f s after repeated failures",
            self.upstream.name,
            inst.url,
            inst.ejected_until - self.pool.clock(),
        )

    def _breaker_moved(self, old: BreakerState, new: BreakerState) -> None:
        log.warning("%s: circuit breaker %s → %s", self.upstream.name, old.value, new.value)
        if new is BreakerState.OPEN and self._opened is not None:
            self._opened(self.upstream.name)

    def configure(self, upstream: Upstream) -> None:
        """Apply a reloaded table's settings, keeping what was learned."""
        if upstream == self.upstream:
            return
        pool = self.pool
        keep = {i.url for i in pool.instances if i.registered} | set(upstream.instances)
        pool.instances = [i for i in pool.instances if i.url in keep]
        known = {i.url for i in pool.instances}
        for url in upstream.instances:
            if url not in known:
                pool.instances.append(Instance(url))
        pool.outlier = upstream.outlier
        pool.balance = upstream.balance
        if upstream.breaker != self.upstream.breaker:
            self.breaker = CircuitBreaker(
                upstream.breaker, clock=pool.clock, on_change=self._breaker_moved
            )
        self.timeout = _client_timeout(upstream.timeouts)
        self._timeouts = {}
        self.upstream = upstream

    # -- per request ----------------------------------------------------------------------------
    def pick(self, avoid: Instance | None = None) -> Instance:
        return self.pool.pick(avoid)

    def outcome(self, inst: Instance, ok: bool) -> None:
        self.pool.report(inst, ok)
        self.breaker.record(ok)

    def earn_retry(self) -> None:
        self.retry_tokens = min(self.retry_tokens + RETRY_RATIO, 10.0 + RETRY_FLOOR)

    def spend_retry(self) -> bool:
        if self.retry_tokens < 1.0:
            return False
        self.retry_tokens -= 1.0
        self.retries += 1
        return True


def _client_timeout(t: Timeouts) -> aiohttp.ClientTimeout:
    """``connect`` and ``idle`` (between reads) are aiohttp's; ``response`` (until headers)
    is the proxy's own timer around the request, so each fires on its own."""
    return aiohttp.ClientTimeout(total=t.total, sock_connect=t.connect, sock_read=t.idle)


class Runtimes:
    """Every upstream's runtime, kept across reloads by upstream name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.by_name: dict[str, UpstreamRuntime] = {}
        # told an upstream's name when its breaker opens (the server: check its health now)
        self.breaker_opened: Callable[[str], None] | None = None

    def _opened(self, name: str) -> None:
        if self.breaker_opened is not None:
            self.breaker_opened(name)

    def configure(self, table: RoutingTable) -> dict[str, UpstreamRuntime]:
        current: dict[str, UpstreamRuntime] = {}
        for name, upstream in table.upstreams.items():
            rt = self.by_name.get(name)
            if rt is None:
                rt = UpstreamRuntime(upstream, self.clock, self._opened)
            else:
                rt.configure(upstream)
            current[name] = rt
        self.by_name = current
        return current
