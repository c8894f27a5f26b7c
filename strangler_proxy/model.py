"""The routing table as typed, validated values.

Everything here is built once by :mod:`strangler_proxy.config` from ``routing.yaml`` and never
re-validated afterwards: past the loader, a :class:`RoutingTable` is trusted. All classes are
frozen, so a table can be swapped atomically on reload and shared by concurrent requests.

Shape of the table (see ``migration_playbook/reference/routing-yaml.md`` for every key)::

    RoutingTable
      ├── settings: ProxySettings     listen addresses, decision headers, trusted proxies
      ├── upstreams: {name: Upstream} instances, timeouts
      ├── default: str                upstream for everything no route matches (the monolith)
      └── routes: (Route, ...)        match → mode → upstream(s)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network, IPv6Network

from .gateway.spec import Auth, CacheSettings, CacheSpec, IdentitySettings, RateLimit, RewriteSpec
from .shadow.compare import CompareRules

__all__ = [
    "DECISION_HEADERS",
    "SAFE_METHODS",
    "Balance",
    "BreakerSettings",
    "HeaderCondition",
    "HealthSpec",
    "Listen",
    "MatchSpec",
    "Mode",
    "Outlier",
    "ProxySettings",
    "Route",
    "RoutingTable",
    "ShadowSpec",
    "Sticky",
    "StickyKind",
    "Timeouts",
    "Upstream",
]


class Mode(enum.Enum):
    """Where a route's traffic goes. Lifecycle: legacy → shadow → canary → extracted."""

    LEGACY = "legacy"  # the monolith (the table's default upstream, or ``fallback``) serves
    SHADOW = "shadow"  # the monolith serves; a copy goes to ``to`` and the answers are compared
    CANARY = "canary"  # ``weight`` % of sticky keys go to ``to``, the rest to the monolith
    EXTRACTED = "extracted"  # ``to`` serves everything


class StickyKind(enum.Enum):
    HEADER = "header"
    COOKIE = "cookie"
    IP = "ip"


@dataclass(frozen=True, slots=True)
class Sticky:
    """The key that keeps one user on one side of a canary: ``header:Authorization``,
    ``cookie:sessionid`` or ``ip`` (the client address, after trusted X-Forwarded-For)."""

    kind: StickyKind = StickyKind.IP
    name: str = ""  # header name (lower case) or cookie name; empty for IP

    def __str__(self) -> str:
        return self.kind.value if self.kind is StickyKind.IP else f"{self.kind.value}:{self.name}"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds, each firing on its own. ``connect``: TCP connect; ``response``: from sending
    the request until the response headers arrive; ``idle``: between two reads of the response
    (a stalled stream); ``total``: the whole exchange including the body (``None``: no limit,
    for long streams)."""

    connect: float = 5.0
    response: float = 60.0
    idle: float = 60.0
    total: float | None = None

    def merged(self, overrides: tuple[tuple[str, float | None], ...]) -> Timeouts:
        """These timeouts with a route's overrides applied."""
        return replace(self, **dict(overrides)) if overrides else self  # type: ignore[arg-type]


class Balance(enum.Enum):
    """How an upstream's instances share its requests."""

    ROUND_ROBIN = "round_robin"  # each eligible instance in turn (Ribbon's default)
    LEAST_OUTSTANDING = "least_outstanding"  # the one with the fewest requests in flight


@dataclass(frozen=True, slots=True)
class HealthSpec:
    """Active health checks: GET ``path`` every ``interval`` s; 2xx within ``timeout`` passes."""

    path: str
    interval: float = 5.0
    timeout: float = 2.0
    healthy_threshold: int = 2  # passes in a row that bring an instance back
    unhealthy_threshold: int = 2  # failures in a row that take it out


@dataclass(frozen=True, slots=True)
class Outlier:
    """Passive outlier ejection (defaults as Ribbon users expect: 3 failures, 30 s)."""

    consecutive_failures: int = 3
    ejection_time: float = 30.0  # seconds; doubles with each repeated ejection
    max_ejection_time: float = 300.0
    max_ejected_percent: int = 50  # never more than this share of the instances out at once


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """Circuit breaker per upstream (see :mod:`strangler_proxy.breaker`)."""

    failure_rate: float = 50.0  # percent of failed calls in the window that opens it
    window: int = 20  # the last N calls
    minimum_calls: int = 10  # no verdict on fewer calls
    open_for: float = 30.0  # seconds open before trial calls are let through
    half_open_calls: int = 3  # trial calls; all must succeed to close


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    instances: tuple[str, ...]  # base URLs without path, e.g. "http://127.0.0.1:8000"
    health: HealthSpec | None = None  # active checks (None: passive ejection only)
    timeouts: Timeouts = field(default_factory=Timeouts)
    balance: Balance = Balance.ROUND_ROBIN
    outlier: Outlier = field(default_factory=Outlier)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    max_concurrent: int | None = None  # requests in flight beyond this get 503 (None: no cap)


