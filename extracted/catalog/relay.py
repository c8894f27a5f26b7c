"""``python -m extracted.catalog.relay``: publish the catalog service's own outbox.

    python -m extracted.catalog.relay --broker amqp://guest:guest@127.0.0.1:5672// \\
        [--database-url postgresql://...] [--exchange strangler.events] [--once] \\
        [--batch-size 100] [--interval 0.2]

The service writes ``catalog.product.changed`` into ``catalog_outbox`` with each product change
once it is the writer (see ``writes``). This relay publishes the unsent rows in ``seq`` order to
the topic exchange (routing key = event type), then marks them sent: at least once, in order
per product, exactly as the monolith's ``outbox_relay``. The message is the monolith's wire
format plus ``"origin": "catalog"`` (also a header), which tells consumers whose version
stream it belongs to: the monolith's reverse sync applies only these, the catalog's own
consumer skips them. One relay per database (PostgreSQL advisory lock, or a lock file next to
the SQLite file); a second one waits. Broker errors are retried with growing pauses. Stops on
SIGTERM/SIGINT after the batch in hand; ``--once`` exits when nothing is unsent.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from kombu.connection import Connection
from kombu.messaging import Producer
from sqlalchemy import select, text
from sqlalchemy.engine import Engine, RowMapping

from extracted.catalog.app import settings_from_env
from extracted.catalog.schema import ensure_schema, outbox
from extracted.catalog.sync import ORIGIN
from extracted.common import create_engine_from_url
from extracted.common.broker import DEFAULT_BROKER_URL, EXCHANGE_NAME, connect, events_exchange
from extracted.common.dburl import sqlite_path
from extracted.common.inbox import utcnow

__all__ = ["Relay", "main", "message_body"]

log = logging.getLogger("extracted.catalog.relay")

_ADVISORY_KEY = 0x43524C59  # "CRLY": any constant shared by every relay of one database


def message_body(row: RowMapping) -> dict[str, Any]:
    """The wire format of one event, plus its origin."""
    return {
        "id": row["event_id"],
        "type": row["type"],
        "aggregate_type": row["aggregate_type"],
        "aggregate_id": row["aggregate_id"],
        "version": int(row["version"]),
        "created_at": row["created_at"].isoformat(timespec="microseconds") + "Z",
        "payload": row["payload"],
        "origin": ORIGIN,
    }


@contextlib.contextmanager
def relay_lock(engine: Engine, database_url: str) -> Iterator[None]:
    """Hold the one-relay-per-database lock (blocks until it is free)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
                conn.commit()
        return
    path = sqlite_path(database_url)
    assert path is not None
    with open(path.with_name(path.name + ".relay.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes or the process dies
        yield


class Relay:
    """Publishes batches of unsent service events through one kombu connection."""

    def __init__(
        self, conn: Connection, engine: Engine, *, exchange: str, batch_size: int = 100
    ) -> None:
        self.conn = conn
        self.engine = engine
        self.exchange = events_exchange(exchange)
        self.batch_size = batch_size
        self.published = 0
        self._producer: Producer | None = None

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            channel = self.conn.channel()
            self.exchange.declare(channel=channel)
            self._producer = Producer(channel, exchange=self.exchange, serializer="json")
        return self._producer

    def reset(self) -> None:
        self._producer = None
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = self.conn.clone()

    def publish_batch(self) -> int:
        with self.engine.connect() as db:
            rows = (
                db.execute(
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
                message_body(row),
                routing_key=row["type"],
                message_id=row["event_id"],
                delivery_mode=2,
                headers={
                    "aggregate": f"{row['aggregate_type']}:{row['aggregate_id']}",
                    "origin": ORIGIN,
                },
            )
        with self.engine.begin() as db:
            db.execute(
                outbox.update()
                .where(outbox.c.seq.in_([row["seq"] for row in rows]))
                .values(sent_at=utcnow())
            )
        self.published += len(rows)
        log.info("published %d events (seq %d..%d)", len(rows), rows[0]["seq"], rows[-1]["seq"])
        return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m extracted.catalog.relay", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("STRANGLER_BROKER_URL", "").strip() or DEFAULT_BROKER_URL,
        help="broker URL (default: STRANGLER_BROKER_URL or %(default)s)",
    )
    parser.add_argument("--database-url", default=None, help="default: CATALOG_DATABASE_URL")
    parser.add_argument("--exchange", default=EXCHANGE_NAME)
    parser.add_argument("--once", action="store_true", help="exit when nothing is unsent")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.2, help="idle poll, seconds")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size: must be >= 1, got {args.batch_size}")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")
    database_url = args.database_url or str(settings_from_env()["DATABASE_URL"])
    try:
        broker = connect(args.broker)
        engine = create_engine_from_url(database_url)
    except ValueError as err:
        parser.error(str(err))
    ensure_schema(engine)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    relay = Relay(broker, engine, exchange=args.exchange, batch_size=args.batch_size)
    pause = args.interval
    with relay_lock(engine, database_url):
        print(f"catalog relay: publishing to {broker.as_uri()} ({args.exchange})", flush=True)
        while not stop.is_set():
            try:
                sent = relay.publish_batch()
                pause = args.interval
            except broker.connection_errors + broker.channel_errors as err:
                print(f"catalog relay: broker error, retrying: {err!r}", file=sys.stderr)
                relay.reset()
                pause = min(pause * 2, 5.0)
                stop.wait(pause)
                continue
            if sent == 0:
                if args.once:
                    break
                stop.wait(pause)
    relay.conn.release()
    engine.dispose()
    print(f'{{"published": {relay.published}}}', flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
