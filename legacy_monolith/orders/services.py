"""Order placement and cancellation: stock moves in the same transaction as the order.

Rows are locked with ``select_for_update`` in ascending product id order, so two orders for
overlapping products cannot deadlock. On SQLite ``select_for_update`` is a no-op, but the
connection uses ``BEGIN IMMEDIATE``, which takes the write lock when the transaction starts and
serialises the same critical section. The ``stock >= 0`` CHECK constraint is the last guard.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from rest_framework.exceptions import ValidationError

from legacy_monolith.catalog.models import Product
from legacy_monolith.core.exceptions import InvalidTransition, OutOfStock
from legacy_monolith.orders.models import Order, OrderLine
from legacy_monolith.outbox.events import EventType, order_event, product_event


def place_order(user: Any, lines: Iterable[tuple[int, int]]) -> Order:
    """Create a pending order for ``[(product_id, quantity), ...]`` and reserve its stock.

    ``[(7, 2), (7, 1)]`` is one line of 3. Prices are taken from the products now.
    Raises ``ValidationError`` (400) for unknown products, ``OutOfStock`` (409) when any line
    cannot be served; nothing is written then.
    """
    wanted: Counter[int] = Counter()
    for product_id, quantity in lines:
        wanted[product_id] += quantity
    with transaction.atomic():
        products = {
            p.pk: p
            for p in Product.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
        }
        missing = sorted(set(wanted) - set(products))
        if missing:
            ids = ", ".join(str(i) for i in missing)
            raise ValidationError({"lines": [f"Unknown product id(s): {ids}."]})
        for product_id in sorted(wanted):
            product = products[product_id]
            if product.stock < wanted[product_id]:
                raise OutOfStock(
                    f"Insufficient stock for {product.sku}: requested {wanted[product_id]}, "
                    f"available {product.stock}."
                )
        order = Order.objects.create(user=user)
        order_lines = []
        total = Decimal("0.00")
        for product_id in sorted(wanted):
            product, quantity = products[product_id], wanted[product_id]
            line_total = product.price * quantity
            total += line_total
            order_lines.append(
                OrderLine(
                    order=order,
                    product=product,
                    sku=product.sku,
                    name=product.name,
                    unit_price=product.price,
                    quantity=quantity,
                    line_total=line_total,
                )
            )
            Product.objects.filter(pk=product_id).update(stock=F("stock") - quantity)
        OrderLine.objects.bulk_create(order_lines)
        order.total = total
        order.save(update_fields=["total", "updated_at"])
        for product_id in sorted(wanted):
            product_event(EventType.PRODUCT_STOCK_CHANGED, product_id)
        order_event(EventType.ORDER_PLACED, order.pk)
    return order


def lock_order(order_id: int, user: Any | None = None) -> Order:
    """The order row, locked for the current transaction; ``user`` limits it to their own."""
    queryset = Order.objects.select_for_update()
    if user is not None:
        queryset = queryset.filter(user=user)
    return queryset.get(pk=order_id)


def change_status(order: Order, new_status: str) -> None:
    """Move a locked order to ``new_status`` or raise ``InvalidTransition`` (409)."""
    if not order.can_become(new_status):
        raise InvalidTransition(
            f"Cannot change order {order.reference} from '{order.status}' to '{new_status}'."
        )
    order.status = new_status
    order.save(update_fields=["status", "updated_at"])


def cancel_order(order_id: int, user: Any) -> Order:
    """pending → cancelled, putting every line's quantity back into stock."""
    with transaction.atomic():
        order = lock_order(order_id, user)
        change_status(order, Order.Status.CANCELLED)
        lines = list(order.lines.order_by("product_id"))
        # lock in product id order, like place_order, before giving stock back
        list(Product.objects.select_for_update().filter(pk__in=[ln.product_id for ln in lines]))
        for line in lines:
            Product.objects.filter(pk=line.product_id).update(stock=F("stock") + line.quantity)
        for product_id in sorted({line.product_id for line in lines}):
            product_event(EventType.PRODUCT_STOCK_CHANGED, product_id)
        order_event(EventType.ORDER_CANCELLED, order.pk)
    return order
