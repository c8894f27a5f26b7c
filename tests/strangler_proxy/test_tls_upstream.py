"""HTTPS upstreams, against a real TLS server process: the proxy verifies the upstream's
certificate against the system's trust store (``SSL_CERT_FILE`` adds an internal CA), sends SNI
for the host of the base URL, and keeps the TLS connections alive like plain ones."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvloop
from multidict import CIMultiDict

from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml
from strangler_proxy.upstream_client import ConnectFailed, UpstreamClient


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private CA and a certificate it signed for 127.0.0.1 and localhost."""
    d = tmp_path_factory.mktemp("pki")
    key = ("-newkey", "rsa:2048", "-nodes")
    _openssl("req", "-x509", *key, "-days", "2", "-subj", "/CN=strangler test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    _openssl("req", *key, "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=d)  # fmt: skip
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.cnf",
             "-out", "server.pem", cwd=d)  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}


@pytest.fixture(scope="module")
def tls_upstream(pki: dict[str, Path]) -> Iterator[FakeUpstreamProcess]:
    with FakeUpstreamProcess("tls-legacy", tls=(pki["cert"], pki["key"])) as up:
        yield up


def test_the_client_verifies_and_keeps_tls_connections(
    tls_upstream: FakeUpstreamProcess, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]))  # read when the pool's context is made

    async def scenario() -> tuple[list[int], int]:
        client = UpstreamClient()
        statuses = []
        for _ in range(3):
            resp = await client.request(
                "GET", tls_upstream.url, "/echo", CIMultiDict({"Accept": "application/json"})
            )
            await resp.read()
            statuses.append(resp.status)
            resp.release()
        idle = client.idle_connections(tls_upstream.url)
        await client.close()
        return statuses, idle

    statuses, idle = asyncio.run(scenario())
    assert statuses == [200, 200, 200]
    assert idle == 1  # three requests, one TLS connection


def test_an_untrusted_certificate_is_refused(
    tls_upstream: FakeUpstreamProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty.pem").write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "empty.pem"))  # nobody is trusted
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))

    async def scenario() -> None:
        client = UpstreamClient()
        try:
            with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await client.request("GET", tls_upstream.url, "/echo", CIMultiDict())
        finally:
            await client.close()

    uvloop.run(scenario())  # the proxy's loop


def test_the_proxy_forwards_to_an_https_upstream(
    tls_upstream: FakeUpstreamProcess, pki: dict[str, Path], tmp_path: Path
) -> None:
    text = table_yaml({"legacy": tls_upstream.url})
    env = {"SSL_CERT_FILE": str(pki["ca"])}
    with ProxyProcess.from_yaml(text, tmp_path, env=env) as proxy:
        resp = httpx.get(f"{proxy.url}/echo?via=proxy", headers={"Host": "shop.example"})
    assert resp.status_code == 200
    report = json.loads(resp.content)
    assert report["target"] == "/echo?via=proxy"
    assert resp.headers["x-strangler-upstream"] == "legacy"


def test_the_proxy_answers_502_for_an_untrusted_upstream(
    tls_upstream: FakeUpstreamProcess, tmp_path: Path
) -> None:
    (tmp_path / "empty.pem").write_text("")
    env = {"SSL_CERT_FILE": str(tmp_path / "empty.pem"), "SSL_CERT_DIR": str(tmp_path)}
    with ProxyProcess.from_yaml(table_yaml({"legacy": tls_upstream.url}), tmp_path, env=env) as p:
        resp = httpx.get(f"{p.url}/echo")
    assert resp.status_code == 502
    assert resp.headers["x-strangler-error"] == "upstream_unavailable"
