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

import contextlib
import json
import logging
import signal
import threading
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import InterfaceError, OperationalError, close_old_connections
from kombu.message import Message
from kombu.messaging import Consumer

from legacy_monolith.catalog._broker import connect, events_queue
from legacy_monolith.catalog.reverse_sync import (
    Outcome,
    PoisonMessage,
    apply_service_event,
    dead_letter,
)

log = logging.getLogger("legacy_monolith.catalog.reverse_sync")

QUEUE = "monolith.catalog.reverse_sync"
PATTERNS = ["catalog.product.changed", "catalog.product.created"]
EXCHANGE = "strangler.events"


class Command(BaseCommand):
    help = "Apply the catalog service's product events to the monolith's tables."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--broker", default=None, help="broker URL (default: STRANGLER_BROKER_URL)"
        )
        parser.add_argument("--queue", default=QUEUE)
        parser.add_argument("--exchange", default=EXCHANGE)
        parser.add_argument("--retries", type=int, default=3)
        parser.add_argument("--visibility-timeout", type=float, default=30.0)
        parser.add_argument("--idle-exit", type=float, default=None, help="exit after N idle s")

    def handle(self, *args: Any, **opts: Any) -> None:
        url = opts["broker"] or settings.STRANGLER_BROKER_URL
        try:
            self.broker = connect(url, visibility_timeout=opts["visibility_timeout"])
        except ValueError as err:
            raise CommandError(str(err)) from err
        self.retries = max(1, opts["retries"])
        self.counts: Counter[str] = Counter()
        self.stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop.set())
        queue = events_queue(opts["queue"], PATTERNS, opts["exchange"])
        pause = 0.1
        try:
            while not self.stop.is_set():
                try:
                    self._consume(queue, opts["idle_exit"])
                    break
                except self.broker.connection_errors as err:
                    self.stderr.write(f"reverse sync: broker connection lost, retrying: {err!r}")
                    with contextlib.suppress(Exception):
                        self.broker.release()
                    self.broker = self.broker.clone()
                    if self.stop.wait(pause):
                        break
                    pause = min(pause * 2, 5.0)
        finally:
            self.broker.release()
        counts = {str(outcome): n for outcome, n in self.counts.items()}
        self.stdout.write(f"stopped: {json.dumps(counts)}")

    def _consume(self, queue: Any, idle_exit: float | None) -> None:
        with self.broker.channel() as channel:
            consumer = Consumer(
                channel,
                queues=[queue],
                callbacks=[self.on_message],
                accept=["json"],
                prefetch_count=20,
                on_decode_error=self._on_decode_error,
            )
            with consumer:
                self.stdout.write(f"consuming {queue.name} from {self.broker.as_uri()}")
                self.stdout.flush()
                idle = 0.0
                while not self.stop.is_set():
                    try:
                        self.broker.drain_events(timeout=0.5)
                        idle = 0.0
                    except TimeoutError:
                        idle += 0.5
                        if idle_exit is not None and idle >= idle_exit:
                            return

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
