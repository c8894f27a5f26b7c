"""The gateway's state in one proxy process, and its per-table view.

:class:`Gateway` lives as long as the process (across reloads): the introspection cache, the
rate limiter's buckets, the response cache, their counters. :meth:`Gateway.configure` turns a
table into a :class:`TableGateway`, the read-only view the data path uses for one generation:
which routes have duties, each route's resolved ``auth``, the signing key.

What is per process and what is shared (``--workers N`` runs N processes):

- introspection answers: per process (each asks the monolith at most once per ``cache_ttl``
  per credentials; a logout drops that user's answers in the process that saw it, the others
  keep them until ``cache_ttl`` ends);
- rate limits: per process, unless ``proxy.redis_url`` is set: then one budget for every
  process and replica;
- the response cache: per process (``store: memory``) or shared (``store: redis``).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from ..errors import ConfigError, Problem
from ..model import Route, RoutingTable
from .assertion import MIN_KEY_BYTES, sign_assertion
from .cache import ResponseCache
from .identity import Caller, Introspector
from .ratelimit import InProcessLimiter, Limiter, RedisLimiter
from .spec import Auth, CacheSettings, LimitKey
from .stores import CacheStore, MemoryCacheStore, RedisCacheStore

__all__ = ["Gateway", "TableGateway", "limit_key", "signing_key"]


def limit_key(kind: LimitKey, caller: Caller | None, authorization: str | None, client: str) -> str:
    """Whose bucket a request spends: ``user:7``, ``token:<sha256 prefix>`` or ``ip:1.2.3.4``.
    A token counts only once the edge knows it names an active user (made-up tokens would
    each get a fresh bucket); otherwise the client address does."""
    if kind is LimitKey.USER and caller is not None and caller.active:
        return caller.key
    if kind is LimitKey.TOKEN and authorization and caller is not None and caller.active:
        digest = hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).hexdigest()
        return f"token:{digest[:32]}"
    return f"ip:{client}"


@dataclass(frozen=True, slots=True)
class TableGateway:
    """One table's gateway duties, computed once at load."""

    duties: frozenset[str]  # names of routes with anything to do at the edge
    auth: dict[str, Auth]  # per route name: the resolved auth
    key: bytes | None  # the assertion signing key (None: the table has no identity)
    logout: frozenset[str]  # paths whose successful POST ends the caller's credentials
    limiter: Limiter
    cache: CacheStore | None

    def sign(self, caller: Caller, request_id: str, audience: str, ttl: float) -> str:
        assert self.key is not None
        return sign_assertion(
            caller.claims(request_id), self.key, ttl=ttl, audience=audience, now=time.time()
        )


def signing_key(table: RoutingTable) -> bytes | None:
    """The identity assertion's key from the environment (``None``: the table has no
    ``identity:``); :class:`ConfigError` when it is missing or too short."""
    identity = table.identity
    if identity is None:
        return None
    raw = os.environ.get(identity.key_env, "").encode()
    if len(raw) >= MIN_KEY_BYTES:
        return raw
    what = "is not set" if not raw else f"is {len(raw)} bytes"
    message = (
        f"${identity.key_env} (the identity assertion's signing key) {what}: set it to a random "
        f"value of at least {MIN_KEY_BYTES} bytes, the same the services verify with"
    )
    raise ConfigError([Problem(table.source, 0, "identity.key_env", message)])


class Gateway:
    """Per process, across reloads."""

    def __init__(self) -> None:
        self.introspector = Introspector()
        self.local_limiter = InProcessLimiter()
        self._redis: dict[str, aioredis.Redis] = {}
        self._limiters: dict[str, RedisLimiter] = {}
        self._cache: tuple[CacheSettings, str | None, CacheStore] | None = None
        # (route, outcome) → count, outcome allowed | limited
        self.limits: dict[tuple[str, str], int] = {}

    def _client(self, url: str) -> aioredis.Redis:
        client = self._redis.get(url)
        if client is None:
            client = self._redis[url] = aioredis.Redis.from_url(url)
        return client

    def configure(self, table: RoutingTable) -> TableGateway:
        """The gateway for ``table``; :class:`ConfigError` when the environment lacks the
        signing key (a reload then keeps the table in service)."""
        key = signing_key(table)
        identity = table.identity
        settings = table.settings
        limiter: Limiter = self.local_limiter
        if settings.redis_url is not None:
            limiter = self._limiters.get(settings.redis_url) or self._limiters.setdefault(
                settings.redis_url, RedisLimiter(self._client(settings.redis_url))
            )
        auth: dict[str, Auth] = {}
        duties: set[str] = set()
        for route in table.routes:
            resolved = table.auth_for(route)
            if route.cache is not None and route.cache.personalised and resolved is Auth.NONE:
                resolved = Auth.OPTIONAL  # the key needs the caller
            auth[route.name] = resolved
            if resolved is not Auth.NONE or _has_duties(route):
                duties.add(route.name)
        cache = self._cache_store(table) if any(r.cache for r in table.routes) else None
        logout = frozenset(identity.logout) if identity is not None else frozenset()
        return TableGateway(frozenset(duties), auth, key, logout, limiter, cache)

    def _cache_store(self, table: RoutingTable) -> CacheStore:
        settings = table.settings
        conf = settings.cache
        url = settings.redis_url if conf.store == "redis" else None
        if self._cache is not None and self._cache[:2] == (conf, url):
            return self._cache[2]
        store: CacheStore
        if url is not None:
            # wall clock: every replica computes Age from the same stored_at
            store = RedisCacheStore(
                self._client(url),
                max_entry_bytes=conf.max_entry_bytes,
                ttl_cap=_NO_CAP,
                clock=time.time,
            )
        else:
            store = MemoryCacheStore(
                ResponseCache(
                    max_bytes=conf.max_bytes,
                    max_entry_bytes=conf.max_entry_bytes,
                    ttl_cap=_NO_CAP,  # each route's own ttl caps its entries
                )
            )
        self._cache = (conf, url, store)
        return store

    @property
    def cache(self) -> CacheStore | None:
        return self._cache[2] if self._cache is not None else None

    def count_limit(self, route: str, allowed: bool) -> None:
        k = (route, "allowed" if allowed else "limited")
        self.limits[k] = self.limits.get(k, 0) + 1

    def limit_samples(self) -> dict[tuple[str, ...], float]:
        return {k: float(v) for k, v in self.limits.items()}

    def cache_samples(self) -> dict[tuple[str, ...], float]:
        store = self.cache
        return store.metric_samples() if store is not None else {}

    async def close(self) -> None:
        for client in self._redis.values():
            await client.aclose()
        self._redis.clear()


_NO_CAP = 365 * 86400.0  # the stores' own cap stays out of the way of the routes' ttl


def _has_duties(route: Route) -> bool:
    return route.rate_limit is not None or route.cache is not None or route.rewrite is not None
