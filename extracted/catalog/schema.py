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
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from extracted.common.inbox import inbox_metadata

__all__ = ["categories", "ensure_schema", "metadata", "outbox", "products"]

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

# The service's own transactional outbox (written with a product change once the service is
# the writer, see writes.py; published by ``python -m extracted.catalog.relay``). ``version``
# counts the service's events per product: a stream of its own, apart from the monolith's
# outbox versions (consumers keep one high-water mark per origin, see reference/data.md).
outbox = Table(
    "catalog_outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("aggregate_type", String(50), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("payload", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("sent_at", DateTime(), nullable=True, index=True),
    UniqueConstraint("aggregate_type", "aggregate_id", "version", name="catalog_outbox_version"),
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
