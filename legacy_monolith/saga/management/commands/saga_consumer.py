"""``python -m django saga_consumer``: apply the payments service's outcomes to the shop.

    python -m django saga_consumer [--broker URL] [--queue monolith.saga]
        [--exchange strangler.events] [--retries 3] [--visibility-timeout 30] [--idle-exit S]

Declares the durable queue ``monolith.saga`` bound to ``payments.payment.*`` and applies each
event once (see :mod:`legacy_monolith.saga.services`). Start it before the payments worker.
Prints ``consuming <queue>`` once the queue is declared; stops on SIGTERM/SIGINT after the
message in hand and prints ``stopped: {outcome: count}``.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from kombu.connection import Connection
from kombu.entity import Queue

from legacy_monolith.outbox.consume import ConsumerCommand
from legacy_monolith.saga.consumer import QUEUE, ROUTING_PATTERNS, SagaConsumer


class Command(ConsumerCommand):
    help = "Consume payments.payment.* from the payments service: pay + ship, or compensate."
    queue_name = QUEUE
    routing_patterns = ROUTING_PATTERNS

    def consumer(self, broker: Connection, queue: Queue, opts: dict[str, Any]) -> SagaConsumer:
        if settings.STRANGLER_PAYMENTS_OWNER != "service":
            self.stderr.write(
                "saga consumer: STRANGLER_PAYMENTS_OWNER is not 'service'; the monolith still "
                "takes payments itself (its own payment events are ignored here)"
            )
        self.saga = SagaConsumer(broker, queue, retries=opts["retries"], stop=self.stop)
        return self.saga

    def summary(self) -> str:
        counts = json.dumps(dict(sorted(self.saga.counts.items())))
        return f"stopped: {counts}, dead-lettered {self.saga.dead}"
