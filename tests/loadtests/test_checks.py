from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from loadtests import _checks as checks
from loadtests._data import Picker, Shop
from loadtests._steps import parse_steps


def product(pid: int = 7, **over: Any) -> dict[str, Any]:
    item = {
        "id": pid, "sku": f"SKU-{pid:06d}", "name": "Sturdy Lamp 7", "description": "A lamp.",
        "price": "12.50", "stock": 3, "in_stock": True,
        "category": {"id": 2, "name": "Home", "slug": "home"},
    }  # fmt: skip
    item.update(over)
    return item


def page(*items: Any) -> dict[str, Any]:
    return {"count": len(items), "next": None, "previous": None, "results": list(items)}


def test_product_detail() -> None:
    assert checks.product_detail(product(7), 7) is None
    assert checks.product_detail(product(7), 8) == "asked for product 8, got id 7"
    assert "not a 2-decimal string" in str(checks.product_detail(product(7, price="12.5"), 7))
    assert "in_stock True but stock 0" in str(checks.product_detail(product(7, stock=0), 7))


def test_product_list_filters() -> None:
    body = page(product(1), product(2, price="99.00"))
    assert checks.product_list(body, category="home", min_price=Decimal(10)) is None
    assert "not 'books'" in str(checks.product_list(body, category="books"))
    assert "above max_price 50" in str(checks.product_list(body, max_price=Decimal(50)))
    assert "does not mention 'Kettle'" in str(checks.product_list(body, search="Kettle"))
    assert "page_size 1 but 2" in str(checks.product_list(body, page_size=1))
    assert checks.product_list(body, search="lamp") is None


def test_pages_and_categories() -> None:
    assert checks.category_list(page({"id": 1, "name": "Books", "slug": "books"})) is None
    assert "no categories" in str(checks.category_list(page()))
    assert "page without 'count'" in str(checks.category_list({"results": []}))
    assert "expected a page object" in str(checks.category_list([]))
    assert checks.category_detail({"id": 3}, 4) == "asked for category 4, got id 3"


def test_orders_and_payments() -> None:
    order = {
        "id": 5, "reference": "R", "status": "pending", "total": "25.00",
        "lines": [{"product": 7, "quantity": 2, "line_total": "25.00"}],
    }  # fmt: skip
    assert checks.order_created(order, [(7, 2)]) is None
    assert "differ from the requested" in str(checks.order_created(order, [(7, 3)]))
    assert "not the sum of its lines" in str(checks.order_created({**order, "total": "1.00"}, []))
    assert "filtered on paid" in str(checks.order_list(page(order), "paid"))
    payment = {"order": 5, "status": "succeeded", "amount": "25.00"}
    assert checks.payment_succeeded(payment, 5, "25.00") is None
    assert "payment status 'failed'" in str(
        checks.payment_succeeded({**payment, "status": "failed"}, 5)
    )


def test_accounts_and_shipments() -> None:
    assert checks.token({"token": "x" * 40}) is None
    assert checks.token({}) == "no token in the answer"
    assert "registered 'bob'" in str(checks.registered({"username": "eve"}, "bob"))
    assert checks.profile({"username": "bob"}, "bob") is None
    ship = {"id": 1, "order": 5, "tracking_number": "T1", "status": "label_created", "events": []}
    assert checks.shipment_created(ship, 5) is None
    assert checks.shipment_detail(ship, 2) == "asked for shipment 2, got id 1"
    assert "someone else's" in str(checks.shipment_list(page(ship), lambda o: o != 5))
    assert checks.tracking_event({"status": "delivered"}, "in_transit") is not None


def test_picker_is_deterministic_per_seed_and_stream() -> None:
    shop = Shop(products=300, users=50, categories=("books", "home"))
    first = [Picker(42, "Browser-1", shop).basket() for _ in range(2)]
    assert first[0] == first[1]
    assert Picker(43, "Browser-1", shop).basket() != Picker(42, "Browser-1", shop).basket() or (
        Picker(43, "Browser-1", shop).product_id() != Picker(42, "Browser-1", shop).product_id()
    )
    p = Picker(1, "x", shop)
    assert all(1 <= p.product_id() <= 300 for _ in range(200))
    assert all(p.username() <= "user0050" for _ in range(200))


def test_steps() -> None:
    assert parse_steps("4", 20, 40) == [(5, 10.0), (10, 10.0), (15, 10.0), (20, 10.0)]
    assert parse_steps("", 3, 8) == [(1, 2.0), (2, 2.0), (3, 2.0), (3, 2.0)]
    assert parse_steps("5:10,10:20", 99, 99) == [(5, 10.0), (10, 20.0)]
    with pytest.raises(ValueError, match="users:seconds, got 'x'"):
        parse_steps("x", 1, 1)
