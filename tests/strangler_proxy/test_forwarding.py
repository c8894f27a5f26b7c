"""Faithful forwarding, checked on the bytes the upstream received and the client got."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from strangler_proxy.testing.harness import (
    FakeUpstreamProcess,
    ProxyProcess,
    read_peak_rss_kib,
    table_yaml,
)


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory,
    legacy: FakeUpstreamProcess,
    catalog: FakeUpstreamProcess,
) -> Iterator[ProxyProcess]:
    text = table_yaml(
        {"legacy": legacy.url, "catalog": catalog.url},
        [
            {
                "name": "product-detail",
                "match": {"path": "/api/products/{id}/", "methods": ["GET", "HEAD"]},
                "mode": "extracted",
                "to": "catalog",
            }
        ],
    )
    with ProxyProcess.from_yaml(text, tmp_path_factory.mktemp("fwd")) as p:
        yield p


def request(
    proxy: ProxyProcess,
    method: str,
    target: str,
    headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    body: bytes | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    if not any(k.lower() == "host" for k, _ in headers):
        conn.putheader("Host", "shop.example")
    for k, v in headers:
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def echoed(data: bytes) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(data)
    return report


def header_values(report: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in report["headers"] if k.lower() == name.lower()]


def test_method_raw_path_and_query_are_preserved(proxy: ProxyProcess) -> None:
    target = "/api/x/a%2Fb/%7Euser/caf%C3%A9?q=a%20b&q=c+d&empty=&flag&x=%2F"
    _, data = request(proxy, "DELETE", target)
    report = echoed(data)
    assert report["method"] == "DELETE"
    assert report["target"] == target


def test_repeated_headers_and_host_are_kept(proxy: ProxyProcess) -> None:
    _resp, data = request(
        proxy, "GET", "/echo", [("Host", "shop.example:8443"), ("X-Dup", "1"), ("X-Dup", "2")]
    )
    report = echoed(data)
    assert header_values(report, "x-dup") == ["1", "2"]
    assert header_values(report, "host") == ["shop.example:8443"]
    assert header_values(report, "x-forwarded-host") == ["shop.example:8443"]
    assert header_values(report, "x-forwarded-proto") == ["http"]
    # the client's own headers and nothing of aiohttp's defaults
    names = {k.lower() for k, _ in report["headers"]}
    assert names == {
        "host",
        "x-dup",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-request-id",
        "traceparent",
    }


def test_hop_by_hop_headers_are_dropped(proxy: ProxyProcess) -> None:
    _, data = request(
        proxy,
        "GET",
        "/echo",
        [
            ("Connection", "keep-alive, X-Private"),
            ("Connection", "X-Also-Private"),  # a second line names some too
            ("X-Private", "secret"),
            ("X-Also-Private", "secret"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Proxy-Authorization", "Basic abc"),
            ("Upgrade", "websocket"),
            ("X-Kept", "yes"),
        ],
    )
    names = {k.lower() for k, _ in echoed(data)["headers"]}
    assert "x-kept" in names
    assert not names & {
        "connection",
        "x-private",
        "x-also-private",
        "keep-alive",
        "te",
        "proxy-authorization",
        "upgrade",
    }


def test_forwarded_headers_from_clients_are_not_trusted(proxy: ProxyProcess) -> None:
    _, data = request(
        proxy,
        "GET",
        "/echo",
        [
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
        ],
    )
    report = echoed(data)
    assert header_values(report, "x-forwarded-for") == ["127.0.0.1"]
    assert header_values(report, "x-forwarded-proto") == ["http"]
    assert header_values(report, "x-forwarded-host") == ["shop.example"]


def test_trusted_proxy_extends_forwarded_for(tmp_path: Any, legacy: FakeUpstreamProcess) -> None:
    text = table_yaml({"legacy": legacy.url}, proxy={"trusted_proxies": ["127.0.0.0/8"]})
    with ProxyProcess.from_yaml(text, tmp_path) as p:
        _, data = request(
            p, "GET", "/echo", [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")]
        )
    report = echoed(data)
    assert header_values(report, "x-forwarded-for") == ["203.0.113.9, 127.0.0.1"]
    assert header_values(report, "x-forwarded-proto") == ["https"]


def test_request_id_is_added_or_passed_on(proxy: ProxyProcess) -> None:
    _, data = request(proxy, "GET", "/echo")
    ids = header_values(echoed(data), "x-request-id")
    assert len(ids) == 1 and len(ids[0]) == 32
    _, data = request(proxy, "GET", "/echo", [("X-Request-ID", "abc-123")])
    assert header_values(echoed(data), "x-request-id") == ["abc-123"]


def test_request_body_is_forwarded_exactly(proxy: ProxyProcess) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, every byte value
    _, data = request(proxy, "POST", "/upload", [("Content-Type", "application/x-thing")], body)
    report = echoed(data)
    assert report["body_length"] == len(body)
    assert report["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert header_values(report, "content-length") == [str(len(body))]
    assert header_values(report, "content-type") == ["application/x-thing"]


def test_compressed_request_body_reaches_the_upstream_still_compressed(proxy: ProxyProcess) -> None:
    # aiohttp's server (the proxy's front before) decoded gzip request bodies by default, and
    # the upstream got them decoded but still labelled Content-Encoding: gzip
    body = gzip.compress(b'{"items": [1, 2, 3]}' * 100)
    _, data = request(proxy, "POST", "/upload", [("Content-Encoding", "gzip")], body)
    report = echoed(data)
    assert report["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert header_values(report, "content-encoding") == ["gzip"]


def test_chunked_request_body_is_forwarded(proxy: ProxyProcess) -> None:
    def chunks() -> Iterator[bytes]:
        for i in range(50):
            yield bytes([i]) * 1000

    with httpx.Client() as client:
        resp = client.post(proxy.url + "/upload", content=chunks())
    report = resp.json()
    assert report["body_length"] == 50_000
    assert report["body_sha256"] == hashlib.sha256(b"".join(chunks())).hexdigest()


def test_empty_post_keeps_zero_length(proxy: ProxyProcess) -> None:
    _, data = request(proxy, "POST", "/echo", body=b"")
    report = echoed(data)
    assert report["body_length"] == 0
    assert header_values(report, "content-length") == ["0"]


def test_response_status_headers_and_cookies(proxy: ProxyProcess) -> None:
    resp, _data = request(proxy, "GET", "/cookies")
    assert resp.status == 200
    assert resp.headers.get_all("Set-Cookie") == [
        "a=1; Path=/",
        "b=2; Path=/; HttpOnly",
        "c=3; Path=/; Secure",
    ]
    assert resp.headers["Server"] == "fake-upstream"
    assert resp.headers["Date"] == "Tue, 01 Dec 2026 00:00:00 GMT"
    resp, _ = request(proxy, "GET", "/status/503")
    assert resp.status == 503


def test_no_header_is_invented(proxy: ProxyProcess) -> None:
    resp, data = request(proxy, "GET", "/bare")
    assert data == b"bare body"
    names = {k.lower() for k, _ in resp.getheaders()}
    assert names == {
        "content-length",
        "x-upstream-name",
        "x-strangler-route",
        "x-strangler-upstream",
    }


def test_redirects_are_passed_untouched(proxy: ProxyProcess) -> None:
    resp, _data = request(proxy, "GET", "/redirect")
    assert resp.status == 302
    assert resp.headers["Location"] == "/echo/target?from=redirect"


def test_compressed_bodies_stay_compressed(proxy: ProxyProcess) -> None:
    resp, data = request(proxy, "GET", "/gzip", [("Accept-Encoding", "gzip")])
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Content-Length"] == str(len(data))
    assert json.loads(gzip.decompress(data)) == {"compressed": True}


def test_head_keeps_content_length(proxy: ProxyProcess) -> None:
    resp, data = request(proxy, "HEAD", "/bytes?size=123456")
    assert resp.status == 200
    assert resp.headers["Content-Length"] == "123456"
    assert data == b""


def test_chunked_response_is_streamed_through(proxy: ProxyProcess) -> None:
    resp, data = request(proxy, "GET", "/stream?chunks=5&size=1000")
    assert resp.headers["Transfer-Encoding"] == "chunked"
    assert data == b"".join(bytes([48 + i]) * 1000 for i in range(5))


def test_response_ending_at_the_close_is_relayed_whole(proxy: ProxyProcess) -> None:
    resp, data = request(proxy, "GET", "/until-close?size=300000")
    assert resp.status == 200
    assert data == b"u" * 300_000
    resp, data = request(proxy, "GET", "/echo/after")  # the upstream side is still fine
    assert echoed(data)["target"] == "/echo/after"


def test_interim_1xx_responses_are_not_relayed(proxy: ProxyProcess) -> None:
    answer = raw_exchange(
        proxy, b"GET /early-hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"103" not in answer.partition(b"\r\n\r\n")[0]
    assert echoed(answer.partition(b"\r\n\r\n")[2])["target"] == "/early-hints"


def raw_exchange(proxy: ProxyProcess, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_first_byte_is_not_held_back(proxy: ProxyProcess, legacy: FakeUpstreamProcess) -> None:
    """The upstream sends one chunk and then waits until the test releases it: the client can
    only see that chunk if the proxy forwards it at once."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"GET /gated?key=ttfb HTTP/1.1\r\nHost: shop.example\r\n\r\n")
        received = b""
        while b"first" not in received:
            chunk = sock.recv(65536)
            assert chunk, "connection closed before the first chunk"
            received += chunk  # a 10 s socket timeout fails the test if it is held back
        httpx.get(legacy.url + "/release?key=ttfb")
        while not received.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk
            received += chunk
    assert b"rest" in received


