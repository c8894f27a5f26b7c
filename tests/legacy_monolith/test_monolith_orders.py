"""Orders, payments and shipping over HTTP, on both backends."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest


def order(monolith: Any, token: str, *lines: tuple[int, int]) -> Any:
    body = {"lines": [{"product": pid, "quantity": qty} for pid, qty in lines]}
    with monolith.client(token) as client:
        return client.post("/api/orders/", json=body)


def stock_of(monolith: Any, product_id: int) -> int:
    with monolith.client() as client:
        return int(client.get(f"/api/products/{product_id}/").json()["stock"])


def test_concurrent_orders_for_the_last_item(
    monolith: Any, user_tokens: list[str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product(stock=1, price="19.99")
    barrier = threading.Barrier(len(user_tokens))
    results: list[Any] = []
    lock = threading.Lock()

    def buy(token: str) -> None:
        with monolith.client(token) as client:
            client.get("/healthz")  # connect first, so the POSTs race each other, not connects
            barrier.wait(timeout=10)
            resp = client.post(
                "/api/orders/", json={"lines": [{"product": product["id"], "quantity": 1}]}
            )
        with lock:
            results.append(resp)

    threads = [threading.Thread(target=buy, args=(t,)) for t in user_tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(r.status_code for r in results) == {201: 1, 409: 7}, [r.text for r in results]
    for resp in results:
        if resp.status_code == 409:
            assert resp.json() == {
                "detail": f"Insufficient stock for {product['sku']}: requested 1, available 0."
            }
    assert stock_of(monolith, product["id"]) == 0


def test_order_totals_and_stock(
    monolith: Any, user_tokens: list[str], make_product: Callable[..., dict[str, Any]]
) -> None:
    a = make_product(stock=10, price="2.50")
    b = make_product(stock=3, price="10.00")
    resp = order(monolith, user_tokens[0], (a["id"], 2), (b["id"], 1), (a["id"], 1))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "pending"
    assert body["total"] == "17.50"
    assert [(ln["product"], ln["quantity"], ln["line_total"]) for ln in body["lines"]] == [
        (a["id"], 3, "7.50"),
        (b["id"], 1, "10.00"),
    ]
    assert (stock_of(monolith, a["id"]), stock_of(monolith, b["id"])) == (7, 2)

    too_many = order(monolith, user_tokens[0], (a["id"], 1), (b["id"], 5))
    assert too_many.status_code == 409
    assert (stock_of(monolith, a["id"]), stock_of(monolith, b["id"])) == (7, 2)  # all or nothing

    unknown = order(monolith, user_tokens[0], (99999999, 1))
    assert unknown.status_code == 400
    assert unknown.json() == {"lines": ["Unknown product id(s): 99999999."]}
    empty = order(monolith, user_tokens[0])
    assert empty.status_code == 400 and "lines" in empty.json()


def test_orders_are_private(
    monolith: Any, user_tokens: list[str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product(stock=5)
    mine = order(monolith, user_tokens[1], (product["id"], 1)).json()
    with monolith.client(user_tokens[2]) as other:
        assert other.get(f"/api/orders/{mine['id']}/").status_code == 404
        assert other.post(f"/api/orders/{mine['id']}/cancel/").status_code == 404
        assert other.post(f"/api/orders/{mine['id']}/pay/").status_code == 404
        listed = [
            o["id"] for o in other.get("/api/orders/", params={"page_size": 100}).json()["results"]
        ]
    assert mine["id"] not in listed
    with monolith.client(user_tokens[1]) as owner:
        assert owner.get(f"/api/orders/{mine['id']}/").json()["id"] == mine["id"]
        own = owner.get("/api/orders/", params={"page_size": 100}).json()["results"]
    assert mine["id"] in [o["id"] for o in own]
    with monolith.client() as anonymous:
        resp = anonymous.get("/api/orders/")
    assert resp.status_code == 401


def test_cancel_releases_stock_and_transitions_are_guarded(
    monolith: Any, user_tokens: list[str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product(stock=4)
    placed = order(monolith, user_tokens[3], (product["id"], 3)).json()
    assert stock_of(monolith, product["id"]) == 1
    with monolith.client(user_tokens[3]) as client:
        cancelled = client.post(f"/api/orders/{placed['id']}/cancel/")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert stock_of(monolith, product["id"]) == 4
        again = client.post(f"/api/orders/{placed['id']}/cancel/")
        assert again.status_code == 409
        assert again.json() == {
            "detail": f"Cannot change order {placed['reference']} from 'cancelled' to 'cancelled'."
        }
        assert client.post(f"/api/orders/{placed['id']}/pay/").status_code == 409
    assert stock_of(monolith, product["id"]) == 4


def test_pay_then_ship(
    monolith: Any,
    admin_token: str,
    user_tokens: list[str],
    make_product: Callable[..., dict[str, Any]],
) -> None:
    product = make_product(stock=2, price="5.00")
    placed = order(monolith, user_tokens[4], (product["id"], 2)).json()
    with monolith.client(admin_token) as staff:
        early = staff.post("/api/shipments/", json={"order": placed["id"]})
    assert early.status_code == 409  # pending orders do not ship
    with monolith.client(user_tokens[4]) as client:
        paid = client.post(f"/api/orders/{placed['id']}/pay/")
        assert paid.status_code == 201, paid.text
        assert paid.json()["status"] == "succeeded" and paid.json()["amount"] == "10.00"
        assert client.get(f"/api/orders/{placed['id']}/").json()["status"] == "paid"
        assert client.post(f"/api/orders/{placed['id']}/cancel/").status_code == 409
        assert client.post("/api/shipments/", json={"order": placed["id"]}).status_code == 403
    with monolith.client(admin_token) as staff:
        shipped = staff.post("/api/shipments/", json={"order": placed["id"], "carrier": "DHL"})
        assert shipped.status_code == 201, shipped.text
        shipment = shipped.json()
        event = staff.post(
            f"/api/shipments/{shipment['id']}/events/",
            json={"status": "in_transit", "location": "Hub 1"},
        )
        assert event.status_code == 201, event.text
    with monolith.client(user_tokens[4]) as client:
        assert client.get(f"/api/orders/{placed['id']}/").json()["status"] == "shipped"
        seen = client.get(f"/api/shipments/{shipment['id']}/").json()
    assert seen["status"] == "in_transit"
    assert [e["status"] for e in seen["events"]] == ["label_created", "in_transit"]
    with monolith.client(user_tokens[5]) as other:
        assert other.get(f"/api/shipments/{shipment['id']}/").status_code == 404


@pytest.fixture(scope="module")
def failing_payments_url(monolith: Any) -> str:
    """A second server on the same database whose payment provider always fails."""
    return str(
        monolith.start_server(
            f"monolith-{monolith.backend}-failing", PAYMENT_FAILURE_RATE="1", GUNICORN_WORKERS="1"
        )
    )


def test_failed_payment_leaves_the_order_unpaid(
    monolith: Any,
    failing_payments_url: str,
    user_tokens: list[str],
    make_product: Callable[..., dict[str, Any]],
) -> None:
    product = make_product(stock=2, price="3.00")
    placed = order(monolith, user_tokens[6], (product["id"], 1)).json()
    with monolith.client(user_tokens[6], base_url=failing_payments_url) as client:
        resp = client.post(f"/api/orders/{placed['id']}/pay/")
        assert resp.status_code == 502
        assert resp.json() == {
            "detail": f"Payment for order {placed['reference']} failed at the provider: "
            "simulated provider failure (PAYMENT_FAILURE_RATE=1). The order was not paid."
        }
        assert client.get(f"/api/orders/{placed['id']}/").json()["status"] == "pending"
        payments = client.get("/api/payments/", params={"order": placed["id"]}).json()["results"]
    assert [(p["status"], p["amount"]) for p in payments] == [("failed", "3.00")]
    assert stock_of(monolith, product["id"]) == 1  # still reserved for the pending order
    # the provider recovers (the healthy server): the same order can be paid now
    with monolith.client(user_tokens[6]) as client:
        assert client.post(f"/api/orders/{placed['id']}/pay/").status_code == 201
        assert client.get(f"/api/orders/{placed['id']}/").json()["status"] == "paid"
