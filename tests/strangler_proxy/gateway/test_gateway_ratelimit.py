"""Token buckets in process (fake clock) and shared through the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from strangler_proxy._procs import free_port
from strangler_proxy.gateway.ratelimit import (
    Decision,
    InProcessLimiter,
    Limiter,
    LimiterUnavailable,
    RedisLimiter,
)
from strangler_proxy.shadow._fakes import FakeClock


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


async def _redis_limiters(
    url: str, prefix: str, n: int, clock: Callable[[], float] | None = None
) -> list[RedisLimiter]:
    # a generous timeout: a loaded test machine must not turn into fail-open "allowed"s
    return [
        RedisLimiter(aioredis.Redis.from_url(url), prefix=prefix, clock=clock, timeout=10.0)
        for _ in range(n)
    ]


async def _close(limiters: list[RedisLimiter]) -> None:
    for limiter in limiters:
        await limiter.client.aclose()


# -- in process -------------------------------------------------------------------------------


def test_burst_then_refusal_with_exact_retry_after(clock: FakeClock) -> None:
    limiter = InProcessLimiter(clock=clock)

    async def scenario() -> list[Decision]:
        return [await limiter.allow("r", "k", rate=2.0, burst=3) for _ in range(4)]

    assert run(scenario()) == [
        Decision(True, 0.0, 2),
        Decision(True, 0.0, 1),
        Decision(True, 0.0, 0),
        Decision(False, 0.5, 0),
    ]


def test_refill_with_time_and_cap_at_burst(clock: FakeClock) -> None:
    limiter = InProcessLimiter(clock=clock)

    async def scenario() -> None:
        for _ in range(2):
            assert (await limiter.allow("r", "k", 0.5, 2)).allowed
        refused = await limiter.allow("r", "k", 0.5, 2)
        assert refused == Decision(False, 2.0, 0)
        clock.now += 1.0  # half a token
        assert await limiter.allow("r", "k", 0.5, 2) == Decision(False, 1.0, 0)
        clock.now += 1.0
        assert await limiter.allow("r", "k", 0.5, 2) == Decision(True, 0.0, 0)
        clock.now += 3600.0  # idle for an hour: still only ``burst`` tokens
        got = [(await limiter.allow("r", "k", 0.5, 2)).allowed for _ in range(3)]
        assert got == [True, True, False]

    run(scenario())


def test_buckets_are_per_route_and_key(clock: FakeClock) -> None:
    limiter = InProcessLimiter(clock=clock)

    async def scenario() -> list[bool]:
        out = []
        for route, key in [("a", "k1"), ("a", "k1"), ("a", "k2"), ("b", "k1")]:
            out.append((await limiter.allow(route, key, 1.0, 1)).allowed)
        return out

    assert run(scenario()) == [True, False, True, True]


def test_clock_going_backwards_mints_no_tokens(clock: FakeClock) -> None:
    limiter = InProcessLimiter(clock=clock)

    async def scenario() -> None:
        assert (await limiter.allow("r", "k", 1.0, 1)).allowed
        clock.now += -100.0
        assert not (await limiter.allow("r", "k", 1.0, 1)).allowed

    run(scenario())


def test_least_recently_used_buckets_are_dropped_beyond_max_keys(clock: FakeClock) -> None:
    limiter = InProcessLimiter(clock=clock, max_keys=2)

    async def scenario() -> None:
        for key in ("a", "b"):
            assert (await limiter.allow("r", key, 1.0, 1)).allowed
        assert not (await limiter.allow("r", "a", 1.0, 1)).allowed  # "a" is now the newest
        assert (await limiter.allow("r", "c", 1.0, 1)).allowed  # drops "b"
        assert len(limiter) == 2
        assert (await limiter.allow("r", "b", 1.0, 1)).allowed  # "b" starts full again
        assert not (await limiter.allow("r", "c", 1.0, 1)).allowed  # "c" kept its state

    run(scenario())


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0), (float("nan"), 1)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        run(InProcessLimiter().allow("r", "k", rate, burst))


# -- shared through Redis ---------------------------------------------------------------------


def test_two_replicas_share_one_budget(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        a, b = limiters = await _redis_limiters(redis_url, redis_prefix, 2)
        try:
            seq = [await (a if i % 2 else b).allow("r", "user:1", 0.01, 5) for i in range(7)]
            assert [d.allowed for d in seq] == [True] * 5 + [False] * 2
            assert [d.remaining for d in seq[:5]] == [4, 3, 2, 1, 0]
            assert 99.0 < seq[-1].retry_after <= 100.0  # one token per 100 s
            # concurrently, from both replicas, on a fresh key: still exactly ``burst`` pass
            burst = await asyncio.gather(
                *(limiters[i % 2].allow("r", "user:2", 0.01, 10) for i in range(40))
            )
            assert sum(d.allowed for d in burst) == 10
            assert a.errors == b.errors == 0
        finally:
            await _close(limiters)

    run(scenario())


@pytest.mark.parametrize("kind", ["in_process", "redis"])
def test_both_limiters_give_the_same_answers(
    kind: str, clock: FakeClock, redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> list[Decision]:
        limiters: list[RedisLimiter] = []
        limiter: Limiter
        if kind == "redis":
            limiters = await _redis_limiters(redis_url, redis_prefix, 1, clock)
            limiter = limiters[0]
        else:
            limiter = InProcessLimiter(clock=clock)
        out = []
        try:
            for step in (0.0, 0.0, 0.0, 0.25, 0.25, 0.5, 10.0, 0.0, 0.0, 0.0):
                clock.now += step
                out.append(await limiter.allow("r", "k", 4.0, 2))
        finally:
            await _close(limiters)
        return out

    assert run(scenario()) == [
        Decision(True, 0.0, 1),
        Decision(True, 0.0, 0),
        Decision(False, 0.25, 0),
        Decision(True, 0.0, 0),
        Decision(True, 0.0, 0),
        Decision(True, 0.0, 1),
        Decision(True, 0.0, 1),
        Decision(True, 0.0, 0),
        Decision(False, 0.25, 0),
        Decision(False, 0.25, 0),
    ]


def test_redis_keys_expire_when_the_bucket_would_be_full(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> str:
        (limiter,) = await _redis_limiters(redis_url, redis_prefix, 1)
        try:
            for _ in range(3):
                await limiter.allow("r", "k", 2.0, 4)
            return limiter.key("r", "k")
        finally:
            await limiter.client.aclose()

    key = run(scenario())
    client = redis.Redis.from_url(redis_url)
    try:
        ttl = client.pttl(key)
    finally:
        client.close()
    # 3 tokens missing at 2/s: full again in 1.5 s, plus the script's 1 s margin
    assert 2000 < ttl <= 2500, ttl


def test_bucket_keys_cannot_collide() -> None:
    limiter = RedisLimiter(aioredis.Redis(), prefix="p:")
    assert limiter.key("a:b", "c") != limiter.key("a", "b:c")
    assert limiter.key("orders", "user:7") == "p:6:orders:user:7"


def test_unreachable_redis_fails_open_or_raises() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    async def scenario() -> None:
        open_ = RedisLimiter(aioredis.Redis.from_url(url), timeout=2.0)
        closed = RedisLimiter(aioredis.Redis.from_url(url), timeout=2.0, fail_open=False)
        try:
            assert await open_.allow("r", "k", 1.0, 3) == Decision(True, 0.0, 2)
            assert await open_.allow("r", "k", 1.0, 3) == Decision(True, 0.0, 2)
            assert open_.errors == 2
            with pytest.raises(LimiterUnavailable, match="unreachable"):
                await closed.allow("r", "k", 1.0, 3)
        finally:
            await open_.client.aclose()
            await closed.client.aclose()

    run(scenario())
