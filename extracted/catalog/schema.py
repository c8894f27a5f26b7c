"""The catalog service's own tables (never the monolith's ``catalog_*`` tables).

Prices are stored as integer cents so SQLite and PostgreSQL compare and order them exactly
(``12.50`` → ``1250``); datetimes as naive UTC. Uniqueness of ``sku``/``slug`` is the source's
business: the copy only indexes them, so a backfill batch that swaps two slugs cannot fail.
"""

from __future__ import annotations

import time

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from extracted.common.inbox import inbox_metadata

__all__ = ["categories", "ensure_schema", "metadata", "products"]

metadata = MetaData()

categories = Table(
    "categories",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("slug", String(100), nullable=False, index=True),
    Column("description", Text, nullable=False, default=""),
)

products = Table(
    "products",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("sku", String(32), nullable=False, index=True),
    Column("name", String(200), nullable=False, index=True),
    Column("description", Text, nullable=False, default=""),
    Column("price_cents", BigInteger, nullable=False, index=True),
    Column("stock", Integer, nullable=False),
    Column("category_id", BigInteger, ForeignKey("categories.id"), nullable=False, index=True),
    # jsonb on PostgreSQL: comparable, so the backfill can skip unchanged rows
    Column("attributes", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("created_at", DateTime(), nullable=False, index=True),
    Column("updated_at", DateTime(), nullable=False),
)

# any constant shared by all processes creating this schema
_SCHEMA_LOCK_KEY = 0x43415441  # "CATA"


def ensure_schema(engine: Engine) -> None:
    """``metadata.create_all`` (the catalog's tables and the event inbox's), safe when several
    gunicorn workers start at once."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            metadata.create_all(conn)
            inbox_metadata.create_all(conn)
        return
    for attempt in range(5):
        try:
            metadata.create_all(engine)
            inbox_metadata.create_all(engine)
            return
        except OperationalError as err:
            # another worker won the race ("table ... already exists") or held the lock
            if attempt == 4:
                raise
            if "already exists" not in str(err) and "locked" not in str(err):
                raise
            time.sleep(0.05 * (attempt + 1))
