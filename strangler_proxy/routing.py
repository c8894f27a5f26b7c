"""Compile a :class:`~strangler_proxy.model.RoutingTable` into a matcher, once per load.

Nothing is parsed or built per request: templates become regular expressions at load time and
routes are sorted by specificity, so matching is a walk down a short list.

Precedence (the most specific route wins; ties go to the route written first):

1. a path template beats a prefix;
2. among templates, more literal characters win, then fewer parameters
   (``/api/products/featured/`` beats ``/api/products/{id}/``);
3. among prefixes, the longer prefix wins (``/api/catalog/items/`` beats ``/api/catalog/``);
4. a route with header conditions beats one without, more conditions beat fewer;
5. a route with a method list beats one matching every method.

Trailing slashes follow Django's ``APPEND_SLASH``: ``/api/products/7`` matches the template
``/api/products/{id}/`` with ``append_slash=True``; the proxy then answers with Django's 301 to
the slashed path unless the request goes to the monolith, which does that itself.

    >>> router = Router(table)
    >>> router.match("GET", "/api/products/7/", headers)
    RouteMatch(route=Route(name='product-detail', ...), params={'id': '7'}, append_slash=False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .model import MatchSpec, Route, RoutingTable

__all__ = ["CONVERTERS", "RouteMatch", "Router", "compile_template"]

# Django's path converters, as regular expressions
CONVERTERS: dict[str, str] = {
    "str": r"[^/]+",
    "int": r"[0-9]+",
    "slug": r"[-a-zA-Z0-9_]+",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "path": r".+",
}
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}")


def compile_template(template: str) -> tuple[re.Pattern[str], int, int]:
    """``/api/products/{id:int}/`` → (regex, literal characters, parameters).

    The loader has validated the template already; this only translates it.

    >>> compile_template("/api/products/{id:int}/")[0].pattern
    '/api/products/(?P<id>[0-9]+)/'
    """
    parts: list[str] = []
    literal = 0
    params = 0
    pos = 0
    for m in _PARAM.finditer(template):
        text = template[pos : m.start()]
        parts.append(re.escape(text))
        literal += len(text)
        parts.append(f"(?P<{m.group(1)}>{CONVERTERS[m.group(2) or 'str']})")
        params += 1
        pos = m.end()
    tail = template[pos:]
    parts.append(re.escape(tail))
    literal += len(tail)
    return re.compile("".join(parts)), literal, params


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The route a request matched. ``route`` is ``None`` for the table's default upstream."""

    route: Route | None
    params: Mapping[str, str] = field(default_factory=dict)
    append_slash: bool = False  # matched only once a trailing "/" is added


NO_ROUTE = RouteMatch(None)
_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


class _Compiled:
    __slots__ = (
        "exact",
        "headers",
        "matched",
        "methods",
        "prefix",
        "rank",
        "regex",
        "route",
        "slashless",
    )

    def __init__(self, route: Route, order: int) -> None:
        spec: MatchSpec = route.match
        self.route = route
        self.methods = spec.methods
        self.headers = tuple((h.name, h.value) for h in spec.headers)
        self.regex: re.Pattern[str] | None = None
        self.exact: str | None = None
        self.prefix: str | None = None
        self.slashless: str | None = None
        if spec.path is not None:
            regex, literal, params = compile_template(spec.path)
            if params == 0:
                self.exact = spec.path
            else:
                self.regex = regex
            kind, weight = 0, (-literal, params)
        else:
            assert spec.prefix is not None
            self.prefix = spec.prefix
            if spec.prefix != "/":
                self.slashless = spec.prefix[:-1]
            kind, weight = 1, (-len(spec.prefix), 0)
        self.rank = (kind, *weight, -len(self.headers), 0 if self.methods else 1, order)
        # the answer for a match without parameters (an exact path or a prefix), made once
        self.matched = RouteMatch(route, _NO_PARAMS)

    def path_match(self, path: str) -> Mapping[str, str] | None:
        if self.exact is not None:
            return {} if path == self.exact else None
        if self.regex is not None:
            m = self.regex.fullmatch(path)
            return m.groupdict() if m is not None else None
        assert self.prefix is not None
        return {} if path.startswith(self.prefix) else None

    def slash_match(self, path: str) -> Mapping[str, str] | None:
        """Match ``path + "/"`` for paths that lack only the trailing slash."""
        if self.slashless is not None:
            return {} if path == self.slashless else None
        if self.prefix is not None:
            return None
        return self.path_match(path + "/")

    def other_conditions(self, method: str, headers: Mapping[str, str]) -> bool:
        if self.methods and method not in self.methods:
            return False
        for name, value in self.headers:
            got = headers.get(name)
            if got is None or (value is not None and got != value):
                return False
        return True


class Router:
    """Matches requests against one table. Immutable; a reload builds a new Router."""

    def __init__(self, table: RoutingTable) -> None:
        self.table = table
        self._routes = sorted(
            (_Compiled(route, i) for i, route in enumerate(table.routes)), key=lambda c: c.rank
        )
        # routes that a path lacking only its trailing slash can reach (APPEND_SLASH)
        self._slash_routes = [
            c
            for c in self._routes
            if c.slashless is not None or (c.route.match.path or "").endswith("/")
        ]

    def match(self, method: str, path: str, headers: Mapping[str, str]) -> RouteMatch:
        """The most specific route for the request, or the default (``route=None``).

        ``headers`` is case-insensitive (aiohttp's ``CIMultiDictProxy``) or lower-cased.
        """
        for c in self._routes:
            # c.path_match(path) and c.other_conditions(...), written out: this runs per request
            found = None
            if c.exact is not None:
                if path != c.exact:
                    continue
            elif c.regex is not None:
                found = c.regex.fullmatch(path)
                if found is None:
                    continue
            elif not path.startswith(c.prefix):  # type: ignore[arg-type]
                continue
            if c.methods and method not in c.methods:
                continue
            if c.headers and not c.other_conditions(method, headers):
                continue
            return c.matched if found is None else RouteMatch(c.route, found.groupdict())
        if not path.endswith("/"):
            for c in self._slash_routes:
                params = c.slash_match(path)
                if params is not None and c.other_conditions(method, headers):
                    return RouteMatch(c.route, params, append_slash=True)
        return NO_ROUTE
