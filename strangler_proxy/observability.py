"""The proxy's Prometheus metrics, fed by lifecycle events and read from upstream runtimes.

strangler_requests_total{route,mode,upstream,status_class}
strangler_request_duration_seconds{route}           histogram, client's view
strangler_upstream_duration_seconds{upstream}       histogram, until response headers
strangler_fallbacks_total{route,reason}
strangler_retries_total{upstream}
strangler_proxy_errors_total{route,reason}          answers the proxy wrote itself
strangler_breaker_state{upstream,state}             1 for the current state
strangler_breaker_transitions_total{upstream}
strangler_ejections_total{upstream}
strangler_instance_healthy{upstream,instance}       active health checks (1/0)
strangler_instance_ejected{upstream,instance}       passive outlier ejection (1/0)
strangler_reloads_total{result}                     ok / rejected
strangler_table_generation                          the active table's generation
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .breaker import BreakerState
from .events import ReloadFinished, RequestCompleted
from .metrics import Labels, Registry
from .proxy import TableHolder

__all__ = ["ProxyMetrics", "RecentWindow"]

RECENT_MINUTES = 5


class RecentWindow:
    """Counts over the last :data:`RECENT_MINUTES` minutes, in one-minute buckets (what
    ``strangler status`` shows as "traffic in the last minutes").

    The request path adds to the current minute's counts only; the minute rolls over, old
    minutes are forgotten and the sums are made when ``collect`` is asked (at scrape time)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.minute = -(2**62)  # the current minute's number
        self.current: dict[Labels, float] = {}  # its counts
        self.past: dict[int, dict[Labels, float]] = {}  # earlier minutes still in the window
        self.seen: dict[Labels, None] = {}  # every label set counted so far (reported as 0)

    def _roll(self, minute: int) -> None:
        if self.current:
            self.past[self.minute] = self.current
            self.seen.update(dict.fromkeys(self.current))
        self.current = {}
        self.minute = minute
        for old in [m for m in self.past if m <= minute - RECENT_MINUTES]:
            del self.past[old]

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        minute = int(self.clock() // 60)
        if minute != self.minute:
            self._roll(minute)
        current = self.current
        current[labels] = current.get(labels, 0.0) + amount

    def collect(self) -> dict[Labels, float]:
        since = int(self.clock() // 60) - RECENT_MINUTES
        out = dict.fromkeys(self.seen, 0.0)
        for minute, counts in (*self.past.items(), (self.minute, self.current)):
            if minute > since:
                for labels, n in counts.items():
                    out[labels] = out.get(labels, 0.0) + n
            else:
                for labels in counts:
                    out.setdefault(labels, 0.0)
        return out


_STATUS_CLASS = {code: f"{code // 100}xx" for code in range(100, 1000)}


class ProxyMetrics:
    def __init__(self, holder: TableHolder, registry: Registry | None = None) -> None:
        self.holder = holder
        r = self.registry = registry or Registry()
        self.requests = r.counter(
            "strangler_requests_total",
            "Requests by route, mode, upstream and status class",
            ("route", "mode", "upstream", "status_class"),
        )
        self.duration = r.histogram(
            "strangler_request_duration_seconds", "Time to the last byte, by route", ("route",)
        )
        self.upstream_duration = r.histogram(
            "strangler_upstream_duration_seconds",
            "Time until the upstream's response headers",
            ("upstream",),
        )
        self.fallbacks = r.counter(
            "strangler_fallbacks_total", "Requests served by the fallback", ("route", "reason")
        )
        self.errors = r.counter(
            "strangler_proxy_errors_total", "Answers the proxy wrote itself", ("route", "reason")
        )
        self.reloads = r.counter("strangler_reloads_total", "Reload attempts", ("result",))
        self.recent_requests = RecentWindow()
        self.recent_fallbacks = RecentWindow()
        r.gauge(
            "strangler_requests_recent",
            "Requests in the last 5 minutes",
            ("route", "mode", "upstream", "status_class"),
            collect=self.recent_requests.collect,
        )
        r.gauge(
            "strangler_fallbacks_recent",
            "Requests served by the fallback in the last 5 minutes",
            ("route", "reason"),
            collect=self.recent_fallbacks.collect,
        )
        r.gauge(
            "strangler_retries_total",
            "Retries on another instance",
            ("upstream",),
            collect=lambda: self._per_upstream("retries"),
        )
        r.gauge(
            "strangler_ejections_total",
            "Instances ejected",
            ("upstream",),
            collect=lambda: self._per_upstream("ejections"),
        )
        r.gauge(
            "strangler_breaker_transitions_total",
            "Breaker state changes",
            ("upstream",),
            collect=self._transitions,
        )
        r.gauge(
            "strangler_breaker_state",
            "Circuit breaker state",
            ("upstream", "state"),
            collect=self._breakers,
        )
        r.gauge(
            "strangler_instance_healthy",
            "Active health of an instance",
            ("upstream", "instance"),
            collect=lambda: self._instances(ejected=False),
        )
        r.gauge(
            "strangler_instance_ejected",
            "Ejected by outlier detection",
            ("upstream", "instance"),
            collect=lambda: self._instances(ejected=True),
        )
        r.gauge(
            "strangler_table_generation",
            "Generation of the active routing table",
            collect=lambda: {(): float(self.holder.active.generation)},
        )

    # -- subscribers --------------------------------------------------------------------------
    def on_request(self, e: RequestCompleted) -> None:
        route = e.route or "(default)"
        status = e.status
        status_class = _STATUS_CLASS.get(status) or (f"{status // 100}xx" if status else "none")
        key = (route, e.mode, e.upstream, status_class)
        self.requests.inc(key)
        self.recent_requests.inc(key)
        self.duration.observe((route,), e.duration)
        if e.upstream_latency is not None:
            self.upstream_duration.observe((e.upstream,), e.upstream_latency)
        if e.fallback is not None:
            self.fallbacks.inc((route, e.fallback))
            self.recent_fallbacks.inc((route, e.fallback))
        if e.error is not None:
            self.errors.inc((route, e.error))

    def on_reload(self, e: ReloadFinished) -> None:
        self.reloads.inc(("ok" if e.ok else "rejected",))

    # -- read at scrape time ------------------------------------------------------------------
    def _per_upstream(self, attr: str) -> dict[Labels, float]:
        return {(n,): float(getattr(rt, attr)) for n, rt in self.holder.runtimes.by_name.items()}

    def _transitions(self) -> dict[Labels, float]:
        return {
            (n,): float(rt.breaker.transitions) for n, rt in self.holder.runtimes.by_name.items()
        }

    def _breakers(self) -> dict[Labels, float]:
        return {
            (n, state.value): 1.0 if rt.breaker.state is state else 0.0
            for n, rt in self.holder.runtimes.by_name.items()
            for state in BreakerState
        }

    def _instances(self, *, ejected: bool) -> dict[Labels, float]:
        now = time.monotonic()
        out: dict[Labels, float] = {}
        for n, rt in self.holder.runtimes.by_name.items():
            for inst in rt.pool.instances:
                value = inst.ejected_until > now if ejected else inst.healthy
                out[(n, inst.url)] = 1.0 if value else 0.0
        return out
