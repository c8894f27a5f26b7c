from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from legacy_monolith.orders.models import Order


def new_tracking_number() -> str:
    return "TRK" + uuid.uuid4().hex[:13].upper()


class Shipment(models.Model):
    class Status(models.TextChoices):
        LABEL_CREATED = "label_created"
        IN_TRANSIT = "in_transit"
        OUT_FOR_DELIVERY = "out_for_delivery"
        DELIVERED = "delivered"

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="shipment")
    carrier = models.CharField(max_length=50, default="DemoPost")
    tracking_number = models.CharField(max_length=32, unique=True, default=new_tracking_number)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.LABEL_CREATED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.tracking_number} ({self.status})"


class TrackingEvent(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=20, choices=Shipment.Status.choices)
    location = models.CharField(max_length=100, blank=True, default="")
    message = models.CharField(max_length=255, blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.status} at {self.occurred_at:%Y-%m-%d %H:%M}"
