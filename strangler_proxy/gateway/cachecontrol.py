"""HTTP caching rules as pure functions: what may be stored, for how long, and 304s.

A shared (gateway) cache after RFC 9111, deliberately conservative: only what the upstream
explicitly allows, or a route's configured TTL, and never beyond the cap::

    storable_ttl(200, request, [("Cache-Control", "max-age=60")], default_ttl=0, cap=30) → 30.0
    storable_ttl(200, request, [("Cache-Control", "private")], default_ttl=60, cap=300)  → 0.0
    storable_ttl(200, request, [("Set-Cookie", "a=1")], default_ttl=60, cap=300)         → 0.0

Headers are collections of ``(name, value)`` pairs, repeats kept: ``request.headers.items()``,
``tuple(resp.headers.items())``. Not implemented (the response is then simply not reused
beyond its TTL): revalidation with the upstream, ``Expires``, ``Last-Modified`` /
``If-Modified-Since``, ``stale-while-revalidate``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection
from dataclasses import dataclass

__all__ = [
    "CACHEABLE_STATUS",
    "CacheControl",
    "Headers",
    "RequestPolicy",
    "etag_matches",
    "header_values",
    "not_modified",
    "not_modified_headers",
    "parse_cache_control",
    "request_policy",
    "storable_ttl",
    "vary_names",
]

Headers = Collection[tuple[str, str]]

# RFC 9110 15.1 "heuristically cacheable" codes, minus 206 (no range support here)
CACHEABLE_STATUS = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
# RFC 9110 15.4.5: what a 304 carries over from the 200 it stands for
_NOT_MODIFIED_KEEPS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary"}
)
_DIRECTIVE = re.compile(r'\s*([^\s=,]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,]*))?\s*(?:,|$)')
_ENTITY_TAG = re.compile(r'\s*(\*|(?:W/)?"[^"]*")\s*(?:,|$)')


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of header ``name`` (any case), in order."""
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


def _joined(headers: Headers, name: str) -> str:
    return ", ".join(header_values(headers, name))


@dataclass(frozen=True, slots=True)
class CacheControl:
    no_store: bool = False
    no_cache: bool = False
    private: bool = False
    public: bool = False
    max_age: int | None = None  # seconds; an unparsable value counts as 0 (RFC 9111 4.2.1)
    s_maxage: int | None = None


def _seconds(value: str | None) -> int:
    text = (value or "").strip().strip('"')
    return int(text) if text.isascii() and text.isdigit() else 0


def parse_cache_control(values: list[str] | str) -> CacheControl:
    """``"public, max-age=60, s-maxage=30"`` → ``CacheControl(public=True, max_age=60,
    s_maxage=30)``. Repeated directives keep the smallest age; ``private="Set-Cookie"`` (a
    qualified private) counts as private; unknown directives are ignored."""
    text = values if isinstance(values, str) else ", ".join(values)
    flags: set[str] = set()
    ages: dict[str, int] = {}
    for m in _DIRECTIVE.finditer(text):
        if not m.group(1):
            continue
        name = m.group(1).lower()
        if name in ("max-age", "s-maxage"):
            seconds = _seconds(m.group(2))
            ages[name] = min(seconds, ages.get(name, seconds))
        else:
            flags.add(name)
    return CacheControl(
        no_store="no-store" in flags,
        no_cache="no-cache" in flags,
        private="private" in flags,
        public="public" in flags,
        max_age=ages.get("max-age"),
        s_maxage=ages.get("s-maxage"),
    )


class RequestPolicy(enum.Enum):
    USE = "use"  # answer from the cache when there is a fresh entry
    REFRESH = "refresh"  # go to the upstream, store what it answers (no-cache, max-age=0)
    BYPASS = "bypass"  # neither read nor write (not GET/HEAD, no-store, Range)


def request_policy(method: str, headers: Headers) -> RequestPolicy:
    if method not in ("GET", "HEAD") or header_values(headers, "range"):
        return RequestPolicy.BYPASS
    cc = parse_cache_control(header_values(headers, "cache-control"))
    if cc.no_store:
        return RequestPolicy.BYPASS
    if cc.no_cache or cc.max_age == 0:
        return RequestPolicy.REFRESH
    if not header_values(headers, "cache-control") and "no-cache" in _joined(headers, "pragma"):
        return RequestPolicy.REFRESH
    return RequestPolicy.USE


def storable_ttl(
    status: int,
    request_headers: Headers,
    response_headers: Headers,
    *,
    default_ttl: float,
    cap: float,
    personalised: bool = False,
) -> float:
    """Seconds the response may be served from the cache; ``0.0``: do not store it.

    Freshness is ``s-maxage``, else ``max-age``, else the route's ``default_ttl``, less the
    upstream's ``Age``, at most ``cap``. Never stored: ``no-store``, ``no-cache``, a status
    outside :data:`CACHEABLE_STATUS`, ``Set-Cookie``, ``Vary: *``; ``private`` only on
    ``personalised`` routes (whose key includes the caller's identity); an answer to a request
    with ``Authorization`` only when personalised or explicitly ``public`` / ``s-maxage``
    (RFC 9111 3.5).
    """
    if status not in CACHEABLE_STATUS:
        return 0.0
    cc = parse_cache_control(header_values(response_headers, "cache-control"))
    if cc.no_store or cc.no_cache or (cc.private and not personalised):
        return 0.0
    if header_values(response_headers, "set-cookie"):
        return 0.0
    if "*" in vary_names(response_headers):
        return 0.0
    if (
        header_values(request_headers, "authorization")
        and not personalised
        and not (cc.public or cc.s_maxage is not None)
    ):
        return 0.0
    if cc.s_maxage is not None and not personalised:
        freshness = float(cc.s_maxage)
    elif cc.max_age is not None:
        freshness = float(cc.max_age)
    else:
        freshness = default_ttl
    ages = header_values(response_headers, "age")
    freshness -= _seconds(ages[0]) if ages else 0
    return max(0.0, min(freshness, cap))


def vary_names(response_headers: Headers) -> tuple[str, ...]:
    """``Vary: Accept-Encoding, accept-language`` → ``("accept-encoding", "accept-language")``
    (lower case, sorted, unique)."""
    names = {n.strip().lower() for n in _joined(response_headers, "vary").split(",")}
    return tuple(sorted(names - {""}))


def _strip_weak(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(if_none_match: str, etag: str | None) -> bool:
    """Weak comparison (RFC 9110 13.1.2): ``'W/"a", "b"'`` matches ``'"a"'`` and ``'W/"b"'``;
    ``*`` matches any stored response. Unparsable lists match nothing."""
    tags = [m.group(1) for m in _ENTITY_TAG.finditer(if_none_match)]
    if "*" in tags:
        return True
    if etag is None:
        return False
    return _strip_weak(etag.strip()) in {_strip_weak(t) for t in tags}


def not_modified(request_headers: Headers, response_headers: Headers) -> bool:
    """True when a GET/HEAD with ``If-None-Match`` may get 304 instead of the stored response."""
    condition = _joined(request_headers, "if-none-match")
    if not condition:
        return False
    etags = header_values(response_headers, "etag")
    return etag_matches(condition, etags[0] if etags else None)


def not_modified_headers(response_headers: Headers) -> list[tuple[str, str]]:
    """The headers a 304 standing for this response carries (ETag, Cache-Control, Vary, ...)."""
    return [(k, v) for k, v in response_headers if k.lower() in _NOT_MODIFIED_KEEPS]
