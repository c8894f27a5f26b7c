"""The store's tables and the two database drivers behind one tiny interface.

SQLite (the default, a file) and PostgreSQL (psycopg 3, shared by several proxy replicas) run
the same SQL: ``?`` placeholders are rewritten to ``%s`` for psycopg, and ``GREATEST``/``LEAST``
are spelled ``MAX``/``MIN`` for SQLite. Counters are only ever incremented by upserts, so
concurrent writers never lose each other's counts; what is read and then written back (a
reservoir's count) is read ``FOR UPDATE`` on PostgreSQL (``Driver.for_update``).

    db = connect("postgresql://postgres@127.0.0.1:5432/shadow", Path("var/shadow.sqlite3"))
    with db.transaction():
        db.execute("UPDATE shadow_routes SET compared = compared + ? WHERE route = ?", (1, "r"))
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["SCHEMA", "Driver", "connect", "is_sqlite", "sqlite_path"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS shadow_routes (
    route TEXT PRIMARY KEY,
    compared BIGINT NOT NULL DEFAULT 0, matched BIGINT NOT NULL DEFAULT 0,
    mismatched BIGINT NOT NULL DEFAULT 0, noise_only BIGINT NOT NULL DEFAULT 0,
    likely_race BIGINT NOT NULL DEFAULT 0, errors BIGINT NOT NULL DEFAULT 0,
    primary_errors BIGINT NOT NULL DEFAULT 0, shadow_errors BIGINT NOT NULL DEFAULT 0,
    noise_samples BIGINT NOT NULL DEFAULT 0,
    first_seen DOUBLE PRECISION, last_seen DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS shadow_fields (
    route TEXT NOT NULL, field TEXT NOT NULL, kind TEXT NOT NULL, count BIGINT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (route, field));
CREATE TABLE IF NOT EXISTS shadow_signatures (
    route TEXT NOT NULL, fields TEXT NOT NULL, count BIGINT NOT NULL,
    PRIMARY KEY (route, fields));
CREATE TABLE IF NOT EXISTS shadow_noise (
    route TEXT NOT NULL, field TEXT NOT NULL, count BIGINT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (route, field));
CREATE TABLE IF NOT EXISTS shadow_latency (
    route TEXT NOT NULL, side TEXT NOT NULL, bucket INTEGER NOT NULL, count BIGINT NOT NULL,
    PRIMARY KEY (route, side, bucket));
CREATE TABLE IF NOT EXISTS shadow_reservoir (
    route TEXT NOT NULL, field TEXT NOT NULL, seen BIGINT NOT NULL,
    PRIMARY KEY (route, field));
CREATE TABLE IF NOT EXISTS shadow_drops (
    route TEXT PRIMARY KEY, dropped BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS shadow_examples (
    route TEXT NOT NULL, field TEXT NOT NULL, slot INTEGER NOT NULL,
    stored_at DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (route, field, slot));
"""

Row = tuple[object, ...]
Params = Sequence[object]


class _Sqlite:
    greatest, least = "MAX", "MIN"
    for_update = ""  # BEGIN IMMEDIATE already holds the whole database for the writer

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # used by the writer thread and by flush()/reads under the store's lock
        self._conn = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def create_schema(self) -> None:
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()


class _Postgres:
    greatest, least = "GREATEST", "LEAST"
    for_update = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True, connect_timeout=10)

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        cur = self._conn.execute(sql.replace("?", "%s").encode(), tuple(params))
        return [tuple(r) for r in cur.fetchall()] if cur.description else []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def create_schema(self) -> None:
        with self._conn.transaction():
            # replicas starting together must not race on CREATE TABLE IF NOT EXISTS
            self._conn.execute("SELECT pg_advisory_xact_lock(4827140)")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement.encode())

    def close(self) -> None:
        self._conn.close()


Driver = _Sqlite | _Postgres


def connect(url: str | None, path_default: Path) -> Driver:
    """``postgresql://…`` → PostgreSQL; ``sqlite:///path`` or ``None`` → a SQLite file."""
    if url is None:
        return _Sqlite(path_default)
    if url.startswith(("postgresql://", "postgres://")):
        return _Postgres(url)
    if url.startswith("sqlite:///"):
        return _Sqlite(Path(url.removeprefix("sqlite:///")))
    raise ValueError(f"store: expected postgresql://… or sqlite:///path, got {url!r}")


def is_sqlite(url: str | None) -> bool:
    return url is None or url.startswith("sqlite:///")


def sqlite_path(url: str | None, path_default: Path) -> Path:
    return path_default if url is None else Path(url.removeprefix("sqlite:///"))
