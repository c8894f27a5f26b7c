"""Broker URL → kombu connection for the relay (the publishing side).

    sqlite:///var/broker.sqlite3          default: the embedded transport, a file under the repo
    sqlite:////tmp/broker.sqlite3         absolute path (sqla+sqlite://, sqlalchemy+sqlite://
                                          are aliases)
    amqp://guest:guest@127.0.0.1:5672//   RabbitMQ; publisher confirms, persistent messages

The embedded transport is kombu's ``sqlalchemy`` transport on a SQLite file, with one change:
the exchange's bindings are read from the ``strangler_binding`` table that consumers write
(kombu keeps them in the declaring process's memory, where a relay in another process cannot
see them). The consuming side adds leases and acks: ``legacy_monolith/outbox/consume.py`` in
the monolith, ``extracted/common/broker.py`` in the services; the monolith and the services
share the file's tables, not code, as the deployables never import each other.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from kombu.connection import Connection
from kombu.entity import Exchange
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SADeprecationWarning
from sqlalchemy.orm import configure_mappers

__all__ = ["EXCHANGE_NAME", "PublisherChannel", "connect", "events_exchange", "sqlite_file"]

EXCHANGE_NAME = "strangler.events"
_SQLITE_ALIASES = ("sqla+sqlite://", "sqlalchemy+sqlite://")
_BINDING_DDL = (
    "CREATE TABLE IF NOT EXISTS strangler_binding ("
    " exchange VARCHAR(200) NOT NULL, routing_key VARCHAR(200) NOT NULL,"
    " pattern VARCHAR(400) NOT NULL, queue VARCHAR(200) NOT NULL,"
    " PRIMARY KEY (exchange, routing_key, queue))"
)


class PublisherChannel(kombu_sqla.Channel):
    """Publishes into kombu's tables, routing by the bindings shared in the file."""

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

    def _engine_from_config(self) -> Any:
        engine = create_engine(self.connection.client.hostname, connect_args={"timeout": 20})
        with engine.begin() as conn:
            conn.execute(text(_BINDING_DDL))
        return engine

    def get_table(self, exchange: str) -> list[tuple[str, str, str]]:
        rows = self.session.execute(
            text("SELECT routing_key, pattern, queue FROM strangler_binding WHERE exchange = :e"),
            {"e": exchange},
        ).all()
        self.session.commit()
        return [(str(key), str(pattern), str(queue)) for key, pattern, queue in rows]


class PublisherTransport(kombu_sqla.Transport):
    Channel = PublisherChannel


def sqlite_file(url: str) -> Path | None:
    """The broker file of a ``sqlite://`` URL (relative to ``BASE_DIR``); ``None`` for others."""
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


def connect(url: str) -> Connection:
    """A kombu ``Connection`` for ``url``; ``ValueError`` names a URL it does not understand."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Connection(f"sqlite:///{path}", transport=PublisherTransport)
    scheme = urlsplit(url).scheme
    if scheme in {"amqp", "pyamqp", "amqps"}:
        return Connection(url, transport_options={"confirm_publish": True}, heartbeat=0)
    raise ValueError(f"broker URL: unsupported scheme {scheme!r} in {url!r} (sqlite:// or amqp://)")


def events_exchange(name: str = EXCHANGE_NAME) -> Exchange:
    return Exchange(name, type="topic", durable=True)
