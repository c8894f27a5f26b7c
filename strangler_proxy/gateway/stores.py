"""Where cached responses live: in this process, or in Redis shared by every proxy replica.

The proxy talks to a :class:`CacheStore` and never knows which one it has::

    hit = await store.lookup(route, "GET", target, request.headers.items(), identity=who)
    if hit is None:
        ...forward...
        await store.store(route, "GET", target, request.headers.items(), resp.status,
                          tuple(resp.headers.items()), body, identity=who,
                          default_ttl=spec.ttl, ttl_cap=spec.ttl_cap)
    else:
        ...hit.status, hit.headers_at(store.clock()), hit.body...

A hit's ``stored_at`` / ``expires_at`` are on the store's :attr:`~CacheStore.clock`, so
``hit.headers_at(store.clock())`` carries the right ``Age`` whatever the store.

- :class:`MemoryCacheStore`: the in-process :class:`~.cache.ResponseCache` (byte-bounded LRU);
  each replica has its own.
- :class:`RedisCacheStore`: the same rules (what is stored for how long is
  :func:`~.cachecontrol.storable_ttl`'s decision, ``Vary``, identity, purge by route), one
  cache for every replica using the same Redis and ``prefix``.

A cache failure never fails a request: when Redis is unreachable or slow a lookup is a miss
and a store does nothing, both counted as ``error`` (``strangler_cache_events_total{route,
event}``) and logged at most once per ``log_every`` seconds.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .cache import (
    CachedResponse,
    ResponseCache,
    _vary_values,
    effective_cap,
    storable_entry,
)
from .cachecontrol import (
    Headers,
    RequestPolicy,
    request_policy,
    vary_names,
)

__all__ = ["CacheStore", "MemoryCacheStore", "RedisCacheStore"]

log = logging.getLogger("strangler.gateway.cache")


class CacheStore(abc.ABC):
    """The response cache as the proxy uses it; see the module's docstring."""

    #: the clock of the returned entries' ``stored_at`` / ``expires_at``: pass ``clock()``
    #: to :meth:`~.cache.CachedResponse.headers_at` / ``age``
    clock: Callable[[], float]

    @abc.abstractmethod
    async def lookup(
        self,
        route: str,
        method: str,
        target: str,
        request_headers: Headers,
        *,
        identity: str | None = None,
    ) -> CachedResponse | None:
        """The fresh stored response for this request, or ``None`` (go upstream)."""

    @abc.abstractmethod
    async def store(
        self,
        route: str,
        method: str,
        target: str,
        request_headers: Headers,
        status: int,
        response_headers: Headers,
        body: bytes,
        *,
        identity: str | None = None,
        default_ttl: float = 0.0,
        ttl_cap: float | None = None,
    ) -> bool:
        """Keep the upstream's answer if HTTP and the bounds allow; ``True`` when stored.
        ``ttl_cap`` is the route's cap, applied on top of the store's own."""

    @abc.abstractmethod
    async def purge(self, route: str) -> int:
        """Drop every entry of ``route``; how many."""

    @abc.abstractmethod
    def metric_samples(self) -> dict[tuple[str, ...], float]:
        """``{(route, event): count}``; events: ``hit``, ``miss``, ``bypass``, ``store``,
        ``evict``, ``purge``, ``error``."""


class MemoryCacheStore(CacheStore):
    """A :class:`~.cache.ResponseCache` in this process (never an ``error``)."""

    def __init__(self, cache: ResponseCache | None = None) -> None:
        self.cache = cache if cache is not None else ResponseCache()
        self.clock = self.cache.clock

    def __len__(self) -> int:
        return len(self.cache)

    async def lookup(
        self,
        route: str,
        method: str,
        target: str,
        request_headers: Headers,
        *,
        identity: str | None = None,
    ) -> CachedResponse | None:
        return self.cache.lookup(route, method, target, request_headers, identity=identity)

    async def store(
        self,
        route: str,
        method: str,
        target: str,
        request_headers: Headers,
        status: int,
        response_headers: Headers,
        body: bytes,
        *,
        identity: str | None = None,
        default_ttl: float = 0.0,
        ttl_cap: float | None = None,
    ) -> bool:
        return self.cache.store(
            route,
            method,
            target,
            request_headers,
            status,
            response_headers,
            body,
            identity=identity,
            default_ttl=default_ttl,
            ttl_cap=ttl_cap,
        )

    async def purge(self, route: str) -> int:
        return self.cache.purge(route)

    def metric_samples(self) -> dict[tuple[str, ...], float]:
        return self.cache.metric_samples()


