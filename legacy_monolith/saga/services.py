"""Apply one payment outcome to the shop, exactly once, in one transaction.

::

    payments.payment.succeeded  order pending → paid (orders.order.paid), then shipped with a
                                shipment (ship_order: orders.order.shipped,
                                shipping.shipment.created)                   → "shipped"
    payments.payment.failed     compensation: cancel_order → order cancelled, every line's
                                stock released (catalog.product.stock_changed,
                                orders.order.cancelled)                      → "compensated"

In the same transaction, first: the event id goes into ``SagaProcessedEvent``; an id already
there is a duplicate and changes nothing. Events not published by the payments service
(``"source" != "payments"``, e.g. the monolith's own ``pay_order`` events) are ``ignored``, as
are outcomes for an order that is no longer pending (already handled by another path). A
success for an order cancelled meanwhile is recorded as ``refund_needed`` (refunds are not
automated yet). A payload naming no existing order is a :class:`PoisonMessage`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from legacy_monolith.orders.models import Order
from legacy_monolith.orders.services import cancel_order, change_status, lock_order
from legacy_monolith.outbox.events import EventType, order_event
from legacy_monolith.saga.models import SagaProcessedEvent
from legacy_monolith.shipping.services import ship_order

__all__ = ["DUPLICATE", "SOURCE", "PaymentEvent", "PoisonMessage", "handle", "parse_event"]

log = logging.getLogger("legacy_monolith.saga")

SOURCE = "payments"  # the "source" the payments service's relay puts on its messages
DUPLICATE = "duplicate"  # never stored: the first outcome stays
CARRIER = "DemoPost"
Outcome = SagaProcessedEvent.Outcome


class PoisonMessage(ValueError):
    """A message that can never be applied (malformed, or naming no order)."""


@dataclass(frozen=True)
class PaymentEvent:
    id: str
    type: str
    source: str
    order_id: int
    created_at: str
    payload: dict[str, Any]


def parse_event(body: Any) -> PaymentEvent:
    if not isinstance(body, dict):
        raise PoisonMessage(f"expected a JSON object, got {type(body).__name__}")
    try:
        payload = body["payload"]
        if not isinstance(payload, dict):
            raise PoisonMessage("payload: expected a JSON object")
        return PaymentEvent(
            id=str(body["id"]),
            type=str(body["type"]),
            source=str(body.get("source") or ""),
            order_id=int(payload["order"]),
            created_at=str(body.get("created_at") or ""),
            payload=payload,
        )
    except KeyError as err:
        raise PoisonMessage(f"missing field {err.args[0]!r}") from None
    except (TypeError, ValueError) as err:
        if isinstance(err, PoisonMessage):
            raise
        raise PoisonMessage(f"payload.order: {err}") from None


def _apply(event: PaymentEvent) -> tuple[str, str]:
    """The change for one event (inside the caller's transaction) → (outcome, detail)."""
    if event.source != SOURCE:
        return Outcome.IGNORED, f"not from the payments service (source {event.source!r})"
    if event.type not in {EventType.PAYMENT_SUCCEEDED, EventType.PAYMENT_FAILED}:
        return Outcome.IGNORED, f"type {event.type} is not a payment outcome"
    try:
        order = lock_order(event.order_id)
    except Order.DoesNotExist:
        raise PoisonMessage(f"order {event.order_id} does not exist") from None
    if event.type == EventType.PAYMENT_SUCCEEDED:
        if order.status == Order.Status.CANCELLED:
            log.error("order %s was paid after it was cancelled: refund needed", order.reference)
            return Outcome.REFUND_NEEDED, f"payment {event.payload.get('id')} for a cancelled order"
        if order.status != Order.Status.PENDING:
            return Outcome.IGNORED, f"order already {order.status}"
        change_status(order, Order.Status.PAID)
        order_event(EventType.ORDER_PAID, order.pk)
        shipment = ship_order(order.pk, CARRIER)  # nested: a savepoint of this transaction
        return Outcome.SHIPPED, f"shipment {shipment.tracking_number}"
    if order.status != Order.Status.PENDING:
        return Outcome.IGNORED, f"order already {order.status}"
    cancel_order(order.pk, order.user)  # releases the reserved stock
    reason = str(event.payload.get("reason") or "")
    return Outcome.COMPENSATED, f"payment failed: {reason}"[:255]


def handle(event: PaymentEvent) -> str:
    """Record + apply ``event`` in one transaction; its outcome, or ``"duplicate"``."""
    try:
        with transaction.atomic():
            if SagaProcessedEvent.objects.filter(event_id=event.id).exists():
                return DUPLICATE
            # the first write: it also serialises two consumers handling the same event
            record = SagaProcessedEvent.objects.create(
                event_id=event.id,
                type=event.type,
                order_id=event.order_id,
                outcome=Outcome.IGNORED,
                event_created_at=event.created_at[:40],
            )
            outcome, detail = _apply(event)
            record.outcome, record.detail = outcome, detail[:255]
            record.save(update_fields=["outcome", "detail"])
            return str(outcome)
    except IntegrityError:
        if SagaProcessedEvent.objects.filter(event_id=event.id).exists():
            return DUPLICATE  # another consumer committed it first
        raise
