"""Fixtures of the gateway tests: a fake clock and the real Redis on 127.0.0.1:6379.

Redis is required (as PostgreSQL is for the ``postgres`` tests): when it is unreachable the
tests that use it FAIL with the command that starts it, never skip. Each run uses its own key
prefix and deletes its keys at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis

from strangler_proxy.shadow._fakes import FakeClock

REDIS_URL = os.environ.get("STRANGLER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_START_HINT = "redis-server --daemonize yes  (or: service redis-server start)"


@pytest.fixture
def clock() -> FakeClock:
    """``clock.now += 1.5`` moves it."""
    return FakeClock(1000.0)


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as err:
        pytest.fail(
            f"Redis is required for the gateway rate-limit tests but {REDIS_URL} is "
            f"unreachable: {err!r}. Start it with: {REDIS_START_HINT}",
            pytrace=False,
        )
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"strangler:test:{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
