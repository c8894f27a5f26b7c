"""Each timeout fires on its own with its reason; route-level limits (timeouts, body size,
concurrency) apply over the upstream's. Real processes and sockets throughout."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from strangler_proxy.testing import wait_until
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml


@pytest.fixture(scope="module")
def stalled_port() -> Iterator[int]:
    """A port whose listen backlog is full: new connections neither succeed nor fail."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    yield port
    for s in fillers:
        s.close()
    server.close()


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory,
    legacy: FakeUpstreamProcess,
    stalled_port: int,
) -> Iterator[ProxyProcess]:
    def route(name: str, prefix: str, to: str, **extra: object) -> dict[str, object]:
        return {"name": name, "match": {"prefix": prefix}, "mode": "extracted", "to": to, **extra}

    svc = {"instances": [legacy.url], "timeouts": {"response": 10, "idle": 10}}
    text = table_yaml(
        {
            "legacy": legacy.url,
            "svc": svc,
            "stalled": {
                "instances": [f"http://127.0.0.1:{stalled_port}"],
                "timeouts": {"connect": 0.3},
            },
        },
        [
            route("connect", "/t/connect/", "stalled"),
            route("response", "/t/response/", "svc", timeouts={"response": 0.3}),
            route("idle", "/t/idle/", "svc", timeouts={"idle": 0.3}),
            route("total", "/t/total/", "svc", timeouts={"total": 0.5}),
            route("small", "/t/small/", "svc", max_body_bytes=100),
            route("one", "/t/one/", "svc", max_concurrent=1),
            {
                "name": "small-shadow",
                "match": {"prefix": "/t/small-shadow/"},
                "mode": "shadow",
                "to": "svc",
                "max_body_bytes": 100,
                "timeouts": {"response": 0.5},
                "shadow": {"methods": ["POST"]},
            },
        ],
    )
    with ProxyProcess.from_yaml(text, tmp_path_factory.mktemp("limits")) as p:
        yield p


def log_entry(proxy: ProxyProcess, request_id: str) -> dict[str, Any] | None:
    for line in proxy.output(500_000).splitlines():
        if line.startswith("{") and request_id in line:
            entry: dict[str, Any] = json.loads(line)
            return entry
    return None


def test_connect_timeout(proxy: ProxyProcess) -> None:
    r = httpx.post(proxy.url + "/t/connect/x", content=b"{}", timeout=10)
    assert r.status_code == 504 and r.headers["x-strangler-error"] == "connect_timeout"


def test_response_timeout_of_the_route_overrides_the_upstreams(proxy: ProxyProcess) -> None:
    # the upstream allows 10 s; the route only 0.3 s for the headers
    r = httpx.post(proxy.url + "/t/response/slow?delay=2", content=b"{}", timeout=10)
    assert r.status_code == 504 and r.headers["x-strangler-error"] == "response_timeout"
    assert r.json() == {"detail": "The upstream service did not answer in time."}


def test_total_timeout_before_the_headers(proxy: ProxyProcess) -> None:
    r = httpx.post(proxy.url + "/t/total/slow?delay=2", content=b"{}", timeout=10)
    assert r.status_code == 504 and r.headers["x-strangler-error"] == "total_timeout"


@pytest.mark.parametrize(
    ("prefix", "reason"), [("/t/idle/", "idle_timeout"), ("/t/total/", "total_timeout")]
)
def test_stalled_stream_is_cut_without_a_final_chunk(
    proxy: ProxyProcess, legacy: FakeUpstreamProcess, prefix: str, reason: str
) -> None:
    rid = f"stall-{reason}"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(
            f"GET {prefix}gated?key={rid} HTTP/1.1\r\nHost: x\r\n"
            f"X-Request-ID: {rid}\r\n\r\n".encode()
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    httpx.get(legacy.url + f"/release?key={rid}")
    assert received.startswith(b"HTTP/1.1 200")
    assert b"first" in received and not received.endswith(b"0\r\n\r\n")
    wait_until(lambda: log_entry(proxy, rid) is not None, what="the access log line")
    entry = log_entry(proxy, rid)
    assert entry is not None and entry["error"] == reason


def test_route_body_limit_with_content_length(proxy: ProxyProcess) -> None:
    r = httpx.post(proxy.url + "/t/small/echo", content=b"x" * 101)
    assert r.status_code == 413 and r.headers["x-strangler-error"] == "body_too_large"
    assert "x-upstream-name" not in r.headers
    ok = httpx.post(proxy.url + "/t/small/echo", content=b"x" * 100)
    assert ok.status_code == 200 and ok.json()["body_length"] == 100


def test_route_body_limit_with_chunked_body(proxy: ProxyProcess) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 50

    r = httpx.post(proxy.url + "/t/small/echo", content=chunks())
    assert r.status_code == 413 and r.headers["x-strangler-error"] == "body_too_large"


def test_route_concurrency_cap(proxy: ProxyProcess, legacy: FakeUpstreamProcess) -> None:
    with httpx.Client(timeout=10) as client:
        with client.stream("GET", proxy.url + "/t/one/gated?key=one") as held:
            chunks = held.iter_raw()
            assert next(chunks) == b"first"
            busy = client.get(proxy.url + "/t/one/other")
            assert busy.status_code == 503 and busy.headers["x-strangler-error"] == "route_busy"
            # other routes of the same upstream are not affected
            assert client.get(proxy.url + "/t/small/echo").status_code == 200
            client.get(legacy.url + "/release?key=one")
            assert b"".join(chunks) == b"rest"
        assert client.get(proxy.url + "/t/one/after").status_code == 200


def test_a_shadowed_route_keeps_its_body_limit(proxy: ProxyProcess) -> None:
    # the copy reads the body first: from the route's limited stream, not around it
    def chunks(n: int) -> Iterator[bytes]:
        yield b"x" * n
        yield b"y" * n

    r = httpx.post(proxy.url + "/t/small-shadow/echo", content=chunks(75), timeout=10)
    assert r.status_code == 413 and r.headers["x-strangler-error"] == "body_too_large"
    ok = httpx.post(proxy.url + "/t/small-shadow/echo", content=chunks(25), timeout=10)
    assert ok.status_code == 200 and ok.json()["body_length"] == 50


def test_a_shadowed_route_does_not_wait_forever_for_a_stalled_body(proxy: ProxyProcess) -> None:
    # 10 of the 80 announced bytes, then nothing: answered within the route's response
    # timeout (0.5 s), as the primary's send would have been, instead of holding the request
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(
            b"POST /t/small-shadow/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 80\r\n\r\n"
            + b"z" * 10
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 504"), received[:200]
    assert b"X-Strangler-Error: response_timeout" in received