def test_decision_headers(proxy: ProxyProcess) -> None:
    resp, data = request(proxy, "GET", "/api/products/3/")
    assert resp.headers["X-Strangler-Route"] == "product-detail"
    assert resp.headers["X-Strangler-Upstream"] == "catalog"
    assert echoed(data)["name"] == "catalog"
    resp, data = request(proxy, "POST", "/api/products/3/", body=b"{}")
    assert resp.headers["X-Strangler-Route"] == "(default)"
    assert echoed(data)["name"] == "legacy"


def test_decision_headers_can_be_turned_off(tmp_path: Any, legacy: FakeUpstreamProcess) -> None:
    text = table_yaml({"legacy": legacy.url}, proxy={"decision_headers": False})
    with ProxyProcess.from_yaml(text, tmp_path) as p:
        resp, _ = request(p, "GET", "/echo")
    assert "X-Strangler-Route" not in resp.headers
    assert "X-Strangler-Upstream" not in resp.headers


def test_append_slash_for_extracted_route_answers_like_django(proxy: ProxyProcess) -> None:
    resp, data = request(proxy, "GET", "/api/products/3?x=1")
    assert resp.status == 301
    assert resp.headers["Location"] == "/api/products/3/?x=1"
    assert data == b""


def test_append_slash_for_legacy_decision_is_left_to_django(proxy: ProxyProcess) -> None:
    # POST is not part of the extracted route: it goes to the monolith unchanged
    _resp, data = request(proxy, "POST", "/api/products/3", body=b"")
    assert echoed(data)["target"] == "/api/products/3"


