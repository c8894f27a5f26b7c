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
SIGTERM/SIGINT after the batch in hand; ``--once`` exits when nothing is unsent. The relay
and its lock are :mod:`extracted.common.relay`'s, on this service's outbox table.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import RowMapping

from extracted.catalog.app import settings_from_env
from extracted.catalog.schema import ensure_schema, outbox
from extracted.catalog.sync import ORIGIN
from extracted.common import create_engine_from_url
from extracted.common import relay as common_relay
from extracted.common.broker import DEFAULT_BROKER_URL, EXCHANGE_NAME, connect

__all__ = ["Relay", "main", "message_body"]

log = logging.getLogger("extracted.catalog.relay")

_ADVISORY_KEY = 0x43524C59  # "CRLY": any constant shared by every relay of one database


def message_body(row: RowMapping) -> dict[str, Any]:
    """The wire format of one event, plus its origin."""
    return common_relay.message_body(row, row["payload"], origin=ORIGIN)


class Relay(common_relay.OutboxRelay):
    """Publishes batches of unsent ``catalog_outbox`` rows through one kombu connection."""

    outbox = outbox
    headers = {"origin": ORIGIN}
    log = log

    def message_body(self, row: RowMapping) -> dict[str, Any]:
        return message_body(row)


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
    relay = Relay(engine, broker, exchange=args.exchange, batch_size=args.batch_size)
    pause = args.interval
    with common_relay.relay_lock(engine, database_url, key=_ADVISORY_KEY):
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
    relay.broker.release()
    engine.dispose()
    print(f'{{"published": {relay.published}}}', flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
