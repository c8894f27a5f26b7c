"""The gateway's building blocks: identity assertions, rate limits, a response cache.

Each is usable on its own and free of the data path; the proxy wires them per route.

- :mod:`.assertion`: the signed ``X-Strangler-Identity`` header (HS256 JWT, stdlib only).
- :mod:`.ratelimit`: token buckets per (route, client key), in process or shared via Redis.
- :mod:`.cachecontrol`: HTTP caching rules as pure functions (TTL, Vary, ETag / 304).
- :mod:`.cache`: the in-memory, byte-bounded LRU response cache.
"""

from .assertion import ASSERTION_HEADER, sign_assertion
from .cache import CachedResponse, ResponseCache
from .cachecontrol import (
    CacheControl,
    RequestPolicy,
    etag_matches,
    not_modified,
    not_modified_headers,
    parse_cache_control,
    request_policy,
    storable_ttl,
)
from .ratelimit import Decision, InProcessLimiter, Limiter, LimiterUnavailable, RedisLimiter

__all__ = [
    "ASSERTION_HEADER",
    "CacheControl",
    "CachedResponse",
    "Decision",
    "InProcessLimiter",
    "Limiter",
    "LimiterUnavailable",
    "RedisLimiter",
    "RequestPolicy",
    "ResponseCache",
    "etag_matches",
    "not_modified",
    "not_modified_headers",
    "parse_cache_control",
    "request_policy",
    "sign_assertion",
    "storable_ttl",
]
