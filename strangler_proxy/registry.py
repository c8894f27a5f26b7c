"""A small service registry on the admin API, as Eureka users know it.

An extracted service instance registers itself (upstream name, base URL, TTL), renews with
heartbeats and deregisters on shutdown; an instance whose TTL passes without a heartbeat is
evicted. Registered instances join the pool of the upstream of that name beside the static
ones from routing.yaml, so scaling a service out needs no edit of the table.

Every call needs ``Authorization: Bearer <token>``, the token being the value of the environment
variable named by ``admin.registry_token_env`` in routing.yaml (default
``STRANGLER_REGISTRY_TOKEN``). Without a configured token the registry refuses everything, so
no one on the network can add an instance and receive traffic.

    POST   /registry/catalog  {"url": "http://127.0.0.1:8102", "ttl": 10}   register / renew
    DELETE /registry/catalog  {"url": "http://127.0.0.1:8102"}              deregister
    GET    /registry                                                          what is registered
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .upstreams import Runtimes

__all__ = ["Registration", "Registry"]

log = logging.getLogger("strangler.registry")

MAX_TTL = 300.0


@dataclass(slots=True)
class Registration:
    upstream: str
    url: str
    ttl: float
    expires: float


class Registry:
    def __init__(
        self,
        runtimes: Runtimes,
        token: str | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtimes = runtimes
        self.token = token
        self.clock = clock
        self.entries: dict[tuple[str, str], Registration] = {}
        self._task: asyncio.Task[None] | None = None

    def authorized(self, header: str | None) -> bool:
        if not self.token or header is None or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].encode(), self.token.encode())

    def register(self, upstream: str, url: str, ttl: float) -> Registration:
        """Register or renew; raises ``KeyError`` for an upstream the table does not know."""
        runtime = self.runtimes.by_name[upstream]
        entry = self.entries.get((upstream, url))
        expires = self.clock() + ttl
        if entry is None:
            entry = self.entries[(upstream, url)] = Registration(upstream, url, ttl, expires)
            runtime.pool.add(url)
            log.info("registered %s instance %s (ttl %.0f s)", upstream, url, ttl)
        else:
            entry.ttl, entry.expires = ttl, expires
        return entry

    def deregister(self, upstream: str, url: str) -> bool:
        entry = self.entries.pop((upstream, url), None)
        if entry is None:
            return False
        runtime = self.runtimes.by_name.get(upstream)
        if runtime is not None:
            runtime.pool.remove(url)
        log.info("deregistered %s instance %s", upstream, url)
        return True

    def evict_expired(self) -> list[Registration]:
        now = self.clock()
        gone = [e for e in self.entries.values() if e.expires <= now]
        for entry in gone:
            self.deregister(entry.upstream, entry.url)
            log.warning("evicted %s instance %s: no heartbeat", entry.upstream, entry.url)
        return gone

    def reattach(self) -> None:
        """After a reload rebuilt an upstream, put its registered instances back."""
        for (upstream, url), _ in list(self.entries.items()):
            runtime = self.runtimes.by_name.get(upstream)
            if runtime is not None:
                runtime.pool.add(url)

    async def _run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.evict_expired()
                self.reattach()
            except Exception:
                log.exception("registry sweep failed")

    def start(self, interval: float = 0.25) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