# KEYS: [1] the primary key's meta hash, [2] the entry, [3] the route's index.
# ARGV: [1] Vary names, [2] ttl (s), [3] status, [4] headers (JSON), [5] body,
#       [6] initial age, [7] the key material, [8] size.
# The meta hash holds ``names`` (what the last store Vary'd on) and one field per variant's
# entry key (its expiry, ms); the index is a sorted set of the route's keys by expiry (ms).
# Times are Redis's (TIME). Returns how many variants a change of Vary dropped.
_STORE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local ttl_ms = math.max(1, math.ceil(ttl * 1000))
local expires_ms = now_ms + ttl_ms
local dropped = 0
local old = redis.call('HGET', KEYS[1], 'names')
if old and old ~= ARGV[1] then
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if field ~= 'names' then
      dropped = dropped + redis.call('DEL', field)
      redis.call('ZREM', KEYS[3], field)
    end
  end
  redis.call('DEL', KEYS[1])
elseif old then
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    if fields[i] ~= 'names' and tonumber(fields[i + 1]) <= now_ms then
      redis.call('HDEL', KEYS[1], fields[i])
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'status', ARGV[3], 'headers', ARGV[4], 'body', ARGV[5],
           'stored_at', string.format('%.17g', now),
           'expires_at', string.format('%.17g', now + ttl),
           'initial_age', ARGV[6], 'key', ARGV[7], 'size', ARGV[8])
redis.call('PEXPIRE', KEYS[2], ttl_ms)
redis.call('HSET', KEYS[1], 'names', ARGV[1], KEYS[2], expires_ms)
if redis.call('PTTL', KEYS[1]) < ttl_ms then
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms)
redis.call('ZADD', KEYS[3], expires_ms, KEYS[2])
local meta_expires = tonumber(redis.call('ZSCORE', KEYS[3], KEYS[1]))
if meta_expires == nil or meta_expires < expires_ms then
  redis.call('ZADD', KEYS[3], expires_ms, KEYS[1])
end
if redis.call('PTTL', KEYS[3]) < ttl_ms then
  redis.call('PEXPIRE', KEYS[3], ttl_ms)
