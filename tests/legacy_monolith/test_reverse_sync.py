"""The monolith once the catalog service writes products: it refuses its own product writes
(409), and ``catalog_reverse_sync`` applies the service's events to its tables: in version
order, each once, never stock, never echoed back as the monolith's own events.

Real processes: the monolith under gunicorn (the session's, plus one started with
``STRANGLER_WRITER_CATALOG_PRODUCT=catalog`` on the same database) and the reverse sync
command; on SQLite with the embedded broker, and on PostgreSQL with RabbitMQ (unique exchange
and queue names per test, deleted afterwards).
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
from kombu.messaging import Producer
from sqlalchemy import text
from sqlalchemy.engine import Engine

from extracted.common import create_engine_from_url
from extracted.common.broker import connect, events_exchange
from extracted.datatools.testing import delete_amqp_entities
from strangler_proxy._procs import Process, wait_until

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672//"
WRITER_ENV = "STRANGLER_WRITER_CATALOG_PRODUCT"
REFUSED = {"detail": "Products are written by the catalog service "
                     "(STRANGLER_WRITER_CATALOG_PRODUCT=catalog)."}  # fmt: skip
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def db(monolith: Any) -> Iterator[Engine]:
    engine = create_engine_from_url(monolith.database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def catalog_writes(monolith: Any) -> str:
    """A second monolith server on the same database, configured with the service as writer."""
    return str(monolith.start_server(f"monolith-{monolith.backend}-w", **{WRITER_ENV: "catalog"}))


def test_the_monolith_refuses_product_writes_when_the_catalog_writes(
    monolith: Any, catalog_writes: str, admin_token: str, make_product: Callable[..., Any]
) -> None:
    product = make_product()  # through the session's server: the monolith writes there
    pid = product["id"]
    body = {"sku": product["sku"], "name": "x", "price": "1.00", "category": 1}
    with monolith.client(admin_token, base_url=catalog_writes) as staff:
        for method, path in (("post", "/api/products/"), ("put", f"/api/products/{pid}/"),
                             ("patch", f"/api/products/{pid}/")):  # fmt: skip
            resp = getattr(staff, method)(path, json=body)
            assert resp.status_code == 409, resp.text
            assert resp.json() == REFUSED
        assert staff.get(f"/api/products/{pid}/").json()["name"] == product["name"]
        assert staff.delete(f"/api/products/{pid}/").status_code == 405  # never offered
    with monolith.client(base_url=catalog_writes) as anonymous:  # authentication comes first
        assert anonymous.patch(f"/api/products/{pid}/", json=body).status_code == 401

    # the admin shows products read-only; an unknown writer stops the start-up
    script = (
        "from django.contrib.admin.sites import site\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.test import RequestFactory\n"
        "from legacy_monolith.catalog.models import Product\n"
        "request = RequestFactory().get('/admin/')\n"
        "request.user = get_user_model().objects.get(username='admin')\n"
        "pa = site._registry[Product]\n"
        "print(pa.has_view_permission(request), pa.has_add_permission(request),"
        " pa.has_change_permission(request), pa.has_delete_permission(request))\n"
    )
    read_only = monolith.manage("shell", "-c", script, env={WRITER_ENV: "catalog"})
    assert read_only.splitlines()[-1].split() == ["True", "False", "False", "False"]
    assert monolith.manage("shell", "-c", script).splitlines()[-1].split() == ["True"] * 4
    with pytest.raises(AssertionError, match="expected one of monolith, catalog, got 'both'"):
        monolith.manage("check", env={WRITER_ENV: "both"})


def _message(
    pid: int, version: int, *, event_id: str | None = None, **changes: Any
) -> dict[str, Any]:
    payload = {
        "id": pid, "sku": f"T-RS-{pid}", "name": f"v{version}", "description": "from the service",
        "price": f"{version}.50", "stock": 999,  # stock is never taken from the service
        "category": {"id": 1, "name": "ignored", "slug": "ignored", "description": ""},
        "attributes": {"v": version}, "created_at": "2026-01-01T12:00:00.000001Z",
        "updated_at": f"2026-02-0{version}T10:00:00.000001Z",
    }  # fmt: skip
    payload.update(changes)
    return {
        "id": event_id or str(uuid.uuid4()), "type": "catalog.product.changed",
        "aggregate_type": "catalog.product", "aggregate_id": str(pid), "version": version,
        "created_at": "2026-02-01T10:00:00.000001Z", "payload": payload, "origin": "catalog",
    }  # fmt: skip


def _outbox_count(db: Engine, pid: int) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM outbox_outboxevent WHERE aggregate_id = :i"),
                {"i": str(pid)},
            ).scalar_one()
        )


@pytest.fixture
def broker(monolith: Any, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(broker URL, exchange, queue): a broker file of its own, or unique RabbitMQ names."""
    suffix = f".t{secrets.token_hex(4)}"
    exchange, queue = f"strangler.events{suffix}", f"monolith.catalog.reverse_sync{suffix}"
    if monolith.backend == "sqlite":
        yield f"sqlite:///{tmp_path}/broker.sqlite3", exchange, queue
        return
    try:
        yield RABBIT_URL, exchange, queue
    finally:
        delete_amqp_entities(RABBIT_URL, exchange, [queue])


