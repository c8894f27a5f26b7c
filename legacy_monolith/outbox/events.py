"""Write domain events into the outbox, inside the caller's transaction.

Every service function that changes an aggregate calls one of the ``*_event`` helpers *after*
its own write, in the same ``transaction.atomic()`` block::

    with transaction.atomic():
        Product.objects.filter(pk=7).update(stock=F("stock") - 1)
        product_event(EventType.PRODUCT_STOCK_CHANGED, 7)   # snapshot of product 7, version n+1

Writing after the change matters: the change locks the aggregate's row (``UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two transactions on one aggregate take their
versions one after the other and the version order is the commit order. Calling a helper
outside a transaction raises ``OutboxError``: an event committed apart from its change could be
published for a change that was rolled back.

Payloads are state snapshots (the whole product, the whole order), so a consumer that sees
version 5 after version 3 may skip 4: version 5 already carries everything.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Max

from legacy_monolith.catalog.models import Product
from legacy_monolith.orders.models import Order
from legacy_monolith.outbox.models import OutboxEvent
from legacy_monolith.payments.models import Payment
from legacy_monolith.shipping.models import Shipment

__all__ = [
    "EventType",
    "OutboxError",
    "order_event",
    "payment_event",
    "product_deleted_event",
    "product_event",
    "record",
    "shipment_event",
]


class OutboxError(RuntimeError):
    """An event was about to be written outside the transaction of its change."""


class EventType(enum.StrEnum):
    """Event types; each is also the routing key on the ``strangler.events`` exchange."""

    PRODUCT_CREATED = "catalog.product.created"
    PRODUCT_CHANGED = "catalog.product.changed"
    PRODUCT_STOCK_CHANGED = "catalog.product.stock_changed"
    PRODUCT_DELETED = "catalog.product.deleted"
    ORDER_PLACED = "orders.order.placed"
    ORDER_CANCELLED = "orders.order.cancelled"
    ORDER_PAID = "orders.order.paid"
    ORDER_SHIPPED = "orders.order.shipped"
    PAYMENT_SUCCEEDED = "payments.payment.succeeded"
    PAYMENT_FAILED = "payments.payment.failed"
    SHIPMENT_CREATED = "shipping.shipment.created"
    SHIPMENT_UPDATED = "shipping.shipment.updated"

    @property
    def aggregate_type(self) -> str:
        """``catalog.product.changed`` → ``catalog.product``."""
        return self.value.rsplit(".", 1)[0]


def _when(value: datetime) -> str:
    """UTC ISO 8601 with microseconds kept (``2026-01-01T12:00:00.000500Z``)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _money(value: Decimal) -> str:
    return format(Decimal(value).quantize(Decimal("0.01")), "f")


def record(event_type: EventType, aggregate_id: int | str, payload: dict[str, Any]) -> OutboxEvent:
    """Append one event for ``aggregate_id`` with the next version of that aggregate."""
    if not connection.in_atomic_block:
        raise OutboxError(
            f"{event_type}: outbox events must be written inside the change's transaction"
        )
    key = str(aggregate_id)
    aggregate = event_type.aggregate_type
    latest = OutboxEvent.objects.filter(aggregate_type=aggregate, aggregate_id=key).aggregate(
        v=Max("version")
    )["v"]
    return OutboxEvent.objects.create(
        type=event_type.value,
        aggregate_type=aggregate,
        aggregate_id=key,
        version=(latest or 0) + 1,
        payload=payload,
    )


def product_snapshot(product: Product) -> dict[str, Any]:
    category = product.category
    return {
        "id": product.pk,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price": _money(product.price),
        "stock": product.stock,
        "category": {
            "id": category.pk,
            "name": category.name,
            "slug": category.slug,
            "description": category.description,
        },
        "attributes": product.attributes,
        "created_at": _when(product.created_at),
        "updated_at": _when(product.updated_at),
    }


def product_event(event_type: EventType, product_id: int) -> OutboxEvent:
    """Snapshot product ``product_id`` as it is now in this transaction and record it."""
    product = Product.objects.select_related("category").get(pk=product_id)
    return record(event_type, product_id, product_snapshot(product))


def product_deleted_event(product_id: int) -> OutboxEvent:
    return record(EventType.PRODUCT_DELETED, product_id, {"id": product_id})


def order_snapshot(order: Order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "reference": order.reference,
        "user": order.user_id,
        "status": order.status,
        "total": _money(order.total),
        "lines": [
            {
                "product": line.product_id,
                "sku": line.sku,
                "unit_price": _money(line.unit_price),
                "quantity": line.quantity,
                "line_total": _money(line.line_total),
            }
            for line in order.lines.order_by("id")
        ],
        "created_at": _when(order.created_at),
        "updated_at": _when(order.updated_at),
    }


def order_event(event_type: EventType, order_id: int) -> OutboxEvent:
    return record(event_type, order_id, order_snapshot(Order.objects.get(pk=order_id)))


def payment_event(event_type: EventType, payment: Payment) -> OutboxEvent:
    return record(
        event_type,
        payment.pk,
        {
            "id": payment.pk,
            "order": payment.order_id,
            "amount": _money(payment.amount),
            "status": payment.status,
            "provider_reference": payment.provider_reference,
            "error": payment.error,
            "created_at": _when(payment.created_at),
        },
    )


def shipment_event(event_type: EventType, shipment_id: int) -> OutboxEvent:
    shipment = Shipment.objects.get(pk=shipment_id)
    return record(
        event_type,
        shipment.pk,
        {
            "id": shipment.pk,
            "order": shipment.order_id,
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "status": shipment.status,
            "created_at": _when(shipment.created_at),
        },
    )
