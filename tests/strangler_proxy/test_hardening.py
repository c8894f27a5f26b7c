"""HTTP hardening against real sockets: ambiguous requests are refused with 400 and never reach
an upstream; paths are normalised before matching and sent upstream as matched; a backend
response with ambiguous framing becomes 502."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from strangler_proxy.hardening import normalize_path
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml


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
                "name": "products",
                "match": {"prefix": "/api/products/"},
                "mode": "extracted",
                "to": "catalog",
            }
        ],
    )
    with ProxyProcess.from_yaml(text, tmp_path_factory.mktemp("hard")) as p:
        yield p


def raw(proxy: ProxyProcess, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
            if b"\r\n\r\n" in received and _complete(received):
                break
    return received


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


REJECTED = {
    "content-length-and-chunked": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate-content-length": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    b"Content-Length: 3\r\n\r\nabc",
    "conflicting-content-length": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    b"Content-Length: 4\r\n\r\nabcd",
    "chunked-not-last": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip"
    b"\r\n\r\n0\r\n\r\n",
    "gzip-then-chunked": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
    b"\r\n\r\n0\r\n\r\n",
    "te-not-chunked": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    "te-space-before-colon": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked"
    b"\r\n\r\n0\r\n\r\n",
    "nul-in-value": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "bare-cr-in-value": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "obs-fold": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "space-in-name": b"GET /echo HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n",
    "underscore-and-dash": b"GET /echo HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 1.2.3.4\r\n"
    b"X-Forwarded-For: 5.6.7.8\r\n\r\n",
}


@pytest.mark.parametrize("data", REJECTED.values(), ids=REJECTED.keys())
def test_ambiguous_requests_are_refused(
    proxy: ProxyProcess, legacy: FakeUpstreamProcess, data: bytes
) -> None:
    # anything that reached the fake upstream would come back with its X-Upstream-Name
    # header; a refusal is the proxy's own 400 (from aiohttp's parser or from hardening.py)
    answer = raw(proxy, data)
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.0 400")), answer[:200]
    assert b"X-Upstream-Name" not in answer


def test_underscore_header_alone_is_passed(proxy: ProxyProcess) -> None:
    answer = raw(
        proxy, b"GET /echo HTTP/1.1\r\nHost: x\r\nX_Custom: 1\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200")
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert ["X_Custom", "1"] in body["headers"]


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        ("/api/x/../products/1/", "/api/products/1/"),
        ("/api/%2e%2e/api/products/1/", "/api/products/1/"),
        ("/api/%2E%2E/api/products/1/", "/api/products/1/"),
        ("/api//products/1/", "/api/products/1/"),
        ("/api/./products/./1/?q=a/../b", "/api/products/1/?q=a/../b"),
    ],
)
def test_paths_are_normalised_before_matching(
    proxy: ProxyProcess, sent: str, forwarded: str
) -> None:
    answer = raw(proxy, f"GET {sent} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"X-Strangler-Route: products" in head  # the moved route cannot be bypassed
    assert b"X-Upstream-Name: catalog" in head
    assert json.loads(body)["target"] == forwarded


def test_normal_paths_are_untouched() -> None:
    for path in ("/", "/api/products/1/", "/a%2Fb/c", "/caf%C3%A9/", "/a/b.json", "/.well-known/x"):
        assert normalize_path(path) == path


def test_backend_response_with_ambiguous_framing_is_502(proxy: ProxyProcess) -> None:
    resp = httpx.get(proxy.url + "/bad-framing")
    assert resp.status_code == 502
    assert resp.headers["x-strangler-error"] == "upstream_unavailable"


def test_oversized_header_is_431_and_never_forwarded(proxy: ProxyProcess) -> None:
    answer = raw(proxy, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.1 431", b"HTTP/1.0 431")), head
    assert b"X-Strangler-Error: header_too_large" in head
    assert b"X-Upstream-Name" not in head
    assert json.loads(body) == {"detail": "Request header fields too large."}


def test_parser_refusals_carry_a_reason_and_no_traceback_in_the_log(proxy: ProxyProcess) -> None:
    answer = raw(proxy, REJECTED["nul-in-value"])
    assert b"X-Strangler-Error: bad_request" in answer
    assert "Traceback" not in proxy.output(200_000)
