"""The monolith's half of the payment saga, against the session's running monolith.

- With ``STRANGLER_PAYMENTS_OWNER=service`` the synchronous pay endpoint refuses (409, DRF's
  ``{"detail": ...}`` naming the owner) and writes nothing: one payment writer at a time.
- ``python -m django saga_consumer`` (a real process) applies payment outcomes published on
  the broker: success → paid and shipped with a shipment; failure → the compensation (order
  cancelled, stock released); a second copy of an event changes nothing; the monolith's own
  payment events are ignored; a malformed message is dead-lettered.

SQLite with the embedded broker, and PostgreSQL with RabbitMQ (unique exchange and queue).
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from extracted.common import create_engine_from_url
from extracted.common.broker import connect
from extracted.datatools.testing import delete_amqp_entities
from extracted.payments.testing import publish_raw
from strangler_proxy._procs import Process, wait_until

REPO = Path(__file__).resolve().parents[2]
RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(scope="module")
def shop_db(monolith: Any) -> Iterator[Engine]:
    engine = create_engine_from_url(monolith.database_url)
    yield engine
    engine.dispose()


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_pay_refused_when_the_payments_service_owns_payments(
    monolith: Any, user_tokens: list[str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product(stock=2, price="7.00")
    service_owned = monolith.start_server(
        f"monolith-{monolith.backend}-payments-service",
        STRANGLER_PAYMENTS_OWNER="service",
        GUNICORN_WORKERS="1",
    )
    with monolith.client(user_tokens[2], base_url=service_owned) as client:
        order = client.post(
            "/api/orders/", json={"lines": [{"product": product["id"], "quantity": 1}]}
        ).json()
        refused = client.post(f"/api/orders/{order['id']}/pay/")
        assert refused.status_code == 409, refused.text
        assert refused.json() == {
            "detail": "Payments are owned by the payments service "
            "(STRANGLER_PAYMENTS_OWNER=service): it charges every order when it is placed; "
            "this endpoint takes no payments."
        }
        assert client.get(f"/api/orders/{order['id']}/").json()["status"] == "pending"
        assert client.get("/api/payments/", params={"order": order["id"]}).json()["count"] == 0
    with monolith.client(user_tokens[2]) as client:  # the default owner is the monolith
        assert client.post(f"/api/orders/{order['id']}/pay/").status_code == 201


def payment_body(order_id: int, outcome: str, *, source: str | None = "payments") -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": f"payments.payment.{outcome}",
        "aggregate_type": "payments.payment",
        "aggregate_id": "pay_" + secrets.token_hex(8),
        "version": 1,
        "created_at": "2026-01-01T12:00:00.000001Z",
        "payload": {
            "order": order_id,
            "status": outcome,
            "amount": "7.00",
            "reason": "" if outcome == "succeeded" else "declined: test",
        },
    }
    if source is not None:
        body["source"] = source
    return body


@pytest.fixture
def broker(monolith: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(broker URL, exchange): the embedded broker beside SQLite, RabbitMQ beside PostgreSQL
    (which FAILS, never skips, when RabbitMQ does not answer)."""
    if monolith.backend == "sqlite":
        yield f"sqlite:///{tmp_path}/broker.sqlite3", "strangler.events"
        return
    try:
        with connect(RABBIT_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
    except Exception as err:
        pytest.fail(
            f"RabbitMQ is required but {RABBIT_URL} is unreachable: {err!r}. "
            "Start it with: rabbitmq-server -detached",
            pytrace=False,
        )
    exchange = f"strangler.events.t{secrets.token_hex(4)}"
    yield RABBIT_URL, exchange
    delete_amqp_entities(RABBIT_URL, exchange, [f"monolith.saga{exchange[16:]}"])


def test_saga_consumer_pays_ships_compensates_once(
    monolith: Any,
    shop_db: Engine,
    broker: tuple[str, str],
    tmp_path: Path,
    user_tokens: list[str],
    make_product: Callable[..., dict[str, Any]],
) -> None:
    broker_url, exchange = broker
    queue = f"monolith.saga{exchange[16:]}"
    product = make_product(stock=5, price="7.00")
    with monolith.client(user_tokens[3]) as client:
        ids = [
            client.post(
                "/api/orders/", json={"lines": [{"product": product["id"], "quantity": 1}]}
            ).json()["id"]
            for _ in range(3)
        ]
    paid, failed, foreign = ids
    stock = "SELECT stock FROM catalog_product WHERE id = :p"
    assert scalar(shop_db, stock, p=product["id"]) == 2
    saga = Process(
        [sys.executable, "-m", "django", "saga_consumer", "--broker", broker_url,
         "--queue", queue, "--exchange", exchange, "--visibility-timeout", "2"],
        name="saga-consumer",
        env={**monolith.env, "STRANGLER_PAYMENTS_OWNER": "service"},
        cwd=REPO,
        log_dir=tmp_path,
    )  # fmt: skip
    with saga:
        wait_until(
            lambda: saga.alive() and "consuming" in saga.output(),
            timeout=60,
            what="the saga consumer's queue",
        )
        success = payment_body(paid, "succeeded")
        publish_raw(
            broker_url,
            exchange,
            [
                success,
                success,  # delivered twice
                payment_body(failed, "failed"),
                payment_body(foreign, "failed", source=None),  # the monolith's own event
                {"id": "poison", "type": "payments.payment.failed", "payload": {}},
            ],
        )
        dead = "SELECT COUNT(*) FROM saga_sagadeadletter WHERE event_id = 'poison'"
        # one consumer, in order: the poison message is handled last
        wait_until(lambda: scalar(shop_db, dead) == 1, timeout=60, what="the saga to finish")
        assert saga.stop() == 0
    assert '"duplicate": 1' in saga.output(), saga.output()
    status = "SELECT status FROM orders_order WHERE id = :o"
    assert scalar(shop_db, status, o=paid) == "shipped"
    assert scalar(shop_db, status, o=failed) == "cancelled"
    assert scalar(shop_db, status, o=foreign) == "pending"
    assert scalar(shop_db, stock, p=product["id"]) == 3  # the failed order's unit came back
    assert (
        scalar(shop_db, "SELECT COUNT(*) FROM shipping_shipment WHERE order_id = :o", o=paid) == 1
    )
    with shop_db.connect() as conn:
        outcomes = dict(
            conn.execute(
                text(
                    "SELECT order_id, outcome FROM saga_sagaprocessedevent"
                    " WHERE order_id IN (:a, :b, :c)"
                ),
                {"a": paid, "b": failed, "c": foreign},
            ).all()
        )
        events = conn.execute(
            text(
                "SELECT aggregate_id, type FROM outbox_outboxevent"
                " WHERE aggregate_type = 'orders.order' AND aggregate_id IN (:a, :b) ORDER BY seq"
            ),
            {"a": str(paid), "b": str(failed)},
        ).all()
        error = conn.execute(
            text("SELECT error FROM saga_sagadeadletter WHERE event_id = 'poison'")
        ).scalar_one()
    assert outcomes == {paid: "shipped", failed: "compensated", foreign: "ignored"}
    assert [t for a, t in events if a == str(paid)] == [
        "orders.order.placed",
        "orders.order.paid",
        "orders.order.shipped",
    ]
    assert [t for a, t in events if a == str(failed)] == [
        "orders.order.placed",
        "orders.order.cancelled",
    ]
    assert json.dumps(error).startswith('"malformed: ')
