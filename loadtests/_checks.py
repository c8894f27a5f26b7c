"""Response checks of the locustfile: a wrong answer is a failure, not only a wrong status.

Every check takes the decoded JSON body (and what the request asked for) and returns ``None``
when the answer is right, or the reason it is wrong::

    >>> product_detail({"id": 7, "sku": "SKU-000007", "price": "1.00"}, 8)
    'asked for product 8, got id 7'

Pure functions without locust, so they are unit-tested directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "category_detail",
    "category_list",
    "order_created",
    "order_detail",
    "order_list",
    "payment_succeeded",
    "product_detail",
    "product_list",
    "profile",
    "registered",
    "shipment_created",
    "shipment_detail",
    "shipment_list",
    "token",
    "tracking_event",
]

Problem = str | None
_PRICE = re.compile(r"^\d+\.\d{2}$")


def _page(body: Any) -> tuple[list[Any] | None, Problem]:
    """A DRF page ``{"count", "next", "previous", "results"}`` → its results, or the problem."""
    if not isinstance(body, Mapping):
        return None, f"expected a page object, got {type(body).__name__}"
    for key in ("count", "next", "previous", "results"):
        if key not in body:
            return None, f"page without {key!r}"
    results = body["results"]
    if not isinstance(results, list) or not isinstance(body["count"], int):
        return None, "page results must be a list and count an integer"
    if len(results) > body["count"]:
        return None, f"page has {len(results)} results but count is {body['count']}"
    return results, None


def _price(value: Any) -> Decimal | None:
    if not isinstance(value, str) or not _PRICE.match(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the regex already rules it out
        return None


def _product(item: Any) -> Problem:
    if not isinstance(item, Mapping):
        return "product is not an object"
    for key in ("id", "sku", "name", "price", "stock", "in_stock", "category"):
        if key not in item:
            return f"product without {key!r}"
    if _price(item["price"]) is None:
        return f"product {item['id']}: price {item['price']!r} is not a 2-decimal string"
    if item["in_stock"] != (item["stock"] > 0):
        return f"product {item['id']}: in_stock {item['in_stock']} but stock {item['stock']}"
    return None


def category_list(body: Any) -> Problem:
    results, problem = _page(body)
    if results is None:
        return problem
    if not results:
        return "no categories (is the shop seeded?)"
    for item in results:
        if not isinstance(item, Mapping) or not {"id", "name", "slug"} <= item.keys():
            return f"category without id/name/slug: {item!r}"
    return None


def category_detail(body: Any, category_id: int) -> Problem:
    if not isinstance(body, Mapping) or body.get("id") != category_id:
        got = body.get("id") if isinstance(body, Mapping) else body
        return f"asked for category {category_id}, got id {got}"
    return None


def product_list(
    body: Any,
    *,
    category: str | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    in_stock: bool | None = None,
    search: str | None = None,
    page_size: int | None = None,
) -> Problem:
    """Every product on the page must satisfy the filters that were asked for."""
    results, problem = _page(body)
    if results is None:
        return problem
    if page_size is not None and len(results) > page_size:
        return f"page_size {page_size} but {len(results)} results"
    for item in results:
        if problem := _product(item):
            return problem
        price = _price(item["price"])
        assert price is not None  # checked by _product
        pid = item["id"]
        if category is not None and item["category"].get("slug") != category:
            return f"product {pid} is in {item['category'].get('slug')!r}, not {category!r}"
        if min_price is not None and price < min_price:
            return f"product {pid} costs {price}, below min_price {min_price}"
        if max_price is not None and price > max_price:
            return f"product {pid} costs {price}, above max_price {max_price}"
        if in_stock is not None and item["in_stock"] is not in_stock:
            return f"product {pid} has in_stock {item['in_stock']}, filtered on {in_stock}"
        if search is not None:
            text = " ".join(str(item.get(k, "")) for k in ("name", "description", "sku"))
            if search.lower() not in text.lower():
                return f"product {pid} does not mention {search!r}"
    return None


def product_detail(body: Any, product_id: int) -> Problem:
    if not isinstance(body, Mapping) or body.get("id") != product_id:
        got = body.get("id") if isinstance(body, Mapping) else body
        return f"asked for product {product_id}, got id {got}"
    return _product(body)


def token(body: Any) -> Problem:
    if not isinstance(body, Mapping) or not isinstance(body.get("token"), str):
        return "no token in the answer"
    if len(body["token"]) < 20:
        return "token too short"
    return None


def registered(body: Any, username: str) -> Problem:
    if not isinstance(body, Mapping) or body.get("username") != username:
        return f"registered {username!r}, answer names {_get(body, 'username')!r}"
    return token(body)


def profile(body: Any, username: str) -> Problem:
    if not isinstance(body, Mapping) or body.get("username") != username:
        return f"profile of {_get(body, 'username')!r}, expected {username!r}"
    return None


def _get(body: Any, key: str) -> Any:
    return body.get(key) if isinstance(body, Mapping) else None


def _order(item: Any) -> Problem:
    if not isinstance(item, Mapping):
        return "order is not an object"
    for key in ("id", "reference", "status", "total", "lines"):
        if key not in item:
            return f"order without {key!r}"
    if item["status"] not in {"pending", "paid", "shipped", "cancelled"}:
        return f"order {item['id']}: unknown status {item['status']!r}"
    total = _price(item["total"])
    lines_total = sum((_price(ln.get("line_total")) or Decimal(-1) for ln in item["lines"]), 0)
    if total is None or total != lines_total:
        return f"order {item['id']}: total {item['total']} is not the sum of its lines"
    return None


def order_list(body: Any, status: str | None = None) -> Problem:
    results, problem = _page(body)
    if results is None:
        return problem
    for item in results:
        if problem := _order(item):
            return problem
        if status is not None and item["status"] != status:
            return f"order {item['id']} is {item['status']}, filtered on {status}"
    return None


def order_detail(body: Any, order_id: int) -> Problem:
    if _get(body, "id") != order_id:
        return f"asked for order {order_id}, got id {_get(body, 'id')}"
    return _order(body)


def order_created(body: Any, lines: Sequence[tuple[int, int]]) -> Problem:
    """A new order is pending and holds exactly the requested ``(product, quantity)`` lines."""
    if problem := _order(body):
        return problem
    if body["status"] != "pending":
        return f"new order is {body['status']}, not pending"
    got = sorted((ln.get("product"), ln.get("quantity")) for ln in body["lines"])
    if got != sorted(lines):
        return f"order lines {got} differ from the requested {sorted(lines)}"
    return None


def payment_succeeded(body: Any, order_id: int, amount: str | None = None) -> Problem:
    if _get(body, "order") != order_id:
        return f"payment is for order {_get(body, 'order')}, not {order_id}"
    if _get(body, "status") != "succeeded":
        return f"payment status {_get(body, 'status')!r}"
    if amount is not None and _get(body, "amount") != amount:
        return f"charged {_get(body, 'amount')}, the order total is {amount}"
    return None


def _shipment(item: Any) -> Problem:
    if not isinstance(item, Mapping):
        return "shipment is not an object"
    for key in ("id", "order", "tracking_number", "status", "events"):
        if key not in item:
            return f"shipment without {key!r}"
    if not isinstance(item["events"], list):
        return f"shipment {item['id']}: events is not a list"
    return None


def shipment_list(body: Any, orders: Callable[[int], bool] | None = None) -> Problem:
    """``orders(order_id)`` says whether the caller may see that order's shipment."""
    results, problem = _page(body)
    if results is None:
        return problem
    for item in results:
        if problem := _shipment(item):
            return problem
        if orders is not None and not orders(item["order"]):
            return f"shipment {item['id']} belongs to someone else's order {item['order']}"
    return None


def shipment_detail(body: Any, shipment_id: int) -> Problem:
    if _get(body, "id") != shipment_id:
        return f"asked for shipment {shipment_id}, got id {_get(body, 'id')}"
    return _shipment(body)


def shipment_created(body: Any, order_id: int) -> Problem:
    if problem := _shipment(body):
        return problem
    if body["order"] != order_id:
        return f"shipment for order {body['order']}, not {order_id}"
    if not body["tracking_number"]:
        return "shipment without a tracking number"
    return None


def tracking_event(body: Any, status: str) -> Problem:
    if _get(body, "status") != status:
        return f"event status {_get(body, 'status')!r}, sent {status!r}"
    return None