def test_large_upload_and_download_stream_without_buffering(proxy: ProxyProcess) -> None:
    assert proxy.popen is not None
    pid = proxy.popen.pid
    size = 50 * 1024 * 1024
    request(proxy, "POST", "/upload", body=b"w" * 1024)  # warm up
    before = read_peak_rss_kib(pid)

    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=60)
    conn.putrequest("POST", "/upload")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    piece = b"u" * (1 << 20)
    for _ in range(50):
        conn.send(piece)
    resp = conn.getresponse()
    report = json.loads(resp.read())
    assert report["body_length"] == size
    assert report["body_sha256"] == hashlib.sha256(piece * 50).hexdigest()

    conn.request("GET", "/bytes?size=" + str(size))
    resp = conn.getresponse()
    total = 0
    while chunk := resp.read(1 << 20):
        total += len(chunk)
    conn.close()
    assert total == size
    grown_mib = (read_peak_rss_kib(pid) - before) / 1024
    assert grown_mib < 20, f"proxy peak memory grew by {grown_mib:.1f} MiB for 50 MiB bodies"


def test_concurrent_requests_keep_their_own_answers(proxy: ProxyProcess) -> None:
    errors: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=proxy.url) as client:
            for i in range(30):
                r = client.get(f"/echo/{n}/{i}")
                if r.json()["target"] != f"/echo/{n}/{i}":
                    errors.append(f"{n}/{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_traceparent_continues_the_clients_trace_exactly_once(proxy: ProxyProcess) -> None:
    incoming = f"00-{TRACE}-00f067aa0ba902b7-01"
    _, data = request(
        proxy, "GET", "/echo", [("traceparent", incoming), ("tracestate", "vendor=1")]
    )
    report = echoed(data)
    (sent,) = header_values(report, "traceparent")
    version, trace, span, flags = sent.split("-")
    assert (version, trace, flags) == ("00", TRACE, "01")
    assert span != "00f067aa0ba902b7" and len(span) == 16  # the proxy is the parent now
    assert header_values(report, "tracestate") == ["vendor=1"]


@pytest.mark.parametrize(
    "incoming",
    [
        [],
        ["garbage"],
        ["01-" + TRACE + "-00f067aa0ba902b7-01"],  # unknown version
        ["00-" + "0" * 32 + "-00f067aa0ba902b7-01"],  # all-zero trace id
        [f"00-{TRACE}-00f067aa0ba902b7-01", f"00-{TRACE}-00f067aa0ba902b8-01"],  # twice
    ],
    ids=["absent", "garbage", "version", "zero-trace", "repeated"],
)
def test_invalid_or_absent_traceparent_starts_a_new_trace(
    proxy: ProxyProcess, incoming: list[str]
) -> None:
    _, data = request(proxy, "GET", "/echo", [("traceparent", v) for v in incoming])
    (sent,) = header_values(echoed(data), "traceparent")
    version, trace, _span, _ = sent.split("-")
    assert version == "00" and len(trace) == 32 and trace != TRACE and trace != "0" * 32
