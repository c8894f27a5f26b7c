"""Shadow copies: send a route's requests to the other side too, off the client's path.

The data path only *offers* work (``Mirror.offer``): it never waits for a shadow exchange, and
nothing here can raise into it. Per route, at most ``max_concurrency`` exchanges run and at most
``queue`` wait; beyond that, copies are dropped and counted. Each exchange:

1. sends the copy (same method, raw path, headers and body as the primary got, plus
   ``X-Strangler-Shadow: 1``; unsafe methods also carry ``X-Strangler-Dry-Run: 1``, which the
   extracted services honour by rolling their transaction back) with its own timeout;
2. for a sample (``noise_sample``) of safe requests, asks the primary side once more, so fields
   that differ between the primary and itself are learned as noise;
3. compares the two answers with the route's rules; a mismatch on a safe request is asked of
   both sides again after ``recheck_delay``, and one that disappears is labelled a likely race;
4. records the result (redacted by the store) and counts it.

    mode: shadow        client ──▶ monolith (serves)       copy ──▶ to (compared)
    extracted + shadow  client ──▶ to (serves)             copy ──▶ monolith (GET/HEAD/OPTIONS)
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict

from . import canary
from .gateway.edge import Published
from .model import SAFE_METHODS, Route, ShadowSpec, StickyKind, Timeouts
from .shadow import (
    Captured,
    Comparison,
    NoiseLearner,
    ShadowMetrics,
    ShadowResult,
    ShadowStore,
    Verdict,
    classify_race,
    compare,
    decoded_body,
    decoded_headers,
)
from .upstream_client import UpstreamClient

__all__ = ["DRY_RUN_HEADER", "SHADOW_HEADER", "Mirror", "ShadowJob"]

log = logging.getLogger("strangler.shadow")

SHADOW_HEADER = "X-Strangler-Shadow"
DRY_RUN_HEADER = "X-Strangler-Dry-Run"


@dataclass(slots=True)  # not frozen: a frozen dataclass pays a setattr call per field
class ShadowJob:
    """Everything a shadow exchange needs, captured while the primary was served."""

    route: Route
    spec: ShadowSpec
    method: str
    target: str  # raw path and query
    headers: CIMultiDict[str]  # as sent to the primary
    body: bytes | None
    primary: Captured
    primary_base: str  # instance URL of the side that served (for the noise re-ask)
    shadow_base: str  # instance URL of the side that gets the copy
    request_id: str
    started: float
    # the path and headers the serving side got, when they are not the copy's (a route that
    # rewrites for its service, or resolved the caller at the edge): what asking the serving
    # side again (noise, recheck) must send
    primary_target: str | None = None
    primary_headers: CIMultiDict[str] | None = None
    primary_coding: str | None = None  # the primary's body is as sent: decoded off the path
    # a route that rewrites for its service: what the client would get of the answers the mirror
    # reads from the service (the copy's in shadow mode, the re-asks of the serving side in
    # extracted mode), so both sides are compared in the public layout
    publish: Published | None = None
    service_is_copy: bool = True


async def _read_upto(content: aiohttp.StreamReader, size: int) -> bytes:
    """The body to its end, or its first ``size`` bytes or more when it is longer (a read
    returns what has arrived, not the whole body)."""
    body = await content.readany()
    if content.at_eof() or len(body) >= size:
        return body
    parts, got = [body], len(body)
    while got < size:
        chunk = await content.readany()
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


async def _decoded(body: bytes, coding: str, limit: int) -> bytes:
    """:func:`decoded_body`; a large body in a worker thread, so that inflating a megabyte
    does not hold up the event loop (and the clients it serves) for milliseconds."""
    if len(body) <= _INLINE_DECODE:
        return decoded_body(body, coding, limit)
    return await asyncio.to_thread(decoded_body, body, coding, limit)


_INLINE_DECODE = 16 * 1024  # compressed bytes decoded on the loop itself (well under 1 ms)


class _RouteLane:
    """The concurrency cap and bounded queue of one route: at most ``max_concurrency`` tasks,
    each taking the next waiting copy when its exchange is done (no task, no lock per copy)."""

    __slots__ = ("running", "spec", "timeouts", "waiting")

    def __init__(self, spec: ShadowSpec) -> None:
        self.spec = spec
        self.running = 0  # tasks working through this lane
        self.waiting: collections.deque[ShadowJob] = collections.deque()
        wait = spec.timeout  # the whole exchange, each of its phases too
        self.timeouts = Timeouts(connect=wait, response=wait, idle=wait, total=wait)


class Mirror:
    def __init__(
        self,
        client: UpstreamClient,
        store: ShadowStore,
        metrics: ShadowMetrics,
        *,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client  # the proxy's own lean upstream client (keep-alive pools)
        self.store = store
        self.metrics = metrics
        self.noise = NoiseLearner()
        self.rng = rng
        self.clock = clock
        self._lanes: dict[str, _RouteLane] = {}
        self._store_started = False
        self._store_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- decided on the data path (cheap, never raises) -----------------------------------------
    def wants(self, route: Route, method: str, sticky_value: str | None, client: str) -> bool:
        """Whether this request is copied: method allowed and sampled in."""
        spec = route.shadow
        if spec is None or method not in spec.methods:
            return False
        if spec.sample >= 1.0:
            return True
        if spec.sticky is not None:
            key = sticky_value if sticky_value else client
            return canary.in_canary(key.encode("utf-8", "surrogateescape"), spec.sample * 100)
        return self.rng() < spec.sample

    @staticmethod
    def sticky_value(
        spec: ShadowSpec, headers: Mapping[str, str], cookies: Mapping[str, str]
    ) -> str:
        sticky = spec.sticky
        if sticky is None or sticky.kind is StickyKind.IP:
            return ""
        if sticky.kind is StickyKind.HEADER:
            return headers.get(sticky.name, "")
        return cookies.get(sticky.name, "")

    def offer(self, job: ShadowJob) -> bool:
        """Queue a shadow exchange; False (and counted) when the route's lane is full."""
        spec = job.spec
        lane = self._lanes.get(job.route.name)
        if lane is None or lane.spec is not spec:  # new route, or its settings were reloaded
            lane = self._lanes[job.route.name] = _RouteLane(spec)
        if lane.running < spec.max_concurrency:
            lane.running += 1
            task = asyncio.get_running_loop().create_task(self._run(lane, job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return True
        if len(lane.waiting) >= spec.queue:
            self.count_dropped(job.route.name)
            return False
        lane.waiting.append(job)
        return True

    # -- off the data path ----------------------------------------------------------------------
    async def _run(self, lane: _RouteLane, job: ShadowJob | None) -> None:
        """Exchange ``job``, then the lane's waiting copies, until none is left."""
        try:
            while job is not None:
                try:
                    if not self._store_started:
                        await self._start_store()
                    await self._exchange(job, lane.timeouts)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the choke point: count, log, never propagate
                    self.count_dropped(job.route.name)
                    log.exception("shadow exchange for %s failed", job.route.name)
                job = lane.waiting.popleft() if lane.waiting else None
        finally:
            lane.running -= 1
            if lane.running == 0 and lane.waiting:  # cancelled (shutdown): nobody takes these
                self.count_dropped(lane.waiting[0].route.name, len(lane.waiting))
                lane.waiting.clear()

    def count_dropped(self, route: str, n: int = 1) -> None:
        """Copies that will not be compared: counted on the admin API and in the store (the
        report says how many are missing)."""
        self.metrics.dropped(route, n)
        self.store.record_dropped(route, n)

    async def _start_store(self) -> None:
        async with self._store_lock:
            if not self._store_started:
                await asyncio.to_thread(self._open_store)
                self._store_started = True

    def _open_store(self) -> None:
        """Start the store, and take the noise it holds (other replicas', earlier runs'), now
        and every ``noise_refresh`` seconds, so a restart does not count the monolith's own
        variations as mismatches again and every replica excludes what any of them learned."""
        self.store.on_noise = self.noise.replace
        self.store.start()
        try:
            self.noise.replace(self.store.noise_counts())
        except Exception:  # the store's reads fail as its writes do: the writer tries again
            log.exception("shadow store: the learned noise could not be read")

    async def _ask(self, base: str, job: ShadowJob, timeouts: Timeouts, *, copy: bool) -> Captured:
        target, sent = job.target, job.headers
        if not copy and job.primary_target is not None and job.primary_headers is not None:
            target, sent = job.primary_target, job.primary_headers
        headers = CIMultiDict(sent)
        if copy:
            headers[SHADOW_HEADER] = "1"
            if job.method not in SAFE_METHODS:
                headers[DRY_RUN_HEADER] = "1"
        limit = job.spec.max_body_bytes
        t0 = time.perf_counter()
        try:
            resp = await self.client.request(
                job.method, base, target, headers, job.body, timeouts=timeouts
            )
            try:
                body = await _read_upto(resp.content, limit + 1)
                latency = time.perf_counter() - t0  # to the end of the body, as the primary's
                status, raw, coding = (
                    resp.status,
                    resp.raw_headers,
                    resp.headers.get("Content-Encoding"),
                )
            finally:
                resp.release()
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return Captured(None, (), b"", time.perf_counter() - t0, "shadow_timeout")
        except (aiohttp.ClientError, OSError):
            return Captured(None, (), b"", time.perf_counter() - t0, "upstream_unavailable")
        if coding is not None and len(body) <= limit:  # compared as sent, decoded
            body = await _decoded(body, coding, limit)
        headers_got = decoded_headers(raw)
        if job.publish is not None and copy is job.service_is_copy and len(body) <= limit:
            headers_got, body = job.publish(headers_got, body)  # (links may grow it)
        error = "body_too_large" if len(body) > limit else None
        return Captured(status, headers_got, body[:limit], latency, error)

    async def _exchange(self, job: ShadowJob, timeouts: Timeouts) -> None:
        route = job.route.name
        spec = job.spec
        rules = spec.compare
        if job.primary_coding is not None:  # compared decoded, as the copy's answer is
            body = await _decoded(job.primary.body, job.primary_coding, spec.max_body_bytes)
            if len(body) > spec.max_body_bytes:
                self.count_dropped(route)  # over the cap once decoded: not compared
                return
            job.primary = dataclasses.replace(job.primary, body=body)
        shadow = await self._ask(job.shadow_base, job, timeouts, copy=True)
        if shadow.error == "body_too_large":  # as an answer of the primary over the cap
            self.count_dropped(route)
            return
        safe = job.method in SAFE_METHODS
        if safe and spec.noise_sample > 0 and self.rng() < spec.noise_sample:
            again = await self._ask(job.primary_base, job, timeouts, copy=False)
            if job.primary.error is None and again.error is None:
                self.store.record_noise(self.noise.observe(route, job.primary, again, rules))
        noise = self.noise.noise(route)
        comparison: Comparison = compare(job.primary, shadow, rules, noise)
        if comparison.verdict is Verdict.MISMATCH and safe and spec.recheck_delay >= 0:
            await asyncio.sleep(spec.recheck_delay)
            primary2, shadow2 = await asyncio.gather(
                self._ask(job.primary_base, job, timeouts, copy=False),
                self._ask(job.shadow_base, job, timeouts, copy=True),
            )
            comparison = classify_race(comparison, compare(primary2, shadow2, rules, noise))
        result = ShadowResult(
            route=route,
            method=job.method,
            target=job.target,
            request_headers=tuple(job.headers.items()),
            primary=job.primary,
            shadow=shadow,
            comparison=comparison,
            timestamp=job.started,
            request_id=job.request_id,
            redact=rules.redact,
        )
        self.metrics.observe(result)
        if not self.store.record(result):  # the store counted it (queue full)
            self.metrics.dropped(route)

    async def drain(self, timeout: float = 5.0) -> None:
        """Let running exchanges finish (on shutdown), then cancel what is left."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
