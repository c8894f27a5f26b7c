"""``python -m django outbox_relay [--once] [--broker URL]``: publish the outbox.

Runs until SIGTERM/SIGINT (finishing the batch in hand), or with ``--once`` until no unsent
row is left. Broker errors and database errors (the monolith's database restarting) are logged
and retried with a growing pause, the one-relay lock taken again after a lost database
connection; nothing is marked sent that the broker did not take.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from legacy_monolith.outbox.broker import EXCHANGE_NAME, connect
from legacy_monolith.outbox.relay import Relay, relay_lock


class Command(BaseCommand):
    help = "Publish unsent outbox events to the broker (topic exchange strangler.events)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="exit when nothing is unsent")
        parser.add_argument(
            "--broker", default=None, help="broker URL (default: STRANGLER_BROKER_URL)"
        )
        parser.add_argument("--exchange", default=EXCHANGE_NAME)
        parser.add_argument("--batch-size", type=int, default=100)
        parser.add_argument("--interval", type=float, default=0.2, help="idle poll, seconds")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["batch_size"] < 1:
            raise CommandError(f"--batch-size: must be >= 1, got {opts['batch_size']}")
        url = opts["broker"] or settings.STRANGLER_BROKER_URL
        try:
            conn = connect(url)
        except ValueError as err:
            raise CommandError(str(err)) from err
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        relay = Relay(conn, exchange=opts["exchange"], batch_size=opts["batch_size"])
        self.stderr.write(f"outbox relay: publishing to {conn.as_uri()} ({opts['exchange']})")
        db_pause = opts["interval"]
        while not stop.is_set():
            try:
                with relay_lock():  # taken again after a lost database connection
                    if self._publish(relay, conn, opts, stop):
                        break
            except DatabaseError as err:
                # the database went away (restart, failover): nothing was marked sent that the
                # broker did not take; reconnect, take the lock again, carry on
                self.stderr.write(f"outbox relay: database error, retrying: {err!r}")
                connections.close_all()
                db_pause = min(max(db_pause, opts["interval"]) * 2, 5.0)
                stop.wait(db_pause)
                continue
            db_pause = opts["interval"]
        relay.conn.release()
        self.stdout.write(f'{{"published": {relay.published}}}')

    def _publish(
        self, relay: Relay, conn: Any, opts: dict[str, Any], stop: threading.Event
    ) -> bool:
        """Publish until stopped (False) or, with ``--once``, until nothing is unsent (True)."""
        pause = opts["interval"]
        while not stop.is_set():
            try:
                sent = relay.publish_batch()
                pause = opts["interval"]
            except conn.connection_errors + conn.channel_errors as err:
                self.stderr.write(f"outbox relay: broker error, retrying: {err!r}")
                relay.reset()
                pause = min(pause * 2, 5.0)
                stop.wait(pause)
                continue
            if sent:
                self.stderr.write(f"outbox relay: published {sent} (total {relay.published})")
            if sent == 0:
                if opts["once"]:
                    return True
                stop.wait(pause)
        return False
