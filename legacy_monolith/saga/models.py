"""The saga consumer's bookkeeping: events handled (the dedup table) and dead letters."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SagaProcessedEvent(models.Model):
    """One row per event id ever handled, written in the transaction of its change."""

    class Outcome(models.TextChoices):
        SHIPPED = "shipped"  # payment succeeded: order paid, shipment created
        COMPENSATED = "compensated"  # payment failed: order cancelled, stock released
        IGNORED = "ignored"  # not ours (the monolith's own payment events), or order moved on
        REFUND_NEEDED = "refund_needed"  # paid for an order cancelled meanwhile (not automated)

    event_id = models.CharField(max_length=64, primary_key=True)
    type = models.CharField(max_length=100)
    order_id = models.BigIntegerField(null=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=255, blank=True, default="")
    event_created_at = models.CharField(max_length=40, blank=True, default="")
    processed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["processed_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}: {self.outcome}"


class SagaDeadLetter(models.Model):
    """An event that could not be applied after the retries (or could never be)."""

    event_id = models.CharField(max_length=64, db_index=True)
    type = models.CharField(max_length=100)
    body = models.TextField()
    error = models.TextField()
    attempts = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"dead letter {self.event_id} ({self.type})"
