"""The relay: publish unsent outbox rows in ``seq`` order, then mark them sent.

At least once: a row is marked sent only after the broker confirmed it (RabbitMQ publisher
confirms; the embedded transport commits before ``publish`` returns). A relay killed between
the two publishes the batch again when it restarts; consumers deduplicate by event id.

Per-aggregate order: the events of one aggregate get their versions under the aggregate's row
lock (see :mod:`.events`), so their ``seq`` order is their version order, and a single relay
publishing in ``seq`` order keeps it. Only one relay may run per database: :func:`relay_lock`
takes a PostgreSQL advisory lock (or a lock file next to a SQLite database) and waits for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils import timezone
from kombu import Connection, Producer

from legacy_monolith.outbox.broker import events_exchange
from legacy_monolith.outbox.models import OutboxEvent

__all__ = ["Relay", "message_body", "relay_lock"]

log = logging.getLogger("legacy_monolith.outbox.relay")

_ADVISORY_KEY = 0x4F555442  # "OUTB": any constant shared by every relay of a database


def message_body(row: OutboxEvent) -> dict[str, Any]:
    """The wire format of one event (``id`` is the event's UUID)."""
    created = row.created_at.astimezone(UTC).replace(tzinfo=None)
    return {
        "id": str(row.event_id),
        "type": row.type,
        "aggregate_type": row.aggregate_type,
        "aggregate_id": row.aggregate_id,
        "version": row.version,
        "created_at": created.isoformat(timespec="microseconds") + "Z",
        "payload": row.payload,
    }


@contextlib.contextmanager
def relay_lock() -> Iterator[None]:
    """Hold the one-relay-per-database lock (blocks until it is free)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_ADVISORY_KEY])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_KEY])
        return
    name = str(connection.settings_dict["NAME"])
    with open(Path(name).with_name(Path(name).name + ".relay.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes (or the process dies)
        yield


class Relay:
    """Publishes batches of unsent events through one kombu connection."""

    def __init__(self, conn: Connection, *, exchange: str, batch_size: int = 100) -> None:
        self.conn = conn
        self.exchange = events_exchange(exchange)
        self.batch_size = batch_size
        self.published = 0
        self._producer: Producer | None = None

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            channel = self.conn.channel()
            self.exchange.declare(channel=channel)
            self._producer = Producer(channel, exchange=self.exchange, serializer="json")
        return self._producer

    def reset(self) -> None:
        """Forget the channel after a broker error; the next batch reconnects."""
        self._producer = None
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = self.conn.clone()  # a closed kombu connection cannot be reopened

    def publish_batch(self) -> int:
        """Publish up to ``batch_size`` unsent rows, oldest first; return how many."""
        rows = list(
            OutboxEvent.objects.filter(sent_at__isnull=True).order_by("seq")[: self.batch_size]
        )
        if not rows:
            return 0
        producer = self._ensure_producer()
        for row in rows:
            producer.publish(
                message_body(row),
                routing_key=row.type,
                message_id=str(row.event_id),
                delivery_mode=2,
                headers={"aggregate": f"{row.aggregate_type}:{row.aggregate_id}"},
            )
        OutboxEvent.objects.filter(seq__in=[row.seq for row in rows]).update(sent_at=timezone.now())
        self.published += len(rows)
        log.info("published %d events (seq %d..%d)", len(rows), rows[0].seq, rows[-1].seq)
        return len(rows)
