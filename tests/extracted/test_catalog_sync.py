"""Applying catalog events: versions decide (out-of-order delivery never regresses data),
duplicates are no-ops, poison messages are dead-lettered after retries, ``/sync/status``.
On SQLite and on PostgreSQL; the consumer loop runs on the embedded broker."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Producer
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from extracted.catalog import create_app
from extracted.catalog.api import ENGINE_KEY
from extracted.catalog.schema import ensure_schema, products
from extracted.catalog.sync import PATTERNS, apply_catalog_event
from extracted.catalog.testing import REPO_ROOT
from extracted.common import create_engine_from_url
from extracted.common.broker import connect, events_exchange, events_queue
from extracted.common.events import Event, EventConsumer, handle_event, parse_event
from extracted.common.inbox import Outcome, dead_letters, processed, versions
from strangler_proxy._procs import wait_until

PRODUCT = {
    "id": 7,
    "sku": "SKU-7",
    "name": "Lamp",
    "description": "",
    "price": "12.50",
    "stock": 3,
    "category": {"id": 1, "name": "Books", "slug": "books", "description": ""},
    "attributes": {"color": "red"},
    "created_at": "2026-01-01T12:00:00.000001Z",
    "updated_at": "2026-01-01T12:00:00.000001Z",
}


def event(version: int, type_: str = "catalog.product.changed", **changes: Any) -> Event:
    body = {
        "id": str(uuid.uuid4()),
        "type": type_,
        "aggregate_type": "catalog.product",
        "aggregate_id": "7",
        "version": version,
        "created_at": "2026-01-01T12:00:01Z",
        "payload": {**PRODUCT, **changes},
    }
    return parse_event(body)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/catalog.sqlite3"
    else:
        url = request.getfixturevalue("pg_database")("sync")
    engine = create_engine_from_url(url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def product_row(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(products).where(products.c.id == 7)).mappings().first()
    return None if row is None else dict(row)


def test_out_of_order_versions_never_regress(engine: Engine) -> None:
    apply = apply_catalog_event
    assert handle_event(engine, apply, event(2, stock=20, name="v2")) is Outcome.APPLIED
    assert handle_event(engine, apply, event(1, stock=10, name="v1")) is Outcome.STALE
    row = product_row(engine)
    assert row is not None and (row["name"], row["stock"], row["price_cents"]) == ("v2", 20, 1250)
    assert handle_event(engine, apply, event(4, stock=40, name="v4")) is Outcome.APPLIED
    assert handle_event(engine, apply, event(3, stock=30, name="v3")) is Outcome.STALE
    assert product_row(engine)["name"] == "v4"  # type: ignore[index]
    deleted = event(5, "catalog.product.deleted")
    assert handle_event(engine, apply, deleted) is Outcome.APPLIED
    assert product_row(engine) is None
    # a late change must not bring the deleted product back
    assert handle_event(engine, apply, event(4, name="late")) is Outcome.STALE
    assert product_row(engine) is None
    with engine.connect() as conn:
        held = conn.execute(select(versions.c.version, versions.c.deleted)).one()
        outcomes = sorted(conn.execute(select(processed.c.outcome)).scalars())
    assert tuple(held) == (5, True)
    assert outcomes == ["applied"] * 3 + ["stale"] * 3


def test_duplicates_are_applied_once(engine: Engine) -> None:
    first = event(1, stock=5)
    assert handle_event(engine, apply_catalog_event, first) is Outcome.APPLIED
    again = Event(**{**first.__dict__, "payload": {**first.payload, "stock": 99}})
    assert handle_event(engine, apply_catalog_event, again) is Outcome.DUPLICATE
    assert product_row(engine)["stock"] == 5  # type: ignore[index]
    with engine.connect() as conn:
        assert len(conn.execute(select(processed)).all()) == 1


def test_other_aggregates_are_ignored(engine: Engine) -> None:
    body = {
        "id": str(uuid.uuid4()),
        "type": "orders.order.placed",
        "aggregate_type": "orders.order",
        "aggregate_id": "1",
        "version": 1,
        "created_at": "2026-01-01T12:00:00Z",
        "payload": {},
    }
    assert handle_event(engine, apply_catalog_event, parse_event(body)) is Outcome.IGNORED


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([1, 2], "expected a JSON object"),
        ({"id": "x"}, "missing field 'version'"),
        ({"id": "x", "version": 0, "payload": {}}, "version: expected an integer >= 1"),
    ],
)
def test_parse_rejects_malformed(body: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_event(body)


def _publish(broker_url: str, bodies: list[Any]) -> None:
    with connect(broker_url) as conn:
        producer = Producer(conn.channel(), exchange=events_exchange(), serializer="json")
        for body in bodies:
            producer.publish(body, routing_key="catalog.product.changed")


def _body(ev: Event) -> dict[str, Any]:
    return {
        **ev.__dict__,
        "created_at": ev.created_at.isoformat() + "Z",
    }


def test_consumer_retries_then_dead_letters_poison(engine: Engine, tmp_path: Path) -> None:
    broker_url = f"sqlite:///{tmp_path}/broker.sqlite3"
    attempts: dict[str, int] = {}

    def flaky(conn: Connection, ev: Event) -> Outcome:
        attempts[ev.id] = attempts.get(ev.id, 0) + 1
        if ev.payload.get("name") == "flaky" and attempts[ev.id] < 3:
            raise RuntimeError("transient in apply")
        return apply_catalog_event(conn, ev)

    good, flaky_ev = event(1, name="ok"), event(2, name="flaky")
    poison = {**_body(event(3)), "payload": {**PRODUCT, "price": "not money"}}
    broker = connect(broker_url, visibility_timeout=5)
    queue = events_queue("catalog.sync", PATTERNS)
    with broker.channel() as channel:
        queue.bind(channel).declare()  # the queue exists before anything is published
    _publish(broker_url, [_body(good), "not an object", _body(flaky_ev), poison])
    consumer = EventConsumer(broker, queue, engine, flaky, retries=3, backoff=0.01)
    consumer.run(idle_exit=1.0)
    broker.release()
    assert attempts[flaky_ev.id] == 3
    assert product_row(engine)["name"] == "flaky"  # type: ignore[index]
    with engine.connect() as conn:
        dead = conn.execute(select(dead_letters.c.event_id, dead_letters.c.error)).all()
    assert len(dead) == 2
    errors = sorted(row.error for row in dead)
    assert errors[0].startswith("PoisonMessage: product payload")
    assert errors[1].startswith("malformed: expected a JSON object")
    assert consumer.counts[Outcome.APPLIED] == 2 and consumer.dead == 2


def test_sync_status_endpoint(engine: Engine) -> None:
    handle_event(engine, apply_catalog_event, event(1))
    handle_event(engine, apply_catalog_event, event(1 + 1))
    handle_event(engine, apply_catalog_event, event(1))  # stale
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        url = "sqlite:///" + str(engine.url.database)
    app = create_app({"DATABASE_URL": url})
    try:
        body = json.loads(app.test_client().get("/sync/status").data)
    finally:
        app.extensions[ENGINE_KEY].dispose()
    assert body["processed"] == 3 and body["applied"] == 2 and body["stale"] == 1
    assert body["dead_lettered"] == 0
    assert body["last_event_at"] == "2026-01-01T12:00:01.000000Z"
    assert body["lag_seconds"] > 0


def test_stop_event_interrupts_the_loop(engine: Engine, tmp_path: Path) -> None:
    broker = connect(f"sqlite:///{tmp_path}/b.sqlite3")
    stop = threading.Event()
    consumer = EventConsumer(
        broker, events_queue("q", PATTERNS), engine, apply_catalog_event, stop=stop
    )
    ready: Callable[[], None] = stop.set  # stop as soon as the queue is declared
    consumer.run(on_ready=ready)
    broker.release()
    assert consumer.counts[Outcome.APPLIED] == 0


_CRASH_AFTER_FETCH = """
import os, sys
from extracted.common.broker import connect, events_queue
conn = connect(sys.argv[1], visibility_timeout=1)
with conn.channel() as channel:
    message = events_queue("catalog.sync", ["catalog.#"]).bind(channel).get(accept=["json"])
    print(message.payload["version"], flush=True)
    os._exit(0)  # dies holding the message: no ack, no reject, no cleanup
"""


def test_embedded_broker_redelivers_what_a_dead_consumer_held(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/broker.sqlite3"
    queue = events_queue("catalog.sync", PATTERNS)
    with connect(url) as conn, conn.channel() as channel:
        queue.bind(channel).declare()
    _publish(url, [_body(event(1)), _body(event(2))])
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASH_AFTER_FETCH, url],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert crashed.stdout.strip() == "1"
    conn = connect(url, visibility_timeout=1)
    with conn.channel() as channel:
        bound = queue.bind(channel)
        assert bound.get(accept=["json"]).payload["version"] == 2  # 1 is still leased
        wait_until(
            lambda: (m := bound.get(accept=["json"])) is not None and m.payload["version"] == 1,
            timeout=10,
            what="the dead consumer's lease to expire",
        )
    conn.release()
