"""``fallback: legacy``: idempotent requests go to the monolith when the service is
unreachable or too slow, and say so; other requests get 502/504 with a reason."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from strangler_proxy.testing import free_port
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml


def route(name: str, prefix: str, to: str, fallback: str | None = "legacy") -> dict[str, object]:
    r: dict[str, object] = {
        "name": name,
        "match": {"prefix": prefix},
        "mode": "extracted",
        "to": to,
    }
    if fallback:
        r["fallback"] = fallback
    return r


@pytest.fixture(scope="module")
def sick() -> Iterator[FakeUpstreamProcess]:
    with FakeUpstreamProcess("sick", delay=5.0) as proc:
        yield proc


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory,
    legacy: FakeUpstreamProcess,
    sick: FakeUpstreamProcess,
) -> Iterator[ProxyProcess]:
    # a service that was stopped: its port refuses connections
    stopped = FakeUpstreamProcess("stopped")
    with stopped:
        pass
    text = table_yaml(
        {
            "legacy": legacy.url,
            "stopped": stopped.url,
            "sick": {"instances": [sick.url], "timeouts": {"connect": 1, "response": 0.3}},
            "gone": f"http://127.0.0.1:{free_port()}",
        },
        [
            route("down", "/down/", "stopped"),
            route("slow", "/slow-service/", "sick"),
            route("no-fallback", "/nofb/", "gone", fallback=None),
        ],
    )
    with ProxyProcess.from_yaml(text, tmp_path_factory.mktemp("fb")) as p:
        yield p


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "DELETE"])
def test_idempotent_requests_fall_back_when_refused(proxy: ProxyProcess, method: str) -> None:
    resp = httpx.request(method, proxy.url + "/down/thing")
    assert resp.status_code == 200
    assert resp.headers["x-upstream-name"] == "legacy"
    assert resp.headers["x-strangler-fallback"] == "upstream_unavailable"
    assert resp.headers["x-strangler-upstream"] == "legacy"
    assert resp.headers["x-strangler-route"] == "down"


def test_post_is_never_replayed(proxy: ProxyProcess) -> None:
    resp = httpx.post(proxy.url + "/down/thing", content=b'{"a": 1}')
    assert resp.status_code == 502
    assert resp.headers["x-strangler-error"] == "upstream_unavailable"
    assert "x-strangler-fallback" not in resp.headers
    assert resp.json() == {"detail": "The upstream service is unavailable."}


def test_timeout_falls_back_for_get(proxy: ProxyProcess) -> None:
    resp = httpx.get(proxy.url + "/slow-service/items", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["x-upstream-name"] == "legacy"
    assert resp.headers["x-strangler-fallback"] == "response_timeout"


def test_timeout_without_fallback_is_504(proxy: ProxyProcess) -> None:
    resp = httpx.put(proxy.url + "/slow-service/items", content=b"x", timeout=10)
    assert resp.status_code == 504
    assert resp.headers["x-strangler-error"] == "response_timeout"


def test_no_fallback_configured_is_502(proxy: ProxyProcess) -> None:
    resp = httpx.get(proxy.url + "/nofb/x")
    assert resp.status_code == 502
    assert resp.headers["x-strangler-error"] == "upstream_unavailable"
    assert resp.headers["x-strangler-upstream"] == "gone"


def test_fallback_is_in_the_access_log(proxy: ProxyProcess) -> None:
    rid = "fallback-log-check"
    httpx.get(proxy.url + "/down/logged", headers={"X-Request-ID": rid})
    from strangler_proxy.testing import wait_until

    def logged() -> dict[str, object] | None:
        for line in proxy.output(200_000).splitlines():
            if line.startswith("{") and rid in line:
                entry: dict[str, object] = json.loads(line)
                return entry
        return None

    wait_until(lambda: logged() is not None, timeout=10, what="the access log line")
    entry = logged()
    assert entry is not None
    assert entry["fallback"] == "upstream_unavailable"
    assert entry["upstream"] == "legacy"
    assert entry["route"] == "down"
    assert "falling back to legacy" in proxy.output(200_000)
