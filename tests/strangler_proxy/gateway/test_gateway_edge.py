"""The gateway's duties in the running proxy, against real upstream processes: rate limits
(in process and shared through the real Redis), the response cache, rewrites, the internal
headers a client cannot send, and the admin token for changes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strangler_proxy.testing import wait_until
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml

TOKEN = "admin-token-for-gateway-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def start(
    folder: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess, routes: list[Any],
    **top: Any,
) -> ProxyProcess:  # fmt: skip
    text = table_yaml({"legacy": legacy.url, "catalog": catalog.url}, routes, **top)
    return ProxyProcess.from_yaml(text, folder, env={"STRANGLER_ADMIN_TOKEN": TOKEN})


def metric(proxy: ProxyProcess, line_start: str) -> float:
    for line in httpx.get(proxy.admin_url + "/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# -- rate limits -------------------------------------------------------------------------------
def test_rate_limit_answers_429_in_the_monoliths_format_and_recovers(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    route = {
        "name": "search",
        "match": {"prefix": "/search/"},
        "mode": "extracted",
        "to": "catalog",
        "rate_limit": {"rate": "2/s", "burst": 2, "key": "ip"},
    }
    with start(tmp_path, legacy, catalog, [route]) as proxy, httpx.Client() as client:
        answers = [client.get(proxy.url + "/search/q").status_code for _ in range(3)]
        assert answers[:2] == [200, 200]
        limited = client.get(proxy.url + "/search/q")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        assert limited.headers["X-Strangler-Error"] == "rate_limited"
        assert limited.json() == {
            "detail": "Request was throttled. Expected available in 1 second."
        }
        assert "x-upstream-name" not in limited.headers  # no upstream was asked
        # a token comes back every 0.5 s
        wait_until(
            lambda: client.get(proxy.url + "/search/q").status_code == 200,
            timeout=5,
            what="the bucket to refill",
        )
        assert metric(proxy, 'strangler_ratelimit_total{route="search",outcome="limited"}') >= 1
        assert metric(proxy, 'strangler_ratelimit_total{route="search",outcome="allowed"}') >= 3


def test_rate_limit_is_per_client_address_after_trusted_forwarding(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    route = {
        "name": "api",
        "match": {"prefix": "/api/"},
        "mode": "legacy",
        "rate_limit": {"rate": "1/min", "key": "ip"},
    }
    settings = {"trusted_proxies": ["127.0.0.1"]}  # a load balancer in front, on this host
    with start(tmp_path, legacy, catalog, [route], proxy=settings) as proxy, httpx.Client() as c:
        ada, bob = {"X-Forwarded-For": "10.0.0.1"}, {"X-Forwarded-For": "10.0.0.2"}
        assert c.get(proxy.url + "/api/x", headers=ada).status_code == 200
        assert c.get(proxy.url + "/api/x", headers=ada).status_code == 429
        assert c.get(proxy.url + "/api/x", headers=bob).status_code == 200
        retry = c.get(proxy.url + "/api/x", headers=bob).headers["Retry-After"]
        assert 55 <= int(retry) <= 60


def test_rate_limit_is_shared_by_two_proxies_through_redis(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess, redis_url: str
) -> None:
    name = f"shared-{uuid.uuid4().hex[:12]}"  # a bucket of its own in the shared Redis
    route = {
        "name": name,
        "match": {"prefix": "/api/"},
        "mode": "legacy",
        "rate_limit": {"rate": "3/min", "key": "ip"},
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    proxy_settings = {"redis_url": redis_url}
    with (
        start(tmp_path / "a", legacy, catalog, [route], proxy=proxy_settings) as one,
        start(tmp_path / "b", legacy, catalog, [route], proxy=proxy_settings) as two,
        httpx.Client() as client,
    ):
        assert client.get(one.url + "/api/x").status_code == 200
        assert client.get(two.url + "/api/x").status_code == 200
        assert client.get(one.url + "/api/x").status_code == 200
        # the budget of 3 is spent across both replicas
        assert client.get(two.url + "/api/x").status_code == 429
        assert client.get(one.url + "/api/x").status_code == 429


# -- the response cache ------------------------------------------------------------------------
@pytest.fixture()
def cached(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> Iterator[ProxyProcess]:
    route = {
        "name": "products",
        "match": {"prefix": "/products/"},
        "mode": "extracted",
        "to": "catalog",
        "cache": {"ttl": 30},
    }
    with start(tmp_path, legacy, catalog, [route]) as proxy:
        yield proxy


def test_cache_hit_miss_vary_etag_and_purge(cached: ProxyProcess) -> None:
    url = f"{cached.url}/products/{uuid.uuid4().hex}/cacheable?max_age=60"
    with httpx.Client() as client:
        first = client.get(url)
        assert first.status_code == 200 and first.headers["X-Strangler-Cache"] == "MISS"
        second = client.get(url)
        assert second.headers["X-Strangler-Cache"] == "HIT"
        assert second.json() == first.json()  # the upstream was not asked again
        assert second.headers["ETag"] == '"v1"' and "Age" in second.headers
        # Vary: Accept-Language keeps the French answer apart
        french = client.get(url, headers={"Accept-Language": "fr"})
        assert french.headers["X-Strangler-Cache"] == "MISS"
        assert french.json()["calls"] > first.json()["calls"]
        # a conditional request gets 304 from the cache
        again = client.get(url, headers={"If-None-Match": '"v1"'})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == '"v1"'
        # HEAD from the cache: the GET's length, no body
        head = client.head(url)
        assert head.headers["X-Strangler-Cache"] in ("HIT", "MISS")
        # the client asks for a fresh answer
        fresh = client.get(url, headers={"Cache-Control": "no-cache"})
        assert fresh.json()["calls"] > first.json()["calls"]
        # purge needs the admin token
        refused = client.post(cached.admin_url + "/cache/purge", params={"route": "products"})
        assert refused.status_code == 401
        assert client.get(url).headers["X-Strangler-Cache"] == "HIT"
        purged = client.post(
            cached.admin_url + "/cache/purge", params={"route": "products"}, headers=ADMIN
        )
        assert purged.status_code == 200 and purged.json()["purged"] >= 1
        assert client.get(url).headers["X-Strangler-Cache"] == "MISS"
        unknown = client.post(
            cached.admin_url + "/cache/purge", params={"route": "nope"}, headers=ADMIN
        )
        assert unknown.status_code == 404
    assert metric(cached, 'strangler_cache_events_total{route="products",event="hit"}') >= 2


def test_cache_never_stores_what_the_upstream_forbids(cached: ProxyProcess) -> None:
    base = f"{cached.url}/products/{uuid.uuid4().hex}"
    with httpx.Client() as client:
        # no Cache-Control from the upstream and no default_ttl: never stored
        assert client.get(base + "/echo").headers["X-Strangler-Cache"] == "MISS"
        assert client.get(base + "/echo").headers["X-Strangler-Cache"] == "MISS"
        # Set-Cookie: never stored
        assert client.get(base + "/cookies").headers["X-Strangler-Cache"] == "MISS"
        assert client.get(base + "/cookies").headers["X-Strangler-Cache"] == "MISS"
        # max-age=0: never stored
        url = base + "/cacheable?max_age=0"
        assert client.get(url).json() != client.get(url).json()


# -- rewrites ----------------------------------------------------------------------------------
@pytest.fixture()
def rewritten(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> Iterator[ProxyProcess]:
    route = {
        "name": "catalog",
        "match": {"prefix": "/api/catalog/"},
        "mode": "extracted",
        "to": "catalog",
        "rewrite": {
            "path": {"strip_prefix": "/api/catalog/"},
            "request_headers": {
                "add": {"X-Service-Layout": "v2"},
                "remove": ["X-Debug"],
                "rename": {"X-Client-Tag": "X-Tag"},
            },
            "response_headers": {"add": {"X-Served-By": "catalog-service"}, "remove": ["Server"]},
        },
    }
    items = {
        "name": "item",
        "match": {"path": "/api/items/{id:int}/"},
        "mode": "extracted",
        "to": "catalog",
        "rewrite": {"path": {"template": "/v1/things/{id}/echo"}},
    }
    with start(tmp_path, legacy, catalog, [route, items]) as proxy:
        yield proxy


def test_path_and_header_rewrites(rewritten: ProxyProcess) -> None:
    resp = httpx.get(
        rewritten.url + "/api/catalog/echo/products?x=1",
        headers={"X-Debug": "1", "X-Client-Tag": "t1"},
    )
    seen = resp.json()
    assert seen["target"] == "/echo/products?x=1"
    names = {k.lower(): v for k, v in seen["headers"]}
    assert names["x-service-layout"] == "v2" and names["x-tag"] == "t1"
    assert "x-debug" not in names and "x-client-tag" not in names
    assert resp.headers["X-Served-By"] == "catalog-service" and "Server" not in resp.headers
    item = httpx.get(rewritten.url + "/api/items/42/")
    assert item.json()["target"] == "/v1/things/42/echo"


def test_location_and_pagination_links_name_the_public_address(rewritten: ProxyProcess) -> None:
    public = rewritten.url  # http://127.0.0.1:PORT, as the client addressed the proxy
    moved = httpx.get(public + "/api/catalog/absolute-redirect")
    assert moved.status_code == 302
    assert moved.headers["Location"] == f"{public}/api/catalog/echo/target"
    page = httpx.get(public + "/api/catalog/page?page=2")
    body = page.json()
    assert body["next"] == f"{public}/api/catalog/page?page=3"
    assert body["previous"] == f"{public}/api/catalog/page?page=1"
    assert [r["id"] for r in body["results"]][:2] == [11, 12]
    assert int(page.headers["Content-Length"]) == len(page.content)


def test_a_legacy_answer_is_not_rewritten(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    route = {
        "name": "catalog",
        "match": {"prefix": "/api/catalog/"},
        "mode": "legacy",
        "rewrite": {"path": {"strip_prefix": "/api/catalog/"}},
    }
    with start(tmp_path, legacy, catalog, [route]) as proxy:
        seen = httpx.get(proxy.url + "/api/catalog/echo").json()
        assert seen["name"] == "legacy" and seen["target"] == "/api/catalog/echo"


# -- the control plane and internal headers ----------------------------------------------------
def test_clients_cannot_send_internal_headers(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    with start(tmp_path, legacy, catalog, []) as proxy:
        forged = {
            "X-Strangler-Identity": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
            "X-Strangler-Dry-Run": "1",
            "X-Strangler-Route": "admin",
            "X-Strangler-Upstream": "catalog",
        }
        seen = httpx.get(proxy.url + "/echo", headers=forged).json()
        names = {k.lower() for k, _ in seen["headers"]}
        assert not {n.lower() for n in forged} & names


def test_which_decision_headers_clients_see_is_configurable(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    routes = [
        {"name": "r", "match": {"prefix": "/r/"}, "mode": "extracted", "to": "catalog"},
        {"name": "gone", "match": {"prefix": "/gone/"}, "mode": "extracted", "to": "dead"},
    ]
    upstreams = {"legacy": legacy.url, "catalog": catalog.url, "dead": "http://127.0.0.1:9"}
    text = table_yaml(upstreams, routes, proxy={"decision_headers": ["route"]})
    with ProxyProcess.from_yaml(text, tmp_path) as proxy:
        resp = httpx.get(proxy.url + "/r/echo")
        assert resp.headers["X-Strangler-Route"] == "r"
        assert "X-Strangler-Upstream" not in resp.headers
        error = httpx.get(proxy.url + "/gone/echo")
        assert error.status_code == 502 and "X-Strangler-Error" not in error.headers
        assert error.headers["X-Strangler-Route"] == "gone"


def test_registration_needs_a_token(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    with start(tmp_path, legacy, catalog, []) as proxy:
        body = {"url": "http://127.0.0.1:9", "ttl": 5}
        resp = httpx.post(proxy.admin_url + "/registry/catalog", json=body)
        assert resp.status_code in (401, 403)
        assert httpx.get(proxy.admin_url + "/registry").json() == []
        # the admin token may register too
        ok = httpx.post(proxy.admin_url + "/registry/catalog", json=body, headers=ADMIN)
        assert ok.status_code == 200


# -- the signing key comes from the environment -------------------------------------------------
def test_a_table_needing_a_missing_signing_key_is_refused_at_start_and_on_reload(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    upstreams = {"legacy": legacy.url, "catalog": catalog.url}
    with_identity = table_yaml(upstreams, [], identity={"key_env": "NO_SUCH_KEY_FOR_TESTS"})
    (tmp_path / "start").mkdir()
    start_file = tmp_path / "start" / "routing.yaml"
    start_file.write_text(with_identity)
    result = subprocess.run(
        [sys.executable, "-m", "strangler_proxy", "proxy", "--config", str(start_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "identity.key_env: $NO_SUCH_KEY_FOR_TESTS" in result.stderr
    with start(tmp_path, legacy, catalog, []) as proxy:
        assert proxy.config is not None
        proxy.config.write_text(with_identity)
        wait_until(
            lambda: not httpx.get(proxy.admin_url + "/reload").json()["ok"],
            timeout=10,
            what="the reload to be refused",
        )
        last = httpx.get(proxy.admin_url + "/reload").json()
        assert any("NO_SUCH_KEY_FOR_TESTS" in p for p in last["problems"])
        assert httpx.get(proxy.admin_url + "/table").json()["generation"] == 1
        assert httpx.get(proxy.url + "/echo").status_code == 200  # the last good table serves


def test_a_redis_cache_is_shared_by_two_proxies(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess, redis_url: str
) -> None:
    name = f"shared-cache-{uuid.uuid4().hex[:12]}"  # entries of its own in the shared Redis
    route = {
        "name": name,
        "match": {"prefix": "/products/"},
        "mode": "extracted",
        "to": "catalog",
        "cache": {"ttl": 30},
    }
    settings = {"redis_url": redis_url, "cache": {"store": "redis"}}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    url = f"/products/{uuid.uuid4().hex}/cacheable?max_age=60"
    with (
        start(tmp_path / "a", legacy, catalog, [route], proxy=settings) as one,
        start(tmp_path / "b", legacy, catalog, [route], proxy=settings) as two,
        httpx.Client() as client,
    ):
        first = client.get(one.url + url)
        assert first.headers["X-Strangler-Cache"] == "MISS"
        other = client.get(two.url + url)
        assert other.headers["X-Strangler-Cache"] == "HIT"  # stored by the other replica
        assert other.json() == first.json()
        purged = client.post(two.admin_url + "/cache/purge", params={"route": name}, headers=ADMIN)
        assert purged.json()["purged"] == 1
        assert client.get(one.url + url).headers["X-Strangler-Cache"] == "MISS"


def test_cached_head_keeps_the_gets_length_and_the_host_is_part_of_a_rewritten_key(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    routes = [
        {
            "name": "plain",
            "match": {"prefix": "/plain/"},
            "mode": "extracted",
            "to": "catalog",
            "cache": {"ttl": 30},
        },
        {
            "name": "pages",
            "match": {"prefix": "/pages/"},
            "mode": "extracted",
            "to": "catalog",
            "cache": {"ttl": 30, "default_ttl": 30},
            "rewrite": {"path": {"strip_prefix": "/pages/"}},
        },
    ]
    with start(tmp_path, legacy, catalog, routes) as proxy, httpx.Client() as client:
        url = f"{proxy.url}/plain/{uuid.uuid4().hex}/cacheable"
        got = client.get(url)
        head = client.head(url)
        assert head.headers["X-Strangler-Cache"] == "HIT"
        assert head.headers["Content-Length"] == str(len(got.content)) and head.content == b""
        # a client naming another host must not leave its links for the next client
        evil = client.get(proxy.url + "/pages/page?page=2", headers={"Host": "evil.example"})
        assert evil.json()["next"].startswith("http://evil.example/pages/")
        honest = client.get(proxy.url + "/pages/page?page=2")
        assert honest.json()["next"] == f"{proxy.url}/pages/page?page=3"
        assert client.get(proxy.url + "/pages/page?page=2").headers["X-Strangler-Cache"] == "HIT"


def test_a_logout_drops_every_cached_answer_of_that_user() -> None:
    from strangler_proxy.gateway.identity import Caller, Introspector
    from strangler_proxy.gateway.spec import IdentitySettings

    settings = IdentitySettings("legacy")
    intro = Introspector(clock=lambda: 0.0)
    ada, bob = Caller(True, 7, "ada"), Caller(True, 8, "bob")
    for key, who in (("ada-token", ada), ("ada-session", ada), ("bob-token", bob)):
        intro._keep(key, who, settings)
    assert intro.forget("ada-token") == 2
    assert len(intro) == 1 and intro.forget("ada-session") == 0
    assert intro.forget("bob-token") == 1
