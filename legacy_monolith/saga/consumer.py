"""The saga's consuming loop: one message at a time, acked after its transaction commits.

Failures, as the services' consumers (``extracted/common/events.py``) handle them: the
database being unavailable (``OperationalError``/``InterfaceError``) is retried for as long as
it lasts, holding the queue so order is kept; any other error is retried ``retries`` times,
then the message is written to ``SagaDeadLetter`` and acked; malformed messages go there at
once. A lost broker connection is reopened with growing pauses (up to 5 s).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from typing import Any

from django.db import InterfaceError, OperationalError, close_old_connections, connection
from kombu.connection import Connection
from kombu.entity import Queue
from kombu.message import Message

from legacy_monolith.outbox.consume import QueueConsumer
from legacy_monolith.saga.models import SagaDeadLetter
from legacy_monolith.saga.services import PoisonMessage, handle, parse_event

__all__ = ["QUEUE", "ROUTING_PATTERNS", "SagaConsumer"]

QUEUE = "monolith.saga"
ROUTING_PATTERNS = ["payments.payment.*"]  # the queue's bindings on the topic exchange

log = logging.getLogger("legacy_monolith.saga")
_TRANSIENT = (OperationalError, InterfaceError)


class SagaConsumer(QueueConsumer):
    def __init__(
        self,
        broker: Connection,
        queue: Queue,
        *,
        retries: int = 3,
        backoff: float = 0.1,
        prefetch: int = 20,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(
            broker,
            queue,
            on_message=self.on_message,
            on_decode_error=self._on_decode_error,
            on_lost=self._on_lost,
            stop=stop,
            prefetch=prefetch,
            backoff=backoff,
        )
        self.retries = retries
        self.counts: Counter[str] = Counter()
        self.dead = 0

    def _on_lost(self, err: Exception, pause: float) -> None:
        log.warning("broker connection lost, reconnecting in %.1fs: %r", pause, err)

    def _dead_letter(self, body: Any, error: str, attempts: int) -> None:
        event_id = str(body.get("id", "?")) if isinstance(body, dict) else "?"
        type_ = str(body.get("type", "?")) if isinstance(body, dict) else "?"
        log.error(
            "dead-lettering %s (%s) after %d attempt(s): %s", event_id, type_, attempts, error
        )
        text_body = body if isinstance(body, str) else json.dumps(body, default=str)
        while True:  # the dead-letter row must be written before the ack
            try:
                SagaDeadLetter.objects.create(
                    event_id=event_id[:64],
                    type=type_[:100],
                    body=text_body,
                    error=error[:2000],
                    attempts=attempts,
                )
                self.dead += 1
                return
            except _TRANSIENT as err:
                connection.close()
                if self.stop.wait(1.0):
                    raise InterruptedError("stopping with a dead letter unwritten") from err

    def on_message(self, body: Any, message: Message) -> None:
        try:
            event = parse_event(body)
        except PoisonMessage as err:
            self._dead_letter(body, f"malformed: {err}", 1)
            message.ack()
            return
        attempts, pause = 0, self.backoff
        while True:
            attempts += 1
            close_old_connections()
            try:
                outcome = handle(event)
            except _TRANSIENT as err:
                log.warning("database unavailable applying %s, retrying: %s", event.id, err)
                connection.close()  # a broken connection is not reused
                attempts -= 1
            except Exception as err:
                if isinstance(err, PoisonMessage) or attempts >= self.retries:
                    self._dead_letter(body, f"{type(err).__name__}: {err}", attempts)
                    message.ack()
                    return
                log.warning("applying %s failed (attempt %d): %r", event.id, attempts, err)
            else:
                self.counts[outcome] += 1
                log.info("%s %s order %s: %s", event.type, event.id, event.order_id, outcome)
                message.ack()
                return
            if self.stop.wait(pause):
                return  # unacked: delivered again to whoever consumes next
            pause = min(pause * 2, 5.0)

    def _on_decode_error(self, message: Message, exc: Exception) -> None:
        body = message.body
        text_body = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        self._dead_letter(text_body, f"undecodable: {exc}", 1)
        message.ack()
