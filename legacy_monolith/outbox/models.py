"""One row per domain event, written in the transaction of the change that caused it.

``seq`` (the auto-increment key) is the relay's reading order; ``event_id`` (a UUID) is the
event's identity on the wire (``"id"`` in the message body), which consumers deduplicate on.
``version`` counts the events of one aggregate (1, 2, 3, ...): consumers never let an older
version overwrite a newer one. ``sent_at`` stays null until the relay has published the row.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class OutboxEvent(models.Model):
    seq = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=50)
    aggregate_id = models.CharField(max_length=64)
    version = models.PositiveBigIntegerField()
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id", "version"],
                name="outbox_one_version_per_aggregate",
            )
        ]
        indexes = [
            # the relay's query: unsent rows in seq order
            models.Index(fields=["sent_at", "seq"], name="outbox_unsent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.aggregate_type}:{self.aggregate_id} v{self.version}"
