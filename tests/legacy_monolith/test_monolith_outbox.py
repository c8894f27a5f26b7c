"""The transactional outbox: every change through the API writes its events in the same
transaction (none for a refused change), versions count per aggregate, and the relay
publishes them in order on the topic exchange, once each, marking them sent."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Message
from sqlalchemy import text
from sqlalchemy.engine import Engine

from extracted.common import create_engine_from_url
from extracted.common.broker import connect, events_queue

EventRow = tuple[str, str, int, dict[str, Any]]


@pytest.fixture(scope="module")
def outbox(monolith: Any) -> Iterator[Engine]:
    engine = create_engine_from_url(monolith.database_url)
    yield engine
    engine.dispose()


def _json(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else dict(json.loads(value))


def events_of(engine: Engine, aggregate_type: str, aggregate_id: int) -> list[EventRow]:
    """``[(type, event_id, version, payload), ...]`` of one aggregate in ``seq`` order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT type, event_id, version, payload FROM outbox_outboxevent"
                " WHERE aggregate_type = :t AND aggregate_id = :i ORDER BY seq"
            ),
            {"t": aggregate_type, "i": str(aggregate_id)},
        ).all()
    return [(r[0], str(r[1]), int(r[2]), _json(r[3])) for r in rows]


def types(rows: list[EventRow]) -> list[tuple[str, int]]:
    return [(r[0], r[2]) for r in rows]


