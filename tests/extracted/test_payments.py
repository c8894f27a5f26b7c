"""The payments service in process: the fake provider's rules, charging an order once per
event (payment and outbox row in one transaction), duplicates and poison messages, and its
relay publishing the outcome to a bound queue. On SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kombu import Message
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from extracted.common import create_engine_from_url
from extracted.common.broker import connect, events_queue
from extracted.common.events import Event, EventConsumer, PoisonMessage, handle_event, parse_event
from extracted.common.inbox import Outcome, dead_letters, processed
from extracted.payments.app import create_app
from extracted.payments.provider import ChargeOutcome, FakeProvider
from extracted.payments.relay import OutboxRelay, relay_lock
from extracted.payments.schema import ensure_schema, outbox, payments
from extracted.payments.service import PATTERNS, make_apply
from extracted.payments.testing import publish_raw
from strangler_proxy._procs import wait_until
from strangler_proxy.gateway.assertion import sign_assertion

PROVIDER = FakeProvider(card_limit=Decimal("100.00"))


def placed_body(order_id: int, amount: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "orders.order.placed",
        "aggregate_type": "orders.order",
        "aggregate_id": str(order_id),
        "version": 1,
        "created_at": "2026-01-01T12:00:01.000001Z",
        "payload": {
            "id": order_id,
            "reference": f"ORD-{order_id:012d}",
            "user": 1,
            "status": "pending",
            "total": amount,
            "lines": [],
            **changes,
        },
    }


def placed(order_id: int, amount: str, **changes: Any) -> Event:
    return parse_event(placed_body(order_id, amount, **changes))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/payments.sqlite3"
    else:
        make: Callable[[str], str] = request.getfixturevalue("pg_database")
        url = make("payments")
    engine = create_engine_from_url(url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def rows(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as conn:
        pays = conn.execute(select(payments).order_by(payments.c.order_id)).all()
        events = conn.execute(select(outbox).order_by(outbox.c.seq)).all()
    return list(pays), list(events)


def test_provider_rules_are_deterministic() -> None:
    assert PROVIDER.charge(10_000, "ORD-A").outcome is ChargeOutcome.SUCCEEDED
    over = PROVIDER.charge(10_001, "ORD-A")
    assert over.outcome is ChargeOutcome.FAILED
    assert over.reason == "declined: amount 100.01 is over the card limit 100.00"
    assert FakeProvider(failure_rate=1).charge(1, "k").outcome is ChargeOutcome.FAILED
    assert FakeProvider().charge(10**9, "k").outcome is ChargeOutcome.SUCCEEDED
    half = FakeProvider(failure_rate=0.5)
    keys = [f"ORD-{i}" for i in range(200)]
    first = [half.charge(100, k) for k in keys]
    assert first == [half.charge(100, k) for k in keys]  # same key, same answer and reference
    failures = sum(c.outcome is ChargeOutcome.FAILED for c in first)
    assert 60 < failures < 140
    env = {"PAYMENT_FAILURE_RATE": "0", "PAYMENT_CARD_LIMIT": "5"}
    assert FakeProvider.from_env(env).card_limit == Decimal("5")
    assert FakeProvider.from_env(env, card_limit="7.50").card_limit == Decimal("7.50")
    with pytest.raises(ValueError, match="PAYMENT_CARD_LIMIT"):
        FakeProvider.from_env({"PAYMENT_CARD_LIMIT": "lots"})


def test_an_order_is_charged_once_with_its_event_in_the_same_commit(engine: Engine) -> None:
    apply = make_apply(PROVIDER)
    ok, declined = placed(1, "20.00"), placed(2, "500.00")
    assert handle_event(engine, apply, ok) is Outcome.APPLIED
    assert handle_event(engine, apply, declined) is Outcome.APPLIED
    assert handle_event(engine, apply, ok) is Outcome.DUPLICATE  # same event id
    assert handle_event(engine, apply, placed(1, "20.00")) is Outcome.STALE  # same order
    other = parse_event({**placed_body(3, "1.00"), "type": "orders.order.paid"})
    assert handle_event(engine, apply, other) is Outcome.IGNORED
    pays, events = rows(engine)
    assert [(p.order_id, p.status, p.amount_cents) for p in pays] == [
        (1, "succeeded", 2000),
        (2, "failed", 50000),
    ]
    assert [(e.type, e.aggregate_id, e.version, e.sent_at) for e in events] == [
        ("payments.payment.succeeded", pays[0].id, 1, None),
        ("payments.payment.failed", pays[1].id, 1, None),
    ]
    payload = json.loads(events[1].payload)
    assert payload["order"] == 2 and payload["amount"] == "500.00"
    assert payload["status"] == "failed" and payload["reason"].startswith("declined: amount")
    assert payload["placed_event"] == declined.id
    with engine.connect() as conn:
        outcomes = sorted(
            (r.aggregate_id, r.outcome)
            for r in conn.execute(select(processed.c.aggregate_id, processed.c.outcome))
        )
    assert outcomes == [("1", "applied"), ("1", "stale"), ("2", "applied"), ("3", "ignored")]


def test_a_failed_apply_writes_neither_payment_nor_event(engine: Engine) -> None:
    def crash(conn: Any, event: Event) -> Outcome:
        make_apply(PROVIDER)(conn, event)
        raise RuntimeError("crash after the writes")

    with pytest.raises(RuntimeError):
        handle_event(engine, crash, placed(1, "5.00"))
    assert rows(engine) == ([], [])
    assert handle_event(engine, make_apply(PROVIDER), placed(1, "5.00")) is Outcome.APPLIED
    with pytest.raises(PoisonMessage, match="total"):
        handle_event(engine, make_apply(PROVIDER), placed(4, "5.00", total="lots"))
    with pytest.raises(PoisonMessage, match="aggregate id"):
        handle_event(engine, make_apply(PROVIDER), placed(5, "5.00", id=6))


def test_consumer_and_relay_on_the_embedded_broker(engine: Engine, tmp_path: Path) -> None:
    broker_url = f"sqlite:///{tmp_path}/broker.sqlite3"
    stop = threading.Event()
    consumer = EventConsumer(
        connect(broker_url, visibility_timeout=2),
        events_queue("payments.orders", PATTERNS),
        engine,
        make_apply(PROVIDER),
        stop=stop,
    )
    ready = threading.Event()
    thread = threading.Thread(target=consumer.run, kwargs={"on_ready": ready.set}, daemon=True)
    thread.start()
    outcomes = events_queue("monolith.saga.test", ["payments.payment.*"])
    received: list[dict[str, Any]] = []
    try:
        assert ready.wait(30)
        with connect(broker_url) as listener:  # the saga's queue exists before the relay runs
            outcomes(listener.channel()).declare()
        first = placed_body(1, "10.00")
        poison = {"id": "x", "type": "orders.order.placed"}
        publish_raw(broker_url, "strangler.events", [first, first, poison])
        wait_until(lambda: consumer.dead == 1, timeout=30, what="the poison message")
        assert consumer.counts[Outcome.APPLIED] == 1 and consumer.counts[Outcome.DUPLICATE] == 1
        with engine.connect() as conn:
            dead = conn.execute(select(dead_letters.c.error)).scalars().all()
        assert len(dead) == 1 and dead[0].startswith("malformed: missing field")

        with connect(broker_url) as relay_conn:
            relay = OutboxRelay(engine, relay_conn, exchange="strangler.events")
            assert relay.publish_batch() == 1
            assert relay.publish_batch() == 0  # marked sent
        with connect(broker_url) as listener:

            def take(body: dict[str, Any], message: Message) -> None:
                received.append(body)
                message.ack()

            with listener.Consumer(outcomes, callbacks=[take], accept=["json"]):
                wait_until(
                    lambda: _drain(listener) or bool(received), timeout=10, what="the outcome"
                )
    finally:
        stop.set()
        thread.join(30)
        consumer.broker.release()
    [body] = received
    assert body["type"] == "payments.payment.succeeded" and body["source"] == "payments"
    assert body["payload"]["order"] == 1 and body["version"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(outbox.c.sent_at.is_(None))).scalar() == 0


def _drain(conn: Any) -> bool:
    with contextlib.suppress(TimeoutError):
        conn.drain_events(timeout=0.2)
    return False


def test_one_relay_per_database(engine: Engine, tmp_path: Path) -> None:
    url = str(engine.url) if engine.dialect.name == "postgresql" else None
    database_url = url.replace("+psycopg", "") if url else f"sqlite:///{tmp_path}/payments.sqlite3"
    stop = threading.Event()
    with relay_lock(engine, database_url, stop) as held:
        assert held
        second = threading.Event()
        result: list[bool] = []

        def other() -> None:
            with relay_lock(engine, database_url, second) as got:
                result.append(got)

        thread = threading.Thread(target=other, daemon=True)
        thread.start()
        second.set()  # it waits for the lock, then gives up when told to stop
        thread.join(10)
    assert result == [False]


KEY = b"payments-identity-key-for-tests-0123456789"


def as_user(user_id: int, *, staff: bool = False) -> dict[str, str]:
    claims = {"user_id": user_id, "username": f"u{user_id}", "is_staff": staff, "request_id": "r"}
    token = sign_assertion(claims, KEY, ttl=60, audience="payments", now=time.time())
    return {"X-Strangler-Identity": token}


def test_read_api(engine: Engine) -> None:
    for order_id, amount, user in ((1, "20.00", 7), (2, "500.00", 8)):
        handle_event(engine, make_apply(PROVIDER), placed(order_id, amount, user=user))
    url = engine.url.render_as_string(hide_password=False)
    app = create_app({"DATABASE_URL": url, "IDENTITY_KEY": KEY.decode()})
    try:
        client = app.test_client()
        staff = as_user(1, staff=True)
        listed = client.get("/api/payments/?order=2", headers=staff)
        assert listed.status_code == 200
        body = listed.get_json()
        assert body["count"] == 1 and body["next"] is None
        [payment] = body["results"]
        assert payment["order"] == 2 and payment["amount"] == "500.00"
        assert payment["status"] == "failed" and payment["reason"].startswith("declined")
        assert client.get(f"/api/payments/{payment['id']}/", headers=staff).get_json() == payment
        succeeded = client.get("/api/payments/?status=succeeded", headers=staff).get_json()
        assert succeeded["count"] == 1
        assert client.get("/api/payments/", headers=staff).get_json()["count"] == 2
        assert client.get("/api/payments/?order=x", headers=staff).get_json() == {
            "order": ["Enter a whole number."]
        }
        missing = client.get("/api/payments/pay_nope/", headers=staff)
        assert missing.status_code == 404
        assert missing.get_json() == {"detail": "No Payment matches the given query."}
        # a user sees the payments of their own orders, and no one else's
        mine = client.get("/api/payments/", headers=as_user(8)).get_json()
        assert [p["order"] for p in mine["results"]] == [2]
        assert client.get(f"/api/payments/{payment['id']}/", headers=as_user(7)).status_code == 404
        anonymous = client.get("/api/payments/")
        assert anonymous.status_code == 401
        assert anonymous.get_json() == {"detail": "Authentication credentials were not provided."}
        assert client.get("/sync/status").get_json()["applied"] == 2
    finally:
        app.extensions["payments.engine"].dispose()
