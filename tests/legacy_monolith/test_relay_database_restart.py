"""The outbox relay outlives a restart of the monolith's database: it logs the database error,
waits, reconnects, takes its one-relay lock again and publishes what was written meanwhile
(a private PostgreSQL cluster, so stopping it disturbs no other test)."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest

from extracted.catalog.testing import REPO_ROOT, monolith_env, run_monolith_command
from strangler_proxy.testing import Process, wait_until
from strangler_proxy.testing.pgcluster import private_postgres_for_test

pytestmark = pytest.mark.postgres


CHANGE_A_PRODUCT = (
    "from django.db import transaction\n"
    "from legacy_monolith.catalog.models import Product\n"
    "from legacy_monolith.outbox.events import EventType, product_event\n"
    "with transaction.atomic():\n"
    "    p = Product.objects.select_for_update().order_by('pk').first()\n"
    "    p.name = p.name + '!'\n"
    "    p.save()\n"
    "    product_event(EventType.PRODUCT_CHANGED, p.pk)\n"
)


def _unsent(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT COUNT(*) FROM outbox_outboxevent WHERE sent_at IS NULL")
        found = row.fetchone()
    assert found is not None
    return int(found[0])


def test_relay_survives_a_restart_of_the_monolith_database(tmp_path: Path) -> None:
    with private_postgres_for_test() as pg:
        db = pg.create_database("relayrestart")
        run_monolith_command(db, "migrate", "--noinput")
        run_monolith_command(db, "seed", "--products", "3")
        broker = f"sqlite:///{tmp_path / 'broker.sqlite3'}"
        relay = Process(
            [sys.executable, "-m", "django", "outbox_relay", "--broker", broker,
             "--interval", "0.1"],
            name="relay",
            env=monolith_env(db),
            cwd=REPO_ROOT,
        )  # fmt: skip
        with relay:
            wait_until(lambda: "publishing to" in relay.output(), timeout=60, what="the relay")
            run_monolith_command(db, "shell", "-c", CHANGE_A_PRODUCT)
            wait_until(lambda: _unsent(db) == 0, timeout=30, what="the first event to be sent")

            pg.stop()
            wait_until(
                lambda: "database error, retrying" in relay.output(),
                timeout=30,
                what="the relay to notice the database is gone",
            )
            assert relay.alive(), relay.output()

            pg.start()
            run_monolith_command(db, "shell", "-c", CHANGE_A_PRODUCT)
            wait_until(
                lambda: _unsent(db) == 0, timeout=60, what="the relay to publish after restart"
            )
            assert relay.alive(), relay.output()
            assert "published 1 (total 2)" in relay.output()
