"""The consuming side of the broker for the monolith's ``catalog_reverse_sync``.

    sqlite:///var/broker.sqlite3          the embedded transport (a file under the repo)
    amqp://guest:guest@127.0.0.1:5672//   RabbitMQ (py-amqp)

The publisher side (``legacy_monolith/outbox/broker.py``) only publishes; consuming from the
embedded transport needs what ``extracted/common/broker.py`` adds to kombu's ``sqlalchemy``
transport: queue bindings written to the ``strangler_binding`` table shared through the file
(so the catalog's relay, another process, routes to this queue) and leases (a fetched message
stays in its table until acked, and is delivered again if the consumer dies first). The
deployables never import each other, so those few methods are repeated here, on the same
tables.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from kombu.connection import Connection
from kombu.entity import Exchange, Queue, binding
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine, delete, text, update
from sqlalchemy.exc import SADeprecationWarning
from sqlalchemy.orm import configure_mappers

__all__ = ["connect", "events_queue"]

_SQLITE_ALIASES = ("sqla+sqlite://", "sqlalchemy+sqlite://")
_BINDING_DDL = (
    "CREATE TABLE IF NOT EXISTS strangler_binding ("
    " exchange VARCHAR(200) NOT NULL, routing_key VARCHAR(200) NOT NULL,"
    " pattern VARCHAR(400) NOT NULL, queue VARCHAR(200) NOT NULL,"
    " PRIMARY KEY (exchange, routing_key, queue))"
)


class LeasingChannel(kombu_sqla.Channel):
    """kombu's SQLAlchemy channel with shared bindings and leased (ack-deleted) messages."""

    def _open(self) -> Any:
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
        self._rows: dict[str, int] = {}

    def _engine_from_config(self) -> Any:
        engine = create_engine(self.connection.client.hostname, connect_args={"timeout": 20})
        with engine.begin() as conn:
            conn.execute(text(_BINDING_DDL))
        return engine

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
        rows = self.session.execute(
            text("SELECT routing_key, pattern, queue FROM strangler_binding WHERE exchange = :e"),
            {"e": exchange},
        ).all()
        self.session.commit()
        return [(str(key), str(pattern), str(queue)) for key, pattern, queue in rows]

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


class LeasingTransport(kombu_sqla.Transport):
    Channel = LeasingChannel
    polling_interval = 0.05


def _sqlite_file(url: str) -> Path | None:
    for alias in _SQLITE_ALIASES:
        if url.startswith(alias):
            url = "sqlite://" + url[len(alias) :]
    if urlsplit(url).scheme != "sqlite":
        return None
    raw = unquote(url[len("sqlite://") :])
    if not raw.startswith("/") or raw == "/":
        raise ValueError(f"broker URL: expected sqlite:///rel or sqlite:////abs, got {url!r}")
    path = Path(raw[1:])
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


def connect(url: str, **transport_options: Any) -> Connection:
    """A kombu ``Connection`` to consume from; ``ValueError`` for a URL it does not know."""
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Connection(
            f"sqlite:///{path}", transport=LeasingTransport, transport_options=transport_options
        )
    scheme = urlsplit(url).scheme
    if scheme in {"amqp", "pyamqp", "amqps"}:
        return Connection(url, heartbeat=0)
    raise ValueError(f"broker URL: unsupported scheme {scheme!r} in {url!r} (sqlite:// or amqp://)")


def events_queue(name: str, patterns: list[str], exchange: str) -> Queue:
    """A durable queue bound to the topic ``exchange`` once per routing-key pattern."""
    ex = Exchange(exchange, type="topic", durable=True)
    return Queue(
        name, exchange=ex, bindings=[binding(ex, routing_key=p) for p in patterns], durable=True
    )
