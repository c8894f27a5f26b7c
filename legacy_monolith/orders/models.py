from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from legacy_monolith.catalog.models import Product


def new_reference() -> str:
    """``ORD-1F2E3D4C5B6A``: a human-friendly unique order number (seeded orders use SEED-…)."""
    return "ORD-" + uuid.uuid4().hex[:12].upper()


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PAID = "paid"
        SHIPPED = "shipped"
        CANCELLED = "cancelled"

    # pending → paid → shipped; pending → cancelled (releases stock). Nothing else.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.PAID, Status.CANCELLED}),
        Status.PAID: frozenset({Status.SHIPPED}),
        Status.SHIPPED: frozenset(),
        Status.CANCELLED: frozenset(),
    }

    reference = models.CharField(max_length=32, unique=True, default=new_reference)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-id"])]

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"

    def can_become(self, new_status: str) -> bool:
        return new_status in self.TRANSITIONS[self.status]


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    sku = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField()
    line_total = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"
