"""The payments service's relay: publish ``payments_outbox`` rows in ``seq`` order.

Same contract as the monolith's ``outbox_relay``: at least once (a row is marked sent only
after the broker took it; a relay killed in between publishes it again and consumers
deduplicate by event id), in ``seq`` order, one relay per database (a PostgreSQL advisory lock,
or a lock file next to the SQLite file; a second relay waits). The wire format is the
monolith's, plus ``"source": "payments"`` naming the publisher. The relay itself is
:mod:`extracted.common.relay`'s, on this service's outbox table.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine, RowMapping

from extracted.common import relay as common_relay
from extracted.payments.schema import outbox
from extracted.payments.service import SOURCE

__all__ = ["OutboxRelay", "message_body", "relay_lock"]

log = logging.getLogger("extracted.payments.relay")

_ADVISORY_KEY = 0x50415953  # "PAYS"


def message_body(row: RowMapping) -> dict[str, Any]:
    return common_relay.message_body(row, json.loads(row["payload"]), source=SOURCE)


def relay_lock(
    engine: Engine, database_url: str, stop: threading.Event
) -> contextlib.AbstractContextManager[bool]:
    """Hold the one-relay-per-database lock; yields ``False`` if ``stop`` came first."""
    return common_relay.relay_lock(engine, database_url, stop, key=_ADVISORY_KEY)


class OutboxRelay(common_relay.OutboxRelay):
    """Publishes batches of unsent ``payments_outbox`` rows through one kombu connection."""

    outbox = outbox
    log = log

    def message_body(self, row: RowMapping) -> dict[str, Any]:
        return message_body(row)
