"""Throw-away PostgreSQL databases for tests, on the server at 127.0.0.1:5432.

    with temporary_database("strangler_t") as url:   # postgresql://postgres@127.0.0.1:5432/…
        ...                                           # dropped on exit, connections first

When the server is unreachable, :class:`PostgresUnavailable` says how to start it: tests that
need PostgreSQL fail with that message, they never skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import psycopg

__all__ = ["PG_ADMIN_URL", "PG_START_HINT", "PostgresUnavailable", "temporary_database"]

PG_ADMIN_URL = os.environ.get(
    "STRANGLER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PG_START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


class PostgresUnavailable(RuntimeError):
    """The test PostgreSQL server does not answer; the message says how to start it."""


@contextlib.contextmanager
def temporary_database(prefix: str, admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A new database named ``<prefix>_<random>``; yields its URL, drops it on exit."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        raise PostgresUnavailable(
            f"PostgreSQL is required but {admin_url} is unreachable: {err}. "
            f"Start it with: {PG_START_HINT}"
        ) from err
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
