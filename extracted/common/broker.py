"""Broker URL → kombu connection, and the embedded, durable SQLite transport.

Accepted broker URLs (``STRANGLER_BROKER_URL`` / ``--broker``)::

    sqlite:///var/broker.sqlite3          the default: embedded, a file relative to the repo
    sqlite:////tmp/broker.sqlite3         an absolute path (sqla+sqlite:// and
                                          sqlalchemy+sqlite:// are accepted as aliases)
    amqp://guest:guest@127.0.0.1:5672//   RabbitMQ (py-amqp), publisher confirms on

Events go to the topic exchange ``strangler.events``; the routing key is the event type
(``catalog.product.changed``) and a consumer binds its queue with patterns (``catalog.#``).

Why a transport of our own for the embedded case: kombu's ``sqlalchemy`` transport keeps the
exchange bindings in the memory of the process that declared them (a relay in another process
would find no queue and drop the message), and it marks a message delivered when it is fetched,
so a consumer killed before its ack loses that message for good. :class:`SQLiteChannel` keeps
kombu's ``kombu_queue``/``kombu_message`` tables and adds:

- bindings in a ``strangler_binding`` table, shared by every process using the file;
- a lease instead of a delivery: a fetched message stays in the table, invisible, until it is
  acked (deleted) or rejected; a lease older than ``visibility_timeout`` seconds (default 30)
  is given back, so the message of a consumer that died is delivered again, first in line.

The monolith's relay publishes through ``legacy_monolith/outbox/broker.py``, which reads the
same ``strangler_binding`` table (the deployables share the file format, not code).
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta
from queue import Empty
from typing import Any
from urllib.parse import urlsplit

from kombu.connection import Connection
from kombu.entity import Exchange, Queue, binding
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine, delete, text, update
from sqlalchemy.exc import SADeprecationWarning
from sqlalchemy.orm import configure_mappers

from extracted.common.dburl import sqlite_path

__all__ = [
    "DEFAULT_BROKER_URL",
    "EXCHANGE_NAME",
    "SQLiteTransport",
    "connect",
    "events_exchange",
    "events_queue",
]

DEFAULT_BROKER_URL = "sqlite:///var/broker.sqlite3"
EXCHANGE_NAME = "strangler.events"
_SQLITE_ALIASES = ("sqla+sqlite://", "sqlalchemy+sqlite://")

_BINDING_DDL = (
    "CREATE TABLE IF NOT EXISTS strangler_binding ("
    " exchange VARCHAR(200) NOT NULL, routing_key VARCHAR(200) NOT NULL,"
    " pattern VARCHAR(400) NOT NULL, queue VARCHAR(200) NOT NULL,"
    " PRIMARY KEY (exchange, routing_key, queue))"
)


class SQLiteChannel(kombu_sqla.Channel):
    """kombu's SQLAlchemy channel with shared bindings and leased (ack-deleted) messages."""

    def _open(self) -> Any:
        # kombu's models declare ``lazy="noload"``, deprecated since SQLAlchemy 2.1: their
        # mapper configuration warns once per process. Configure them here, that one warning
        # silenced, so it does not reach (or, with warnings as errors, break) the caller.
        opened = super()._open()
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", "The ``noload`` loader strategy", SADeprecationWarning
            )
            configure_mappers()
        return opened

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        options = connection.client.transport_options
        self.visibility_timeout = float(options.get("visibility_timeout", 30.0))
        self._rows: dict[str, int] = {}  # delivery tag → kombu_message.id

    def _engine_from_config(self) -> Any:
        # transport options are ours (visibility_timeout, polling_interval), not the engine's
        engine = create_engine(self.connection.client.hostname, connect_args={"timeout": 20})
        with engine.begin() as conn:
            conn.execute(text(_BINDING_DDL))
        return engine

    # -- bindings shared through the file --------------------------------------------------
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

    def get_table(self, exchange: str) -> list[tuple[str, str, str]]:
        """``(routing_key, regex, queue)`` rows, as kombu's exchange types expect them."""
        rows = self.session.execute(
            text("SELECT routing_key, pattern, queue FROM strangler_binding WHERE exchange = :e"),
            {"e": exchange},
        ).all()
        self.session.commit()
        return [(str(key), str(pattern), str(queue)) for key, pattern, queue in rows]

    # -- leases -----------------------------------------------------------------------------
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
        """Delete the leased row (``visible=None``) or make it visible again."""
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
        super().basic_reject(delivery_tag, requeue)  # requeue → _restore_at_beginning

    def _restore(self, message: Any) -> None:
        # unacked at close or rejected with requeue: the row is still there, show it again
        self._set_row(message.delivery_tag, visible=True)

    def _restore_at_beginning(self, message: Any) -> None:
        self._restore(message)


class SQLiteTransport(kombu_sqla.Transport):
    Channel = SQLiteChannel
    polling_interval = 0.05


def _sqlite_url(url: str) -> str | None:
    for alias in _SQLITE_ALIASES:
        if url.startswith(alias):
            url = "sqlite://" + url[len(alias) :]
    path = sqlite_path(url) if urlsplit(url).scheme == "sqlite" else None
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def connect(url: str, **transport_options: Any) -> Connection:
    """A kombu ``Connection`` for a broker URL (see the module docstring); not yet connected.

    ``sqlite:///var/broker.sqlite3`` → the embedded transport on ``<repo>/var/broker.sqlite3``;
    ``amqp://...`` → RabbitMQ with publisher confirms. Anything else raises ``ValueError``.
    """
    sqlite = _sqlite_url(url)
    if sqlite is not None:
        return Connection(sqlite, transport=SQLiteTransport, transport_options=transport_options)
    scheme = urlsplit(url).scheme
    if scheme in {"amqp", "pyamqp", "amqps"}:
        options = {"confirm_publish": True, **transport_options}
        return Connection(url, transport_options=options, heartbeat=0)
    raise ValueError(f"broker URL: unsupported scheme {scheme!r} in {url!r} (sqlite:// or amqp://)")


def events_exchange(name: str = EXCHANGE_NAME) -> Exchange:
    return Exchange(name, type="topic", durable=True)


def events_queue(name: str, patterns: list[str], exchange: str = EXCHANGE_NAME) -> Queue:
    """A durable queue bound to ``exchange`` once per routing-key pattern."""
    ex = events_exchange(exchange)
    return Queue(
        name,
        exchange=ex,
        bindings=[binding(ex, routing_key=p) for p in patterns],
        durable=True,
    )
