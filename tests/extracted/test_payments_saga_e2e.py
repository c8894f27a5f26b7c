"""The choreographed payment saga, end to end, every piece a real process.

The monolith's ``outbox_relay`` publishes ``orders.order.placed``; the payments worker charges
each order (a deterministic fake provider: over the card limit of 100.00 is declined) and
publishes ``payments.payment.succeeded`` / ``.failed`` from its own outbox; the monolith's
``saga_consumer`` pays and ships, or compensates (cancels the order, releasing its stock).
Then the same events are delivered a second time and change nothing. Once on the embedded
defaults (SQLite databases, SQLite broker), once on PostgreSQL + RabbitMQ (unique exchange and
queue names, deleted afterwards); with PostgreSQL or RabbitMQ down those FAIL, never skip.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from extracted.common.broker import connect
from extracted.datatools.testing import delete_amqp_entities
from extracted.payments.testing import SagaRig, publish_raw
from strangler_proxy._procs import wait_until

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672//"

SETUP = """
import json
from decimal import Decimal
from django.contrib.auth import get_user_model
from legacy_monolith.catalog.models import Category, Product
get_user_model().objects.create_user("saga", password="password")
cat = Category.objects.create(name="Saga", slug="saga")
cheap = Product.objects.create(sku="SAGA-CHEAP", name="Cheap", price=Decimal("10.00"), stock=5,
                               category=cat, attributes={})
dear = Product.objects.create(sku="SAGA-DEAR", name="Dear", price=Decimal("500.00"), stock=3,
                              category=cat, attributes={})
