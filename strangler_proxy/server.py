"""Assemble and run the proxy: public port, admin port, hot reload, access log.

    server = ProxyServer(table, config_path="routing.yaml")
    await server.start()        # binds both ports
    ...
    await server.stop()         # stops accepting, lets requests in flight finish

``run(...)`` wraps that for the command line, with uvloop when it is installed, the garbage
collector tuned for serving (see ``_tune_gc``) and a clean stop on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import IO

import aiohttp
from aiohttp import web

from ._front import FrontServer
from .accesslog import AccessLog
from .admin import Inventory, create_admin_app
from .balancing import Pool
from .events import EventBus, ReloadFinished, RequestCompleted
from .health import HealthChecker
from .mirror import Mirror
from .model import HealthSpec, Listen, RoutingTable
from .observability import ProxyMetrics
from .proxy import Proxy, TableHolder, create_session
from .registry import Registry as ServiceRegistry
from .reload import Reloader
from .shadow import ShadowMetrics, ShadowStore, open_store
from .upstream_client import UpstreamClient

__all__ = ["ProxyServer", "run"]

log = logging.getLogger("strangler.server")


class ProxyServer:
    def __init__(
        self,
        table: RoutingTable,
        *,
        config_path: str | None = None,
        listen: Listen | None = None,
        admin_listen: Listen | None = None,
        access_log: IO[str] | None = None,
        reload_interval: float = 0.25,
        shutdown_grace: float = 10.0,
        shadow_store: str | None = None,
        shadow_store_default: Path = Path("var/shadow.sqlite3"),
        reuse_port: bool = False,
        serve_admin: bool = True,
        inventory_settings: str | None = None,
    ) -> None:
        self.table = table
        self.config_path = config_path
        self.listen = listen or table.settings.listen
        self.admin_listen = admin_listen or table.settings.admin_listen
        self.access_log_stream = access_log
        self.reload_interval = reload_interval
        self.shutdown_grace = shutdown_grace
        self.reuse_port = reuse_port  # several worker processes share the public port
        self.serve_admin = serve_admin  # with workers, only the first one serves the admin API
        # the dashboard's progress by the inventory's measure (needs the Django project here)
        self.inventory = (
            Inventory(inventory_settings, config_path)
            if inventory_settings is not None and config_path is not None
            else None
        )
        self.holder = TableHolder(table)
        self.completed: EventBus[RequestCompleted] = EventBus()
        self.reloaded: EventBus[ReloadFinished] = EventBus()
        self.metrics = ProxyMetrics(self.holder)
        self.completed.subscribe(self.metrics.on_request)
        self.reloaded.subscribe(self.metrics.on_reload)
        self.health: HealthChecker | None = None
        self.registry: ServiceRegistry | None = None
        # shadow comparisons: the flag's URL, else the table's, else the SQLite default
        self.shadow_store_url = shadow_store or table.settings.shadow_store
        self.shadow_store_default = shadow_store_default
        self.shadow_metrics = ShadowMetrics()
        self.metrics.registry.extra.append(self.shadow_metrics.render_prometheus)
        gateway = self.holder.gateway
        self.metrics.registry.counter(
            "strangler_identity_lookups_total",
            "Caller resolutions at the edge by outcome (hit: from the cache, miss: asked the "
            "introspection endpoint, error: it could not answer, refused: CSRF check failed)",
            ("outcome",),
            gateway.introspector.metric_samples,
        )
        self.metrics.registry.counter(
            "strangler_ratelimit_total",
            "Rate-limited route requests by outcome (allowed, limited)",
            ("route", "outcome"),
            gateway.limit_samples,
        )
        self.metrics.registry.counter(
            "strangler_cache_events_total",
            "Response cache events per route (hit, miss, bypass, store, evict, purge, error)",
            ("route", "event"),
            gateway.cache_samples,
        )
        self.store: ShadowStore | None = None
        self.mirror: Mirror | None = None
        self.reloader: Reloader | None = None
        self.access_log: AccessLog | None = None
        self._session: aiohttp.ClientSession | None = None
        self._client: UpstreamClient | None = None
        self._runners: list[web.BaseRunner] = []
        self._front: FrontServer | None = None

    async def start(self) -> None:
        self._session = create_session()
        if self.access_log_stream is not None:
            self.access_log = AccessLog(self.access_log_stream)
            self.completed.subscribe(self.access_log.record)
            self.access_log.start()
        # connected on the first shadow copy: a table without shadow routes opens no store
        self.store = open_store(self.shadow_store_url, self.shadow_store_default)
        self._client = UpstreamClient()
        self.mirror = Mirror(self._client, self.store, self.shadow_metrics)
        proxy = Proxy(self.holder, self._session, self.completed, self.mirror, self._client)
        if self.config_path is not None:
            self.reloader = Reloader(
                self.config_path,
                self.holder,
                interval=self.reload_interval,
                finished=self.reloaded,
            )
            self.reloader.start()
        self.health = HealthChecker(
            self._session, self._health_targets, on_healthy=self._upstream_healthy
        )
        self.holder.runtimes.breaker_opened = self.health.check_soon
        self.health.start()
        token = os.environ.get(self.table.settings.registry_token_env) or None
        self.registry = ServiceRegistry(self.holder.runtimes, token)
        admin_token = os.environ.get(self.table.settings.admin_token_env) or None
        self.registry.start()
        # the public port: nothing between the socket and Proxy.handle (strangler_proxy/_front.py)
        front = FrontServer(proxy.handle, max_line_size=self.table.settings.max_header_bytes)
        admin = web.AppRunner(
            create_admin_app(
                self.holder,
                self.reloader,
                {"listen": str(self.listen), "admin_listen": str(self.admin_listen)},
                self.metrics.registry,
                self.registry,
                self.store,
                self.inventory,
                admin_token,
            ),
            access_log=None,
            shutdown_timeout=2.0,
        )
        self._front = front
        await front.listen(self.listen.host, self.listen.port, reuse_port=self.reuse_port)
        if self.serve_admin:
            await admin.setup()
            self._runners.append(admin)
            where = self.admin_listen
            await web.TCPSite(admin, where.host, where.port, backlog=1024).start()
        log.info(
            "strangler proxy on http://%s (admin http://%s), table generation %d, %d routes",
            self.listen,
            self.admin_listen,
            self.holder.active.generation,
            len(self.table.routes),
        )

    def _health_targets(self) -> list[tuple[str, Pool, HealthSpec]]:
        active = self.holder.active
        return [
            (name, active.balancers[name].pool, up.health)
            for name, up in active.table.upstreams.items()
            if up.health is not None
        ]

    def _upstream_healthy(self, name: str) -> None:
        runtime = self.holder.active.balancers.get(name)
        if runtime is not None:
            runtime.breaker.health_passed()

    async def stop(self) -> None:
        if self.registry is not None:
            await self.registry.stop()
        if self.health is not None:
            await self.health.stop()
        if self.reloader is not None:
            await self.reloader.stop()
        if self._front is not None:
            await self._front.shutdown(self.shutdown_grace)
            self._front = None
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self.mirror is not None:
            await self.mirror.drain()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
        if self._session is not None:
            await self._session.close()
        if self._client is not None:
            await self._client.close()
        await self.holder.gateway.close()
        if self.access_log is not None:
            await self.access_log.stop()


# young-generation threshold while serving: Python's default (700 allocations) runs a
# collection every few requests, each walking the young objects of several requests
_GC_THRESHOLD = (20_000, 20, 20)


def _tune_gc() -> None:
    """Once the proxy is up: what exists now (modules, the table, aiohttp's machinery) moves to
    the permanent generation, where collections no longer walk it, and the young generation is
    collected less often. Cyclic garbage is still collected, in larger batches. Measured on the
    fast-upstream benchmark: about 10% less CPU per request and a shorter p99
    (``migration_playbook/reference/benchmarks.md``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLD)


async def _serve(server: ProxyServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except BaseException:
        await server.stop()  # what started before the failure (a port in use) is stopped
        raise
    _tune_gc()
    print(f"ready: proxy http://{server.listen} admin http://{server.admin_listen}", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping: finishing requests in flight")
        await server.stop()


def run_workers(make: Callable[[int], ProxyServer], workers: int) -> int:
    """Pre-fork ``workers`` processes sharing the public port (SO_REUSEPORT); the kernel spreads
    connections over them. Worker 0 also serves the admin API. State stays per process:
    breakers, ejections, retry budgets, the registry and metrics are each worker's own (the
    admin API shows worker 0's); the table and its reloads are the same file for all. Returns
    the first non-zero exit code of a worker, else 0."""
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_worker_main, args=(make, i), name=f"worker-{i}") for i in range(workers)
    ]
    for proc in procs:
        proc.start()

    def forward(sig: int, _frame: object) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    codes = []
    for proc in procs:
        proc.join()
        codes.append(proc.exitcode or 0)
    return next((c for c in codes if c), 0)


def _worker_main(make: Callable[[int], ProxyServer], index: int) -> None:
    run(make(index))


def run(server: ProxyServer) -> None:
    """Serve until SIGINT/SIGTERM, on uvloop when available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        asyncio.run(_serve(server))
    else:
        uvloop.run(_serve(server))
