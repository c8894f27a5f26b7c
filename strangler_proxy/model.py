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
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network

__all__ = [
    "HeaderCondition",
    "Listen",
    "MatchSpec",
    "Mode",
    "ProxySettings",
    "Route",
    "RoutingTable",
    "Sticky",
    "StickyKind",
    "Timeouts",
    "Upstream",
]


class Mode(enum.Enum):
    """Where a route's traffic goes. Lifecycle: legacy → shadow → canary → extracted."""

    LEGACY = "legacy"  # the monolith (the table's default upstream, or ``fallback``) serves
    SHADOW = "shadow"  # reserved: the monolith serves, a copy goes to the service
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
    """Seconds. ``connect``: TCP connect; ``response``: until the response headers arrive;
    ``total``: the whole exchange including the body (``None``: no limit, for streams)."""

    connect: float = 5.0
    response: float = 60.0
    total: float | None = None


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    instances: tuple[str, ...]  # base URLs without path, e.g. "http://127.0.0.1:8000"
    health: str | None = None  # health-check path, e.g. "/healthz"
    timeouts: Timeouts = field(default_factory=Timeouts)


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
    decision_headers: bool = True  # X-Strangler-Route / X-Strangler-Upstream on responses
    # client addresses whose X-Forwarded-For/Proto/Host are kept (extended) instead of replaced
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    # request bodies larger than this are refused with 413 (None: no limit of the proxy's own)
    max_body_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class RoutingTable:
    version: int
    upstreams: dict[str, Upstream]
    default: str
    routes: tuple[Route, ...]
    settings: ProxySettings = field(default_factory=ProxySettings)
    source: str = "<memory>"  # file the table was read from
    sha256: str = ""  # hex digest of the source bytes

    def upstream(self, name: str) -> Upstream:
        return self.upstreams[name]
