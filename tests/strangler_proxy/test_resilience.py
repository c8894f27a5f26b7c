"""Fault isolation in the proxy, against real processes: ejection + retry when an instance
dies, the circuit breaker with fallback and recovery, active health checks, concurrency caps,
and the metrics and log lines that show it."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strangler_proxy.testing import wait_until
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml


def upstreams(proxy: ProxyProcess) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(proxy.admin_url + "/upstreams").json()
    return result


def extracted(name: str, prefix: str, to: str, **extra: object) -> dict[str, object]:
    return {"name": name, "match": {"prefix": prefix}, "mode": "extracted", "to": to, **extra}


def test_killing_one_of_two_instances_fails_no_get(
    tmp_path: Path, legacy: FakeUpstreamProcess
) -> None:
    one, two = FakeUpstreamProcess("catalog-1"), FakeUpstreamProcess("catalog-2")
    with one, two:
        text = table_yaml(
            {"legacy": legacy.url, "catalog": [one.url, two.url]},
            [extracted("catalog", "/api/catalog/", "catalog")],
        )
        with ProxyProcess.from_yaml(text, tmp_path) as proxy:
            failures: list[str] = []
            seen: set[str] = set()
            stop = threading.Event()

            def traffic() -> None:
                with httpx.Client(base_url=proxy.url, timeout=10) as client:
                    while not stop.is_set():
                        r = client.get("/api/catalog/items")
                        if r.status_code != 200:
                            failures.append(f"{r.status_code} {r.headers}")
                        else:
                            seen.add(r.headers["x-upstream-name"])

            threads = [threading.Thread(target=traffic) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                wait_until(lambda: seen == {"catalog-1", "catalog-2"}, what="both instances")
                two.stop()  # dies under load
                wait_until(
                    lambda: any(i["ejected"] for i in upstreams(proxy)["catalog"]["instances"]),
                    what="the dead instance to be ejected",
                )
                served_after = len(seen)
                with httpx.Client(base_url=proxy.url) as client:
                    names = {
                        client.get("/api/catalog/x").headers["x-upstream-name"] for _ in range(50)
                    }
            finally:
                stop.set()
                for t in threads:
                    t.join()
            assert failures == []
            assert served_after == 2 and names == {"catalog-1"}
            state = upstreams(proxy)["catalog"]
            assert state["ejections"] >= 1
            assert state["retries"] >= 1
            metrics = httpx.get(proxy.admin_url + "/metrics").text
            assert 'strangler_ejections_total{upstream="catalog"}' in metrics
            assert f'strangler_instance_ejected{{upstream="catalog",instance="{two.url}"}} 1' in (
                metrics
            )


def test_breaker_opens_falls_back_and_closes_after_recovery(
    tmp_path: Path, legacy: FakeUpstreamProcess
) -> None:
    with FakeUpstreamProcess("flaky") as flaky:
        text = table_yaml(
            {
                "legacy": legacy.url,
                "flaky": {
                    "instances": [flaky.url],
                    "timeouts": {"connect": 1, "response": 0.3},
                    "breaker": {
                        "window": 4,
                        "minimum_calls": 4,
                        "failure_rate": 50,
                        "open_for": 1,
                        "half_open_calls": 1,
                    },
                },
            },
            [extracted("flaky", "/api/flaky/", "flaky", fallback="legacy")],
        )
        with ProxyProcess.from_yaml(text, tmp_path) as proxy, httpx.Client(timeout=10) as client:
            assert client.get(proxy.url + "/api/flaky/1").headers["x-upstream-name"] == "flaky"
            client.get(flaky.url + "/__control/delay?seconds=3")
            reasons = []
            for _ in range(3):  # with the success before: 3 failures of 4 calls, over 50%
                r = client.get(proxy.url + "/api/flaky/1")
                assert r.status_code == 200 and r.headers["x-upstream-name"] == "legacy"
                reasons.append(r.headers["x-strangler-fallback"])
            assert reasons == ["response_timeout"] * 3
            assert upstreams(proxy)["flaky"]["breaker"] == "open"
            r = client.get(proxy.url + "/api/flaky/1")
            assert r.headers["x-strangler-fallback"] == "circuit_open"
            assert r.headers["x-upstream-name"] == "legacy"
            # a POST has no fallback: it fails fast with the reason
            r = client.post(proxy.url + "/api/flaky/1", content=b"{}")
            assert r.status_code == 503 and r.headers["x-strangler-error"] == "circuit_open"
            # the service recovers; after open_for a trial request closes the breaker
            client.get(flaky.url + "/__control/delay?seconds=0")
            wait_until(
                lambda: (
                    client.get(proxy.url + "/api/flaky/1").headers["x-upstream-name"] == "flaky"
                ),
                timeout=10,
                what="the breaker to let a trial through",
            )
            assert upstreams(proxy)["flaky"]["breaker"] == "closed"
            metrics = client.get(proxy.admin_url + "/metrics").text
            assert 'strangler_breaker_state{upstream="flaky",state="closed"} 1' in metrics
            assert 'strangler_fallbacks_total{route="flaky",reason="circuit_open"}' in metrics


@contextlib.contextmanager
def _lone_monolith(
    tmp_path: Path, interval: float
) -> Iterator[tuple[FakeUpstreamProcess, ProxyProcess, httpx.Client]]:
    """The proxy in front of one monolith instance with health checks every ``interval`` s and
    a breaker that opens on 3 timeouts in 4 calls for 30 s; the monolith is made to stall."""
    with FakeUpstreamProcess("mono") as mono:
        text = table_yaml(
            {
                "legacy": {
                    "instances": [mono.url],
                    "timeouts": {"connect": 1, "response": 0.3},
                    "health": {"path": "/healthz", "interval": interval, "healthy_threshold": 1},
                    "breaker": {"window": 4, "minimum_calls": 4, "open_for": 30},
                },
            },
            [],
        )
        with ProxyProcess.from_yaml(text, tmp_path) as proxy, httpx.Client(timeout=10) as client:
            assert client.get(proxy.url + "/x").status_code == 200
            client.get(mono.url + "/__control/delay?seconds=3")
            yield mono, proxy, client


def _open_the_breaker(proxy: ProxyProcess, client: httpx.Client) -> None:
    assert [client.get(proxy.url + "/x").status_code for _ in range(3)] == [504] * 3
    assert upstreams(proxy)["legacy"]["breaker"] == "open"
    r = client.get(proxy.url + "/x")
    assert r.status_code == 503 and r.headers["x-strangler-error"] == "circuit_open"


def _health_checks(client: httpx.Client, mono: FakeUpstreamProcess) -> int:
    return int(client.get(mono.url + "/__control/stats").json()["health_checks"])


def test_an_open_breaker_tries_again_when_the_health_check_passes(tmp_path: Path) -> None:
    # the only instance of the monolith stalls and fails its health checks (a restart); the
    # breaker opens for 30 s, but the proxy serves again as soon as the monolith is healthy.
    # The checks' interval is 30 s too: the breaker's opening asks for a check at once (it
    # fails), and a failing instance is checked every second until it passes
    with _lone_monolith(tmp_path, interval=30) as (mono, proxy, client):
        client.get(mono.url + "/__control/health?ok=0")
        _open_the_breaker(proxy, client)
        seen = _health_checks(client, mono)  # (with the first, at start)
        wait_until(
            lambda: _health_checks(client, mono) > seen, what="a check while the monolith is down"
        )
        client.get(mono.url + "/__control/delay?seconds=0")
        client.get(mono.url + "/__control/health?ok=1")
        wait_until(  # a second at most, then a trial request: well within open_for
            lambda: client.get(proxy.url + "/x").status_code == 200,
            timeout=10,
            what="the proxy to serve again",
        )
        assert [client.get(proxy.url + "/x").status_code for _ in range(2)] == [200, 200]
        assert upstreams(proxy)["legacy"]["breaker"] == "closed"  # 3 trials passed


def test_a_health_check_that_passed_all_along_does_not_shorten_open_for(tmp_path: Path) -> None:
    # the monolith's requests time out while its /healthz answers: the breaker that opened on
    # the requests stays open; passing checks are no news of the requests getting better
    with _lone_monolith(tmp_path, interval=0.2) as (mono, proxy, client):
        _open_the_breaker(proxy, client)
        seen = _health_checks(client, mono)
        wait_until(
            lambda: _health_checks(client, mono) >= seen + 3,
            what="three more passing health checks",
        )
        assert upstreams(proxy)["legacy"]["breaker"] == "open"
        r = client.get(proxy.url + "/x")
        assert r.status_code == 503 and r.headers["x-strangler-error"] == "circuit_open"


def test_health_checks_take_an_instance_out_and_back(
    tmp_path: Path, legacy: FakeUpstreamProcess
) -> None:
    one, two = FakeUpstreamProcess("h-1"), FakeUpstreamProcess("h-2")
    with one, two:
        health = {
            "path": "/healthz",
            "interval": 0.2,
            "unhealthy_threshold": 2,
            "healthy_threshold": 1,
        }
        text = table_yaml(
            {"legacy": legacy.url, "svc": {"instances": [one.url, two.url], "health": health}},
            [extracted("svc", "/api/svc/", "svc")],
        )
        with ProxyProcess.from_yaml(text, tmp_path) as proxy, httpx.Client(timeout=10) as client:

            def healthy() -> dict[str, bool]:
                return {i["url"]: i["healthy"] for i in upstreams(proxy)["svc"]["instances"]}

            client.get(one.url + "/__control/health?ok=0")
            wait_until(lambda: healthy()[one.url] is False, what="h-1 to be marked unhealthy")
            names = {
                client.get(proxy.url + "/api/svc/x").headers["x-upstream-name"] for _ in range(20)
            }
            assert names == {"h-2"}
            client.get(one.url + "/__control/health?ok=1")
            wait_until(lambda: healthy()[one.url] is True, what="h-1 to come back")
            names = {
                client.get(proxy.url + "/api/svc/x").headers["x-upstream-name"] for _ in range(20)
            }
            assert names == {"h-1", "h-2"}


@pytest.fixture()
def capped(tmp_path: Path, legacy: FakeUpstreamProcess) -> Iterator[ProxyProcess]:
    text = table_yaml(
        {"legacy": legacy.url, "svc": {"instances": [legacy.url], "max_concurrent": 1}},
        [extracted("svc", "/api/svc/", "svc")],
    )
    with ProxyProcess.from_yaml(text, tmp_path) as proxy:
        yield proxy


def test_max_concurrent_per_upstream(capped: ProxyProcess, legacy: FakeUpstreamProcess) -> None:
    with httpx.Client(timeout=10) as client:
        with client.stream("GET", capped.url + "/api/svc/gated?key=cap") as held:
            chunks = held.iter_raw()
            assert next(chunks) == b"first"
            r = client.get(capped.url + "/api/svc/other")
            assert r.status_code == 503
            assert r.headers["x-strangler-error"] == "upstream_busy"
            client.get(legacy.url + "/release?key=cap")
            assert b"".join(chunks) == b"rest"
        assert client.get(capped.url + "/api/svc/after").status_code == 200


def test_access_log_line_carries_the_decision(capped: ProxyProcess) -> None:
    httpx.get(capped.url + "/api/svc/logged", headers={"X-Request-ID": "log-fields"})

    def line() -> dict[str, Any] | None:
        for text in capped.output(100_000).splitlines():
            if text.startswith("{") and "log-fields" in text:
                entry: dict[str, Any] = json.loads(text)
                return entry
        return None

    wait_until(lambda: line() is not None, what="the access log line")
    entry = line()
    assert entry is not None
    for key in (
        "route",
        "mode",
        "upstream",
        "instance",
        "status",
        "bytes",
        "duration_ms",
        "upstream_ms",
        "generation",
        "breaker",
        "retries",
        "fallback",
        "side",
    ):
        assert key in entry, key
    assert entry["route"] == "svc" and entry["mode"] == "extracted" and entry["status"] == 200
    assert entry["breaker"] == "closed" and entry["upstream_ms"] > 0
