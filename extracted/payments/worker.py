"""``python -m extracted.payments.worker``: charge placed orders and publish the outcomes.

    python -m extracted.payments.worker --broker amqp://guest:guest@127.0.0.1:5672// \\
        --database postgresql://postgres@127.0.0.1:5432/payments [--card-limit 100.00]

One process, two loops: the consumer (main thread) takes ``orders.order.placed`` from its
durable queue ``payments.orders`` and charges each order once (see
:mod:`extracted.payments.service`); the relay (a thread, its own broker connection) publishes
the service's outbox (``payments.payment.succeeded`` / ``.failed``) to the same topic
exchange. Start the monolith's ``saga_consumer`` first (its queue must exist before the relay
publishes), then this worker, then the monolith's ``outbox_relay``.

Defaults: ``--broker`` from ``STRANGLER_BROKER_URL`` (else ``sqlite:///var/broker.sqlite3``),
``--database`` from ``PAYMENTS_DATABASE_URL`` (else ``sqlite:///var/payments.sqlite3``); the
provider from ``PAYMENT_FAILURE_RATE``, ``PAYMENT_CARD_LIMIT``, ``PAYMENT_LATENCY_MS``.
Prints ``consuming <queue>`` once the queue is declared; SIGTERM/SIGINT stop both loops after
the message (and the batch) in hand, then it prints ``stopped: {counts}``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from extracted.common import create_engine_from_url
from extracted.common.broker import DEFAULT_BROKER_URL, EXCHANGE_NAME, connect, events_queue
from extracted.common.events import EventConsumer
from extracted.common.inbox import mark_consumer
from extracted.payments.provider import FakeProvider
from extracted.payments.relay import OutboxRelay, relay_lock
from extracted.payments.schema import ensure_schema
from extracted.payments.service import PATTERNS, QUEUE, make_apply

__all__ = ["DEFAULT_DATABASE_URL", "main"]

DEFAULT_DATABASE_URL = "sqlite:///var/payments.sqlite3"
log = logging.getLogger("extracted.payments.worker")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m extracted.payments.worker", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("STRANGLER_BROKER_URL", "").strip() or DEFAULT_BROKER_URL,
        help="broker URL (default: STRANGLER_BROKER_URL or %(default)s)",
    )
    parser.add_argument(
        "--database",
        "--database-url",
        dest="database",
        default=os.environ.get("PAYMENTS_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
        help="the service's database (default: PAYMENTS_DATABASE_URL or %(default)s)",
    )
    parser.add_argument("--queue", default=QUEUE)
    parser.add_argument("--exchange", default=EXCHANGE_NAME)
    parser.add_argument("--retries", type=int, default=3, help="attempts before dead-lettering")
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=30.0,
        help="embedded broker: seconds before a dead consumer's message is delivered again",
    )
    parser.add_argument("--failure-rate", default=None, help="0..1 (PAYMENT_FAILURE_RATE)")
    parser.add_argument(
        "--card-limit", default=None, help="decline charges above this amount (PAYMENT_CARD_LIMIT)"
    )
    parser.add_argument("--relay-interval", type=float, default=0.1, help="idle poll, seconds")
    parser.add_argument("--no-relay", action="store_true", help="consume only")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")
    try:
        provider = FakeProvider.from_env(failure_rate=args.failure_rate, card_limit=args.card_limit)
        broker = connect(args.broker, visibility_timeout=args.visibility_timeout)
        relay_broker = connect(args.broker)
        engine = create_engine_from_url(args.database)
    except ValueError as err:
        parser.error(str(err))
    ensure_schema(engine)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    relay = OutboxRelay(engine, relay_broker, exchange=args.exchange)
    failed: list[BaseException] = []

    def run_relay() -> None:
        try:
            with relay_lock(engine, args.database, stop) as held:
                if held:
                    relay.run(stop, interval=args.relay_interval)
        except BaseException as err:  # a dead relay must not leave a consumer running alone
            log.exception("relay stopped by an error")
            failed.append(err)
            stop.set()

    consumer = EventConsumer(
        broker,
        events_queue(args.queue, PATTERNS, args.exchange),
        engine,
        make_apply(provider),
        retries=args.retries,
        stop=stop,
    )
    relay_thread = threading.Thread(target=run_relay, name="payments-relay", daemon=True)

    def ready() -> None:
        mark_consumer(engine, args.queue)
        if not args.no_relay and relay_thread.ident is None:  # once, after the first declare
            relay_thread.start()
        print(f"consuming {args.queue} from {broker.as_uri()}", flush=True)

    try:
        consumer.run(on_ready=ready)
    finally:
        stop.set()
        if relay_thread.is_alive():
            relay_thread.join(30)
        consumer.broker.release()
        relay.broker.release()
        engine.dispose()
    counts = {outcome.value: n for outcome, n in consumer.counts.items()}
    print(
        f"stopped: {counts}, dead-lettered {consumer.dead}, published {relay.published}",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