@dataclass(frozen=True, slots=True)
class HeaderCondition:
    """A request header that must be present (``value is None``) or equal ``value``."""

    name: str  # lower case
    value: str | None = None


@dataclass(frozen=True, slots=True)
class MatchSpec:
    """Exactly one of ``path`` (a template such as ``/api/products/{id}/``) or ``prefix``
    (such as ``/api/catalog/``) is set. ``methods`` empty means every method."""

    path: str | None = None
    prefix: str | None = None
    methods: frozenset[str] = frozenset()
    headers: tuple[HeaderCondition, ...] = ()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DECISION_HEADERS = frozenset({"route", "upstream", "fallback", "error", "cache"})


@dataclass(frozen=True, slots=True)
class ShadowSpec:
    """How a route's requests are copied to the other side and compared.

    In ``shadow`` mode the monolith serves and the copy goes to ``to``; on an ``extracted``
    route with a ``shadow`` block ("reverse shadow") the service serves and the copy goes to the
    monolith, and only safe methods may be copied there.
    """

    sample: float = 1.0  # share of matching requests copied, 0..1
    sticky: Sticky | None = None  # sample per user (same key, same choice) instead of at random
    methods: frozenset[str] = SAFE_METHODS  # writes only when listed, and carry the dry-run mark
    timeout: float = 5.0  # seconds for the whole shadow exchange
    max_concurrency: int = 16  # shadow exchanges in flight for this route
    queue: int = 64  # shadow exchanges waiting for a slot; beyond that, copies are dropped
    max_body_bytes: int = 1 << 20  # request/response bodies larger than this are not compared
    noise_sample: float = 0.05  # share of copies for which the primary is asked a second time
    recheck_delay: float = 0.2  # seconds before a mismatch is asked again (race detection)
    compare: CompareRules = field(default_factory=CompareRules)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    match: MatchSpec
    mode: Mode
    to: str | None = None  # the extracted upstream (required for canary/extracted/shadow)
    weight: int = 0  # canary share, 0..100
    sticky: Sticky = field(default_factory=Sticky)
    fallback: str | None = None  # upstream for idempotent requests when ``to`` is unreachable
    line: int = 0  # where the route starts in the source file
    shadow: ShadowSpec | None = None  # copies and comparison (shadow mode, reverse shadow)
    # the route's own limits, over its upstream's: timeouts given for the route only
    timeouts: tuple[tuple[str, float | None], ...] = ()
    max_body_bytes: int | None = None  # larger request bodies get 413
    max_concurrent: int | None = None  # requests of this route in flight beyond this get 503
    # the gateway's duties (None: not given; auth then follows the table, see ``auth_for``)
    auth: Auth | None = None
    rate_limit: RateLimit | None = None
    cache: CacheSpec | None = None
    rewrite: RewriteSpec | None = None


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ProxySettings:
    listen: Listen = field(default_factory=lambda: Listen("127.0.0.1", 8080))
    admin_listen: Listen = field(default_factory=lambda: Listen("127.0.0.1", 8081))
    # which X-Strangler-* decision headers responses carry: route, upstream, fallback, error,
    # cache
    decision_headers: frozenset[str] = DECISION_HEADERS
    # client addresses whose X-Forwarded-For/Proto/Host are kept (extended) instead of replaced
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    # request bodies larger than this are refused with 413 (None: no limit of the proxy's own)
    max_body_bytes: int | None = None
    # where shadow comparisons are stored: a postgresql:// URL, or None for the SQLite default
    shadow_store: str | None = None
    # the environment variable holding the registry's bearer token (no token: registry closed)
    registry_token_env: str = "STRANGLER_REGISTRY_TOKEN"
    # a request line or header line longer than this gets 431
    max_header_bytes: int = 8190
    # the environment variable holding the admin API's bearer token (no token: changes refused)
    admin_token_env: str = "STRANGLER_ADMIN_TOKEN"
    # Redis shared by proxy replicas: rate limits (and the response cache with cache.store: redis)
    redis_url: str | None = None
    cache: CacheSettings = field(default_factory=CacheSettings)


@dataclass(frozen=True, slots=True)
class RoutingTable:
    version: int
    upstreams: dict[str, Upstream]
    default: str
    routes: tuple[Route, ...]
    settings: ProxySettings = field(default_factory=ProxySettings)
    source: str = "<memory>"  # file the table was read from
    sha256: str = ""  # hex digest of the source bytes
    identity: IdentitySettings | None = None  # who the caller is (None: never resolved)

    def upstream(self, name: str) -> Upstream:
        return self.upstreams[name]

    def auth_for(self, route: Route | None) -> Auth:
        """A route's ``auth``; not given: ``optional`` where a service may answer (canary,
        extracted) when the table has ``identity:``, else ``none`` (shadow routes too: the
        monolith answers there, so resolving would only delay the client; give ``auth:
        optional`` when the service's copy needs the caller)."""
        if route is None:
            return Auth.NONE
        if route.auth is not None:
            return route.auth
        if self.identity is None or route.mode in (Mode.LEGACY, Mode.SHADOW):
            return Auth.NONE
        return Auth.OPTIONAL
