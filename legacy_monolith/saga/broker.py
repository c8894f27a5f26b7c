"""Broker URL → kombu connection for the saga consumer (the consuming side, in the monolith).

The relay's transport (``legacy_monolith/outbox/broker.py``) only publishes. A consumer on the
embedded SQLite broker needs two more things, the same two the services' consumers have
(``extracted/common/broker.py``; the deployables share the file's tables, not code):

- its queue's bindings written to the shared ``strangler_binding`` table, so a publisher in
  another process (the payments service's relay) routes to it;
- leases: a fetched message stays in ``kombu_message``, invisible, until it is acked (deleted)
  or rejected; after ``visibility_timeout`` seconds without an ack it is delivered again, first
  in line (a consumer killed mid-message loses nothing).

RabbitMQ (``amqp://``) needs neither: durable queues, acks and redelivery are the broker's.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from queue import Empty
from typing import Any
from urllib.parse import urlsplit

from kombu.connection import Connection
from kombu.entity import Queue, binding
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import delete, text, update

from legacy_monolith.outbox.broker import (
    EXCHANGE_NAME,
    PublisherChannel,
    _sqlite_file,
    events_exchange,
)

__all__ = ["QUEUE", "ROUTING_PATTERNS", "connect_consumer", "saga_queue"]

QUEUE = "monolith.saga"
ROUTING_PATTERNS = ["payments.payment.*"]


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
    path = _sqlite_file(url)
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


def saga_queue(name: str = QUEUE, exchange: str = EXCHANGE_NAME) -> Queue:
    """The durable queue bound to ``payments.payment.*`` on the topic exchange."""
    ex = events_exchange(exchange)
    return Queue(
        name,
        exchange=ex,
        bindings=[binding(ex, routing_key=p) for p in ROUTING_PATTERNS],
        durable=True,
    )
