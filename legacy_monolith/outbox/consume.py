"""Broker URL → kombu connection to consume from (the monolith's consuming side).

Used by the saga consumer (``saga_consumer``) and the catalog's reverse sync
(``catalog_reverse_sync``). The relay's transport (``legacy_monolith/outbox/broker.py``) only
publishes. A consumer on the embedded SQLite broker needs two more things, the same two the
services' consumers have (``extracted/common/broker.py``; the deployables share the file's
tables, not code):

- its queue's bindings written to the shared ``strangler_binding`` table, so a publisher in
  another process (a service's relay) routes to it;
- leases: a fetched message stays in ``kombu_message``, invisible, until it is acked (deleted)
  or rejected; after ``visibility_timeout`` seconds without an ack it is delivered again, first
  in line (a consumer killed mid-message loses nothing).

RabbitMQ (``amqp://``) needs neither: durable queues, acks and redelivery are the broker's.

Also the consuming loop both commands run (:class:`QueueConsumer`: a lost broker connection is
reopened with growing pauses, up to 5 s) and their common command body
(:class:`ConsumerCommand`: flags, signals, ``consuming <queue> from <broker>``).
"""

from __future__ import annotations

import abc
import contextlib
import json
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from queue import Empty
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from kombu.connection import Connection
from kombu.entity import Queue, binding
from kombu.message import Message
from kombu.messaging import Consumer
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import delete, text, update

from legacy_monolith.outbox.broker import (
    EXCHANGE_NAME,
    PublisherChannel,
    events_exchange,
    sqlite_file,
)

__all__ = [
    "ConsumerCommand",
    "QueueConsumer",
    "connect_consumer",
    "events_queue",
]


class ConsumerChannel(PublisherChannel):
    """Shared bindings + leased (ack-deleted) messages on the embedded SQLite broker."""

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        options = connection.client.transport_options
        self.visibility_timeout = float(options.get("visibility_timeout", 30.0))
        self._rows: dict[str, int] = {}  # delivery tag → kombu_message.id

    def queue_bind(
        self,
        queue: str,
        exchange: str | None = None,
        routing_key: str = "",
        arguments: Any = None,
        **kwargs: Any,
    ) -> None:
        super().queue_bind(queue, exchange, routing_key, arguments, **kwargs)
        exchange = exchange or "amq.direct"
        _, pattern, _ = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, None)
        self.session.execute(
            text(
                "INSERT OR IGNORE INTO strangler_binding (exchange, routing_key, pattern, queue)"
                " VALUES (:e, :r, :p, :q)"
            ),
            {"e": exchange, "r": routing_key or "", "p": str(pattern or ""), "q": queue},
        )
        self.session.commit()

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        obj = self._get_or_create(queue)
        model = self.message_cls
        session = self.session
        session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            now = datetime.now()
            expired = now - timedelta(seconds=self.visibility_timeout)
            session.execute(
                update(model)
                .where(model.queue_id == obj.id, model.visible.is_(False), model.sent_at < expired)
                .values(visible=True)
            )
            msg = (
                session.query(model)
                .filter(model.queue_id == obj.id, model.visible.is_not(False))
                .order_by(model.id)
                .limit(1)
                .first()
            )
            if msg is None:
                raise Empty()
            msg.visible = False
            msg.sent_at = now
            payload: dict[str, Any] = json.loads(msg.payload)
            self._rows[payload["properties"]["delivery_tag"]] = int(msg.id)
            return payload
        finally:
            session.commit()

    def _set_row(self, delivery_tag: str, *, visible: bool | None) -> None:
        row = self._rows.pop(delivery_tag, None)
        if row is None:
            return
        model = self.message_cls
        if visible is None:
            self.session.execute(delete(model).where(model.id == row))
        else:
            self.session.execute(update(model).where(model.id == row).values(visible=True))
        self.session.commit()

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        self._set_row(delivery_tag, visible=None)
        super().basic_ack(delivery_tag, multiple)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if not requeue:
            self._set_row(delivery_tag, visible=None)
        super().basic_reject(delivery_tag, requeue)

    def _restore(self, message: Any) -> None:
        self._set_row(message.delivery_tag, visible=True)

    def _restore_at_beginning(self, message: Any) -> None:
        self._restore(message)


class ConsumerTransport(kombu_sqla.Transport):
    Channel = ConsumerChannel
    polling_interval = 0.05


