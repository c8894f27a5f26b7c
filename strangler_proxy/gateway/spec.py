"""The gateway's settings as typed, validated values (built by :mod:`strangler_proxy.config`).

Per route (``routes[].auth``, ``rate_limit``, ``cache``, ``rewrite``) and per table
(``identity:``, ``proxy.redis_url``, ``proxy.cache``). Every class is frozen, like the rest of
the table, so a reload swaps them atomically. ``migration_playbook/reference/routing-yaml.md``
documents every key with its default.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "Auth",
    "CacheSettings",
    "CacheSpec",
    "HeaderRewrite",
    "IdentitySettings",
    "LimitKey",
    "PathRewrite",
    "PathRewriteKind",
    "RateLimit",
    "RewriteSpec",
]


class Auth(enum.Enum):
    """What a route asks of the caller's identity (resolved at the edge, once per request)."""

    NONE = "none"  # not resolved; no assertion forwarded
    OPTIONAL = "optional"  # resolved when credentials come; anonymous otherwise
    REQUIRED = "required"  # no valid credentials: 401 at the edge, no upstream reached


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    """``identity:``: where the caller is resolved and how the assertion is signed."""

    upstream: str  # whose introspection endpoint answers (the monolith, later accounts)
    path: str = "/api/accounts/introspect/"
    timeout: float = 2.0  # seconds for one introspection call
    cache_ttl: float = 10.0  # seconds an answer is reused for the same credentials (0: never)
    cache_entries: int = 10_000  # answers kept at most (least recently used out first)
    assertion_ttl: float = 60.0  # lifetime of the signed X-Strangler-Identity
    key_env: str = "STRANGLER_IDENTITY_KEY"  # environment variable holding the signing key
    session_cookie: str = "sessionid"  # the monolith's SESSION_COOKIE_NAME
    csrf_cookie: str = "csrftoken"  # the monolith's CSRF_COOKIE_NAME
    # paths whose successful POST ends the caller's credentials: their cached answer is dropped
    logout: tuple[str, ...] = ("/api/accounts/logout/",)


class LimitKey(enum.Enum):
    """Whose budget a request spends."""

    USER = "user"  # the resolved user id; anonymous callers by client address
    TOKEN = "token"  # the Authorization header (hashed); without one, the client address
    IP = "ip"  # the client address (after trusted X-Forwarded-For)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate_limit: {rate: 10/s, burst: 20, key: user}``: a token bucket per client key."""

    rate: float  # tokens per second
    burst: int  # bucket size: requests allowed at once
    key: LimitKey = LimitKey.IP
    text: str = ""  # the rate as written ("600/min"), for messages


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """``cache:`` on a route: GET/HEAD answers are kept as the upstream's headers allow."""

    ttl: float = 60.0  # cap on any stored answer's lifetime (seconds)
    default_ttl: float = 0.0  # lifetime when the upstream says nothing (0: not stored)
    personalised: bool = False  # key includes the caller's identity (their own data)


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """``proxy.cache:`` for the whole table."""

    max_bytes: int = 64 << 20
    max_entry_bytes: int = 1 << 20
    store: str = "memory"  # "memory" or "redis" (then proxy.redis_url is required)


class PathRewriteKind(enum.Enum):
    STRIP_PREFIX = "strip_prefix"  # /api/catalog/products/7/ → /products/7/
    REPLACE_PREFIX = "replace_prefix"  # from → to
    TEMPLATE = "template"  # /products/{id}/ with the route's matched parameters


@dataclass(frozen=True, slots=True)
class PathRewrite:
    kind: PathRewriteKind
    source: str  # the prefix replaced (strip_prefix, replace_prefix); "" for template
    target: str  # the replacement ("" for strip_prefix) or the template


@dataclass(frozen=True, slots=True)
class HeaderRewrite:
    """Header changes, applied in this order: remove, rename, add (``add`` replaces)."""

    remove: frozenset[str] = frozenset()  # lower-case names
    rename: tuple[tuple[str, str], ...] = ()  # (old lower-case name, new name)
    add: tuple[tuple[str, str], ...] = ()  # (name, value)

    def __bool__(self) -> bool:
        return bool(self.remove or self.rename or self.add)


@dataclass(frozen=True, slots=True)
class RewriteSpec:
    """``rewrite:``: the service keeps its own layout, clients see the monolith's."""

    path: PathRewrite | None = None
    request_headers: HeaderRewrite = HeaderRewrite()
    response_headers: HeaderRewrite = HeaderRewrite()
    # absolute Location and pagination links naming an upstream instance become public ones
    public_links: bool = True