end
return dropped
"""

# KEYS: [1] the route's index. ARGV: [1] the prefix of the route's entry keys.
# Returns how many (unexpired) entries were deleted.
_PURGE = """
local n = 0
for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local deleted = redis.call('DEL', key)
  if string.sub(key, 1, #ARGV[1]) == ARGV[1] then
    n = n + deleted
  end
end
redis.call('DEL', KEYS[1])
return n
"""


def _digest(material: str) -> str:
    return hashlib.blake2b(material.encode(), digest_size=16).hexdigest()


def _dumps(value: object) -> str:
    # ASCII only (lone surrogates are escaped, not an encoding error), one spelling per value
    return json.dumps(value, separators=(",", ":"))


class RedisCacheStore(CacheStore):
    """One response cache shared by every replica using the same Redis and ``prefix``.

    Keys, all under ``{prefix}{len(route)}:{route}:`` (the length keeps ``a:b`` + ``c`` apart
    from ``a`` + ``b:c``):

    - ``e:{primary}:{variant}``: an entry, a hash (status, headers as JSON, body, stored_at,
      expires_at, initial_age, the key it answers, size), expiring with the entry (``PX`` =
      its freshness lifetime: Redis drops stale entries by itself);
    - ``m:{primary}``: per (method, target, identity), the ``Vary`` names of the last store
      and its variants' keys. A store whose response varies on other names first drops the
      old variants, as :class:`~.cache.ResponseCache` does;
    - ``i``: the route's index, a sorted set of its keys by expiry, trimmed on each store;
      :meth:`purge` deletes exactly the keys it lists.

    ``{primary}`` / ``{variant}`` are 128-bit BLAKE2b digests; the entry keeps the full key
    and a lookup checks it, so even a digest collision cannot serve one user another's
    response. A store is one Lua script (atomic); a lookup reads the ``Vary`` names, then the
    entry: two round trips under one ``timeout``.

    Bounds: an entry whose size (counted as :class:`~.cache.ResponseCache` counts it) exceeds
    ``max_entry_bytes`` is not stored; the whole cache is bounded by Redis's ``maxmemory`` and
    its eviction policy (every key carries a TTL, so ``volatile-lru`` or ``allkeys-lru`` both
    work; with ``noeviction`` a full Redis fails stores, counted as ``error``). Redis evicts
    silently, so this store never counts ``evict``; an evicted index makes :meth:`purge` miss
    that route's older entries, which still expire by their TTL (at most ``ttl_cap``).

    Clock: ``stored_at`` / ``expires_at`` are taken from Redis's ``TIME`` (replicas' clocks
    never disagree about an entry's age). A hit is returned rebased onto the local ``clock``
    (by the difference between ``clock()`` and Redis's ``TIME`` read with the entry), so
    ``hit.headers_at(store.clock())`` gives the right ``Age``.

    Every Redis call is under ``timeout`` (seconds; ``purge_timeout`` for :meth:`purge`, which
    deletes a whole route's entries in one script). On a Redis error or timeout a lookup is a
    miss, a store does nothing and a purge answers 0, each counted as ``error`` (not also as
    ``miss``) and logged at most once per ``log_every`` seconds: a cache failure never fails a
    request. The client must not decode responses (bodies are bytes); it belongs to the caller,
    who closes it. Not for Redis Cluster (the scripts touch keys they compute).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "strangler:cache:",
        max_entry_bytes: int = 1 << 20,
        ttl_cap: float = 300.0,
        timeout: float = 0.1,
        purge_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        log_every: float = 10.0,
    ) -> None:
        if max_entry_bytes < 1 or not ttl_cap >= 0:
            raise ValueError("max_entry_bytes must be >= 1 and ttl_cap >= 0")
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the cache stores bytes: use a client with decode_responses=False")
        self.client = client
        self.prefix = prefix
        self.max_entry_bytes = max_entry_bytes
        self.ttl_cap = ttl_cap
        self.timeout = timeout
        self.purge_timeout = purge_timeout
        self.clock = clock
        self.log_every = log_every
        self.errors = 0
        self.counts: dict[tuple[str, str], int] = {}
        self._logged_at = -math.inf
        self._store_script = client.register_script(_STORE)
        self._purge_script = client.register_script(_PURGE)

    # -- keys -------------------------------------------------------------------------------
    def route_prefix(self, route: str) -> str:
        """Every key of ``route`` starts with this."""
        return f"{self.prefix}{len(route)}:{route}:"

    def _keys(
        self, route: str, method: str, target: str, identity: str | None
    ) -> tuple[str, str, str]:
        """(the meta hash, the entry keys' stem, the primary key's material)."""
        material = _dumps([method, target, identity])
        primary = _digest(material)
        base = self.route_prefix(route)
        return f"{base}m:{primary}", f"{base}e:{primary}:", material

    @staticmethod
    def _variant(stem: str, material: str, values: tuple[str, ...]) -> tuple[str, str]:
        """(the entry key, the entry's full key material)."""
        full = f"{material}{_dumps(list(values))}"
        return f"{stem}{_digest(full)}", full

    # -- metrics ----------------------------------------------------------------------------
    def _count(self, route: str, event: str, n: int = 1) -> None:
        if n:
            self.counts[(route, event)] = self.counts.get((route, event), 0) + n

    def metric_samples(self) -> dict[tuple[str, ...], float]:
        return {k: float(v) for k, v in self.counts.items()}

    def _failed(self, route: str, what: str, err: BaseException) -> None:
        self.errors += 1
        self._count(route, "error")
        now = time.monotonic()
        if now - self._logged_at >= self.log_every:
            self._logged_at = now
            log.warning("response cache store unavailable (%d errors); %s of %r skipped: %r",
                        self.errors, what, route, err)  # fmt: skip

    # -- reading ----------------------------------------------------------------------------
    async def lookup(
        self,
        route: str,
        method: str,
        target: str,
        request_headers: Headers,
        *,
        identity: str | None = None,
    ) -> CachedResponse | None:
        if request_policy(method, request_headers) is not RequestPolicy.USE:
            self._count(route, "bypass")
            return None
        meta, stem, material = self._keys(route, method, target, identity)
        try:
            async with asyncio.timeout(self.timeout):
                found = await self._read(meta, stem, material, request_headers)
        except (RedisError, OSError, TimeoutError) as err:
            self._failed(route, "lookup", err)
            return None
        entry = None
        if found is not None:
            try:
                entry = self._entry(*found)
            except (ValueError, KeyError, TypeError) as err:  # not written by this version
                self._failed(route, "lookup", err)
                return None
        if entry is None:
            self._count(route, "miss")
            return None
        self._count(route, "hit")
        return entry

    async def _read(
        self, meta: str, stem: str, material: str, request_headers: Headers
    ) -> tuple[dict[bytes, bytes], str, float] | None:
        """(the entry's fields, the key it must have, Redis's time), or ``None``: no entry."""
        names = await self.client.hget(meta, "names")
        if names is None:
            return None
        values = _vary_values(request_headers, _names(names))
        key, full = self._variant(stem, material, values)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(key)
            pipe.time()
            fields, (seconds, micros) = await pipe.execute()
        return (fields, full, seconds + micros / 1e6) if fields else None

    def _entry(self, fields: dict[bytes, bytes], full: str, now: float) -> CachedResponse | None:
        """The stored entry rebased onto ``self.clock``; ``None`` if it is not this request's
        or has expired (``now``: Redis's time)."""
        if fields[b"key"].decode() != full:
            return None
        expires_at = float(fields[b"expires_at"])
        if expires_at <= now:
            return None
        offset = self.clock() - now
        headers: Any = json.loads(fields[b"headers"])
        return CachedResponse(
            status=int(fields[b"status"]),
            headers=tuple((str(k), str(v)) for k, v in headers),
            body=fields[b"body"],
            stored_at=float(fields[b"stored_at"]) + offset,
            expires_at=expires_at + offset,
            initial_age=float(fields[b"initial_age"]),
            size=int(fields[b"size"]),
        )

    # -- writing ----------------------------------------------------------------------------
    async def store(
        self,
        route: str,
        method: str,
        target: str,
        request_headers: Headers,
        status: int,
        response_headers: Headers,
        body: bytes,
        *,
        identity: str | None = None,
        default_ttl: float = 0.0,
        ttl_cap: float | None = None,
    ) -> bool:
        entry = storable_entry(
            method,
            target,
            request_headers,
            status,
            response_headers,
            body,
            personalised=identity is not None,
            default_ttl=default_ttl,
            cap=effective_cap(self.ttl_cap, ttl_cap),
            max_entry_bytes=self.max_entry_bytes,
        )
        if entry is None:
            return False
        ttl, headers, size, initial_age = entry
        names = vary_names(response_headers)
        meta, stem, material = self._keys(route, method, target, identity)
        key, full = self._variant(stem, material, _vary_values(request_headers, names))
        args: list[str | int | bytes] = [",".join(names), repr(ttl), status, _dumps(headers), body]
        args += [repr(initial_age), full, size]
        try:
            async with asyncio.timeout(self.timeout):
                await self._store_script(
                    keys=[meta, key, self.route_prefix(route) + "i"], args=args
                )
        except (RedisError, OSError, TimeoutError) as err:
            self._failed(route, "store", err)
            return False
        self._count(route, "store")
        return True

    # -- maintenance ------------------------------------------------------------------------
    async def purge(self, route: str) -> int:
        base = self.route_prefix(route)
        try:
            async with asyncio.timeout(self.purge_timeout):
                n = int(await self._purge_script(keys=[base + "i"], args=[base + "e:"]))
        except (RedisError, OSError, TimeoutError) as err:
            self._failed(route, "purge", err)
            return 0
        self._count(route, "purge", n)
        return n


def _names(raw: bytes | str) -> tuple[str, ...]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return tuple(text.split(",")) if text else ()
