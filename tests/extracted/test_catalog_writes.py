"""Product writes in the catalog service (Flask's test client, fast), on SQLite and PostgreSQL.

Who may write (the signed identity, staff only, the configured writer), DRF's validation
messages, the row and its outbox event in one transaction, dry runs leaving nothing, and the
consumer taking only stock from the monolith once the service is the writer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from extracted.catalog import create_app
from extracted.catalog.api import ENGINE_KEY
from extracted.catalog.schema import categories, outbox, products
from extracted.catalog.sync import apply_catalog_event
from extracted.catalog.writer import WRITER_ENV, writer_from_env
from extracted.common.events import handle_event, parse_event
from extracted.common.inbox import Outcome
from strangler_proxy.gateway import sign_assertion

KEY = "write-test-key-" + "k" * 32
STAFF = {"user_id": 1, "username": "admin", "is_staff": True, "request_id": "r-staff"}
CUSTOMER = {"user_id": 7, "username": "ada", "is_staff": False, "request_id": "r-ada"}
NOT_THE_WRITER = {
    "detail": "Products are written by the monolith (STRANGLER_WRITER_CATALOG_PRODUCT=monolith)."
}


def headers(claims: dict[str, Any] | None = STAFF, **extra: str) -> dict[str, str]:
    out = dict(extra)
    if claims is not None:
        out["X-Strangler-Identity"] = sign_assertion(
            claims, KEY.encode(), ttl=60, audience="catalog", now=time.time()
        )
    return out


def _make_app(url: str, writer: str) -> Flask:
    return create_app({"DATABASE_URL": url, "TESTING": True, "WRITER": writer, "IDENTITY_KEY": KEY})


def _fill(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(categories),
            [
                {"id": 1, "name": "Books", "slug": "books", "description": "Paper."},
                {"id": 2, "name": "Café", "slug": "cafe", "description": ""},
            ],
        )
        conn.execute(
            insert(products),
            [
                {
                    "id": i,
                    "sku": f"SKU-{i:03d}",
                    "name": f"Lamp {i}",
                    "description": "plain",
                    "price_cents": 1250,
                    "stock": 4,
                    "category_id": 1,
                    "attributes": {"n": i},
                    "created_at": datetime(2026, 1, 1, 12, 0, 0, 500),
                    "updated_at": datetime(2026, 1, 2, 8, 30),
                }
                for i in (1, 2, 3)
            ],
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/catalog.sqlite3"
    return str(request.getfixturevalue("pg_database")("writes"))


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[[str], Flask]]:
    """``make_app(writer)``: the service on one filled database, as many times as asked."""
    apps: list[Flask] = []

    def make(writer: str) -> Flask:
        app = _make_app(database_url, writer)
        if not apps:
            _fill(app.extensions[ENGINE_KEY])
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions[ENGINE_KEY].dispose()


@pytest.fixture
def app(make_app: Callable[[str], Flask]) -> Flask:
    return make_app("catalog")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def engine_of(app: Flask) -> Engine:
    engine: Engine = app.extensions[ENGINE_KEY]
    return engine


def outbox_rows(app: Flask) -> list[dict[str, Any]]:
    with engine_of(app).connect() as conn:
        return [dict(r) for r in conn.execute(select(outbox).order_by(outbox.c.seq)).mappings()]


def test_writer_setting_is_read_and_checked() -> None:
    assert writer_from_env({}) == "monolith"
    assert writer_from_env({WRITER_ENV: " Catalog "}) == "catalog"
    with pytest.raises(ValueError, match="expected one of monolith, catalog, got 'both'"):
        writer_from_env({WRITER_ENV: "both"})


def test_patch_writes_the_row_and_its_event_together(app: Flask, client: FlaskClient) -> None:
    resp = client.patch(
        "/api/products/2/", json={"name": " New lamp ", "price": "19.90"}, headers=headers()
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["name"] == "New lamp" and body["price"] == "19.90" and body["stock"] == 4
    assert body["category"] == {"id": 1, "name": "Books", "slug": "books"}
    assert resp.headers["Allow"] == "GET, PUT, PATCH, HEAD, OPTIONS"
    assert client.get("/api/products/2/").get_json() == body

    resp = client.patch("/api/products/2/", json={"category": 2}, headers=headers())
    assert resp.status_code == 200, resp.get_json()
    rows = outbox_rows(app)
    assert [(r["type"], r["aggregate_id"], r["version"]) for r in rows] == [
        ("catalog.product.changed", "2", 1),
        ("catalog.product.changed", "2", 2),
    ]
    assert all(r["sent_at"] is None for r in rows)
    payload = rows[1]["payload"]
    # the monolith's snapshot, key for key (legacy_monolith/outbox/events.py product_snapshot;
    # jsonb on PostgreSQL keeps no key order, on either side)
    assert sorted(payload) == sorted(
        [
            "id",
            "sku",
            "name",
            "description",
            "price",
            "stock",
            "category",
            "attributes",
            "created_at",
            "updated_at",
        ]
    )
    assert payload["price"] == "19.90" and payload["name"] == "New lamp"
    assert payload["category"] == {"id": 2, "name": "Café", "slug": "cafe", "description": ""}
    assert payload["created_at"] == "2026-01-01T12:00:00.000500Z"
    assert payload["updated_at"].endswith("Z") and len(payload["updated_at"]) == 27
    uuid.UUID(rows[0]["event_id"])


def test_put_needs_every_required_field(client: FlaskClient) -> None:
    resp = client.put("/api/products/1/", json={"name": "x"}, headers=headers())
    assert resp.status_code == 400
    assert resp.get_json() == {
        "sku": ["This field is required."],
        "price": ["This field is required."],
        "category": ["This field is required."],
    }
    full = {"sku": "SKU-001", "name": "Put lamp", "price": "1.00", "category": 1, "stock": 4}
    resp = client.put("/api/products/1/", json=full, headers=headers())
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["name"] == "Put lamp"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"price": "abc"}, {"price": ["A valid number is required."]}),
        ({"price": "-1"}, {"price": ["Ensure this value is greater than or equal to 0."]}),
        ({"price": "1.234"}, {"price": ["Ensure that there are no more than 2 decimal places."]}),
        ({"price": "123456789.00"},
         {"price": ["Ensure that there are no more than 10 digits in total."]}),
        ({"name": ""}, {"name": ["This field may not be blank."]}),
        ({"name": None}, {"name": ["This field may not be null."]}),
        ({"name": "x" * 201}, {"name": ["Ensure this field has no more than 200 characters."]}),
        ({"sku": "SKU-003"}, {"sku": ["product with this sku already exists."]}),
        ({"category": 99}, {"category": ['Invalid pk "99" - object does not exist.']}),
        ({"category": "x"},
         {"category": ["Incorrect type. Expected pk value, received str."]}),
        ({"attributes": [1]}, {"attributes": ["Expected a JSON object."]}),
        ({"stock": 9}, {"stock": ["Stock is written by the monolith (order reservations): "
                                  "send the current value or leave it out."]}),
        ([1, 2], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)  # fmt: skip
def test_validation_errors_are_drf_shaped(
    app: Flask, client: FlaskClient, body: Any, errors: Any
) -> None:
    resp = client.patch("/api/products/1/", json=body, headers=headers())
    assert resp.status_code == 400
    assert resp.get_json() == errors
    assert outbox_rows(app) == []


def test_who_may_write(make_app: Callable[[str], Flask]) -> None:
    app = make_app("catalog")
    client = app.test_client()
    resp = client.patch("/api/products/1/", json={"name": "x"})
    assert resp.status_code == 401
    assert resp.get_json() == {"detail": "Authentication credentials were not provided."}
    resp = client.patch("/api/products/1/", json={"name": "x"}, headers=headers(CUSTOMER))
    assert resp.status_code == 403
    assert resp.get_json() == {"detail": "You do not have permission to perform this action."}
    resp = client.patch("/api/products/999/", json={"name": "x"}, headers=headers())
    assert resp.status_code == 404
    assert resp.get_json() == {"detail": "No Product matches the given query."}

    # the monolith is the writer: the service refuses, whatever the body, and writes nothing
    refusing = make_app("monolith").test_client()
    for method in ("patch", "put"):
        resp = getattr(refusing, method)("/api/products/1/", json={"name": "x"}, headers=headers())
        assert resp.status_code == 409
        assert resp.get_json() == NOT_THE_WRITER
    assert refusing.get("/api/products/1/").get_json()["name"] == "Lamp 1"
    assert outbox_rows(app) == []


def test_dry_run_answers_the_same_and_writes_nothing(app: Flask, client: FlaskClient) -> None:
    before = client.get("/api/products/3/").get_json()
    dry = client.patch(
        "/api/products/3/",
        json={"name": "Dry"},
        headers=headers(**{"X-Strangler-Dry-Run": "1"}),
    )
    assert dry.status_code == 200
    assert dry.get_json()["name"] == "Dry"
    assert client.get("/api/products/3/").get_json() == before
    assert outbox_rows(app) == []


def _monolith_event(version: int, type_: str, **changes: Any) -> Any:
    payload = {
        "id": 1, "sku": "SKU-001", "name": "Monolith's stale name", "description": "plain",
        "price": "1.00", "stock": 1, "attributes": {},
        "category": {"id": 1, "name": "Books", "slug": "books", "description": ""},
        "created_at": "2026-01-01T12:00:00.000500Z", "updated_at": "2026-01-03T00:00:00Z",
    }  # fmt: skip
    payload.update(changes)
    return parse_event(
        {"id": str(uuid.uuid4()), "type": type_, "aggregate_type": "catalog.product",
         "aggregate_id": "1", "version": version, "created_at": "2026-01-03T00:00:00Z",
         "payload": payload}
    )  # fmt: skip


def test_consumer_takes_only_stock_from_the_monolith_once_the_service_writes(
    app: Flask, client: FlaskClient
) -> None:
    assert client.patch("/api/products/1/", json={"name": "Mine"}, headers=headers()).status_code
    engine = engine_of(app)

    def apply_catalog(conn: Any, event: Any) -> Outcome:
        return apply_catalog_event(conn, event, writer="catalog")

    assert handle_event(engine, apply_catalog, _monolith_event(5, "catalog.product.stock_changed",
                        stock=0)) is Outcome.APPLIED  # fmt: skip
    item = client.get("/api/products/1/").get_json()
    assert (item["name"], item["price"], item["stock"]) == ("Mine", "12.50", 0)
    # an older monolith version is still stale, whichever side writes
    assert handle_event(engine, apply_catalog, _monolith_event(4, "catalog.product.changed",
                        stock=3)) is Outcome.STALE  # fmt: skip
    # with the monolith as the writer, its snapshot is the whole truth again
    assert handle_event(engine, apply_catalog_event, _monolith_event(6,
                        "catalog.product.changed", stock=2)) is Outcome.APPLIED  # fmt: skip
    item = client.get("/api/products/1/").get_json()
    assert (item["name"], item["price"], item["stock"]) == ("Monolith's stale name", "1.00", 2)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 1