def test_reverse_sync_applies_service_events_in_order_once_without_echo(
    monolith: Any, db: Engine, broker: tuple[str, str, str], tmp_path: Path,
    make_product: Callable[..., Any],
) -> None:  # fmt: skip
    url, exchange, queue = broker
    product = make_product(stock=5)
    pid = product["id"]
    outbox_before = _outbox_count(db, pid)
    proc = Process(
        [sys.executable, "-m", "django", "catalog_reverse_sync", "--broker", url,
         "--exchange", exchange, "--queue", queue, "--visibility-timeout", "2"],
        name="reverse-sync", env={**monolith.env, WRITER_ENV: "catalog"}, cwd=REPO,
        log_dir=tmp_path,
    )  # fmt: skip
    try:
        proc.start()
        wait_until(
            lambda: proc.alive() and "consuming" in proc.output(), timeout=30, what="its queue"
        )
        assert proc.alive(), proc.output()
        second = _message(pid, 2)
        own = {k: v for k, v in _message(pid, 9, name="the monolith's own").items()
               if k != "origin"}  # fmt: skip
        bodies: list[Any] = [
            second,
            _message(pid, 1),  # late: older than the v2 held
            second,  # the same event again
            own,  # the monolith's own event, back from the exchange: not reverse sync's
            {**_message(pid, 4), "version": "four"},  # malformed: dead-lettered
            _message(pid, 3),
        ]
        with connect(url) as conn:
            producer = Producer(
                conn.channel(), exchange=events_exchange(exchange), serializer="json"
            )
            for body in bodies:
                producer.publish(body, routing_key="catalog.product.changed", delivery_mode=2)

        def shows_v3() -> bool:
            assert proc.alive(), proc.output()
            with monolith.client() as client:
                return bool(client.get(f"/api/products/{pid}/").json()["name"] == "v3")

        wait_until(shows_v3, timeout=30, what="v3 in the monolith's product API")
        with monolith.client() as client:
            item = client.get(f"/api/products/{pid}/").json()
        assert item["price"] == "3.50" and item["sku"] == f"T-RS-{pid}"
        assert item["description"] == "from the service" and item["attributes"] == {"v": 3}
        assert item["stock"] == 5  # the monolith's
        assert item["updated_at"] == "2026-02-03T10:00:00.000001Z"  # the service's, not now
        assert item["category"]["id"] == 1 and item["category"]["name"] != "ignored"
        # no echo: reverse sync wrote no event of the monolith's own
        assert _outbox_count(db, pid) == outbox_before
        with db.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT event_id, version, outcome FROM catalog_reversesyncevent"
                    " WHERE aggregate_id = :i ORDER BY processed_at, version"
                ),
                {"i": str(pid)},
            ).all()
            held = conn.execute(
                text("SELECT version FROM catalog_reversesyncversion WHERE product_id = :i"),
                {"i": pid},
            ).scalar_one()
        assert sorted((r[1], r[2]) for r in rows) == [
            (0, "dead_lettered"), (1, "stale"), (2, "applied"), (3, "applied"),
        ]  # fmt: skip
        assert [r[0] for r in rows].count(second["id"]) == 1
        assert held == 3
    finally:
        proc.stop()
    out = proc.output()
    stopped = json.loads(out.rsplit("stopped: ", 1)[1].splitlines()[0])
    assert stopped == {
        "applied": 2, "stale": 1, "duplicate": 1, "ignored": 1, "dead_lettered": 1
    }, out  # fmt: skip
