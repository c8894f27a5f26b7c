"""The catalog service through Flask's test client (fast): filters, pagination links, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from extracted.catalog import create_app
from extracted.catalog.api import ENGINE_KEY
from extracted.catalog.schema import categories, products


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    path: Path = tmp_path_factory.mktemp("api") / "catalog.sqlite3"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "TESTING": True})
    engine = app.extensions[ENGINE_KEY]
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
                    "name": f"{'Lamp' if i % 2 else 'Mug'} {i}",
                    "description": "100% naïve" if i == 3 else "plain",
                    "price_cents": 1000 + (i % 5) * 250,
                    "stock": 0 if i % 4 == 0 else i,
                    "category_id": 1 if i <= 30 else 2,
                    "attributes": {"n": i},
                    "created_at": datetime(2026, 1, 1, 12, 0, 0, 500 if i == 1 else 0),
                    "updated_at": datetime(2026, 1, 2, 8, 30),
                }
                for i in range(1, 46)
            ],
        )
    yield app
    engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_product_item_shape(client: FlaskClient) -> None:
    response = client.get("/api/products/1/")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json() == {
        "id": 1,
        "sku": "SKU-001",
        "name": "Lamp 1",
        "description": "plain",
        "price": "12.50",
        "stock": 1,
        "in_stock": True,
        "category": {"id": 1, "name": "Books", "slug": "books"},
        "attributes": {"n": 1},
        "created_at": "2026-01-01T12:00:00.000500Z",
        "updated_at": "2026-01-02T08:30:00Z",
    }
    assert b'{"id":1,"sku":"SKU-001"' in response.data  # compact, key order kept


def test_pagination_links(client: FlaskClient) -> None:
    first = client.get("/api/products/?zeta=1&page_size=10", headers={"Host": "h.test"}).get_json()
    assert first["count"] == 45
    assert first["previous"] is None
    assert first["next"] == "http://h.test/api/products/?page=2&page_size=10&zeta=1"
    second = client.get("/api/products/?page=2&page_size=10&zeta=1", headers={"Host": "h.test"})
    assert second.get_json()["previous"] == "http://h.test/api/products/?page_size=10&zeta=1"
    last = client.get("/api/products/?page=last&page_size=10").get_json()
    assert last["next"] is None and [p["id"] for p in last["results"]] == [41, 42, 43, 44, 45]
    assert len(client.get("/api/products/?page_size=1000").get_json()["results"]) == 45
    assert len(client.get("/api/products/?page_size=0").get_json()["results"]) == 20
    # Django's QueryDict: the last of repeated params wins
    assert client.get("/api/products/?page=1&page=3").get_json()["previous"].endswith("page=2")


@pytest.mark.parametrize("page", ["4", "0", "abc", "-1"])
def test_invalid_page(client: FlaskClient, page: str) -> None:
    response = client.get(f"/api/products/?page={page}")
    assert (response.status_code, response.get_json()) == (404, {"detail": "Invalid page."})


def test_trusted_forwarded_headers(app: Flask) -> None:
    headers = {"X-Forwarded-Host": "shop.example", "X-Forwarded-Proto": "https", "Host": "in"}
    plain = app.test_client().get("/api/products/", headers=headers).get_json()
    assert plain["next"] == "http://in/api/products/?page=2"
    app.config["TRUST_X_FORWARDED"] = True
    try:
        trusted = app.test_client().get("/api/products/", headers=headers).get_json()
    finally:
        app.config["TRUST_X_FORWARDED"] = False
    assert trusted["next"] == "https://shop.example/api/products/?page=2"


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("category=cafe&min_price=15", [32, 33, 34, 37, 38, 39, 42, 43, 44]),
        ("category=%20cafe%20&max_price=10.00", [35, 40, 45]),
        ("min_price=17.5&max_price=17.50", [3, 8, 13, 18, 23, 28, 33, 38, 43]),
        ("in_stock=false&category=books", [4, 8, 12, 16, 20, 24, 28]),
        ("in_stock=FALSE&category=cafe&page_size=3", [31, 32, 33]),  # ignored, as Django
        ("search=100%25", [3]),
        ("search=NAÏVE", []),  # SQLite LIKE folds ASCII only, like the monolith on SQLite
        ("search=lamp,sku-04", [41, 43, 45]),
        ("search=%22Mug 4%22", [4, 40, 42, 44]),
        ("ordering=-price,bogus&max_price=10&page_size=3", [5, 10, 15]),
        ("ordering=-stock&page_size=2", [45, 43]),
        ("ordering=bogus&page_size=2", [1, 2]),
        ("category=nope", []),
    ],
)
def test_filters_search_ordering(client: FlaskClient, query: str, ids: list[int]) -> None:
    response = client.get(f"/api/products/?page_size=100&{query}")
    assert response.status_code == 200, response.data
    assert [p["id"] for p in response.get_json()["results"]] == ids


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("min_price=abc", {"min_price": ["Enter a number."]}),
        (
            "max_price=NaN&min_price=1e51",
            {
                "min_price": ["Ensure this value is less than or equal to 1e+50."],
                "max_price": ["Enter a number."],
            },
        ),
        ("category=a%00b", {"category": ["Null characters are not allowed."]}),
        ("search=a%00", ["Null characters are not allowed."]),
    ],
)
def test_bad_parameters(client: FlaskClient, query: str, body: object) -> None:
    response = client.get(f"/api/products/?{query}")
    assert (response.status_code, response.get_json()) == (400, body)


def test_errors_speak_django(client: FlaskClient) -> None:
    missing = client.get("/api/products/999/")
    assert missing.get_json() == {"detail": "No Product matches the given query."}
    assert client.get("/api/products/abc/").get_json() == {"detail": "Not found."}
    assert client.get("/api/products/1_0/").get_json()["id"] == 10
    huge = client.get("/api/products/99999999999999999999/").get_json()
    assert huge == {"detail": "No Product matches the given query."}
    assert client.get("/api/categories/9/").get_json() == {
        "detail": "No Category matches the given query."
    }
    unknown = client.get("/nope/")
    assert (unknown.status_code, unknown.content_type) == (404, "text/html; charset=utf-8")
    assert b"<h1>Not Found</h1>" in unknown.data
    redirect = client.get("/api/products?page=2")
    assert (redirect.status_code, redirect.headers["Location"]) == (301, "/api/products/?page=2")
    post = client.post("/api/products/")
    assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert post.get_json() == {"detail": 'Method "POST" not allowed.'}
    assert client.get("/api/products/1.xml").get_json() == {"detail": "Not found."}
    assert client.get("/api/products/1.json").get_json()["id"] == 1


def test_categories_and_health(client: FlaskClient) -> None:
    listing = client.get("/api/categories/").get_json()
    assert listing["results"][1] == {"id": 2, "name": "Café", "slug": "cafe", "description": ""}
    assert "Café".encode() in client.get("/api/categories/2/").data  # ensure_ascii=False
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()) == (200, {"status": "ok"})
    assert len(health.headers["X-Request-ID"]) == 32
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-1"})
    assert echoed.headers["X-Request-ID"] == "abc-1"