def connect_consumer(url: str, *, visibility_timeout: float = 30.0) -> Connection:
    """A kombu ``Connection`` to consume from; ``ValueError`` names a URL it does not know."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Connection(
            f"sqlite:///{path}",
            transport=ConsumerTransport,
            transport_options={"visibility_timeout": visibility_timeout},
        )
    scheme = urlsplit(url).scheme
    if scheme in {"amqp", "pyamqp", "amqps"}:
        return Connection(url, transport_options={"confirm_publish": True}, heartbeat=0)
    raise ValueError(f"broker URL: unsupported scheme {scheme!r} in {url!r} (sqlite:// or amqp://)")


def events_queue(name: str, patterns: list[str], exchange: str = EXCHANGE_NAME) -> Queue:
    """A durable queue bound to the topic ``exchange`` once per routing-key pattern."""
    ex = events_exchange(exchange)
    return Queue(
        name, exchange=ex, bindings=[binding(ex, routing_key=p) for p in patterns], durable=True
    )


class QueueConsumer:
    """Consumes one queue until ``stop`` (or ``idle_exit`` idle seconds), ``prefetch`` at a time.

    ``on_message(body, message)`` acks (or not) each message; ``on_decode_error(message, exc)``
    gets what is not JSON. A lost broker connection is reported to ``on_lost(err, pause)``,
    then replaced by a clone after ``pause`` seconds (doubling, up to 5 s); ``broker`` is the
    connection in use, for the caller to release.
    """

    def __init__(
        self,
        broker: Connection,
        queue: Queue,
        *,
        on_message: Callable[[Any, Message], None],
        on_decode_error: Callable[[Message, Exception], None],
        on_lost: Callable[[Exception, float], None],
        stop: threading.Event | None = None,
        prefetch: int = 20,
        backoff: float = 0.1,
    ) -> None:
        self.broker = broker
        self.queue = queue
        self.on_message = on_message
        self.on_decode_error = on_decode_error
        self.on_lost = on_lost
        self.stop = stop or threading.Event()
        self.prefetch = prefetch
        self.backoff = backoff

    def run(
        self, *, on_ready: Callable[[], None] | None = None, idle_exit: float | None = None
    ) -> None:
        """Declare the queue and consume until ``stop`` (or ``idle_exit`` idle seconds)."""
        pause = self.backoff
        while not self.stop.is_set():
            try:
                self._consume(on_ready, idle_exit)
                return
            except self.broker.connection_errors as err:
                self.on_lost(err, pause)
                with contextlib.suppress(Exception):
                    self.broker.release()
                self.broker = self.broker.clone()
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
                on_decode_error=self.on_decode_error,
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


class _Runnable(Protocol):
    broker: Connection

    def run(
        self, *, on_ready: Callable[[], None] | None = None, idle_exit: float | None = None
    ) -> None: ...


class ConsumerCommand(BaseCommand, abc.ABC):
    """A management command consuming one queue: ``--broker`` (default
    ``STRANGLER_BROKER_URL``), ``--queue``, ``--exchange``, ``--retries``,
    ``--visibility-timeout``, ``--idle-exit``. Declares the durable queue bound to
    ``routing_patterns``, prints ``consuming <queue> from <broker>`` once it is consumed (again
    after a reconnect), stops on SIGTERM/SIGINT (``self.stop``), then prints ``summary()``.
    """

    queue_name: ClassVar[str]
    routing_patterns: ClassVar[list[str]]
    stop: threading.Event

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--broker", default=None, help="broker URL (default: STRANGLER_BROKER_URL)"
        )
        parser.add_argument("--queue", default=self.queue_name)
        parser.add_argument("--exchange", default=EXCHANGE_NAME)
        parser.add_argument("--retries", type=int, default=3)
        parser.add_argument("--visibility-timeout", type=float, default=30.0)
        parser.add_argument("--idle-exit", type=float, default=None, help="exit after N idle s")

    @abc.abstractmethod
    def consumer(self, broker: Connection, queue: Queue, opts: dict[str, Any]) -> _Runnable:
        """What consumes ``queue`` (``run(on_ready=, idle_exit=)``, ``broker``)."""

    @abc.abstractmethod
    def summary(self) -> str:
        """The last line printed, once stopped."""

    def handle(self, *args: Any, **opts: Any) -> None:
        url = opts["broker"] or settings.STRANGLER_BROKER_URL
        try:
            broker = connect_consumer(url, visibility_timeout=opts["visibility_timeout"])
        except ValueError as err:
            raise CommandError(str(err)) from err
        self.stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop.set())
        queue = events_queue(opts["queue"], self.routing_patterns, opts["exchange"])
        consumer = self.consumer(broker, queue, opts)

        def ready() -> None:
            self.stdout.write(f"consuming {queue.name} from {consumer.broker.as_uri()}")
            self.stdout.flush()

        try:
            consumer.run(on_ready=ready, idle_exit=opts["idle_exit"])
        finally:
            consumer.broker.release()
        self.stdout.write(self.summary())
