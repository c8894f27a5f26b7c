"""``python -m extracted.catalog.consumer``: keep the catalog's database in sync from events.

    python -m extracted.catalog.consumer --broker amqp://guest:guest@127.0.0.1:5672// \\
        [--database-url postgresql://...] [--queue catalog.sync] [--exchange strangler.events]

Declares the durable queue ``catalog.sync`` bound to ``catalog.#`` on the topic exchange
``strangler.events``, then applies every event (see :mod:`extracted.catalog.sync`). Start it
BEFORE the first backfill: the queue must exist before the relay publishes, or the events in
between have nowhere to go. Stops on SIGTERM/SIGINT after the message in hand; unacked
messages are delivered again. Prints ``consuming <queue>`` once the queue is declared.

``STRANGLER_WRITER_CATALOG_PRODUCT`` (or ``--writer``) must be the one the service runs with:
when the service is the writer, the monolith's events only bring stock (see ``sync``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

from kombu.message import Message

from extracted.catalog.app import settings_from_env
from extracted.catalog.schema import ensure_schema
from extracted.catalog.sync import ORIGIN, PATTERNS, QUEUE, apply_catalog_event
from extracted.catalog.writer import WRITER_ENV, WRITERS, writer_from_env
from extracted.common import create_engine_from_url
from extracted.common.broker import DEFAULT_BROKER_URL, EXCHANGE_NAME, connect, events_queue
from extracted.common.events import EventConsumer
from extracted.common.inbox import Outcome, mark_consumer

__all__ = ["CatalogConsumer", "main"]


class CatalogConsumer(EventConsumer):
    """Skips the service's own events (``"origin": "catalog"``): applied when written."""

    def on_message(self, body: Any, message: Message) -> None:
        if isinstance(body, dict) and body.get("origin") == ORIGIN:
            self.counts[Outcome.IGNORED] += 1
            message.ack()
            return
        super().on_message(body, message)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m extracted.catalog.consumer", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("STRANGLER_BROKER_URL", "").strip() or DEFAULT_BROKER_URL,
        help="broker URL (default: STRANGLER_BROKER_URL or %(default)s)",
    )
    parser.add_argument("--database-url", default=None, help="default: CATALOG_DATABASE_URL")
    parser.add_argument("--queue", default=QUEUE)
    parser.add_argument("--exchange", default=EXCHANGE_NAME)
    parser.add_argument("--retries", type=int, default=3, help="attempts before dead-lettering")
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=30.0,
        help="embedded broker: seconds before a dead consumer's message is delivered again",
    )
    parser.add_argument(
        "--writer",
        choices=WRITERS,
        default=None,
        help=f"who writes products (default: {WRITER_ENV} or monolith)",
    )
    parser.add_argument("--idle-exit", type=float, default=None, help="exit after N idle s")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")
    database_url = args.database_url or str(settings_from_env()["DATABASE_URL"])
    try:
        writer = args.writer or writer_from_env()
        broker = connect(args.broker, visibility_timeout=args.visibility_timeout)
        engine = create_engine_from_url(database_url)
    except ValueError as err:
        parser.error(str(err))
    ensure_schema(engine)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    consumer = CatalogConsumer(
        broker,
        events_queue(args.queue, PATTERNS, args.exchange),
        engine,
        partial(apply_catalog_event, writer=writer),
        retries=args.retries,
        stop=stop,
    )

    def ready() -> None:
        mark_consumer(engine, args.queue)
        print(f"consuming {args.queue} from {broker.as_uri()} (writer: {writer})", flush=True)

    try:
        consumer.run(on_ready=ready, idle_exit=args.idle_exit)
    finally:
        consumer.broker.release()
        engine.dispose()
    counts = {outcome.value: n for outcome, n in consumer.counts.items()}
    print(f"stopped: {counts}, dead-lettered {consumer.dead}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
