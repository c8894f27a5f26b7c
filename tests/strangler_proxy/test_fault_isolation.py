"""Fault isolation on the demo shop, end to end: the payment provider fails slowly, and while
payments fail, the catalog (extracted), accounts and orders keep answering through the proxy.
The payment route's bulkhead (``max_concurrent``) keeps the failing provider from taking every
worker thread of the monolith (1 worker x 4 threads here): without it, the 8 payments would hold
all 4 threads for the provider's 4 s and the other requests would time out."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from extracted.catalog.testing import gunicorn_argv, monolith_env, seed_monolith
from strangler_proxy.testing import Process, free_port, wait_until
from strangler_proxy.testing.harness import ProxyProcess, table_yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Shop:
    proxy: ProxyProcess
    monolith: Process
    catalog: Process


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("faults")
    monolith_db = f"sqlite:///{folder / 'monolith.sqlite3'}"
    catalog_db = f"sqlite:///{folder / 'catalog.sqlite3'}"
    seed_monolith(monolith_db, products=40)
    subprocess.run(
        [sys.executable, "-m", "extracted.catalog.backfill", "--source-url", monolith_db,
         "--target-url", catalog_db],
        check=True, capture_output=True,
    )  # fmt: skip
    legacy_port, catalog_port = free_port(), free_port()
    # a provider that takes 4 s and then fails, every time
    env = monolith_env(
        monolith_db,
        DJANGO_ALLOWED_HOSTS="*",
        DJANGO_TRUST_X_FORWARDED="1",
        PAYMENT_FAILURE_RATE="1",
        PAYMENT_LATENCY_MS="4000",
    )
    monolith = Process(
        gunicorn_argv("legacy_monolith/gunicorn.conf.py", legacy_port),
        name="monolith",
        env=env,
        cwd=REPO,
    )
    catalog = Process(
        gunicorn_argv("extracted/catalog/gunicorn.conf.py", catalog_port),
        name="catalog",
        env=monolith_env(monolith_db, CATALOG_DATABASE_URL=catalog_db),
        cwd=REPO,
    )
    with monolith, catalog:
        monolith.wait_http(f"http://127.0.0.1:{legacy_port}/healthz", status=200)
        catalog.wait_http(f"http://127.0.0.1:{catalog_port}/healthz", status=200)
        text = table_yaml(
            {
                "legacy": f"http://127.0.0.1:{legacy_port}",
                "catalog": f"http://127.0.0.1:{catalog_port}",
            },
            [
                {
                    "name": "products",
                    "match": {"prefix": "/api/products/", "methods": ["GET"]},
                    "mode": "extracted",
                    "to": "catalog",
                    "fallback": "legacy",
                },
                {
                    "name": "payments",
                    "match": {"path": "/api/orders/{id:int}/pay/"},
                    "mode": "legacy",
                    "max_concurrent": 2,
                    "timeouts": {"response": 10},
                },
            ],
        )
        with ProxyProcess.from_yaml(text, folder) as proxy:
            yield Shop(proxy, monolith, catalog)


@pytest.fixture(scope="module")
def shop(demo: Shop) -> ProxyProcess:
    return demo.proxy


def test_failing_payments_leave_catalog_accounts_and_orders_answering(
    shop: ProxyProcess,
) -> None:
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        user = client.post(
            "/api/accounts/register/", json={"username": "isolated", "password": "s3cret-pass"}
        )
        assert user.status_code == 201, user.text
        auth = {"Authorization": f"Token {user.json()['token']}"}
        product = client.get("/api/products/").json()["results"][0]["id"]
        orders = [
            client.post(
                "/api/orders/", json={"lines": [{"product": product, "quantity": 1}]}, headers=auth
            ).json()["id"]
            for _ in range(8)
        ]

    payments: list[int] = []
    others: list[tuple[str, int]] = []

    def pay(order_id: int) -> None:
        with httpx.Client(base_url=shop.url, timeout=30) as c:
            payments.append(c.post(f"/api/orders/{order_id}/pay/", headers=auth).status_code)

    storm = [threading.Thread(target=pay, args=(o,)) for o in orders]
    for t in storm:
        t.start()
    wait_until(
        lambda: (
            httpx.get(shop.admin_url + "/routes").json()["payments"]["inflight"] == 2
            and len(payments) == 6
        ),
        what="two payments at the provider and six turned away by the bulkhead",
    )
    # while the provider is failing, everything else answers, well within the provider's 4 s:
    # without the bulkhead all 8 monolith threads would be waiting for the provider
    with httpx.Client(base_url=shop.url, timeout=3) as c:
        for _ in range(3):
            r = c.get("/api/products/?page=1")
            others.append(("catalog", r.status_code))
            assert r.headers["x-strangler-upstream"] == "catalog"
            others.append(
                (
                    "login",
                    c.post(
                        "/api/accounts/login/",
                        json={"username": "isolated", "password": "s3cret-pass"},
                    ).status_code,
                )
            )
            others.append(("orders", c.get("/api/orders/", headers=auth).status_code))
    for t in storm:
        t.join()
    assert others == [("catalog", 200), ("login", 200), ("orders", 200)] * 3
    # payments failed at the provider (502) or were turned away at the bulkhead (503)
    assert sorted(payments) == [502] * 2 + [503] * 6
    with httpx.Client(base_url=shop.url, timeout=30) as c:
        statuses = {o["status"] for o in c.get("/api/orders/", headers=auth).json()["results"]}
    assert statuses == {"pending"}  # no order was marked paid


def test_one_request_can_be_followed_across_the_three_processes(demo: Shop) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    for path, rid in (("/api/products/", "follow-catalog"), ("/api/categories/", "follow-mono")):
        httpx.get(demo.proxy.url + path, headers=headers | {"X-Request-ID": rid})

    def lines(proc: Process, rid: str) -> list[dict[str, object]]:
        found = []
        for text in proc.output(2_000_000).splitlines():
            if text.startswith("{") and rid in text:
                found.append(json.loads(text))
        return found

    wait_until(lambda: lines(demo.proxy, "follow-mono") != [], what="the proxy's log line")
    for service, proc, rid, path in (
        ("catalog", demo.catalog, "follow-catalog", "/api/products/"),
        ("monolith", demo.monolith, "follow-mono", "/api/categories/"),
    ):
        (line,) = [e for e in lines(proc, rid) if e.get("message") == "request"]
        assert line["service"] == service and line["path"] == path and line["status"] == 200
        assert line["trace_id"] == trace  # the proxy's span is their parent in the same trace
        (access,) = lines(demo.proxy, rid)
        assert access["trace_id"] == trace and access["request_id"] == rid
        assert set(line) >= {
            "ts",
            "level",
            "service",
            "logger",
            "message",
            "request_id",
            "trace_id",
            "method",
            "path",
            "status",
            "duration_ms",
        }