def test_product_changes_write_versioned_snapshots(
    monolith: Any, outbox: Engine, admin_token: str, make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product(price="10.00", stock=4)
    with monolith.client(admin_token) as staff:
        resp = staff.patch(f"/api/products/{product['id']}/", json={"price": "12.50"})
        assert resp.status_code == 200, resp.text
        refused = staff.patch(f"/api/products/{product['id']}/", json={"price": "-1"})
        assert refused.status_code == 400
    rows = events_of(outbox, "catalog.product", product["id"])
    assert types(rows) == [("catalog.product.created", 1), ("catalog.product.changed", 2)]
    snapshot = rows[1][3]
    assert snapshot["price"] == "12.50" and snapshot["stock"] == 4
    assert snapshot["sku"] == product["sku"] and snapshot["category"]["id"] == 1
    assert snapshot["updated_at"].endswith("Z")


def test_order_lifecycle_events(
    monolith: Any,
    outbox: Engine,
    admin_token: str,
    user_tokens: list[str],
    make_product: Callable[..., dict[str, Any]],
) -> None:
    product = make_product(stock=2, price="5.00")
    with monolith.client(user_tokens[0]) as client:
        placed = client.post(
            "/api/orders/", json={"lines": [{"product": product["id"], "quantity": 2}]}
        )
        assert placed.status_code == 201, placed.text
        order = placed.json()
        too_many = client.post(
            "/api/orders/", json={"lines": [{"product": product["id"], "quantity": 1}]}
        )
        assert too_many.status_code == 409  # rolled back: no stock event, no order event
        assert client.post(f"/api/orders/{order['id']}/pay/").status_code == 201
    with monolith.client(admin_token) as staff:
        shipment = staff.post("/api/shipments/", json={"order": order["id"]}).json()
        moved = staff.post(
            f"/api/shipments/{shipment['id']}/events/", json={"status": "in_transit"}
        )
        assert moved.status_code == 201
    stock = events_of(outbox, "catalog.product", product["id"])
    assert types(stock) == [("catalog.product.created", 1), ("catalog.product.stock_changed", 2)]
    assert stock[1][3]["stock"] == 0
    order_rows = events_of(outbox, "orders.order", order["id"])
    assert types(order_rows) == [
        ("orders.order.placed", 1),
        ("orders.order.paid", 2),
        ("orders.order.shipped", 3),
    ]
    assert order_rows[0][3]["lines"][0]["quantity"] == 2
    assert order_rows[0][3]["total"] == "10.00"
    ship_rows = events_of(outbox, "shipping.shipment", shipment["id"])
    assert types(ship_rows) == [("shipping.shipment.created", 1), ("shipping.shipment.updated", 2)]
    assert ship_rows[1][3]["status"] == "in_transit"


def test_cancel_and_failed_payment_events(
    monolith: Any,
    outbox: Engine,
    user_tokens: list[str],
    make_product: Callable[..., dict[str, Any]],
) -> None:
    product = make_product(stock=3)
    failing = monolith.start_server(
        f"monolith-{monolith.backend}-outbox-failing",
        PAYMENT_FAILURE_RATE="1",
        GUNICORN_WORKERS="1",
    )
    with monolith.client(user_tokens[1], base_url=failing) as client:
        order = client.post(
            "/api/orders/", json={"lines": [{"product": product["id"], "quantity": 1}]}
        ).json()
        assert client.post(f"/api/orders/{order['id']}/pay/").status_code == 502
        assert client.post(f"/api/orders/{order['id']}/cancel/").status_code == 200
    with outbox.connect() as conn:
        payloads = conn.execute(
            text("SELECT payload FROM outbox_outboxevent WHERE type = 'payments.payment.failed'")
        ).scalars()
        failed = [p for p in map(_json, payloads) if p["order"] == order["id"]]
    assert len(failed) == 1
    assert types(events_of(outbox, "orders.order", order["id"])) == [
        ("orders.order.placed", 1),
        ("orders.order.cancelled", 2),
    ]
    stock = events_of(outbox, "catalog.product", product["id"])
    assert [r[3]["stock"] for r in stock] == [3, 2, 3]  # created, reserved, released


def test_events_outside_a_transaction_are_refused(monolith: Any) -> None:
    script = (
        "from legacy_monolith.outbox.events import OutboxError, product_event, EventType\n"
        "try:\n    product_event(EventType.PRODUCT_CHANGED, 1)\n"
        "except OutboxError as err:\n    print('refused:', err)\n"
    )
    assert "refused: catalog.product.changed" in monolith.manage("shell", "-c", script)


def test_relay_publishes_in_order_and_marks_sent(
    monolith: Any, outbox: Engine, tmp_path: Path, make_product: Callable[..., dict[str, Any]]
) -> None:
    broker_url = f"sqlite:///{tmp_path}/broker.sqlite3"
    exchange = f"strangler.events.t{secrets.token_hex(3)}"
    product = make_product(stock=1)
    with monolith.client(monolith.login("admin", "admin")) as staff:
        for price in ("1.00", "2.00", "3.00"):
            staff.patch(f"/api/products/{product['id']}/", json={"price": price})
    broker = connect(broker_url)
    queue = events_queue("catalog.sync", ["catalog.#"], exchange)
    with broker.channel() as channel:
        queue.bind(channel).declare()
    out = monolith.manage("outbox_relay", "--once", "--broker", broker_url, "--exchange", exchange)
    published = int(out.strip().rsplit(" ", 1)[-1].rstrip("}"))
    assert published >= 4
    with outbox.connect() as conn:
        unsent = conn.execute(text("SELECT COUNT(*) FROM outbox_outboxevent WHERE sent_at IS NULL"))
        assert unsent.scalar_one() == 0
    received: list[dict[str, Any]] = []
    with broker.channel() as channel:
        bound = queue.bind(channel)
        while (message := bound.get(accept=["json"])) is not None:
            assert isinstance(message, Message)
            received.append(message.payload)
            message.ack()
    broker.release()
    mine = [m for m in received if m["aggregate_id"] == str(product["id"])]
    assert [(m["type"], m["version"]) for m in mine] == [
        ("catalog.product.created", 1),
        ("catalog.product.changed", 2),
        ("catalog.product.changed", 3),
        ("catalog.product.changed", 4),
    ]
    assert [m["payload"]["price"] for m in mine[1:]] == ["1.00", "2.00", "3.00"]
    assert all(m["type"].startswith("catalog.") for m in received)  # only catalog.# is bound
    assert set(mine[0]) == {
        "id", "type", "aggregate_type", "aggregate_id", "version", "created_at", "payload"
    }  # fmt: skip
    # nothing left: a second run publishes nothing
    again = monolith.manage(
        "outbox_relay", "--once", "--broker", broker_url, "--exchange", exchange
    )
    assert again.strip().endswith('{"published": 0}')
