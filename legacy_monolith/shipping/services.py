from __future__ import annotations

from typing import Any

from django.db import transaction

from legacy_monolith.orders.models import Order
from legacy_monolith.orders.services import change_status, lock_order
from legacy_monolith.outbox.events import EventType, order_event, shipment_event
from legacy_monolith.shipping.models import Shipment, TrackingEvent


def ship_order(order_id: int, carrier: str) -> Shipment:
    """paid → shipped: creates the shipment and its first tracking event (409 if not paid)."""
    with transaction.atomic():
        order = lock_order(order_id)
        change_status(order, Order.Status.SHIPPED)
        shipment = Shipment.objects.create(order=order, carrier=carrier)
        TrackingEvent.objects.create(
            shipment=shipment, status=Shipment.Status.LABEL_CREATED, message="Label created"
        )
        order_event(EventType.ORDER_SHIPPED, order.pk)
        shipment_event(EventType.SHIPMENT_CREATED, shipment.pk)
    return shipment


def add_event(shipment: Shipment, data: dict[str, Any]) -> TrackingEvent:
    """Record a tracking event and move the shipment to the event's status."""
    with transaction.atomic():
        event = TrackingEvent.objects.create(shipment=shipment, **data)
        Shipment.objects.filter(pk=shipment.pk).update(status=event.status)
        shipment_event(EventType.SHIPMENT_UPDATED, shipment.pk)
    return event
