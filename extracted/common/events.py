"""Events as the services receive them, and the consuming loop every service shares.

The wire format (the relay's ``message_body``), one JSON object per message::

    {"id": "6f1c…", "type": "catalog.product.changed", "aggregate_type": "catalog.product",
     "aggregate_id": "42", "version": 7, "created_at": "2026-01-01T12:00:00.000001Z",
     "payload": {...a snapshot of the aggregate...}}

:class:`EventConsumer` takes messages from one queue and, for each, in ONE transaction of the
service's database: records the event id (a duplicate stops here), then calls the service's
``apply(conn, event) -> Outcome``; the message is acked only after that transaction commits.
So a consumer killed at any point loses nothing (unacked → redelivered) and applies nothing
twice (the id is committed with the change).

Failures: database unavailability (``OperationalError``) is retried for as long as it lasts,
holding the queue so order is kept; anything else is retried ``retries`` times, then the
message goes to ``sync_dead_letters`` with its error and is acked (a poison message must not
block the stream). Undecodable or malformed messages go there at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kombu.connection import Connection
from kombu.entity import Queue
from kombu.message import Message
from kombu.messaging import Consumer
from sqlalchemy.engine import Connection as DBConnection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from extracted.common.inbox import Outcome, claim, dead_letter, lock_sync, set_outcome

__all__ = ["Apply", "Event", "EventConsumer", "PoisonMessage", "handle_event", "parse_event"]

log = logging.getLogger("extracted.events")


class PoisonMessage(ValueError):
    """A message that can never be applied (malformed, or its payload is unusable)."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    version: int
    created_at: datetime  # naive UTC
    payload: dict[str, Any]


Apply = Callable[[DBConnection, Event], Outcome]


def _utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def parse_event(body: Any) -> Event:
    """The message body → :class:`Event`; ``PoisonMessage`` names what is wrong."""
    if not isinstance(body, dict):
        raise PoisonMessage(f"expected a JSON object, got {type(body).__name__}")
    try:
        version = body["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise PoisonMessage(f"version: expected an integer >= 1, got {version!r}")
        payload = body["payload"]
        if not isinstance(payload, dict):
            raise PoisonMessage("payload: expected a JSON object")
        return Event(
            id=str(body["id"]),
            type=str(body["type"]),
            aggregate_type=str(body["aggregate_type"]),
            aggregate_id=str(body["aggregate_id"]),
            version=version,
            created_at=_utc(str(body["created_at"])),
            payload=payload,
        )
    except KeyError as err:
        raise PoisonMessage(f"missing field {err.args[0]!r}") from None
    except ValueError as err:
        if isinstance(err, PoisonMessage):
            raise
        raise PoisonMessage(f"created_at: {err}") from None


def handle_event(engine: Engine, apply: Apply, event: Event) -> Outcome:
    """Dedup + apply in one transaction; the outcome (``DUPLICATE`` when seen before)."""
    with engine.begin() as conn:
        lock_sync(conn)
        if not claim(conn, event, Outcome.APPLIED):
            return Outcome.DUPLICATE
        outcome = apply(conn, event)
        if outcome is not Outcome.APPLIED:
            set_outcome(conn, event.id, outcome)
        return outcome


_TRANSIENT = (OperationalError, InterfaceError)


class EventConsumer:
    """Consume ``queue`` on ``broker`` into ``engine`` until ``stop`` is set."""

    def __init__(
        self,
        broker: Connection,
        queue: Queue,
        engine: Engine,
        apply: Apply,
        *,
        retries: int = 3,
        backoff: float = 0.1,
        prefetch: int = 20,
        stop: threading.Event | None = None,
    ) -> None:
        self.broker = broker
        self.queue = queue
        self.engine = engine
        self.apply = apply
        self.retries = retries
        self.backoff = backoff
        self.prefetch = prefetch
        self.stop = stop or threading.Event()
        self.counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self.dead = 0

    # -- one message ------------------------------------------------------------------------
    def _dead_letter(self, body: Any, error: str, attempts: int) -> None:
        event_id = str(body.get("id", "?")) if isinstance(body, dict) else "?"
        type_ = str(body.get("type", "?")) if isinstance(body, dict) else "?"
        log.error(
            "dead-lettering event %s (%s) after %d attempt(s): %s", event_id, type_, attempts, error
        )
        while True:  # the dead-letter row must be written before the ack
            try:
                with self.engine.begin() as conn:
                    dead_letter(conn, event_id, type_, body, error, attempts)
                self.dead += 1
                return
            except _TRANSIENT as err:
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
            try:
                outcome = handle_event(self.engine, self.apply, event)
            except _TRANSIENT as err:
                # the database is away: wait for it, never dead-letter for that
                log.warning("database unavailable applying %s, retrying: %s", event.id, err)
                attempts -= 1
            except Exception as err:  # the service's apply failed on this message
                if isinstance(err, PoisonMessage) or attempts >= self.retries:
                    self._dead_letter(body, f"{type(err).__name__}: {err}", attempts)
                    message.ack()
                    return
                log.warning("applying %s failed (attempt %d): %r", event.id, attempts, err)
            else:
                self.counts[outcome] += 1
                message.ack()
                return
            if self.stop.wait(pause):
                return  # unacked: redelivered to whoever consumes next
            pause = min(pause * 2, 5.0)

    def _on_decode_error(self, message: Message, exc: Exception) -> None:
        self._dead_letter(
            message.body.decode("utf-8", "replace")
            if isinstance(message.body, bytes)
            else str(message.body),
            f"undecodable: {exc}",
            1,
        )
        message.ack()

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self, *, on_ready: Callable[[], None] | None = None, idle_exit: float | None = None
    ) -> None:
        """Declare the queue, consume until ``stop`` (or ``idle_exit`` seconds without a
        message), then close (unacked messages go back to the queue).

        A lost broker connection is logged and reopened with growing pauses (unacked
        messages are redelivered by the broker); ``on_ready`` runs after each declaration.
        """
        pause = self.backoff
        while not self.stop.is_set():
            try:
                self._consume(on_ready, idle_exit)
                return
            except self.broker.connection_errors as err:
                log.warning("broker connection lost, reconnecting in %.1fs: %r", pause, err)
                with contextlib.suppress(Exception):
                    self.broker.release()
                self.broker = self.broker.clone()  # a closed kombu connection stays closed
                if self.stop.wait(pause):
                    return
                pause = min(pause * 2, 5.0)

    def _consume(self, on_ready: Callable[[], None] | None, idle_exit: float | None) -> None:
        with self.broker.channel() as channel:
            consumer = Consumer(
                channel,
                queues=[self.queue],
                callbacks=[self.on_message],
                accept=["json"],
                prefetch_count=self.prefetch,
                on_decode_error=self._on_decode_error,
            )
            with consumer:
                if on_ready is not None:
                    on_ready()
                idle = 0.0
                while not self.stop.is_set():
                    try:
                        self.broker.drain_events(timeout=0.5)
                        idle = 0.0
                    except TimeoutError:
                        idle += 0.5
                        if idle_exit is not None and idle >= idle_exit:
                            return
