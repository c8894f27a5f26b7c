"""A service's outbox relay: publish its own outbox table's unsent rows in ``seq`` order.

Same contract as the monolith's ``outbox_relay``: at least once (a row is marked sent only
after the broker took it; a relay killed in between publishes it again and consumers
deduplicate by event id), in ``seq`` order, one relay per database (a PostgreSQL advisory lock,
or a lock file next to the SQLite file; a second relay waits). Each service passes its outbox
``Table``, its wire format (``message_body``) and its lock key: ``extracted.catalog.relay``,
``extracted.payments.relay``.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from kombu import Connection, Producer
from sqlalchemy import Table, select, text
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import InterfaceError, OperationalError

from extracted.common.broker import events_exchange
from extracted.common.dburl import sqlite_path
from extracted.common.inbox import utcnow

__all__ = ["OutboxRelay", "message_body", "relay_lock"]


def message_body(row: RowMapping, payload: Any, **extra: str) -> dict[str, Any]:
    """The monolith's wire format of one outbox row (its ``payload`` decoded), plus ``extra``."""
    return {
        "id": row["event_id"],
        "type": row["type"],
        "aggregate_type": row["aggregate_type"],
        "aggregate_id": row["aggregate_id"],
        "version": int(row["version"]),
        "created_at": row["created_at"].isoformat(timespec="microseconds") + "Z",
        "payload": payload,
        **extra,
    }


@contextlib.contextmanager
def relay_lock(
    engine: Engine, database_url: str, stop: threading.Event | None = None, *, key: int
) -> Iterator[bool]:
    """Hold the one-relay-per-database lock (advisory lock ``key`` on PostgreSQL).

    Without ``stop``, blocks until the lock is free; with it, polls once a second and yields
    ``False`` if ``stop`` came first.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            if stop is None:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            else:
                while not conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
                ).scalar_one():
                    conn.commit()
                    if stop.wait(1.0):
                        yield False
                        return
            conn.commit()
            try:
                yield True
            finally:
                with contextlib.suppress(Exception):
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        return
    path = sqlite_path(database_url)
    assert path is not None
    flags = fcntl.LOCK_EX if stop is None else fcntl.LOCK_EX | fcntl.LOCK_NB
    with open(path.with_name(path.name + ".relay.lock"), "w") as handle:
        while True:
            try:
                fcntl.flock(handle, flags)
                break
            except BlockingIOError:
                assert stop is not None
                if stop.wait(1.0):
                    yield False
                    return
        yield True  # released when the file closes (or the process dies)


class OutboxRelay(abc.ABC):
    """Publishes batches of unsent ``outbox`` rows through one kombu connection.

    A service subclasses it: its ``outbox`` table, ``message_body(row)``, the ``headers`` sent
    with every message (after ``aggregate``) and its logger.
    """

    outbox: ClassVar[Table]
    headers: ClassVar[Mapping[str, str]] = {}
    log: ClassVar[logging.Logger] = logging.getLogger(__name__)

    def __init__(
        self, engine: Engine, broker: Connection, *, exchange: str, batch_size: int = 100
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.exchange = events_exchange(exchange)
        self.batch_size = batch_size
        self.published = 0
        self._producer: Producer | None = None

    @abc.abstractmethod
    def message_body(self, row: RowMapping) -> dict[str, Any]:
        """The message a row of the service's outbox is published as."""

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            channel = self.broker.channel()
            self.exchange.declare(channel=channel)
            self._producer = Producer(channel, exchange=self.exchange, serializer="json")
        return self._producer

    def reset(self) -> None:
        """Forget the channel after a broker error; the next batch reconnects."""
        self._producer = None
        with contextlib.suppress(Exception):
            self.broker.release()
        self.broker = self.broker.clone()  # a closed kombu connection cannot be reopened

    def publish_batch(self) -> int:
        """Publish up to ``batch_size`` unsent rows, oldest first; return how many."""
        outbox = self.outbox
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(outbox)
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                )
                .mappings()
                .all()
            )
        if not rows:
            return 0
        producer = self._ensure_producer()
        for row in rows:
            producer.publish(
                self.message_body(row),
                routing_key=row["type"],
                message_id=row["event_id"],
                delivery_mode=2,
                headers={
                    "aggregate": f"{row['aggregate_type']}:{row['aggregate_id']}",
                    **self.headers,
                },
            )
        with self.engine.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.seq.in_([row["seq"] for row in rows]))
                .values(sent_at=utcnow())
            )
        self.published += len(rows)
        self.log.info(
            "published %d events (seq %d..%d)", len(rows), rows[0]["seq"], rows[-1]["seq"]
        )
        return len(rows)

    def run(self, stop: threading.Event, *, interval: float = 0.1) -> None:
        """Publish until ``stop``; broker and database errors are retried with growing pauses."""
        pause = interval
        while not stop.is_set():
            try:
                sent = self.publish_batch()
                pause = interval
            except self.broker.connection_errors + self.broker.channel_errors as err:
                self.log.warning("broker error, retrying in %.1fs: %r", pause, err)
                self.reset()
                pause = min(pause * 2, 5.0)
                stop.wait(pause)
                continue
            except (OperationalError, InterfaceError) as err:
                self.log.warning("database unavailable, retrying in %.1fs: %s", pause, err)
                pause = min(pause * 2, 5.0)
                stop.wait(pause)
                continue
            if sent == 0:
                stop.wait(interval)
