"""Graceful shutdown: on SIGTERM the proxy stops accepting, lets the requests in flight finish
within the grace period, then exits 0."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path

import httpx

from strangler_proxy.testing import wait_until
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml


def test_sigterm_lets_requests_in_flight_finish(
    tmp_path: Path, legacy: FakeUpstreamProcess
) -> None:
    with ProxyProcess.from_yaml(table_yaml({"legacy": legacy.url}), tmp_path) as proxy:
        assert proxy.popen is not None
        result: dict[str, object] = {}

        def in_flight() -> None:
            with httpx.Client(timeout=20) as client:
                r = client.get(proxy.url + "/gated?key=shutdown")
                result["status"], result["body"] = r.status_code, r.content

        thread = threading.Thread(target=in_flight)
        thread.start()
        wait_until(
            lambda: httpx.get(legacy.url + "/waiting?key=shutdown").json()["waiting"],
            what="the request in flight to reach the upstream",
        )
        proxy.popen.send_signal(signal.SIGTERM)

        def refusing() -> bool:
            try:
                socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
            except OSError:
                return True
            return False

        wait_until(refusing, timeout=10, what="the proxy to stop accepting")
        assert proxy.popen.poll() is None  # still finishing the request in flight
        httpx.get(legacy.url + "/release?key=shutdown")
        thread.join(timeout=20)
        assert result == {"status": 200, "body": b"firstrest"}
        assert proxy.popen.wait(timeout=15) == 0
