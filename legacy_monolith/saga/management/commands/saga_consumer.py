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
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from legacy_monolith.outbox.broker import EXCHANGE_NAME
from legacy_monolith.saga.broker import QUEUE, connect_consumer, saga_queue
from legacy_monolith.saga.consumer import SagaConsumer


class Command(BaseCommand):
    help = "Consume payments.payment.* from the payments service: pay + ship, or compensate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--broker", default=None, help="broker URL (default: STRANGLER_BROKER_URL)"
        )
        parser.add_argument("--queue", default=QUEUE)
        parser.add_argument("--exchange", default=EXCHANGE_NAME)
        parser.add_argument("--retries", type=int, default=3)
        parser.add_argument("--visibility-timeout", type=float, default=30.0)
        parser.add_argument("--idle-exit", type=float, default=None, help="exit after N idle s")

    def handle(self, *args: Any, **opts: Any) -> None:
        url = opts["broker"] or settings.STRANGLER_BROKER_URL
        try:
            broker = connect_consumer(url, visibility_timeout=opts["visibility_timeout"])
        except ValueError as err:
            raise CommandError(str(err)) from err
        if settings.STRANGLER_PAYMENTS_OWNER != "service":
            self.stderr.write(
                "saga consumer: STRANGLER_PAYMENTS_OWNER is not 'service'; the monolith still "
                "takes payments itself (its own payment events are ignored here)"
            )
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        consumer = SagaConsumer(
            broker, saga_queue(opts["queue"], opts["exchange"]), retries=opts["retries"], stop=stop
        )

        def ready() -> None:
            self.stdout.write(f"consuming {opts['queue']} from {broker.as_uri()}")
            self.stdout.flush()

        try:
            consumer.run(on_ready=ready, idle_exit=opts["idle_exit"])
        finally:
            consumer.broker.release()
        counts = json.dumps(dict(sorted(consumer.counts.items())))
        self.stdout.write(f"stopped: {counts}, dead-lettered {consumer.dead}")
