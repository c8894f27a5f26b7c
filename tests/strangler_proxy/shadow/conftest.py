"""Fixtures of the shadow tests: a store per backend (builders: ``strangler_proxy.shadow._fakes``).

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) is required for ``postgres`` tests: a
``strangler_shadow_<random>`` database is created per session and dropped at the end; when the
server is unreachable the tests FAIL with the command that starts it, never skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from strangler_proxy.shadow import CompareRules, ShadowResult, ShadowStore, open_store
from strangler_proxy.shadow._fakes import json_side, make_result
from strangler_proxy.testing.postgres import PostgresUnavailable, temporary_database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh ``strangler_shadow_<random>`` database, dropped at the end."""
    try:
        with temporary_database("strangler_shadow") as url:
            yield url
    except PostgresUnavailable as err:
        pytest.fail(f"postgres-marked shadow store tests: {err}", pytrace=False)


def _clean_pg(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'shadow_%%'"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f"DELETE FROM {table}")


StoreFactory = Callable[..., ShadowStore]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Builds stores on one backend (all sharing one database); closes them at the end."""
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_url")
    if url is not None:
        _clean_pg(url)
    made: list[ShadowStore] = []

    def make(**options: object) -> ShadowStore:
        store = open_store(url, tmp_path / "var" / "shadow.sqlite3", **options)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def _raw_rows(store: ShadowStore) -> str:
    """Every stored row of every table as one text: for "no secret reached the store"."""
    if store.url is None:
        import sqlite3

        lite = sqlite3.connect(store.path_default)
        tables = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        text = "\n".join(repr(lite.execute(f"SELECT * FROM {t}").fetchall()) for t in tables)
        lite.close()
        return text
    with psycopg.connect(store.url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'shadow_%%'"
            )
        ]
        return "\n".join(repr(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables)


@pytest.fixture
def raw_rows() -> Callable[[ShadowStore], str]:
    return _raw_rows


@pytest.fixture
def secret_case() -> tuple[ShadowResult, tuple[str, ...]]:
    """A result full of secrets (headers, cookies, CSRF tokens, redact paths) and the secrets."""
    rules = CompareRules.from_config({"redact": ["$.token"]})
    primary = json_side(
        {"token": "body-SECRET5", "csrfmiddlewaretoken": "form-SECRET4"},
        headers=(
            ("Content-Type", "application/json"),
            ("Set-Cookie", "csrftoken=csrf-SECRET3; Path=/"),
        ),
    )
    shadow = json_side({"token": "other-SECRET6"})
    result = make_result(
        primary,
        shadow,
        rules=rules,
        request_headers=(
            ("Authorization", "Token tok-SECRET1"),
            ("Cookie", "sessionid=sess-SECRET2; csrftoken=csrf-SECRET3"),
            ("X-CSRFToken", "csrf-SECRET3"),
        ),
    )
    secrets_ = ("tok-SECRET1", "sess-SECRET2", "csrf-SECRET3", "form-SECRET4", "body-SECRET5")
    return result, (*secrets_, "other-SECRET6")
