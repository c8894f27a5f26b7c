"""No event lost, none applied twice, when the relay and the consumer are killed mid-stream.

Real processes: the monolith's ``outbox_relay`` and a churn of changes through its services
(``python -m django shell``), the catalog's consumer. Both the relay and the consumer get
``kill -9`` while events flow, and are restarted; at the end the catalog equals the monolith
(``verify``) and the dedup table holds exactly one row per catalog event. Once on the embedded
defaults (SQLite databases, SQLite broker) and once on PostgreSQL + RabbitMQ.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from extracted.catalog.dataspec import SPEC
from extracted.catalog.testing import seed_monolith
from extracted.datatools import Verdict, backfill_service, verify_service
from extracted.datatools.testing import SyncRig, delete_amqp_entities, kill_hard
from strangler_proxy._procs import wait_until

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _scenario(rig: SyncRig) -> None:
    seed_monolith(rig.monolith_url, products=60)
    consumer = rig.start_consumer("consumer-1")
    source, target = rig.monolith(), rig.catalog()
    try:
        churn = rig.start_churn("churn", rounds=150)
        relay = rig.start_relay("relay-1", batch_size=5)
        # the snapshot is taken while events flow: it starts after the consumer's queue exists,
        # so nothing falls between the two, and versions decide between snapshot and stream
        wait_until(lambda: rig.processed_count() >= 5, timeout=30, what="events to flow")
        with open(rig.log_dir / "backfill.log", "w") as out:
            backfill_service(
                SPEC, source, target, batch_size=5, rate=300, consumer_queue=rig.queue, out=out
            )
        wait_until(lambda: rig.outbox_counts()[1] >= 40, timeout=30, what="relay progress")
        kill_hard(relay)
        relay = rig.start_relay("relay-2", batch_size=5)

        wait_until(lambda: rig.processed_count() >= 60, timeout=30, what="consumer progress")
        kill_hard(consumer)
        assert rig.processed_count() < rig.outbox_counts()[0], "killed too late to matter"
        consumer = rig.start_consumer("consumer-2")

        wait_until(lambda: not churn.alive(), timeout=60, what="the churn to finish")
        assert "churn done" in churn.output(), churn.output()
        rig.wait_synced(timeout=60)

        report = verify_service(SPEC, source, target, sample=50)
        assert report.verdict is Verdict.OK, "\n".join(report.lines())
        total, sent = rig.outbox_counts()
        assert total == sent > 150
        with target.connect() as conn:
            processed = conn.execute(
                text("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM sync_processed")
            ).one()
            dead = conn.execute(text("SELECT COUNT(*) FROM sync_dead_letters")).scalar_one()
        with source.connect() as conn:
            ids = {
                str(r[0])
                for r in conn.execute(
                    text(
                        "SELECT event_id FROM outbox_outboxevent"
                        " WHERE aggregate_type = 'catalog.product'"
                    )
                )
            }
        assert tuple(processed) == (total, total)  # each event id exactly once
        assert len(ids) == total
        assert dead == 0
    finally:
        rig.stop_all()
        source.dispose()
        target.dispose()


def test_kill_relay_and_consumer_embedded(tmp_path: Path) -> None:
    rig = SyncRig(
        monolith_url=f"sqlite:///{tmp_path}/monolith.sqlite3",
        catalog_url=f"sqlite:///{tmp_path}/catalog.sqlite3",
        broker_url=f"sqlite:///{tmp_path}/broker.sqlite3",
        log_dir=tmp_path,
    )
    _scenario(rig)


@pytest.mark.postgres
def test_kill_relay_and_consumer_rabbitmq_postgres(
    tmp_path: Path, pg_database: Callable[[str], str]
) -> None:
    suffix = f".t{secrets.token_hex(4)}"
    rig = SyncRig(
        monolith_url=pg_database("sync_src"),
        catalog_url=pg_database("sync_dst"),
        broker_url=RABBIT_URL,
        log_dir=tmp_path,
        suffix=suffix,
    )
    try:
        _scenario(rig)
    finally:
        delete_amqp_entities(RABBIT_URL, rig.exchange, [rig.queue])
