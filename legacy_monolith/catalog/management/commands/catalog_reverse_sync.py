"""``python -m django catalog_reverse_sync [--broker URL]``: apply the catalog service's
product events to the monolith's tables (reverse sync, after the write cutover).

    python -m django catalog_reverse_sync --broker amqp://guest:guest@127.0.0.1:5672// \\
        [--queue monolith.catalog.reverse_sync] [--exchange strangler.events] \\
        [--retries 3] [--visibility-timeout 30] [--idle-exit SECONDS]

Declares the durable queue (bound to ``catalog.product.changed`` and ``.created``), prints
``consuming <queue>`` and applies each message in one transaction before acking it (see
:mod:`legacy_monolith.catalog.reverse_sync`). Start it BEFORE the service's relay publishes:
a message with no bound queue is dropped. The database being unavailable is retried for as
long as it lasts; any other failure ``--retries`` times, then the message is recorded as
``dead_lettered`` and acked. A lost broker connection is reopened with growing pauses.
SIGTERM/SIGINT stop it after the message in hand.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from django.db import InterfaceError, OperationalError, close_old_connections
from kombu.connection import Connection
from kombu.entity import Queue
from kombu.message import Message

from legacy_monolith.catalog.reverse_sync import (
    Outcome,
    PoisonMessage,
    apply_service_event,
    dead_letter,
)
from legacy_monolith.outbox.consume import ConsumerCommand, QueueConsumer

log = logging.getLogger("legacy_monolith.catalog.reverse_sync")

QUEUE = "monolith.catalog.reverse_sync"
PATTERNS = ["catalog.product.changed", "catalog.product.created"]


class Command(ConsumerCommand):
    help = "Apply the catalog service's product events to the monolith's tables."
    queue_name = QUEUE
    routing_patterns = PATTERNS

    def consumer(self, broker: Connection, queue: Queue, opts: dict[str, Any]) -> QueueConsumer:
        self.retries = max(1, opts["retries"])
        self.counts: Counter[str] = Counter()
        return QueueConsumer(
            broker,
            queue,
            on_message=self.on_message,
            on_decode_error=self._on_decode_error,
            on_lost=self._on_lost,
            stop=self.stop,
        )

    def _on_lost(self, err: Exception, pause: float) -> None:
        self.stderr.write(f"reverse sync: broker connection lost, retrying: {err!r}")

    def summary(self) -> str:
        counts = {str(outcome): n for outcome, n in self.counts.items()}
        return f"stopped: {json.dumps(counts)}"

    def _on_decode_error(self, message: Message, exc: Exception) -> None:
        raw = message.body
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        dead_letter(text, f"undecodable: {exc}")
        self.counts[Outcome.DEAD_LETTERED] += 1
        message.ack()

    def on_message(self, body: Any, message: Message) -> None:
        attempts, pause = 0, 0.1
        while True:
            attempts += 1
            try:
                outcome = apply_service_event(body)
            except (OperationalError, InterfaceError) as err:
                # the database is away: wait for it, never dead-letter for that
                self.stderr.write(f"reverse sync: database unavailable, retrying: {err}")
                close_old_connections()
                attempts -= 1
            except Exception as err:
                if isinstance(err, PoisonMessage) or attempts >= self.retries:
                    self.stderr.write(f"reverse sync: dead-lettering after {attempts}: {err!r}")
                    dead_letter(body, f"{type(err).__name__}: {err}")
                    self.counts[Outcome.DEAD_LETTERED] += 1
                    message.ack()
                    return
                log.warning("reverse sync: attempt %d failed: %r", attempts, err)
            else:
                self.counts[outcome] += 1
                message.ack()
                return
            if self.stop.wait(pause):
                return  # unacked: delivered again to the next consumer
            pause = min(pause * 2, 5.0)
