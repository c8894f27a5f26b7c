"""Token-bucket rate limits per (route, client key), in process or shared through Redis.

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens per second; a request takes one
or is refused with the seconds until one is back::

    limiter = InProcessLimiter()
    await limiter.allow("orders-create", "user:7", rate=1.0, burst=2)
    → Decision(allowed=True, retry_after=0.0, remaining=1)
    → Decision(allowed=True, retry_after=0.0, remaining=0)
    → Decision(allowed=False, retry_after=1.0, remaining=0)   # 429, Retry-After: 1

:class:`InProcessLimiter` is exact for one proxy process. :class:`RedisLimiter` gives every
replica one shared budget: one Lua script reads, refills, takes and writes the bucket atomically,
on Redis's clock (replicas' clocks never disagree), and lets the key expire when the bucket
would be full again (a missing key *is* a full bucket, so expiry changes no answer).

Redis failing is not the client's fault: by default the limiter fails open (allows, logs at most
once per ``log_every`` seconds, counts ``errors``); ``fail_open=False`` raises
:class:`LimiterUnavailable` instead.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["Decision", "InProcessLimiter", "Limiter", "LimiterUnavailable", "RedisLimiter"]

log = logging.getLogger("strangler.gateway.ratelimit")


class LimiterUnavailable(Exception):
    """The shared limiter could not answer (only raised with ``fail_open=False``)."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until a token is back (0.0 when allowed)
    remaining: int  # whole tokens left after this request


def _check(rate: float, burst: int) -> None:
    # the config loader validates limits; this guards direct callers against a silent 0/0
    if not rate > 0 or burst < 1:
        raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate!r} burst={burst!r}")


def _take(tokens: float, rate: float) -> tuple[float, Decision]:
    """Take one token from a bucket holding ``tokens`` (already refilled)."""
    if tokens >= 1.0:
        tokens -= 1.0
        return tokens, Decision(True, 0.0, math.floor(tokens))
    return tokens, Decision(False, (1.0 - tokens) / rate, 0)


class Limiter(abc.ABC):
    @abc.abstractmethod
    async def allow(self, route: str, key: str, rate: float, burst: int) -> Decision:
        """Take a token from the bucket of (``route``, ``key``): ``rate`` tokens per second,
        at most ``burst`` of them."""


class InProcessLimiter(Limiter):
    """Buckets in a dict, least recently used dropped beyond ``max_keys`` (a dropped bucket
    starts full again: the bound errs on the side of letting requests through)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    async def allow(self, route: str, key: str, rate: float, burst: int) -> Decision:
        _check(rate, burst)
        now = self.clock()
        bucket = (route, key)
        state = self._buckets.pop(bucket, None)
        if state is None:
            tokens = float(burst)
        else:
            tokens, last = state
            tokens = min(float(burst), tokens + max(0.0, now - last) * rate)
        tokens, decision = _take(tokens, rate)
        self._buckets[bucket] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return decision


# KEYS[1] bucket; ARGV: rate, burst, now (empty: Redis's clock). Returns {allowed, retry, tokens}
# with retry and tokens as strings: Lua numbers would be truncated to integers on the way out.
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
if tokens == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - tonumber(state[2])) * rate)
end
local allowed, retry = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, string.format('%.17g', retry), string.format('%.17g', tokens)}
"""


class RedisLimiter(Limiter):
    """One budget shared by every proxy replica using the same Redis and ``prefix``.

    ``clock`` is for tests: by default the script reads Redis's own ``TIME``.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "strangler:rl:",
        timeout: float = 0.1,
        fail_open: bool = True,
        clock: Callable[[], float] | None = None,
        log_every: float = 10.0,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.timeout = timeout
        self.fail_open = fail_open
        self.clock = clock
        self.log_every = log_every
        self.errors = 0
        self._logged_at = -math.inf
        self._script = client.register_script(_SCRIPT)

    def key(self, route: str, key: str) -> str:
        """The Redis key of a bucket; the route's length keeps ``a:b`` + ``c`` apart from
        ``a`` + ``b:c``."""
        return f"{self.prefix}{len(route)}:{route}:{key}"

    async def allow(self, route: str, key: str, rate: float, burst: int) -> Decision:
        _check(rate, burst)
        now = "" if self.clock is None else repr(self.clock())
        try:
            async with asyncio.timeout(self.timeout):
                allowed, retry, tokens = await self._script(
                    keys=[self.key(route, key)], args=[repr(float(rate)), burst, now]
                )
        except (RedisError, OSError, TimeoutError) as err:
            return self._unavailable(err, burst)
        if int(allowed):
            return Decision(True, 0.0, math.floor(float(tokens)))
        return Decision(False, float(retry), 0)

    def _unavailable(self, err: BaseException, burst: int) -> Decision:
        self.errors += 1
        if not self.fail_open:
            raise LimiterUnavailable(f"rate limiter store unreachable: {err!r}") from err
        now = time.monotonic()
        if now - self._logged_at >= self.log_every:
            self._logged_at = now
            log.warning("rate limiter store unreachable (%d errors); allowing: %r",
                        self.errors, err)  # fmt: skip
        return Decision(True, 0.0, burst - 1)  # what a full bucket would have said
