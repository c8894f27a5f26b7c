"""Charging an order from its ``orders.order.placed`` event, in one transaction.

For each event the consumer (:class:`extracted.common.events.EventConsumer`) opens ONE
transaction of the payments database and, in it: records the event id (a duplicate stops
there), then :func:`make_apply`'s function charges the order through the provider, inserts the
``payments`` row and the ``payments_outbox`` row announcing ``payments.payment.succeeded`` or
``.failed``. The message is acked after the commit. So an event delivered twice charges once,
and a payment is never recorded without its event (nor an event without its payment).

Outcomes: ``applied`` (charged), ``stale`` (the order was already charged, from an event with
another id), ``ignored`` (another event type). A payload without a usable order is a
``PoisonMessage`` (dead-lettered at once).

The provider is called inside the transaction: it is fake and instant here. A real provider
would be called with the order reference as its idempotency key (the fake one honours that
contract: same key, same answer), so a transaction rolled back after the call and retried
does not charge twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from extracted.common.events import Event, PoisonMessage
from extracted.common.inbox import Outcome, utcnow
from extracted.payments.provider import ChargeOutcome, FakeProvider, money
from extracted.payments.schema import outbox, payments

__all__ = [
    "ORDER_PLACED",
    "PATTERNS",
    "PAYMENT",
    "PAYMENT_FAILED",
    "PAYMENT_SUCCEEDED",
    "QUEUE",
    "SOURCE",
    "PlacedOrder",
    "make_apply",
    "placed_order",
]

QUEUE = "payments.orders"
ORDER_PLACED = "orders.order.placed"
PATTERNS = [ORDER_PLACED]
PAYMENT = "payments.payment"
PAYMENT_SUCCEEDED = "payments.payment.succeeded"
PAYMENT_FAILED = "payments.payment.failed"
#: ``"source"`` of the messages this service publishes: the monolith's saga acts only on
#: payment events from here, not on the ones its own synchronous ``pay_order`` writes.
SOURCE = "payments"


@dataclass(frozen=True)
class PlacedOrder:
    id: int
    reference: str
    total_cents: int
    user_id: int | None = None  # who placed it (the monolith's user id)


def placed_order(event: Event) -> PlacedOrder:
    """The order snapshot of an ``orders.order.placed`` event (``PoisonMessage`` if unusable)."""
    payload = event.payload
    try:
        order_id = int(payload["id"])
        reference = str(payload["reference"])
        raw_total = payload["total"]
    except KeyError as err:
        raise PoisonMessage(f"order payload: missing field {err.args[0]!r}") from None
    except (TypeError, ValueError) as err:
        raise PoisonMessage(f"order payload: id: {err}") from None
    try:
        total = Decimal(str(raw_total))
    except InvalidOperation:
        total = Decimal("NaN")
    if not total.is_finite() or total < 0:
        raise PoisonMessage(f"order payload: total {raw_total!r} is not an amount")
    if str(order_id) != event.aggregate_id:
        raise PoisonMessage(f"payload id {order_id} is not aggregate id {event.aggregate_id}")
    user = payload.get("user")
    user_id = user if isinstance(user, int) and not isinstance(user, bool) else None
    return PlacedOrder(order_id, reference, int(total.scaleb(2).to_integral_value()), user_id)


def _when(value: Any) -> str:
    return value.isoformat(timespec="microseconds") + "Z"


def make_apply(provider: FakeProvider) -> Callable[[Connection, Event], Outcome]:
    """The consumer's ``apply(conn, event)``: charge and record (see the module docstring)."""

    def apply(conn: Connection, event: Event) -> Outcome:
        if event.type != ORDER_PLACED:
            return Outcome.IGNORED
        order = placed_order(event)
        already = conn.execute(select(payments.c.id).where(payments.c.order_id == order.id)).first()
        if already is not None:
            return Outcome.STALE  # charged before, from another event id: never twice
        charge = provider.charge(order.total_cents, order.reference)
        now = utcnow()
        payment_id = "pay_" + uuid.uuid4().hex[:16]
        conn.execute(
            payments.insert().values(
                id=payment_id,
                order_id=order.id,
                order_reference=order.reference,
                user_id=order.user_id,
                amount_cents=order.total_cents,
                status=charge.outcome.value,
                provider_reference=charge.provider_reference,
                reason=charge.reason,
                placed_event_id=event.id,
                created_at=now,
            )
        )
        event_type = (
            PAYMENT_SUCCEEDED if charge.outcome is ChargeOutcome.SUCCEEDED else PAYMENT_FAILED
        )
        payload = {
            "id": payment_id,
            "order": order.id,
            "order_reference": order.reference,
            "amount": money(order.total_cents),
            "status": charge.outcome.value,
            "provider_reference": charge.provider_reference,
            "reason": charge.reason,
            "placed_event": event.id,
            "created_at": _when(now),
        }
        conn.execute(
            outbox.insert().values(
                event_id=str(uuid.uuid4()),
                type=event_type,
                aggregate_type=PAYMENT,
                aggregate_id=payment_id,
                version=1,  # a payment is written once: one event per aggregate
                payload=json.dumps(payload, sort_keys=True),
                created_at=now,
            )
        )
        return Outcome.APPLIED

    return apply
