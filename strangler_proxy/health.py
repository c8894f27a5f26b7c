"""Active health checks: each instance of an upstream with a ``health`` setting is asked every
``interval`` seconds; ``unhealthy_threshold`` failed checks in a row take it out of the pool,
``healthy_threshold`` passing checks in a row bring it back. A check passes on a 2xx answer
within ``timeout``. The set of checked upstreams follows the active table across reloads.
``on_healthy(upstream)`` is called when an instance recovers: after a failed check, it passes
``healthy_threshold`` checks in a row (the proxy lets an open circuit breaker try the upstream
again then; a check that passed all along says nothing about the requests that opened the
breaker). An upstream with an instance that failed its last check is checked every second
(:data:`FAILING_INTERVAL`) until it recovers, and :meth:`HealthChecker.check_soon` checks one
in the next round (the proxy calls it when the upstream's breaker opens).

    checker = HealthChecker(session, lambda: [(name, pool, spec), ...])
    checker.start()
    ...
    await checker.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import aiohttp

from .balancing import Instance, Pool
from .model import HealthSpec

__all__ = ["HealthChecker", "Targets"]

log = logging.getLogger("strangler.health")

Targets = Callable[[], Sequence[tuple[str, Pool, HealthSpec]]]


# how often an upstream with an instance that failed its last check is checked (at most): its
# recovery is seen within a second, not a whole interval later
FAILING_INTERVAL = 1.0


class _Track:
    __slots__ = ("failed", "fails", "passes")

    def __init__(self) -> None:
        self.passes = 0
        self.fails = 0
        self.failed = False  # a check failed since the instance last recovered


class HealthChecker:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        targets: Targets,
        *,
        clock: Callable[[], float] = time.monotonic,
        tick: float = 0.1,
        on_healthy: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session
        self.targets = targets
        self.on_healthy = on_healthy  # told the upstream's name when an instance recovers
        self.clock = clock
        self.tick = tick
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._due: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self.checks = 0

    async def check(self, upstream: str, inst: Instance, spec: HealthSpec) -> bool:
        try:
            async with self.session.get(
                inst.url + spec.path,
                timeout=aiohttp.ClientTimeout(total=spec.timeout),
                allow_redirects=False,
            ) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError):
            ok = False
        self.checks += 1
        track = self._tracks.setdefault((upstream, inst.url), _Track())
        if ok:
            track.passes, track.fails = track.passes + 1, 0
            if not inst.healthy and track.passes >= spec.healthy_threshold:
                inst.healthy = True
                log.info("%s %s is healthy again", upstream, inst.url)
            if track.failed and track.passes >= spec.healthy_threshold:
                track.failed = False  # recovered: healthy again, or passing again in a row
                if self.on_healthy is not None:
                    self.on_healthy(upstream)
        else:
            track.fails, track.passes, track.failed = track.fails + 1, 0, True
            if inst.healthy and track.fails >= spec.unhealthy_threshold:
                inst.healthy = False
                log.warning("%s %s failed %d health checks", upstream, inst.url, track.fails)
        if track.failed:  # until it recovers: sooner than the interval its round set
            soon = self.clock() + min(spec.interval, FAILING_INTERVAL)
            if self._due.get(upstream, soon) > soon:
                self._due[upstream] = soon
        return ok

    def check_soon(self, upstream: str) -> None:
        """Check ``upstream`` in the next round, whatever its interval (its circuit breaker
        just opened: a check now sees the outage, so its end is seen too)."""
        self._due.pop(upstream, None)

    async def round(self) -> None:
        """Check the instances of every upstream whose interval has passed, concurrently; an
        upstream with an instance that failed its last check, every :data:`FAILING_INTERVAL`."""
        now = self.clock()
        jobs = []
        for name, pool, spec in self.targets():
            if self._due.get(name, 0.0) > now:
                continue
            self._due[name] = now + spec.interval  # (a check of a failing instance: sooner)
            jobs += [self.check(name, inst, spec) for inst in list(pool.instances)]
        if jobs:
            await asyncio.gather(*jobs)

    async def _run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:
                log.exception("health check round failed")
            await asyncio.sleep(self.tick)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
