"""Shared fixtures of the extracted-service tests: PostgreSQL databases and a seeded monolith.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) is required for ``postgres`` tests:
when it is unreachable they FAIL with the reason, they are never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from extracted.catalog.testing import PostgresUnavailable, pg_databases, seed_monolith

MakeDatabase = Callable[[str], str]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[MakeDatabase]:
    """``pg_database("label")`` → URL of a fresh database, dropped at the end of the session."""
    try:
        with pg_databases() as make:
            yield make
    except PostgresUnavailable as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def seeded_sqlite_monolith(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated + seeded monolith SQLite database shared by the session (read-only use)."""
    path = tmp_path_factory.mktemp("monolith") / "monolith.sqlite3"
    url = f"sqlite:///{path}"
    seed_monolith(url)
    return url
