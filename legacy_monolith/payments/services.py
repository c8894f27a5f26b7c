"""Paying an order: check, call the provider outside any transaction, then record the outcome.

The provider call may be slow, so no row lock is held while it runs (on SQLite a held write lock
would stall every other writer). The order is re-checked under lock afterwards.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from legacy_monolith.core.exceptions import Conflict, InvalidTransition, PaymentFailed
from legacy_monolith.orders.models import Order
from legacy_monolith.orders.services import change_status, lock_order
from legacy_monolith.outbox.events import EventType, order_event, payment_event
from legacy_monolith.payments.gateway import ChargeOutcome, SimulatedGateway
from legacy_monolith.payments.models import Payment


class PaymentsOwnedElsewhere(Conflict):
    """409: the extracted payments service charges orders (``STRANGLER_PAYMENTS_OWNER``)."""

    default_code = "payments_owned_elsewhere"


def pay_order(order_id: int, user: Any, gateway: SimulatedGateway | None = None) -> Payment:
    """Charge a pending order. Success → order ``paid`` and a ``succeeded`` Payment.

    Failure → a ``failed`` Payment, the order stays ``pending``, and ``PaymentFailed`` (502).
    A non-pending order → ``InvalidTransition`` (409) before the provider is called.
    ``STRANGLER_PAYMENTS_OWNER=service`` → ``PaymentsOwnedElsewhere`` (409): there is exactly
    one payment writer, and then it is the payments service (see ``legacy_monolith/saga``).
    """
    owner = settings.STRANGLER_PAYMENTS_OWNER
    if owner != "monolith":
        raise PaymentsOwnedElsewhere(
            f"Payments are owned by the payments service (STRANGLER_PAYMENTS_OWNER={owner}): "
            "it charges every order when it is placed; this endpoint takes no payments."
        )
    gateway = gateway or SimulatedGateway.from_settings()
    order = Order.objects.get(pk=order_id, user=user)
    if not order.can_become(Order.Status.PAID):
        raise InvalidTransition(f"Order {order.reference} is '{order.status}', not payable.")
    result = gateway.charge(order.total, order.reference)
    with transaction.atomic():
        order = lock_order(order_id, user)
        if result.outcome is ChargeOutcome.FAILED:
            failed = Payment.objects.create(
                order=order,
                amount=order.total,
                status=Payment.Status.FAILED,
                provider_reference=result.provider_reference,
                error=result.error,
            )
            payment_event(EventType.PAYMENT_FAILED, failed)
        else:
            # the order may have been cancelled or paid meanwhile: change_status raises 409
            change_status(order, Order.Status.PAID)
            payment = Payment.objects.create(
                order=order,
                amount=order.total,
                status=Payment.Status.SUCCEEDED,
                provider_reference=result.provider_reference,
            )
            order_event(EventType.ORDER_PAID, order.pk)
            payment_event(EventType.PAYMENT_SUCCEEDED, payment)
            return payment
    raise PaymentFailed(
        f"Payment for order {order.reference} failed at the provider: {result.error}. "
        "The order was not paid."
    )
