"""The seed command: requested sizes, idempotent reruns, fast bulk inserts."""

from __future__ import annotations

from typing import Any

import pytest

from legacy_monolith._dburl import parse_database_url


def test_seed_sizes_and_idempotence(monolith: Any) -> None:
    first = monolith.seed()
    second = monolith.seed()
    sizes = {"categories": 5, "products": 60, "users": 10, "orders": 30}
    for name, size in sizes.items():
        assert first[name] == second[name] == size, name
    assert first["order_lines"] == second["order_lines"] >= 30
    assert set(second["created"].values()) == {0}
    # a bigger size adds only the missing rows, and seeded users log in with "password"
    bigger = monolith.seed({**sizes, "users": 12, "orders": 35})
    assert (bigger["users"], bigger["orders"]) == (12, 35)
    assert bigger["created"]["users"] == 2 and bigger["created"]["orders"] == 5
    assert monolith.login("user0012", "password")


def test_seed_demo_size_on_a_fresh_database(fresh_sqlite_shop: Any) -> None:
    fresh = fresh_sqlite_shop
    summary = fresh.seed({"categories": 20, "products": 10000, "users": 1000, "orders": 2000})
    assert (summary["products"], summary["users"], summary["orders"]) == (10000, 1000, 2000)
    print(f"seeded 10k products, 1k users, 2k orders in {summary['seconds']} s")


def test_database_url_parsing(tmp_path: Any) -> None:
    rel = parse_database_url("sqlite:///var/x.sqlite3", base_dir=tmp_path)
    assert rel["NAME"] == str(tmp_path / "var" / "x.sqlite3")
    assert rel["OPTIONS"] == {"transaction_mode": "IMMEDIATE", "timeout": 20}
    assert parse_database_url("sqlite:////abs/x.db", base_dir=tmp_path)["NAME"] == "/abs/x.db"
    pg = parse_database_url(
        "postgresql://bob:p%40ss@db.local:6543/shop?sslmode=disable",
        base_dir=tmp_path,
        conn_max_age=60,
    )
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "shop",
        "bob",
        "p@ss",
        "db.local",
        "6543",
    )
    assert pg["OPTIONS"] == {"sslmode": "disable"} and pg["CONN_MAX_AGE"] == 60
    for bad in ("mysql://x/y", "postgresql://host/", "sqlite://"):
        with pytest.raises(ValueError, match="DATABASE_URL"):
            parse_database_url(bad, base_dir=tmp_path)
