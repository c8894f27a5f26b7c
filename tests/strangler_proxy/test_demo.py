"""``strangler demo``: the shop starts behind the proxy, the product list comes from the
extracted catalog service and the order list from the monolith, and everything stops."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from strangler_proxy.testing import Process, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]


def test_demo_check_serves_products_from_the_service(tmp_path: Path) -> None:
    text = (REPO / "routing.yaml").read_text()
    for port in ("8080", "8081", "8000", "8101"):
        assert f"127.0.0.1:{port}" in text, port
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}")
    config = tmp_path / "routing.yaml"
    config.write_text(text)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "strangler_proxy",
            "demo",
            "--check",
            "--config",
            str(config),
            "--var",
            str(tmp_path / "var"),
            "--products",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "GET /api/products/   → 200, route product-list, served by catalog" in out
    assert "route (default), served by legacy" in out
    assert "stopped proxy, catalog, monolith" in out
    assert (tmp_path / "var" / "monolith.sqlite3").exists()
    assert (tmp_path / "var" / "catalog.sqlite3").exists()
    access = (tmp_path / "var" / "logs" / "proxy-access.log").read_text()
    assert '"route":"product-list"' in access and '"upstream":"catalog"' in access


def test_demo_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    text = (REPO / "routing.yaml").read_text()
    ports = {}
    for port in ("8080", "8081", "8000", "8101"):
        ports[port] = free_port()
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{ports[port]}")
    config = tmp_path / "routing.yaml"
    config.write_text(text)
    argv = [
        sys.executable,
        "-m",
        "strangler_proxy",
        "demo",
        "--config",
        str(config),
        "--var",
        str(tmp_path / "var"),
        "--products",
        "100",
    ]
    demo = Process(argv, name="demo")
    with demo:
        wait_until(
            lambda: "Ctrl-C stops everything" in demo.output(),
            timeout=120,
            what="the demo to be up",
        )
        assert httpx.get(f"http://127.0.0.1:{ports['8080']}/api/orders/").status_code == 401
        assert demo.popen is not None
        demo.popen.send_signal(signal.SIGINT)
        assert demo.popen.wait(timeout=30) == 0
    assert "stopped proxy, catalog, monolith" in demo.output()
    for port in ports.values():  # nothing is left listening
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
