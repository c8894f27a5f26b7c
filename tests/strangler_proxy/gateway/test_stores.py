"""Cache stores: the in-process one and the one shared through the real Redis, same behaviour.

The behaviour tests run against both stores (``kind``); the Redis ones use a key prefix of their
own (``redis_prefix``, whose keys are deleted afterwards) and FAIL when Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from multidict import CIMultiDict

from strangler_proxy._procs import free_port
from strangler_proxy.gateway.cache import ResponseCache
from strangler_proxy.gateway.stores import CacheStore, MemoryCacheStore, RedisCacheStore

H = list[tuple[str, str]]
CC60: H = [("Cache-Control", "max-age=60"), ("Content-Type", "application/json")]
JSON: H = [("Content-Type", "application/json")]


class Stores:
    """Builds stores of one kind; every Redis one shares this test's prefix (a "replica")."""

    def __init__(self, kind: str, url: str = "", prefix: str = "") -> None:
        self.kind = kind
        self.url = url
        self.prefix = prefix
        self.clients: list[aioredis.Redis] = []

    def new(
        self, *, max_entry_bytes: int = 1 << 16, ttl_cap: float = 300.0, prefix: str = ""
    ) -> CacheStore:
        if self.kind == "memory":
            cache = ResponseCache(max_entry_bytes=max_entry_bytes, ttl_cap=ttl_cap)
            return MemoryCacheStore(cache)
        client = aioredis.Redis.from_url(self.url)
        self.clients.append(client)
        # a generous timeout: a loaded test machine must not turn into "error" misses
        return RedisCacheStore(
            client,
            prefix=self.prefix + prefix,
            max_entry_bytes=max_entry_bytes,
            ttl_cap=ttl_cap,
            timeout=10.0,
            purge_timeout=10.0,
        )

    def run(self, scenario: Callable[[], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            try:
                return await scenario()
            finally:
                for client in self.clients:
                    await client.aclose()

        return asyncio.run(main())

    def keys(self, pattern: str = "*") -> list[str]:
        """This test's Redis keys under ``prefix + pattern`` (sorted)."""
        client = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            return sorted(client.scan_iter(match=f"{self.prefix}{pattern}", count=1000))
        finally:
            client.close()

    def entries(self, store: CacheStore) -> int:
        if isinstance(store, MemoryCacheStore):
            return len(store)
        return len(self.keys("*:e:*"))


@pytest.fixture(params=["memory", "redis"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "memory":
        return Stores("memory")
    return Stores(
        "redis", request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    )


@pytest.fixture
def redis_stores(redis_url: str, redis_prefix: str) -> Stores:
    return Stores("redis", redis_url, redis_prefix)


# -- the same behaviour from both stores ------------------------------------------------------


def test_hit_after_store_with_age(stores: Stores) -> None:
    store = stores.new()
    resp = [*CC60, ("Age", "5"), ("Transfer-Encoding", "chunked"), ("ETag", '"v1"')]
    body = bytes(range(256))  # any bytes survive the trip

    async def scenario() -> None:
        assert await store.lookup("r", "GET", "/p/?a=1", []) is None
        assert await store.store("r", "GET", "/p/?a=1", [], 200, resp, body)
        hit = await store.lookup("r", "GET", "/p/?a=1", [])
        assert hit is not None
        assert (hit.status, hit.body) == (200, body)
        assert hit.headers == (*CC60, ("ETag", '"v1"'))  # no Age, no hop-by-hop headers
        assert hit.initial_age == 5.0
        assert hit.expires_at - hit.stored_at == pytest.approx(55.0)  # 60 - 5 s of Age
        assert hit.age(store.clock()) in (5, 6)
        assert ("Age", str(hit.age(store.clock()))) in hit.headers_at(store.clock())
        assert await store.lookup("r", "GET", "/p/?a=2", []) is None  # the query is keyed
        assert await store.lookup("r", "HEAD", "/p/?a=1", []) is None  # and the method
        assert await store.lookup("other", "GET", "/p/?a=1", []) is None  # and the route

    stores.run(scenario)
    assert store.metric_samples() == {
        ("r", "miss"): 3.0,
        ("r", "store"): 1.0,
        ("r", "hit"): 1.0,
        ("other", "miss"): 1.0,
    }


def test_miss_after_the_entry_expires(stores: Stores) -> None:
    store = stores.new()

    async def scenario() -> float:
        started = time.monotonic()
        assert await store.store("r", "GET", "/p/", [], 200, JSON, b"x", default_ttl=1.0)
        hit = await store.lookup("r", "GET", "/p/", [])
        assert hit is not None and hit.expires_at - hit.stored_at == pytest.approx(1.0)
        if stores.kind == "redis":  # Redis expires the entry by itself
            (key,) = stores.keys("*:e:*")
            client = redis.Redis.from_url(stores.url)
            try:
                assert 0 < client.pttl(key) <= 1000
            finally:
                client.close()
        deadline = started + 10.0
        while await store.lookup("r", "GET", "/p/", []) is not None:
            assert time.monotonic() < deadline, "the entry never expired"
            await asyncio.sleep(0.02)
        return time.monotonic() - started

    assert stores.run(scenario) >= 0.95
    assert stores.entries(store) == 0
    assert store.metric_samples()[("r", "hit")] >= 1.0
    assert store.metric_samples()[("r", "miss")] == 1.0


def test_vary_separates_variants_and_a_change_of_vary_drops_them(stores: Stores) -> None:
    store = stores.new()
    resp = [*CC60, ("Vary", "Accept-Language")]
    en = CIMultiDict([("Accept-Language", "en")])
    de = CIMultiDict([("accept-language", "de")])

    async def scenario() -> None:
        assert await store.store("r", "GET", "/p/", en.items(), 200, resp, b"hello")
        assert await store.store("r", "GET", "/p/", de.items(), 200, resp, b"hallo")
        en_hit = await store.lookup("r", "GET", "/p/", [("ACCEPT-LANGUAGE", "en"), ("X", "1")])
        de_hit = await store.lookup("r", "GET", "/p/", de.items())
        assert en_hit is not None and en_hit.body == b"hello"
        assert de_hit is not None and de_hit.body == b"hallo"
        assert await store.lookup("r", "GET", "/p/", []) is None  # no Accept-Language
        assert stores.entries(store) == 2
        # the upstream changes what it varies on: the old variants go
        changed = [*CC60, ("Vary", "Accept")]
        assert await store.store("r", "GET", "/p/", en.items(), 200, changed, b"x")
        assert stores.entries(store) == 1
        hit = await store.lookup("r", "GET", "/p/", de.items())
        assert hit is not None and hit.body == b"x"  # no Accept in either request

    stores.run(scenario)


def test_personalised_entries_are_the_callers_own(stores: Stores) -> None:
    store = stores.new()
    private = [("Cache-Control", "private, max-age=60")]
    auth = [("Authorization", "Token a")]

    async def scenario() -> None:
        assert not await store.store("me", "GET", "/me/", auth, 200, private, b"ada")  # shared
        assert await store.store("me", "GET", "/me/", auth, 200, private, b"ada", identity="user:1")
        assert await store.store("me", "GET", "/me/", [], 200, private, b"x", identity="anonymous")
        ada = await store.lookup("me", "GET", "/me/", auth, identity="user:1")
        assert ada is not None and ada.body == b"ada"
        assert await store.lookup("me", "GET", "/me/", auth, identity="user:2") is None
        assert await store.lookup("me", "GET", "/me/", auth) is None  # shared lookup: never
        assert await store.lookup("me", "GET", "/me/", auth, identity="None") is None
        anon = await store.lookup("me", "GET", "/me/", [], identity="anonymous")
        assert anon is not None and anon.body == b"x"

    stores.run(scenario)


def test_purge_removes_only_that_routes_entries(stores: Stores) -> None:
    store = stores.new()
    vary = [*CC60, ("Vary", "Accept")]

    async def scenario() -> None:
        for route, target, accept in [
            ("a", "/1/", "x"),
            ("a", "/2/", "x"),
            ("a", "/2/", "y"),  # a second variant
            ("b", "/1/", "x"),
            ("a:b", "/1/", "x"),  # route names that prefix one another
            ("ab", "/1/", "x"),
        ]:
            assert await store.store(route, "GET", target, [("Accept", accept)], 200, vary, b"")
        assert await store.purge("a") == 3
        for target, accept in [("/1/", "x"), ("/2/", "x"), ("/2/", "y")]:
            assert await store.lookup("a", "GET", target, [("Accept", accept)]) is None
        for route in ("b", "a:b", "ab"):
            assert await store.lookup(route, "GET", "/1/", [("Accept", "x")]) is not None
        assert stores.entries(store) == 3
        assert await store.purge("a") == 0
        assert await store.purge("nothing-here") == 0

    stores.run(scenario)
    if stores.kind == "redis":
        assert stores.keys("1:a:*") == []  # nothing left behind: meta, index, entries
    assert store.metric_samples()[("a", "purge")] == 3.0


def test_entries_over_max_entry_bytes_are_not_stored(stores: Stores) -> None:
    store = stores.new(max_entry_bytes=2000)

    async def scenario() -> None:
        assert await store.store("r", "GET", "/small/", [], 200, CC60, b"x" * 1500)
        assert not await store.store("r", "GET", "/big/", [], 200, CC60, b"x" * 2000)
        assert await store.lookup("r", "GET", "/big/", []) is None
        hit = await store.lookup("r", "GET", "/small/", [])
        assert hit is not None and len(hit.body) == 1500 and hit.size <= 2000

    stores.run(scenario)
    assert stores.entries(store) == 1
    assert store.metric_samples()[("r", "store")] == 1.0


def test_the_routes_ttl_cap_applies_on_top_of_the_stores(stores: Stores) -> None:
    store = stores.new(ttl_cap=30.0)
    long = [("Cache-Control", "max-age=3600")]

    async def scenario() -> dict[str, float]:
        assert await store.store("r", "GET", "/a/", [], 200, long, b"", ttl_cap=10.0)
        assert await store.store("r", "GET", "/b/", [], 200, long, b"", ttl_cap=60.0)
        assert await store.store("r", "GET", "/c/", [], 200, long, b"")
        assert not await store.store("r", "GET", "/d/", [], 200, long, b"", ttl_cap=0.0)
        lifetimes = {}
        for target in ("/a/", "/b/", "/c/"):
            hit = await store.lookup("r", "GET", target, [])
            assert hit is not None
            lifetimes[target] = hit.expires_at - hit.stored_at
        return lifetimes

    assert stores.run(scenario) == pytest.approx({"/a/": 10.0, "/b/": 30.0, "/c/": 30.0})


def test_requests_that_bypass_or_refresh(stores: Stores) -> None:
    store = stores.new()

    async def scenario() -> None:
        assert await store.store("r", "GET", "/p/", [], 200, CC60, b"v1")
        assert await store.lookup("r", "GET", "/p/", [("Cache-Control", "no-cache")]) is None
        refresh = [("Cache-Control", "no-cache")]
        assert await store.store("r", "GET", "/p/", refresh, 200, CC60, b"v2")
        hit = await store.lookup("r", "GET", "/p/", [])
        assert hit is not None and hit.body == b"v2"  # refreshed in place
        assert stores.entries(store) == 1
        no_store = [("Cache-Control", "no-store")]
        assert not await store.store("r", "GET", "/p/", no_store, 200, CC60, b"")
        assert not await store.store("r", "POST", "/p/", [], 200, CC60, b"")
        assert not await store.store("r", "GET", "/q/", [], 200, [*CC60, ("Set-Cookie", "a")], b"")
        assert await store.lookup("r", "POST", "/p/", []) is None

    stores.run(scenario)
    assert store.metric_samples() == {("r", "store"): 2.0, ("r", "bypass"): 2.0, ("r", "hit"): 1.0}


# -- shared through Redis ---------------------------------------------------------------------


def test_two_replicas_share_entries_vary_and_purges(redis_stores: Stores) -> None:
    a, b = redis_stores.new(), redis_stores.new()
    c = redis_stores.new(prefix="other:")  # another cache in the same Redis
    resp = [*CC60, ("Vary", "Accept"), ("Age", "3")]

    async def scenario() -> None:
        assert await a.store("r", "GET", "/p/", [("Accept", "x")], 200, resp, b"from a")
        assert await b.store("r", "GET", "/p/", [("Accept", "y")], 200, resp, b"from b")
        hit = await b.lookup("r", "GET", "/p/", [("Accept", "x")])
        assert hit is not None and hit.body == b"from a"
        assert hit.age(b.clock()) in (3, 4)  # on Redis's clock, whoever stored it
        hit = await a.lookup("r", "GET", "/p/", [("Accept", "y")])
        assert hit is not None and hit.body == b"from b"
        assert await c.lookup("r", "GET", "/p/", [("Accept", "x")]) is None  # another prefix
        # replica b sees a new Vary: replica a's variants are gone too
        assert await b.store("r", "GET", "/p/", [("Accept", "x")], 200, CC60, b"no vary")
        hit = await a.lookup("r", "GET", "/p/", [("Accept", "y")])
        assert hit is not None and hit.body == b"no vary"
        assert redis_stores.entries(a) == 1
        assert await a.store("r", "GET", "/q/", [], 200, CC60, b"")
        assert await b.purge("r") == 2  # one replica purges for all
        assert await a.lookup("r", "GET", "/q/", []) is None

    redis_stores.run(scenario)
    assert a.metric_samples()[("r", "hit")] == 2.0
    assert b.metric_samples()[("r", "purge")] == 2.0


def test_unreachable_redis_misses_and_skips_stores(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    async def scenario() -> RedisCacheStore:
        store = RedisCacheStore(aioredis.Redis.from_url(url), timeout=2.0, purge_timeout=2.0)
        try:
            assert await store.lookup("r", "GET", "/p/", []) is None
            assert not await store.store("r", "GET", "/p/", [], 200, CC60, b"x")
            assert await store.lookup("r", "GET", "/p/", []) is None
            assert await store.purge("r") == 0
            assert await store.lookup("r", "POST", "/p/", []) is None  # needs no Redis
        finally:
            await store.client.aclose()
        return store

    with caplog.at_level(logging.WARNING, logger="strangler.gateway.cache"):
        store = asyncio.run(scenario())
    assert store.errors == 4
    assert store.metric_samples() == {("r", "error"): 4.0, ("r", "bypass"): 1.0}
    warnings = [r for r in caplog.records if r.name == "strangler.gateway.cache"]
    assert len(warnings) == 1  # at most once per log_every (10 s)
    assert "unavailable" in warnings[0].getMessage()


def test_a_redis_that_does_not_answer_times_out() -> None:
    async def scenario() -> tuple[RedisCacheStore, float]:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # until the client hangs up; never a reply
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        store = RedisCacheStore(aioredis.Redis(port=port), timeout=0.05)
        started = time.monotonic()
        try:
            assert await store.lookup("r", "GET", "/p/", []) is None
            assert not await store.store("r", "GET", "/p/", [], 200, CC60, b"x")
        finally:
            await store.client.aclose()
            server.close()
            await server.wait_closed()
        return store, time.monotonic() - started

    store, elapsed = asyncio.run(scenario())
    assert store.metric_samples() == {("r", "error"): 2.0}
    assert elapsed < 2.0


def test_unreadable_or_foreign_entries_are_not_served(redis_stores: Stores) -> None:
    store = redis_stores.new()

    async def scenario() -> None:
        assert await store.store("r", "GET", "/p/", [], 200, CC60, b"x")
        assert await store.store("r", "GET", "/q/", [], 200, CC60, b"y")
        client = aioredis.Redis.from_url(redis_stores.url)
        try:
            p_key, q_key = redis_stores.keys("*:e:*")
            if await client.hget(p_key, "body") != b"x":
                p_key, q_key = q_key, p_key
            await client.hset(p_key, "key", "some other request")  # as a digest collision
            await client.hset(q_key, "headers", "not json")
        finally:
            await client.aclose()
        assert await store.lookup("r", "GET", "/p/", []) is None
        assert await store.lookup("r", "GET", "/q/", []) is None

    redis_stores.run(scenario)
    assert store.metric_samples() == {("r", "store"): 2.0, ("r", "miss"): 1.0, ("r", "error"): 1.0}


def test_redis_keys_and_guards() -> None:
    store = RedisCacheStore(aioredis.Redis(), prefix="p:")
    assert store.route_prefix("a:b") != store.route_prefix("a")
    assert not store.route_prefix("a:b").startswith(store.route_prefix("a"))
    assert store.route_prefix("orders") == "p:6:orders:"
    with pytest.raises(ValueError, match="decode_responses"):
        RedisCacheStore(aioredis.Redis(decode_responses=True))
    with pytest.raises(ValueError, match="ttl_cap"):
        RedisCacheStore(aioredis.Redis(), ttl_cap=float("nan"))
