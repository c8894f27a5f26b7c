"""``strangler demo``: the shop starts behind the proxy, the product list comes from the
extracted catalog service and the order list from the monolith, and everything stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_demo_keeps_the_catalog_in_sync_by_events_and_runs_the_payment_saga(
    tmp_path: Path,
) -> None:
    """``--payments service``: an order is paid and shipped by the saga, one over the card limit
    is cancelled with its stock back; a price changed in the monolith reaches the catalog
    service's own database by events; ``strangler data verify catalog`` passes after the writes."""
    text = (REPO / "routing.yaml").read_text()
    ports = {}
    for port in ("8080", "8081", "8000", "8101"):
        ports[port] = free_port()
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{ports[port]}")
    config = tmp_path / "routing.yaml"
    config.write_text(text)
    var = tmp_path / "var"
    argv = [
        sys.executable, "-m", "strangler_proxy", "demo", "--config", str(config),
        "--var", str(var), "--products", "60", "--payments", "service",
    ]  # fmt: skip
    env = {**os.environ, "PAYMENT_CARD_LIMIT": "100.00", "STRANGLER_BROKER_URL": ""}
    with Process(argv, name="demo", env=env) as demo:
        wait_until(
            lambda: "Ctrl-C stops everything" in demo.output(),
            timeout=180,
            what="the demo to be up",
        )
        shop = httpx.Client(base_url=f"http://127.0.0.1:{ports['8080']}", timeout=30)
        monolith = httpx.Client(base_url=f"http://127.0.0.1:{ports['8000']}", timeout=30)
        catalog = httpx.Client(base_url=f"http://127.0.0.1:{ports['8101']}", timeout=30)
        with shop, monolith, catalog:
            user = shop.post(
                "/api/accounts/register/", json={"username": "demo-buyer", "password": "Pw0rd-x!9"}
            ).json()
            auth = {"Authorization": f"Token {user['token']}"}
            products = shop.get("/api/products/", params={"page_size": 50}).json()["results"]
            cheap = next(p for p in products if float(p["price"]) < 50 and p["stock"] >= 2)
            dear = next(p for p in products if float(p["price"]) > 101 and p["stock"] >= 1)

            def order(product: dict[str, Any]) -> int:
                resp = shop.post(
                    "/api/orders/",
                    json={"lines": [{"product": product["id"], "quantity": 1}]},
                    headers=auth,
                )
                assert resp.status_code == 201, resp.text
                return int(resp.json()["id"])

            def status(order_id: int) -> str:
                return str(shop.get(f"/api/orders/{order_id}/", headers=auth).json()["status"])

            paid, refused = order(cheap), order(dear)
            wait_until(lambda: status(paid) == "shipped", timeout=60, what="the saga to ship")
            wait_until(lambda: status(refused) == "cancelled", timeout=60, what="compensation")
            stock = monolith.get(f"/api/products/{dear['id']}/").json()["stock"]
            assert stock == dear["stock"]  # the reserved unit is back
            # the pay endpoint has one writer: the service
            assert shop.post(f"/api/orders/{paid}/pay/", headers=auth).status_code == 409

            # a staff price change in the monolith reaches the catalog's own database
            token = monolith.post(
                "/api/accounts/login/", json={"username": "admin", "password": "admin"}
            ).json()["token"]
            changed = monolith.patch(
                f"/api/products/{cheap['id']}/",
                json={"price": "42.42"},
                headers={"Authorization": f"Token {token}"},
            )
            assert changed.status_code == 200, changed.text
            wait_until(
                lambda: catalog.get(f"/api/products/{cheap['id']}/").json()["price"] == "42.42",
                timeout=60,
                what="the price change to reach the catalog service",
            )
        verify = subprocess.run(
            [
                sys.executable, "-m", "strangler_proxy", "data", "verify", "catalog",
                "--source-url", f"sqlite:///{var / 'monolith.sqlite3'}",
                "--target-url", f"sqlite:///{var / 'catalog.sqlite3'}", "--settle", "60",
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert demo.popen is not None
        demo.popen.send_signal(signal.SIGINT)
        assert demo.popen.wait(timeout=60) == 0
    out = demo.output(20000)
    assert "stopped proxy, catalog, monolith, relay, saga, payments-worker, catalog-events" in out