print(json.dumps({"cheap": cheap.pk, "dear": dear.pk}))
"""

PLACE = """
import json
from django.contrib.auth import get_user_model
from legacy_monolith.orders.services import place_order
user = get_user_model().objects.get(username="saga")
print(json.dumps({name: place_order(user, lines).pk for name, lines in ORDERS}))
"""


def place(rig: SagaRig, orders: list[tuple[str, list[tuple[int, int]]]]) -> dict[str, int]:
    return dict(rig.shop(PLACE.replace("ORDERS", repr(orders))))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _when(value: Any) -> str:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.isoformat()


def status_of(engine: Engine, order_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT status FROM orders_order WHERE id = :i"), {"i": order_id}
            ).scalar_one()
        )


def stock_of(engine: Engine, product_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT stock FROM catalog_product WHERE id = :i"), {"i": product_id}
            ).scalar_one()
        )


def order_events(engine: Engine, order_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT type FROM outbox_outboxevent WHERE aggregate_type = 'orders.order'"
                    " AND aggregate_id = :i ORDER BY seq"
                ),
                {"i": str(order_id)},
            ).scalars()
        )


def wait_status(engine: Engine, expected: dict[int, str], rig: SagaRig) -> None:
    def reached() -> bool:
        for proc in rig.procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")
        return all(status_of(engine, oid) == want for oid, want in expected.items())

    try:
        wait_until(reached, timeout=90, interval=0.1, what=f"orders to reach {expected}")
    except TimeoutError:
        logs = "\n".join(f"--- {p.name}\n{p.output(2000)}" for p in rig.procs)
        raise AssertionError(f"saga did not finish: {expected}\n{logs}") from None


def _scenario(rig: SagaRig) -> None:
    rig.migrate_monolith()
    products = rig.shop(SETUP)
    cheap, dear = int(products["cheap"]), int(products["dear"])
    monolith, payments = rig.monolith(), rig.payments()
    try:
        saga = rig.start_saga_consumer("saga-consumer")  # queues exist before anything publishes
        worker = rig.start_payments_worker("payments-worker", card_limit="100.00")
        rig.start_relay("outbox-relay")

        ids = place(rig, [("ok", [(cheap, 2)]), ("declined", [(dear, 1)])])
        ok, declined = ids["ok"], ids["declined"]
        assert stock_of(monolith, dear) == 2  # reserved while the payment is pending
        wait_status(monolith, {ok: "shipped", declined: "cancelled"}, rig)

        # success: paid, then shipped with a shipment
        assert order_events(monolith, ok) == [
            "orders.order.placed",
            "orders.order.paid",
            "orders.order.shipped",
        ]
        # compensation: cancelled, the reserved stock released back to the original amount
        assert order_events(monolith, declined) == ["orders.order.placed", "orders.order.cancelled"]
        assert stock_of(monolith, dear) == 3
        assert stock_of(monolith, cheap) == 3
        with monolith.connect() as conn:
            shipments = conn.execute(
                text("SELECT order_id, status FROM shipping_shipment WHERE order_id IN (:a, :b)"),
                {"a": ok, "b": declined},
            ).all()
            created = conn.execute(
                text(
                    "SELECT COUNT(*) FROM outbox_outboxevent"
                    " WHERE type = 'shipping.shipment.created'"
                )
            ).scalar_one()
            monolith_payments = conn.execute(
                text("SELECT COUNT(*) FROM payments_payment")
            ).scalar_one()
        assert [tuple(s) for s in shipments] == [(ok, "label_created")]
        assert created == 1
        assert monolith_payments == 0  # the service owns payments: the monolith wrote none
        with payments.connect() as conn:
            rows = {
                int(r.order_id): r
                for r in conn.execute(
                    text("SELECT order_id, status, amount_cents, reason FROM payments")
                )
            }
        assert rows[ok].status == "succeeded" and rows[ok].amount_cents == 2000
        assert rows[declined].status == "failed"
        assert rows[declined].reason == "declined: amount 500.00 is over the card limit 100.00"

        # the same events delivered twice: a second copy of the order's placed event (to the
        # payments service) and of its payment event (to the saga) change nothing
        with monolith.connect() as conn:
            placed = conn.execute(
                text(
                    "SELECT event_id, type, aggregate_type, aggregate_id, version, created_at,"
                    " payload FROM outbox_outboxevent WHERE type = 'orders.order.placed'"
                    " AND aggregate_id = :i"
                ),
                {"i": str(ok)},
            ).one()
        with payments.connect() as conn:
            paid = conn.execute(
                text(
                    "SELECT event_id, type, aggregate_type, aggregate_id, version, created_at,"
                    " payload FROM payments_outbox WHERE payload LIKE :p"
                ),
                {"p": f'%"order": {ok},%'},
            ).one()
        bodies = [
            {
                "id": str(uuid.UUID(str(row.event_id))),  # SQLite keeps a UUID as 32 hex digits
                "type": row.type,
                "aggregate_type": row.aggregate_type,
                "aggregate_id": row.aggregate_id,
                "version": int(row.version),
                "created_at": _when(row.created_at),
                "payload": _json(row.payload),
                **extra,
            }
            for row, extra in ((placed, {}), (paid, {"source": "payments"}))
        ]
        publish_raw(rig.broker_url, rig.exchange, bodies)
        # one consumer per queue, in order: once a later order is through, both copies were
        # handled before it
        later = place(rig, [("later", [(cheap, 1)])])["later"]
        wait_status(monolith, {later: "shipped"}, rig)

        assert order_events(monolith, ok) == [
            "orders.order.placed",
            "orders.order.paid",
            "orders.order.shipped",
        ]
        assert stock_of(monolith, cheap) == 2
        with payments.connect() as conn:
            charged = conn.execute(
                text("SELECT COUNT(*), COUNT(DISTINCT order_id) FROM payments")
            ).one()
            inbox = conn.execute(
                text("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM sync_processed")
            ).one()
            dead = conn.execute(text("SELECT COUNT(*) FROM sync_dead_letters")).scalar_one()
        assert tuple(charged) == (3, 3)
        assert tuple(inbox) == (3, 3)
        assert dead == 0
        with monolith.connect() as conn:
            outcomes = dict(
                conn.execute(text("SELECT order_id, outcome FROM saga_sagaprocessedevent")).all()
            )
            saga_dead = conn.execute(text("SELECT COUNT(*) FROM saga_sagadeadletter")).scalar_one()
        assert outcomes == {ok: "shipped", declined: "compensated", later: "shipped"}
        assert saga_dead == 0

        for proc in (worker, saga):
            assert proc.stop() == 0, proc.output()
        assert "'duplicate': 1" in worker.output(), worker.output()
        assert '"duplicate": 1' in saga.output(), saga.output()
    finally:
        rig.stop_all()
        monolith.dispose()
        payments.dispose()


def test_payment_saga_compensates_a_failed_payment_embedded(tmp_path: Path) -> None:
    rig = SagaRig(
        monolith_url=f"sqlite:///{tmp_path}/monolith.sqlite3",
        payments_url=f"sqlite:///{tmp_path}/payments.sqlite3",
        broker_url=f"sqlite:///{tmp_path}/broker.sqlite3",
        log_dir=tmp_path,
    )
    _scenario(rig)


@pytest.fixture
def rabbitmq() -> Iterator[str]:
    """RabbitMQ on 127.0.0.1:5672: FAILS (never skips) when it does not answer."""
    try:
        with connect(RABBIT_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
    except Exception as err:
        pytest.fail(
            f"RabbitMQ is required but {RABBIT_URL} is unreachable: {err!r}. "
            "Start it with: rabbitmq-server -detached",
            pytrace=False,
        )
    yield RABBIT_URL


@pytest.mark.postgres
def test_payment_saga_compensates_a_failed_payment_rabbitmq_postgres(
    tmp_path: Path, pg_database: Callable[[str], str], rabbitmq: str
) -> None:
    rig = SagaRig(
        monolith_url=pg_database("saga_shop"),
        payments_url=pg_database("saga_payments"),
        broker_url=rabbitmq,
        log_dir=tmp_path,
        suffix=f".t{secrets.token_hex(4)}",
    )
    try:
        _scenario(rig)
    finally:
        delete_amqp_entities(rabbitmq, rig.exchange, [rig.payments_queue, rig.saga_queue])
