"""The response cache: HTTP rules (pure functions) and the byte-bounded LRU store."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from strangler_proxy.gateway.cache import ResponseCache
from strangler_proxy.gateway.cachecontrol import (
    CacheControl,
    RequestPolicy,
    etag_matches,
    not_modified,
    not_modified_headers,
    parse_cache_control,
    request_policy,
    storable_ttl,
    vary_names,
)
from strangler_proxy.shadow._fakes import FakeClock

H = list[tuple[str, str]]
JSON: H = [("Content-Type", "application/json")]


def ttl(
    resp: H,
    req: H | None = None,
    status: int = 200,
    *,
    default_ttl: float = 0.0,
    personalised: bool = False,
) -> float:
    return storable_ttl(
        status, req or [], resp, default_ttl=default_ttl, cap=300.0, personalised=personalised
    )


# -- Cache-Control parsing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", CacheControl()),
        ("no-store", CacheControl(no_store=True)),
        ("Public, Max-Age=60, s-maxage=30", CacheControl(public=True, max_age=60, s_maxage=30)),
        ('max-age="20"', CacheControl(max_age=20)),
        ("max-age=abc", CacheControl(max_age=0)),  # invalid: stale
        ("max-age=-5", CacheControl(max_age=0)),
        ("max-age=60, max-age=10", CacheControl(max_age=10)),  # conflicting: the stricter
        ('private="Set-Cookie, X-A", max-age=5', CacheControl(private=True, max_age=5)),
        ("no-cache, ,, must-revalidate", CacheControl(no_cache=True)),
        ("max-age = 7 ", CacheControl(max_age=7)),
    ],
)
def test_parse_cache_control(value: str, expected: CacheControl) -> None:
    assert parse_cache_control(value) == expected


def test_parse_cache_control_joins_repeated_headers() -> None:
    assert parse_cache_control(["public", "max-age=9"]) == CacheControl(public=True, max_age=9)


# -- what is stored, for how long ---------------------------------------------------------------


def test_freshness_sources_and_cap() -> None:
    assert ttl([("Cache-Control", "max-age=60")]) == 60.0
    assert ttl([("Cache-Control", "max-age=60, s-maxage=10")]) == 10.0  # shared caches
    assert ttl([("Cache-Control", "max-age=6000")]) == 300.0  # the cap
    assert ttl(JSON) == 0.0  # nothing explicit and no route default: not stored
    assert ttl(JSON, default_ttl=15.0) == 15.0
    assert ttl([("Cache-Control", "max-age=0")], default_ttl=15.0) == 0.0  # upstream wins
    assert ttl([("Cache-Control", "max-age=60"), ("Age", "50")]) == 10.0
    assert ttl([("Cache-Control", "max-age=60"), ("Age", "70")]) == 0.0


@pytest.mark.parametrize(
    "resp",
    [
        [("Cache-Control", "no-store, max-age=60")],
        [("Cache-Control", "no-cache, max-age=60")],
        [("Cache-Control", "private, max-age=60")],
        [("Cache-Control", "max-age=60"), ("Set-Cookie", "sessionid=x")],
        [("Cache-Control", "max-age=60"), ("Vary", "Accept, *")],
    ],
)
def test_never_stored_on_shared_routes(resp: H) -> None:
    assert ttl(resp, default_ttl=60.0) == 0.0


def test_status_codes() -> None:
    cc = [("Cache-Control", "max-age=60")]
    assert [ttl(cc, status=s) for s in (200, 404, 301, 206, 302, 304, 500, 503)] == [
        60.0, 60.0, 60.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ]  # fmt: skip


def test_authorized_requests_and_personalised_routes() -> None:
    auth = [("Authorization", "Token abc")]
    assert ttl([("Cache-Control", "max-age=60")], auth) == 0.0
    assert ttl([("Cache-Control", "public, max-age=60")], auth) == 60.0
    assert ttl([("Cache-Control", "s-maxage=60")], auth) == 60.0
    # personalised: the key carries the identity, so private answers are the caller's own
    assert ttl([("Cache-Control", "private, max-age=60")], auth, personalised=True) == 60.0
    assert ttl([("Cache-Control", "max-age=60, s-maxage=5")], personalised=True) == 60.0
    assert ttl([("Cache-Control", "no-store")], auth, personalised=True) == 0.0


@pytest.mark.parametrize(
    ("method", "req", "policy"),
    [
        ("GET", [], RequestPolicy.USE),
        ("HEAD", [], RequestPolicy.USE),
        ("POST", [], RequestPolicy.BYPASS),
        ("OPTIONS", [], RequestPolicy.BYPASS),
        ("GET", [("Cache-Control", "no-store")], RequestPolicy.BYPASS),
        ("GET", [("Range", "bytes=0-10")], RequestPolicy.BYPASS),
        ("GET", [("Cache-Control", "no-cache")], RequestPolicy.REFRESH),
        ("GET", [("Cache-Control", "max-age=0")], RequestPolicy.REFRESH),
        ("GET", [("Pragma", "no-cache")], RequestPolicy.REFRESH),
        ("GET", [("Pragma", "no-cache"), ("Cache-Control", "max-age=5")], RequestPolicy.USE),
    ],
)
def test_request_policy(method: str, req: H, policy: RequestPolicy) -> None:
    assert request_policy(method, req) is policy


def test_vary_names() -> None:
    resp = [("Vary", "Accept-Encoding, accept-language"), ("vary", "Accept-Encoding,")]
    assert vary_names(resp) == ("accept-encoding", "accept-language")


# -- ETag / 304 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inm", "etag", "match"),
    [
        ('"a"', '"a"', True),
        ('W/"a"', '"a"', True),  # weak comparison
        ('"a"', 'W/"a"', True),
        ('"x", W/"a"', '"a"', True),
        ('"a,b", "c"', '"a,b"', True),  # commas inside a tag
        ('"b"', '"a"', False),
        ("*", '"a"', True),
        ("*", None, True),
        ('"a"', None, False),
        ("a", '"a"', False),  # not a quoted entity tag
    ],
)
def test_etag_matches(inm: str, etag: str | None, match: bool) -> None:
    assert etag_matches(inm, etag) is match


def test_not_modified_and_its_headers() -> None:
    stored = [
        ("Content-Type", "application/json"),
        ("ETag", 'W/"v1"'),
        ("Cache-Control", "max-age=60"),
        ("Vary", "Accept"),
        ("Content-Length", "99"),
    ]
    assert not_modified([("If-None-Match", '"v1"')], stored)
    assert not not_modified([("If-None-Match", '"v2"')], stored)
    assert not not_modified([], stored)
    assert not not_modified([("If-None-Match", '"v1"')], JSON)
    assert not_modified_headers(stored) == [
        ("ETag", 'W/"v1"'),
        ("Cache-Control", "max-age=60"),
        ("Vary", "Accept"),
    ]


# -- the store -----------------------------------------------------------------------------------

CC60 = [("Cache-Control", "max-age=60"), ("Content-Type", "application/json")]


def make(
    clock: FakeClock,
    *,
    max_bytes: int = 1 << 20,
    max_entry_bytes: int = 1 << 16,
    ttl_cap: float = 300,
) -> ResponseCache:
    return ResponseCache(
        clock=clock, max_bytes=max_bytes, max_entry_bytes=max_entry_bytes, ttl_cap=ttl_cap
    )


def test_hit_until_expiry_with_age(clock: FakeClock) -> None:
    cache = make(clock)
    assert cache.lookup("r", "GET", "/p/?a=1", []) is None
    assert cache.store("r", "GET", "/p/?a=1", [], 200, [*CC60, ("Age", "5")], b"body")
    clock.now += 10
    hit = cache.lookup("r", "GET", "/p/?a=1", [])
    assert hit is not None and (hit.status, hit.body) == (200, b"body")
    assert ("Age", "15") in hit.headers_at(clock.now)
    assert all(k != "Age" for k, _ in hit.headers)  # stored without the upstream's Age
    assert cache.lookup("r", "GET", "/p/?a=2", []) is None  # the query is part of the key
    assert cache.lookup("r", "HEAD", "/p/?a=1", []) is None  # and the method
    clock.now += 44.9  # 55 - 5 s of upstream Age: still fresh
    assert cache.lookup("r", "GET", "/p/?a=1", []) is not None
    clock.now += 0.1
    assert cache.lookup("r", "GET", "/p/?a=1", []) is None
    assert len(cache) == 0 and cache.size == 0
    assert cache.metric_samples() == {
        ("r", "miss"): 4.0,
        ("r", "store"): 1.0,
        ("r", "hit"): 2.0,
    }


def test_ttl_cap_and_route_default(clock: FakeClock) -> None:
    cache = make(clock, ttl_cap=30.0)
    assert cache.store("r", "GET", "/a/", [], 200, [("Cache-Control", "max-age=3600")], b"")
    assert not cache.store("r", "GET", "/b/", [], 200, JSON, b"")  # no TTL at all
    assert cache.store("r", "GET", "/b/", [], 200, JSON, b"", default_ttl=5.0)
    clock.now += 5
    assert cache.lookup("r", "GET", "/b/", []) is None
    assert cache.lookup("r", "GET", "/a/", []) is not None
    clock.now += 25
    assert cache.lookup("r", "GET", "/a/", []) is None


def test_per_call_ttl_cap_applies_on_top_of_the_caches_own(clock: FakeClock) -> None:
    cache = make(clock, ttl_cap=30.0)
    long = [("Cache-Control", "max-age=3600")]
    assert cache.store("r", "GET", "/a/", [], 200, long, b"", ttl_cap=10.0)  # the route's: 10
    assert cache.store("r", "GET", "/b/", [], 200, long, b"", ttl_cap=60.0)  # the cache's: 30
    assert cache.store("r", "GET", "/c/", [], 200, long, b"", ttl_cap=None)  # the cache's: 30
    assert not cache.store("r", "GET", "/d/", [], 200, long, b"", ttl_cap=0.0)  # not cached
    lifetimes = {}
    for target in ("/a/", "/b/", "/c/"):
        hit = cache.lookup("r", "GET", target, [])
        assert hit is not None
        lifetimes[target] = hit.expires_at - hit.stored_at
    assert lifetimes == {"/a/": 10.0, "/b/": 30.0, "/c/": 30.0}
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="ttl_cap"):
            cache.store("r", "GET", "/e/", [], 200, long, b"", ttl_cap=bad)


def test_vary_keys_on_the_named_request_headers(clock: FakeClock) -> None:
    cache = make(clock)
    resp = [*CC60, ("Vary", "Accept-Language")]
    en = CIMultiDict([("Accept-Language", "en")])
    de = CIMultiDict([("accept-language", "de")])
    assert cache.store("r", "GET", "/p/", en.items(), 200, resp, b"hello")
    assert cache.store("r", "GET", "/p/", de.items(), 200, resp, b"hallo")
    en_hit = cache.lookup("r", "GET", "/p/", [("ACCEPT-LANGUAGE", "en"), ("X-Other", "1")])
    de_hit = cache.lookup("r", "GET", "/p/", de.items())
    assert en_hit is not None and en_hit.body == b"hello"
    assert de_hit is not None and de_hit.body == b"hallo"
    assert cache.lookup("r", "GET", "/p/", []) is None  # no Accept-Language: its own variant
    # the upstream changes what it varies on: the old variants go
    assert cache.store("r", "GET", "/p/", en.items(), 200, [*CC60, ("Vary", "Accept")], b"x")
    assert len(cache) == 1
    hit = cache.lookup("r", "GET", "/p/", de.items())
    assert hit is not None and hit.body == b"x"  # no Accept in either request: same variant


def test_personalised_routes_key_on_identity(clock: FakeClock) -> None:
    cache = make(clock)
    private = [("Cache-Control", "private, max-age=60")]
    auth = [("Authorization", "Token a")]
    assert not cache.store("me", "GET", "/me/", auth, 200, private, b"ada")  # shared: no
    assert cache.store("me", "GET", "/me/", auth, 200, private, b"ada", identity="user:1")
    assert cache.store("me", "GET", "/me/", [], 200, private, b"anon", identity="anonymous")
    ada = cache.lookup("me", "GET", "/me/", auth, identity="user:1")
    assert ada is not None and ada.body == b"ada"
    assert cache.lookup("me", "GET", "/me/", auth, identity="user:2") is None
    assert cache.lookup("me", "GET", "/me/", auth) is None  # not personalised: never theirs
    anon = cache.lookup("me", "GET", "/me/", [], identity="anonymous")
    assert anon is not None and anon.body == b"anon"


def test_requests_that_bypass_or_refresh(clock: FakeClock) -> None:
    cache = make(clock)
    assert cache.store("r", "GET", "/p/", [], 200, CC60, b"v1")
    assert cache.lookup("r", "GET", "/p/", [("Cache-Control", "no-cache")]) is None
    assert cache.store("r", "GET", "/p/", [("Cache-Control", "no-cache")], 200, CC60, b"v2")
    hit = cache.lookup("r", "GET", "/p/", [])
    assert hit is not None and hit.body == b"v2"  # refreshed in place
    assert len(cache) == 1
    assert not cache.store("r", "GET", "/p/", [("Cache-Control", "no-store")], 200, CC60, b"")
    assert not cache.store("r", "POST", "/p/", [], 200, CC60, b"")
    assert cache.lookup("r", "POST", "/p/", []) is None
    assert cache.counts[("r", "bypass")] == 2


def test_hop_by_hop_headers_are_not_stored(clock: FakeClock) -> None:
    cache = make(clock)
    resp = [*CC60, ("Transfer-Encoding", "chunked"), ("Connection", "close"), ("ETag", '"1"')]
    assert cache.store("r", "GET", "/p/", [], 200, resp, b"x")
    hit = cache.lookup("r", "GET", "/p/", [])
    assert hit is not None
    assert [k for k, _ in hit.headers] == ["Cache-Control", "Content-Type", "ETag"]


def test_byte_bound_evicts_least_recently_used(clock: FakeClock) -> None:
    cache = make(clock, max_bytes=3200, max_entry_bytes=2000)
    body = b"x" * 700
    for name in ("a", "b", "c"):
        assert cache.store("r", "GET", f"/{name}/", [], 200, CC60, body)
    assert len(cache) == 3
    assert cache.lookup("r", "GET", "/a/", []) is not None  # "a" becomes the newest
    assert cache.store("r", "GET", "/d/", [], 200, CC60, body)  # evicts "b"
    assert cache.size <= 3200
    present = [n for n in "abcd" if cache.lookup("r", "GET", f"/{n}/", []) is not None]
    assert present == ["a", "c", "d"]
    assert cache.counts[("r", "evict")] == 1
    assert not cache.store("r", "GET", "/big/", [], 200, CC60, b"x" * 2000)  # over the entry cap
    assert len(cache) == 3


def test_purge_by_route_and_prune(clock: FakeClock) -> None:
    cache = make(clock)
    for route, target in [("a", "/1/"), ("a", "/2/"), ("b", "/1/")]:
        assert cache.store(route, "GET", target, [], 200, CC60, b"x")
    assert cache.store("b", "GET", "/short/", [], 200, [("Cache-Control", "max-age=1")], b"")
    assert cache.purge("a") == 2
    assert cache.lookup("a", "GET", "/1/", []) is None
    assert cache.lookup("b", "GET", "/1/", []) is not None  # same path, other route: kept
    clock.now += 2
    assert cache.prune() == 1
    assert len(cache) == 1
    assert cache.metric_samples()[("a", "purge")] == 2.0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        ResponseCache(max_bytes=0)
