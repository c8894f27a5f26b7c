"""An in-memory response cache for GET/HEAD, bounded in bytes, least recently used out first.

The key is (route, method, path+query, identity, the request headers the response ``Vary``'d
on). ``identity`` is ``None`` on shared routes and the caller's identity (``"user:7"``,
``"anonymous"``) on personalised ones, so one user's answer is never another's::

    cache = ResponseCache(max_bytes=64 << 20, ttl_cap=300)
    hit = cache.lookup("product-detail", "GET", "/api/products/7/", request.headers.items())
    if hit is None:
        ...forward...
        cache.store("product-detail", "GET", "/api/products/7/", request.headers.items(),
                    resp.status, tuple(resp.headers.items()), body, default_ttl=0)
    elif not_modified(request.headers.items(), hit.headers):
        ...304 with not_modified_headers(hit.headers)...
    else:
        ...hit.status, hit.headers_at(now) (with Age), hit.body...

What may be stored and for how long is :func:`~.cachecontrol.storable_ttl`'s decision. Lookups
and stores are counted per route (``hit``, ``miss``, ``bypass``, ``store``, ``evict``,
``purge``) for ``strangler_cache_events_total{route, event}``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .cachecontrol import (
    Headers,
    RequestPolicy,
    header_values,
    request_policy,
    storable_ttl,
    vary_names,
)

__all__ = ["CachedResponse", "ResponseCache"]

# hop-by-hop and per-exchange headers are not part of the stored representation
_NOT_STORED = frozenset(
    {
        "age",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_OVERHEAD = 256  # bytes charged per entry for the key, the dataclass and the dict slots

# (route, method, target, identity)
_Primary = tuple[str, str, str, str | None]
_Key = tuple[_Primary, tuple[str, ...]]  # + the Vary'd request header values


@dataclass(frozen=True, slots=True)
class CachedResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored_at: float  # the cache's clock
    expires_at: float
    initial_age: float = 0.0  # the upstream's Age when it was stored
    size: int = 0  # bytes charged against the cache's bound

    def age(self, now: float) -> int:
        return math.floor(self.initial_age + max(0.0, now - self.stored_at))

    def headers_at(self, now: float) -> list[tuple[str, str]]:
        """The stored headers plus ``Age`` (RFC 9111 5.1)."""
        return [*self.headers, ("Age", str(self.age(now)))]


def effective_cap(own: float, per_call: float | None) -> float:
    """The smaller of a cache's ``ttl_cap`` and a route's (``None``: the route has none)."""
    if per_call is None:
        return own
    if not per_call >= 0:  # NaN would slip through min()
        raise ValueError(f"ttl_cap must be >= 0, got {per_call!r}")
    return min(own, per_call)


def _vary_values(headers: Headers, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(", ".join(v.strip() for v in header_values(headers, n)) for n in names)


class Storable(NamedTuple):
    """What a store keeps of an answer, once :func:`storable_entry` said it may."""

    ttl: float
    headers: tuple[tuple[str, str], ...]  # without hop-by-hop and per-exchange headers
    size: int  # bytes charged against the bounds
    initial_age: float  # the upstream's Age


def storable_entry(
    method: str,
    target: str,
    request_headers: Headers,
    status: int,
    response_headers: Headers,
    body: bytes,
    *,
    personalised: bool,
    default_ttl: float,
    cap: float,
    max_entry_bytes: int,
) -> Storable | None:
    """The one decision every store makes before keeping an answer (``None``: do not):
    the request allows it, HTTP gives it a lifetime (:func:`~.cachecontrol.storable_ttl`),
    and it fits ``max_entry_bytes``."""
    if request_policy(method, request_headers) is RequestPolicy.BYPASS:
        return None
    ttl = storable_ttl(
        status,
        request_headers,
        response_headers,
        default_ttl=default_ttl,
        cap=cap,
        personalised=personalised,
    )
    if ttl <= 0:
        return None
    headers = tuple((k, v) for k, v in response_headers if k.lower() not in _NOT_STORED)
    size = _OVERHEAD + len(target) + len(body) + sum(len(k) + len(v) + 4 for k, v in headers)
    if size > max_entry_bytes:
        return None
    ages = header_values(response_headers, "age")
    initial_age = float(ages[0]) if ages and ages[0].strip().isdigit() else 0.0
    return Storable(ttl, headers, size, initial_age)


class ResponseCache:
    def __init__(
        self,
        *,
        max_bytes: int = 64 << 20,
        max_entry_bytes: int = 1 << 20,
        ttl_cap: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes < 1 or max_entry_bytes < 1 or not ttl_cap >= 0:
            raise ValueError("max_bytes and max_entry_bytes must be >= 1 and ttl_cap >= 0")
        self.max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self.ttl_cap = ttl_cap
        self.clock = clock
        self.size = 0
        self.counts: dict[tuple[str, str], int] = {}
        self._entries: OrderedDict[_Key, CachedResponse] = OrderedDict()
        self._vary: dict[_Primary, tuple[str, ...]] = {}  # the names the last store Vary'd on
        self._variants: dict[_Primary, set[_Key]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _count(self, route: str, event: str, n: int = 1) -> None:
        if n:
            self.counts[(route, event)] = self.counts.get((route, event), 0) + n

    def metric_samples(self) -> dict[tuple[str, ...], float]:
        """``{(route, event): count}``, the ``collect`` of a metrics ``Counter``."""
        return {k: float(v) for k, v in self.counts.items()}

    # -- reading ----------------------------------------------------------------------------
    def lookup(
        self,
        route: str,
        method: str,
        target: str,
        request_headers: Headers,
        *,
        identity: str | None = None,
    ) -> CachedResponse | None:
        """The fresh stored response for this request, or ``None`` (go upstream)."""
        if request_policy(method, request_headers) is not RequestPolicy.USE:
            self._count(route, "bypass")
            return None
        primary: _Primary = (route, method, target, identity)
        names = self._vary.get(primary)
        key: _Key = (primary, _vary_values(request_headers, names or ()))
        entry = self._entries.get(key) if names is not None else None
        if entry is not None and entry.expires_at <= self.clock():
            self._remove(key)
            entry = None
        if entry is None:
            self._count(route, "miss")
            return None
        self._entries.move_to_end(key)
        self._count(route, "hit")
        return entry

    # -- writing ----------------------------------------------------------------------------
    def store(
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

        ``ttl_cap`` is the route's own cap, applied on top of the cache's ``self.ttl_cap``.
        """
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
        primary: _Primary = (route, method, target, identity)
        names = vary_names(response_headers)
        if self._vary.get(primary, names) != names:
            for old in list(self._variants.get(primary, ())):  # the upstream changed its Vary
                self._remove(old)
        key: _Key = (primary, _vary_values(request_headers, names))
        self._remove(key)
        now = self.clock()
        self._entries[key] = CachedResponse(
            status, headers, body, now, now + ttl, initial_age, size
        )
        self._vary[primary] = names
        self._variants.setdefault(primary, set()).add(key)
        self.size += size
        self._count(route, "store")
        while self.size > self.max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self._count(oldest[0][0], "evict")
        return True

    def _remove(self, key: _Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.size -= entry.size
        primary = key[0]
        variants = self._variants.get(primary)
        if variants is not None:
            variants.discard(key)
            if not variants:
                del self._variants[primary]
                self._vary.pop(primary, None)

    # -- maintenance ------------------------------------------------------------------------
    def purge(self, route: str) -> int:
        """Drop every entry of ``route`` (after a deploy of its upstream); how many."""
        keys = [k for k in self._entries if k[0][0] == route]
        for key in keys:
            self._remove(key)
        self._count(route, "purge", len(keys))
        return len(keys)

    def prune(self) -> int:
        """Drop expired entries now rather than when they are next looked up or evicted."""
        now = self.clock()
        keys = [k for k, e in self._entries.items() if e.expires_at <= now]
        for key in keys:
            self._remove(key)
        return len(keys)
